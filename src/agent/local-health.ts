/**
 * The agent's checks of its local services' health endpoints, over Node's
 * own HTTP (src/net/http-client.ts), judged as the controller judges them
 * (src/net/health.ts).
 */
import pRetry from 'p-retry';
import { MembershipError, errorMessage } from '../errors.js';
import { healthTarget, judgeHealth, type HealthResult } from '../net/health.js';
import { HttpClient } from '../net/http-client.js';
import { readCertAndKey, readPemFile } from '../files.js';

/** A file and the flag or config field it came from, which messages name. */
export interface NamedFile {
  field: string;
  path: string;
}

export interface TlsFiles {
  ca?: NamedFile;
  cert?: NamedFile;
  key?: NamedFile;
}

/**
 * The client for the local services: with the CA (and client certificate)
 * of the connection flags when a CA is given. The agent warns about a
 * private key that group or others may read, and goes on: refusing would
 * leave a node unable to boot into its cluster.
 */
export function localHttpClient(tls: TlsFiles, warn: (message: string) => void): HttpClient {
  // Health checks are seconds apart: no sockets are kept between them.
  if (tls.ca === undefined) return new HttpClient({}, { keepAlive: false });
  const material: { ca: Buffer; cert?: Buffer; key?: Buffer } = { ca: readPemFile(tls.ca.field, tls.ca.path) };
  if (tls.cert !== undefined && tls.key !== undefined) {
    const pair = readCertAndKey(tls.cert, tls.key, { insecureKey: 'warn', warn });
    material.cert = pair.cert;
    material.key = pair.key;
  }
  return new HttpClient(material, { keepAlive: false });
}

/** One look at a local service's health endpoint; no answer within the deadline is unhealthy. */
export async function checkHealth(url: string, http: HttpClient, timeoutMs = 2000): Promise<HealthResult> {
  const target = healthTarget(url);
  try {
    const res = await http.request({ method: 'GET', url: target, signal: AbortSignal.timeout(timeoutMs) });
    return judgeHealth(target, res.status, await res.text());
  } catch (err) {
    return { healthy: false, detail: `${target}: ${errorMessage(err)}` };
  }
}

/** Waits, bounded, until the local service is healthy; throws UNAVAILABLE with the last answer otherwise. */
export async function waitForHealth(
  url: string,
  boundMs: number,
  options: { http: HttpClient; onWaiting?: (detail: string) => void; signal?: AbortSignal },
): Promise<void> {
  let last = 'no answer yet';
  const started = Date.now();
  try {
    await pRetry(
      async () => {
        const r = await checkHealth(url, options.http);
        last = r.detail;
        if (!r.healthy) throw new Error(r.detail);
      },
      {
        retries: Number.POSITIVE_INFINITY,
        minTimeout: 250,
        maxTimeout: 2000,
        maxRetryTime: boundMs,
        ...(options.signal ? { signal: options.signal } : {}),
        onFailedAttempt: ({ attemptNumber }) => {
          if (attemptNumber % 5 === 1) options.onWaiting?.(last);
        },
        shouldRetry: () => Date.now() - started < boundMs,
      },
    );
  } catch {
    throw new MembershipError('UNAVAILABLE', `Health check timeout after ${Math.round(boundMs / 1000)}s: ${last}`);
  }
}
