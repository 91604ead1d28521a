import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { lieFor, tellLie, type Lie } from './lies.js';

/**
 * A simulator of FlareDB's admin API (docs/flaredb-api.md), not FlareDB: N
 * replica endpoints on 127.0.0.1 share one member list, exactly one of them is
 * the Raft leader, and switches inject the faults the driver must survive.
 */

export interface SimulatedMember {
  id: string;
  raft_addr: string;
  status?: string;
}

export interface SimulatorTls {
  cert: Buffer;
  key: Buffer;
  /** CA that client certificates must chain to when `requireClientCert` */
  ca?: Buffer;
  requireClientCert?: boolean;
}

export interface SimulatorOptions {
  replicas?: number;
  members?: SimulatedMember[];
  leader?: number;
  tls?: SimulatorTls;
}

export interface SimulatedCall {
  method: string;
  path: string;
  replica: number;
  /** null when no answer was sent (dropped, or the client went away first) */
  status: number | null;
}

interface Fault {
  remaining: number;
  status: number;
  route: string | undefined;
}

const RAFT_ADDR = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export class FlareDBSimulator {
  /** every request in arrival order */
  readonly calls: SimulatedCall[] = [];
  /** added to every answer */
  latencyMs = 0;

  private readonly state = new Map<string, SimulatedMember>();
  private readonly servers: Server[] = [];
  private readonly ports: number[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly faults: Fault[] = [];
  private lies: Lie[] = [];
  private readonly tls: SimulatorTls | undefined;
  private leaderIndex: number;
  private toDrop = 0;
  private slowNextMs = 0;
  private dropAfterApply = 0;
  private dropAfterApplyRoute: string | undefined;
  private listening = false;

  private constructor(options: SimulatorOptions) {
    this.tls = options.tls;
    this.leaderIndex = options.leader ?? 0;
    for (const m of options.members ?? []) this.state.set(m.id, { status: 'healthy', ...m });
  }

  static async start(options: SimulatorOptions = {}): Promise<FlareDBSimulator> {
    const sim = new FlareDBSimulator(options);
    const n = options.replicas ?? 3;
    if (sim.leaderIndex < 0 || sim.leaderIndex >= n) throw new Error(`leader ${sim.leaderIndex} is not a replica index (0..${n - 1})`);
    for (let i = 0; i < n; i++) sim.servers.push(sim.makeServer(i));
    for (let i = 0; i < n; i++) sim.ports.push(await listen(sim.servers[i] as Server, 0));
    sim.listening = true;
    return sim;
  }

  /** Base URL of every replica, in replica order. */
  get urls(): string[] {
    const scheme = this.tls ? 'https' : 'http';
    return this.ports.map((p) => `${scheme}://127.0.0.1:${p}`);
  }

  get leader(): number {
    return this.leaderIndex;
  }

  get leaderUrl(): string {
    return this.urls[this.leaderIndex] as string;
  }

  setLeader(i: number): void {
    if (i < 0 || i >= this.servers.length) throw new Error(`no replica ${i}`);
    this.leaderIndex = i;
  }

  members(): SimulatedMember[] {
    return [...this.state.values()].map((m) => ({ ...m }));
  }

  /** Calls matching a method and an exact path (or a path prefix ending in "/"). */
  count(method: string, path?: string): number {
    return this.calls.filter((c) => c.method === method && (path === undefined || c.path === path || (path.endsWith('/') && c.path.startsWith(path)))).length;
  }

  /**
   * The next `count` requests (of `route`, e.g. "POST /admin/member/add", or
   * any) are answered with `status` and no leader hint.
   */
  failNext(count: number, status: number, options: { route?: string } = {}): void {
    this.faults.push({ remaining: count, status, route: options.route });
  }

  /**
   * From now on every request of `lie.route` gets the lie instead of the
   * truth, and is not carried out, until tellTruth(). Lies come before faults.
   */
  lie(lie: Lie): void {
    this.lies.push(lie);
  }

  /** Ends every lie. */
  tellTruth(): void {
    this.lies = [];
  }

  /** The next `count` requests get their socket destroyed without an answer. */
  dropNext(count: number): void {
    this.toDrop += count;
  }

  /**
   * The next `count` requests are carried out, then their connection is cut
   * before the answer: the client cannot tell whether its change landed.
   */
  dropAfterApplyNext(count: number, filter: { route?: string } = {}): void {
    this.dropAfterApply += count;
    this.dropAfterApplyRoute = filter.route;
  }

  /** The next answer comes `ms` late (on top of latencyMs). */
  slowOnce(ms: number): void {
    this.slowNextMs = ms;
  }

  /** Stops listening on every replica and cuts open connections: clients see connection refused. */
  async down(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    await Promise.all(this.servers.map((s) => closeServer(s, this.sockets)));
  }

  /** Listens again on the very same ports. */
  async up(): Promise<void> {
    if (this.listening) return;
    for (let i = 0; i < this.servers.length; i++) await listen(this.servers[i] as Server, this.ports[i] as number);
    this.listening = true;
  }

  async stop(): Promise<void> {
    await this.down();
  }

  private makeServer(replica: number): Server {
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      void this.handle(replica, req, res);
    };
    const server = this.tls
      ? createHttpsServer(
          {
            cert: this.tls.cert,
            key: this.tls.key,
            ...(this.tls.ca ? { ca: this.tls.ca } : {}),
            requestCert: this.tls.requireClientCert ?? false,
            rejectUnauthorized: this.tls.requireClientCert ?? false,
          },
          handler,
        )
      : createHttpServer(handler);
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    return server;
  }

  private async handle(replica: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0] as string;
    const call: SimulatedCall = { method, path, replica, status: null };
    this.calls.push(call);
    const body = await readBody(req);

    if (this.toDrop > 0) {
      this.toDrop -= 1;
      req.socket.destroy();
      return;
    }
    const delay = this.latencyMs + this.slowNextMs;
    this.slowNextMs = 0;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (res.destroyed || req.socket.destroyed) return;

    const answer = (status: number, payload?: unknown) => {
      if (this.dropAfterApply > 0 && (this.dropAfterApplyRoute === undefined || routeMatches(this.dropAfterApplyRoute, method, path))) {
        this.dropAfterApply -= 1;
        req.socket.destroy();
        return;
      }
      call.status = status;
      const text = payload === undefined ? '' : JSON.stringify(payload);
      res.writeHead(status, payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };

    const lie = lieFor(this.lies, replica, method, path);
    if (lie) {
      call.status = lie.status;
      tellLie(res, lie);
      return;
    }
    const fault = this.faults.find((f) => f.remaining > 0 && (f.route === undefined || routeMatches(f.route, method, path)));
    if (fault) {
      fault.remaining -= 1;
      answer(fault.status, { error: `simulated fault ${fault.status}` });
      return;
    }
    this.route(replica, method, path, body, answer);
  }

  private route(replica: number, method: string, path: string, body: string, answer: (status: number, payload?: unknown) => void): void {
    const isLeader = replica === this.leaderIndex;
    const notLeader = () => answer(503, { error: 'not leader', leader: this.leaderUrl });

    if (path === '/health') {
      if (method !== 'GET') return answer(405, { error: 'method not allowed' });
      return answer(200, { status: 'ok' });
    }
    if (path === '/admin/cluster/members') {
      if (method !== 'GET') return answer(405, { error: 'method not allowed' });
      return answer(200, { members: this.members(), leader: this.leaderUrl });
    }
    if (path === '/admin/member/add') {
      if (method !== 'POST') return answer(405, { error: 'method not allowed' });
      const parsed = parseAddBody(body);
      if (typeof parsed === 'string') return answer(400, { error: parsed });
      if (!isLeader) return notLeader();
      const existing = this.state.get(parsed.id);
      if (existing && existing.raft_addr !== parsed.raft_addr) {
        return answer(409, { error: 'id exists with another raft_addr', raft_addr: existing.raft_addr });
      }
      if (existing || this.members().some((m) => m.raft_addr === parsed.raft_addr)) return answer(409, { error: 'already a member' });
      this.state.set(parsed.id, { id: parsed.id, raft_addr: parsed.raft_addr, status: 'healthy' });
      return answer(201, { id: parsed.id, raft_addr: parsed.raft_addr });
    }
    if (path.startsWith('/admin/member/') && path.length > '/admin/member/'.length) {
      if (method !== 'DELETE') return answer(405, { error: 'method not allowed' });
      if (!isLeader) return notLeader();
      const id = safeDecode(path.slice('/admin/member/'.length));
      if (id === undefined) return answer(400, { error: 'member id is not valid percent-encoding' });
      if (!this.state.delete(id)) return answer(404, { error: 'not a member' });
      return answer(204);
    }
    return answer(404, { error: `no route ${method} ${path}` });
  }
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

function routeMatches(route: string, method: string, path: string): boolean {
  const key = `${method} ${path}`;
  return key === route || key.startsWith(route.endsWith('/') ? route : `${route}/`);
}

function parseAddBody(text: string): { id: string; raft_addr: string } | string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'body is not JSON';
  }
  const { id, raft_addr: raftAddr } = (body ?? {}) as { id?: unknown; raft_addr?: unknown };
  if (typeof id !== 'string' || id === '') return 'id must be a non-empty string';
  if (typeof raftAddr !== 'string') return 'raft_addr must be a string host:port';
  const m = RAFT_ADDR.exec(raftAddr);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) return `raft_addr ${JSON.stringify(raftAddr)} is not host:port`;
  return { id, raft_addr: raftAddr };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
    // closeAllConnections misses sockets that never got as far as an HTTP request (a TLS handshake).
    for (const s of sockets) s.destroy();
  });
}
