import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { MembershipError } from '../errors.js';

export interface HealthProbes {
  /** process up, and Chainfire reachable and healthy by its own account (no alarm raised) */
  healthz: () => Promise<{ ok: boolean; detail: string }>;
  /** caches synced */
  readyz: () => { ok: boolean; detail: string };
}

/** Parses `host:port` for --metrics-addr. */
export function parseListenAddr(addr: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535) || m[1] === '') {
    throw new MembershipError('USAGE', `--metrics-addr ${JSON.stringify(addr)} must be host:port, e.g. 127.0.0.1:9477`);
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Serves /metrics, /healthz and /readyz; resolves once listening, with the bound port. */
export async function startMetricsServer(
  registry: Registry,
  probes: HealthProbes,
  addr: string,
): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const { host, port } = parseListenAddr(addr);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed\n');
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => reply(200, text, registry.contentType),
        (err: unknown) => reply(500, `metrics failed: ${String(err)}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      probes.healthz().then(
        (r) => reply(r.ok ? 200 : 503, `${r.ok ? 'ok' : 'unhealthy'}: ${r.detail}\n`),
        (err: unknown) => reply(503, `unhealthy: ${String(err)}\n`),
      );
      return;
    }
    if (path === '/readyz') {
      const r = probes.readyz();
      return reply(r.ok ? 200 : 503, `${r.ok ? 'ok' : 'not ready'}: ${r.detail}\n`);
    }
    reply(404, 'not found: try /metrics, /healthz or /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new MembershipError('USAGE', `--metrics-addr ${addr}: cannot listen (${err.code ?? err.message})`)),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const boundPort = typeof bound === 'object' && bound !== null ? bound.port : port;
  return {
    server,
    port: boundPort,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
