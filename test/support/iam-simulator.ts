import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { lieFor, tellLie, type Lie } from './lies.js';

/**
 * A simulator of the IAM admin API as docs/iam-api.md assumes it: it is not
 * IAM, but it keeps the contract's status codes, bodies and the "not leader"
 * redirect of a replica, so the driver can be tested against the behaviour
 * it relies on, plus switches for the faults a real deployment shows.
 *
 * N endpoints share one state, like the replicas of one IAM cluster. One of
 * them is the leader: the others serve reads and answer writes with
 * `503 {"error":"not leader","leader":<url>}`.
 */

export interface IAMSimulatorTls {
  cert: string | Buffer;
  key: string | Buffer;
  ca?: string | Buffer;
  /** reject clients without a certificate signed by `ca` (mTLS) */
  requireClientCert?: boolean;
}

export interface IAMSimulatorOptions {
  /** number of replicas sharing one state; default 1 */
  endpoints?: number;
  tls?: IAMSimulatorTls;
  /** index of the replica that serves writes; default 0 */
  leader?: number | null;
}

export interface IAMCall {
  /** index of the replica that received the call */
  endpoint: number;
  method: string;
  path: string;
  /**
   * the status sent; 'dropped' when the socket was destroyed instead;
   * 'unanswered' while it is being served, and for good if its replica went
   * down (or the simulator stopped) first
   */
  status: number | 'dropped' | 'unanswered';
}

export interface IAMNode {
  id: string;
  role: string;
  fqdn?: string;
  ip?: string;
}

/** Limits a fault to calls whose `METHOD /path` (or path alone) starts with `route`. */
export interface FaultFilter {
  route?: string;
  /** only on this replica */
  endpoint?: number;
}

interface Fault extends FaultFilter {
  remaining: number;
  kind: 'fail' | 'drop' | 'slow';
  status?: number;
  body?: unknown;
  delayMs?: number;
}

const BootstrapBody = z.object({ admin_user: z.string().min(1), admin_password: z.string().min(1) }).strict();
const NodeBody = z
  .object({ id: z.string().min(1), role: z.string().min(1), fqdn: z.string().min(1).optional(), ip: z.string().min(1).optional() })
  .strict();

const MAX_BODY_BYTES = 64 * 1024;

export class IAMSimulator {
  /** every call that reached a replica while it was up, recorded on arrival */
  readonly calls: IAMCall[] = [];
  /** added to every request before it is answered */
  latencyMs = 0;
  /** registered nodes by id */
  readonly nodes = new Map<string, IAMNode>();
  /** successful initial setups (201 answers); more than 1 would be a bug in the simulator itself */
  bootstrapCount = 0;
  adminUser: string | undefined;

  // Kept only to compare (checkAdminPassword); never exposed, so a test
  // cannot accidentally print it.
  #adminPassword: string | undefined;
  #leader: number | null;
  #faults: Fault[] = [];
  #lies: Lie[] = [];
  readonly #replicas: Replica[] = [];
  readonly #options: IAMSimulatorOptions;

  private constructor(options: IAMSimulatorOptions) {
    this.#options = options;
    this.#leader = options.leader === undefined ? 0 : options.leader;
  }

  static async start(options: IAMSimulatorOptions = {}): Promise<IAMSimulator> {
    const sim = new IAMSimulator(options);
    const count = options.endpoints ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new Error(`endpoints must be a positive integer, got ${count}`);
    for (let i = 0; i < count; i++) {
      const replica = new Replica((req, res, alive) => sim.#serve(i, req, res, alive), options.tls);
      await replica.listen(0);
      sim.#replicas.push(replica);
    }
    return sim;
  }

  /** base URLs of the replicas, e.g. `http://127.0.0.1:40123` */
  get urls(): string[] {
    const scheme = this.#options.tls ? 'https' : 'http';
    return this.#replicas.map((r) => `${scheme}://127.0.0.1:${r.port}`);
  }

  get leader(): number | null {
    return this.#leader;
  }

  /** Moves leadership; `null` means an election is in progress and writes get 503 without a leader hint. */
  setLeader(index: number | null): void {
    if (index !== null) this.#replica(index);
    this.#leader = index;
  }

  /** The next `count` matching calls get `status` with `body` (default `{"error": "injected <status>"}`). */
  failNext(count: number, status: number, options: FaultFilter & { body?: unknown } = {}): void {
    this.#faults.push({ ...options, kind: 'fail', remaining: count, status });
  }

  /** The next `count` matching calls have their socket destroyed without an answer. */
  dropNext(count: number, options: FaultFilter = {}): void {
    this.#faults.push({ ...options, kind: 'drop', remaining: count });
  }

  /** The next `count` matching calls wait `delayMs` (on top of `latencyMs`) before they are served. */
  slowNext(count: number, delayMs: number, options: FaultFilter = {}): void {
    this.#faults.push({ ...options, kind: 'slow', remaining: count, delayMs });
  }

  clearFaults(): void {
    this.#faults = [];
  }

  /**
   * From now on every request of `lie.route` (`METHOD /path` or a prefix),
   * on every replica, gets the lie instead of the truth and is not carried
   * out, until tellTruth(). Lies come before faults and latency.
   */
  lie(lie: Lie): void {
    this.#lies.push(lie);
  }

  /** Ends every lie. */
  tellTruth(): void {
    this.#lies = [];
  }

  /** Forgets the initial admin setup, as a freshly installed IAM: the next POST /admin/bootstrap makes one again. */
  resetSetup(): void {
    this.adminUser = undefined;
    this.#adminPassword = undefined;
  }

  /** Stops accepting connections and cuts open ones (connection refused until `up`). */
  async down(index?: number): Promise<void> {
    await Promise.all(this.#select(index).map((r) => r.close()));
  }

  /** Listens again on the same port. */
  async up(index?: number): Promise<void> {
    await Promise.all(this.#select(index).map((r) => r.listen(r.port)));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#replicas.map((r) => r.close()));
  }

  /** How many calls matched `method` and `path` exactly (any outcome, drops included). */
  count(method: string, path: string): number {
    return this.calls.filter((c) => c.method === method && c.path === path).length;
  }

  checkAdminPassword(candidate: string): boolean {
    return this.#adminPassword !== undefined && candidate === this.#adminPassword;
  }

  #replica(index: number): Replica {
    const r = this.#replicas[index];
    if (!r) throw new Error(`no replica ${index}; the simulator has ${this.#replicas.length}`);
    return r;
  }

  #select(index: number | undefined): Replica[] {
    return index === undefined ? this.#replicas : [this.#replica(index)];
  }

  /** Takes one matching fault of each kind off the queue: a call can be both slowed and failed. */
  #takeFaults(endpoint: number, method: string, path: string): Fault[] {
    const taken: Fault[] = [];
    const key = `${method} ${path}`;
    for (const kind of ['slow', 'drop', 'fail'] as const) {
      const f = this.#faults.find(
        (x) =>
          x.kind === kind &&
          x.remaining > 0 &&
          (x.endpoint === undefined || x.endpoint === endpoint) &&
          (x.route === undefined || key.startsWith(x.route) || path.startsWith(x.route)),
      );
      if (!f) continue;
      f.remaining--;
      taken.push(f);
    }
    this.#faults = this.#faults.filter((x) => x.remaining > 0);
    return taken;
  }

  async #serve(endpoint: number, req: IncomingMessage, res: ServerResponse, alive: AbortSignal): Promise<void> {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://sim').pathname;
    // Faults are taken on arrival, so the order of calls decides which one
    // fails, not the order in which their latencies end.
    const faults = this.#takeFaults(endpoint, method, path);
    const call: IAMCall = { endpoint, method, path, status: 'unanswered' };
    this.calls.push(call);
    const record = (status: number | 'dropped') => {
      call.status = status;
    };

    let body: string;
    try {
      body = await readBody(req);
    } catch {
      record(400);
      return send(res, 400, { error: 'request body too large or unreadable' });
    }
    const lie = lieFor(this.#lies, endpoint, method, path);
    if (lie) {
      record(lie.status);
      tellLie(res, lie);
      return;
    }
    const delay = this.latencyMs + faults.reduce((sum, f) => sum + (f.delayMs ?? 0), 0);
    // A real server goes on with a request whose client gave up, so the
    // effect of a timed-out write can land; the simulator does the same.
    // A replica that goes down loses what it was serving, as a killed process would.
    if (delay > 0) {
      try {
        await sleep(delay, undefined, { signal: alive });
      } catch {
        return;
      }
    }
    if (alive.aborted) return;

    if (faults.some((f) => f.kind === 'drop')) {
      record('dropped');
      req.socket.destroy();
      return;
    }
    const fail = faults.find((f) => f.kind === 'fail');
    if (fail && fail.status !== undefined) {
      record(fail.status);
      return send(res, fail.status, fail.body ?? { error: `injected ${fail.status}` });
    }
    const [status, answer] = this.#route(endpoint, method, path, body);
    record(status);
    send(res, status, answer);
  }

  #route(endpoint: number, method: string, path: string, raw: string): [number, unknown] {
    const isWrite = method === 'POST' || method === 'PUT' || method === 'DELETE';
    const nodeMatch = /^\/admin\/nodes\/([^/]+)$/.exec(path);
    const known = path === '/health' || path === '/admin/bootstrap' || path === '/admin/nodes' || nodeMatch !== null;
    if (!known) return [404, { error: `no route ${path}` }];

    if (isWrite && this.#leader !== endpoint) {
      const leaderUrl = this.#leader === null ? undefined : this.urls[this.#leader];
      return [503, leaderUrl === undefined ? { error: 'not leader' } : { error: 'not leader', leader: leaderUrl }];
    }

    if (path === '/health' && method === 'GET') return [200, { status: 'ok' }];

    if (path === '/admin/bootstrap') {
      if (method === 'GET') return [200, { initialized: this.adminUser !== undefined }];
      if (method === 'POST') {
        const parsed = BootstrapBody.safeParse(parseJson(raw));
        if (!parsed.success) return [400, { error: 'body must be {"admin_user": string, "admin_password": string}' }];
        if (this.adminUser !== undefined) return [409, { error: 'already initialized' }];
        this.adminUser = parsed.data.admin_user;
        this.#adminPassword = parsed.data.admin_password;
        this.bootstrapCount++;
        return [201, { initialized: true }];
      }
    }

    if (path === '/admin/nodes' && method === 'GET') {
      return [200, { nodes: [...this.nodes.values()].sort((a, b) => a.id.localeCompare(b.id)) }];
    }

    if (nodeMatch) {
      const id = decodeURIComponent(nodeMatch[1] ?? '');
      if (method === 'PUT') {
        const parsed = NodeBody.safeParse(parseJson(raw));
        if (!parsed.success) return [400, { error: 'body must be {"id","role","fqdn"?,"ip"?} with non-empty strings' }];
        if (parsed.data.id !== id) return [400, { error: `body id ${parsed.data.id} does not match path id ${id}` }];
        const existed = this.nodes.has(id);
        this.nodes.set(id, { ...parsed.data });
        return [existed ? 200 : 201, parsed.data];
      }
      if (method === 'DELETE') {
        if (!this.nodes.delete(id)) return [404, { error: `node ${id} is not registered` }];
        return [204, undefined];
      }
    }
    return [405, { error: `method ${method} not allowed on ${path}` }];
  }
}

/** One listening replica: its server, its port (kept across down/up) and its open sockets. */
class Replica {
  port = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** aborted when the replica goes down: requests in flight end unanswered */
  #alive = new AbortController();

  constructor(
    handler: (req: IncomingMessage, res: ServerResponse, alive: AbortSignal) => Promise<void>,
    tls: IAMSimulatorTls | undefined,
  ) {
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      handler(req, res, this.#alive.signal).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, { error: `simulator fault: ${String(err)}` });
      });
    };
    this.#server = tls
      ? createHttpsServer(
          {
            cert: tls.cert,
            key: tls.key,
            ca: tls.ca,
            requestCert: tls.requireClientCert === true,
            rejectUnauthorized: tls.requireClientCert === true,
          },
          onRequest,
        )
      : createHttpServer(onRequest);
    // TLS servers hand out TLS sockets on 'secureConnection'; 'connection'
    // sees the raw socket for both, which is what must be cut on down().
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  listen(port: number): Promise<void> {
    if (this.#alive.signal.aborted) this.#alive = new AbortController();
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.#server.once('error', onError);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#server.off('error', onError);
        this.port = (this.#server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  close(): Promise<void> {
    this.#alive.abort();
    return new Promise((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close(() => resolve());
      for (const s of this.#sockets) s.destroy();
    });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}
