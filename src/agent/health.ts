/**
 * Health checks of a node's services over undici, as the controller makes
 * them (src/drivers/chainfire.ts). The first-boot agent makes its own over
 * Node's HTTP (local-health.ts), judged by the same rules.
 */
import { readFileSync } from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';
import { errorMessage } from '../errors.js';
import { createLogger } from '../log.js';
import { checkPrivateKeyMode } from '../store/connection-options.js';
import { healthTarget, judgeHealth, type TlsFiles } from './local-health.js';

export type { TlsFiles };

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
  const target = healthTarget(url);
  try {
    const res = await request(target, {
      method: 'GET',
      headersTimeout: options.timeoutMs ?? 2000,
      bodyTimeout: options.timeoutMs ?? 2000,
      signal: AbortSignal.timeout(options.timeoutMs ?? 2000),
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    });
    return judgeHealth(target, res.statusCode, await res.body.text());
  } catch (err) {
    return { healthy: false, detail: `${target}: ${errorMessage(err)}` };
  }
}
