import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * Lying answers for the FlareDB and IAM simulators: a service that answers
 * a request with something other than what docs/flaredb-api.md and
 * docs/iam-api.md promise (HTML, cut-off JSON, a body of the wrong shape, a
 * huge or endless body, a leader hint or a redirect to a host nobody
 * configured). A lie is served, instead of the truth, to every request of its
 * route until the simulator is told to tell the truth again; the request is
 * not carried out.
 */
export interface Lie {
  /** `METHOD /path`, or a prefix of it (`PUT /admin/nodes/`) */
  route: string;
  status: number;
  headers?: Record<string, string>;
  /** text as it is; anything else as JSON; a HugeBody streamed; a function is asked per request */
  body?: string | HugeBody | object | (() => unknown);
  /** only on this replica (index in the simulator's urls) */
  replica?: number;
}

export interface HugeBody {
  /** bytes to send; ignored when endless */
  bytes: number;
  /** no content-length: chunked encoding */
  chunked?: boolean;
  /** keeps sending until the client goes away (at most 256 MiB) */
  endless?: boolean;
}

const ENDLESS_LIMIT = 256 * 1024 * 1024;

export function routeMatches(route: string, method: string, path: string): boolean {
  return `${method} ${path}`.startsWith(route);
}

/** The lie `replica` tells this request, if any. */
export function lieFor(lies: readonly Lie[], replica: number, method: string, path: string): Lie | undefined {
  return lies.find((l) => (l.replica === undefined || l.replica === replica) && routeMatches(l.route, method, path));
}

const isHuge = (body: unknown): body is HugeBody =>
  typeof body === 'object' && body !== null && typeof (body as HugeBody).bytes === 'number';

/** Writes `lie` as the answer to a request. */
export function tellLie(res: ServerResponse, lie: Lie): void {
  if (res.destroyed) return;
  const body = typeof lie.body === 'function' ? lie.body() : lie.body;
  if (isHuge(body)) {
    streamHuge(res, lie, body);
    return;
  }
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const contentType = typeof body === 'string' && body.trimStart().startsWith('<') ? 'text/html' : 'application/json';
  res.writeHead(lie.status, {
    ...(text !== '' ? { 'content-type': contentType } : {}),
    'content-length': String(Buffer.byteLength(text)),
    ...lie.headers,
  });
  res.end(text);
}

/** A JSON-looking body of `bytes` (or endless): a long string inside an object, so only its size is wrong. */
function streamHuge(res: ServerResponse, lie: Lie, huge: HugeBody): void {
  const total = huge.endless ? ENDLESS_LIMIT : huge.bytes;
  const head = Buffer.from('{"pad":"');
  const tail = Buffer.from('"}');
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const headers: Record<string, string> = { 'content-type': 'application/json', ...lie.headers };
  if (!huge.chunked && !huge.endless) headers['content-length'] = String(total);
  res.writeHead(lie.status, headers);
  let left = total - head.length - tail.length;
  res.write(head);
  const pump = (): void => {
    while (left > 0 && !res.destroyed) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end(tail);
  };
  res.on('close', () => {
    left = 0;
  });
  pump();
}

// Lies of each kind, for the tables of test/integration/hostile-services.test.ts.

export const HTML_PAGE = '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>\n';

export const lies = {
  html: (route: string, status = 200): Lie => ({ route, status, body: HTML_PAGE }),
  /** the JSON text of `truth`, cut in the middle */
  truncated: (route: string, truth: unknown, status = 200): Lie => {
    const text = JSON.stringify(truth);
    return { route, status, headers: { 'content-type': 'application/json' }, body: text.slice(0, Math.max(1, Math.floor(text.length / 2))) };
  },
  shaped: (route: string, body: unknown, status = 200): Lie => ({ route, status, body: typeof body === 'string' ? JSON.stringify(body) : (body as object) }),
  empty: (route: string, status = 200): Lie => ({ route, status, body: '' }),
  huge: (route: string, bytes: number, opts: { chunked?: boolean; status?: number } = {}): Lie => ({
    route,
    status: opts.status ?? 200,
    body: { bytes, ...(opts.chunked ? { chunked: true } : {}) },
  }),
  endless: (route: string, status = 200): Lie => ({ route, status, body: { bytes: 0, endless: true } }),
  leaderHint: (route: string, leader: string): Lie => ({ route, status: 503, body: { error: 'not leader', leader } }),
  redirect: (route: string, status: 301 | 302 | 307 | 308, location: string): Lie => ({
    route,
    status,
    headers: { location },
    body: { error: 'moved' },
  }),
};

export interface ForeignRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/**
 * "Another host": a listener on 127.0.0.1 at a port no configuration names.
 * It counts what reaches it and answers like an obliging impostor (lists are
 * empty, writes are echoed with 201), so that a client that follows a lie
 * there believes it succeeded.
 */
export class ForeignHost {
  readonly requests: ForeignRequest[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  private constructor() {
    this.server = createServer((req, res) => {
      void this.serve(req, res);
    });
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(): Promise<ForeignHost> {
    const host = new ForeignHost();
    await new Promise<void>((resolve, reject) => {
      host.server.once('error', reject);
      host.server.listen(0, '127.0.0.1', () => resolve());
    });
    host.port = (host.server.address() as AddressInfo).port;
    return host;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Whether `secret` reached this host in any request line, header or body. */
  sawSecret(secret: string): boolean {
    return this.requests.some((r) => r.path.includes(secret) || r.body.includes(secret) || JSON.stringify(r.headers).includes(secret));
  }

  /** Whether anything that looks like a credential arrived: a password field, an Authorization header, a cookie. */
  sawCredentials(): boolean {
    return this.requests.some((r) => /password/i.test(r.body) || r.headers.authorization !== undefined || r.headers.cookie !== undefined);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://foreign').pathname;
    this.requests.push({ method, path, headers: req.headers, body });
    const json = (status: number, payload?: unknown) => {
      const text = payload === undefined ? '' : JSON.stringify(payload);
      res.writeHead(status, payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
      res.end(text);
    };
    if (method === 'DELETE') return json(204);
    if (method !== 'GET') {
      let echoed: unknown;
      try {
        echoed = JSON.parse(body);
      } catch {
        echoed = {};
      }
      return json(201, { ...(echoed as object), initialized: true });
    }
    if (path === '/admin/cluster/members') return json(200, { members: [] });
    if (path === '/admin/nodes') return json(200, { nodes: [] });
    if (path === '/admin/bootstrap') return json(200, { initialized: false });
    return json(200, { status: 'ok' });
  }
}
