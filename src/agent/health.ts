import { readFileSync } from 'node:fs';
import pRetry from 'p-retry';
import { Agent, request, type Dispatcher } from 'undici';
import { MembershipError, errorMessage } from '../errors.js';
import { createLogger } from '../log.js';
import { checkPrivateKeyMode } from '../store/connection.js';

export interface TlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/**
 * The agent warns about a private key that group or others may read, and goes
 * on: refusing would leave a node unable to boot into its cluster.
 */
function warnInsecureKey(message: string): void {
  createLogger({ base: { service: 'first-boot-agent', operation: 'tls' } }).warn(message);
}

export function httpDispatcher(tls: TlsFiles, warn: (message: string) => void = warnInsecureKey): Dispatcher | undefined {
  if (tls.caFile === undefined) return undefined;
  const connect: { ca: Buffer; cert?: Buffer; key?: Buffer } = { ca: readFileSync(tls.caFile) };
  if (tls.certFile !== undefined && tls.keyFile !== undefined) {
    checkPrivateKeyMode(tls.keyFile, '--key', { insecureKey: 'warn', warn });
    connect.cert = readFileSync(tls.certFile);
    connect.key = readFileSync(tls.keyFile);
  }
  return new Agent({ connect });
}

/**
 * One look at a local service's health endpoint. etcd answers `/health` with
 * `{"health":"true"}`; anything else, or no answer within the deadline, is unhealthy.
 */
export async function checkHealth(
  url: string,
  options: { dispatcher?: Dispatcher; timeoutMs?: number } = {},
): Promise<{ healthy: boolean; detail: string }> {
  const target = new URL('/health', url).toString();
  try {
    const res = await request(target, {
      method: 'GET',
      headersTimeout: options.timeoutMs ?? 2000,
      bodyTimeout: options.timeoutMs ?? 2000,
      signal: AbortSignal.timeout(options.timeoutMs ?? 2000),
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) return { healthy: false, detail: `${target} answered HTTP ${res.statusCode}` };
    try {
      const body = JSON.parse(text) as { health?: unknown };
      if (body.health !== undefined && String(body.health) !== 'true') return { healthy: false, detail: `${target}: health=${String(body.health)}` };
    } catch {
      // a non-JSON 200 is healthy: not every service answers like etcd
    }
    return { healthy: true, detail: `${target} answered HTTP 200` };
  } catch (err) {
    return { healthy: false, detail: `${target}: ${errorMessage(err)}` };
  }
}

/** Waits, bounded, until the local service is healthy; throws UNAVAILABLE with the last answer otherwise. */
export async function waitForHealth(
  url: string,
  boundMs: number,
  options: { dispatcher?: Dispatcher; onWaiting?: (detail: string) => void; signal?: AbortSignal } = {},
): Promise<void> {
  let last = 'no answer yet';
  const started = Date.now();
  try {
    await pRetry(
      async () => {
        const r = await checkHealth(url, options.dispatcher ? { dispatcher: options.dispatcher } : {});
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
