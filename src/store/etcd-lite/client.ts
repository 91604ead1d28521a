/**
 * A small Chainfire (etcd v3) client for what the first-boot agent does:
 * authenticate, range, put, leases with keepalive and watches of single
 * keys. It speaks etcd's gRPC API over Node's own HTTP/2 with the handful
 * of protobuf messages encoded by hand (proto.ts), so it loads neither
 * grpc-js nor protobuf.js: with the etcd3 package those were most of the
 * agent's start time and memory. The controller and membershipctl keep
 * using etcd3 (src/store/connection.ts).
 *
 * Not etcd's JSON gateway (/v3/... over HTTP/1.1), which would be simpler:
 * with --client-cert-auth and authentication both on, as docs/security.md
 * sets Chainfire up, etcd refuses every gateway request whose client
 * certificate has a Common Name; and it answers a read or a watch with an
 * expired token by retrying until the deadline instead of saying so.
 *
 * Every call has a deadline, sent as grpc-timeout and enforced here too. A
 * call that cannot reach an endpoint (or that the endpoint answers
 * UNAVAILABLE) goes to the next endpoint within that deadline. With --user,
 * the token from Authenticate goes in the `token` metadata, as etcd's own
 * clients send it; a call refused for an invalid token gets a new token and
 * one more try.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { isIP } from 'node:net';
import { MembershipError, type ErrorCode } from '../../errors.js';
import { readCertAndKey, readPemFile, type KeyFileCheck } from '../../files.js';
import type { ConnectionOptions } from '../connection-options.js';
import { diagnose, etcdAnswerCode, explainAnswer, explainFailure, needsDiagnosis, type Diagnosis, type ExplainContext } from './explain.js';
import { FrameDecoder, GRPC, frame, grpcTimeout, isInvalidTokenMessage, statusOf, type GrpcStatus } from './grpc.js';
import * as pb from './proto.js';

/**
 * A failure of a call to Chainfire; the message names the endpoint. UNAVAILABLE,
 * unless etcd's answer said more (`answered`): ACCESS_DENIED, RESOURCE_EXHAUSTED.
 */
export class EtcdLiteError extends MembershipError {
  readonly endpoint: string;
  /** the gRPC status code of etcd's answer; undefined when there was no answer */
  readonly grpcCode: number | undefined;
  /** set when a watch ended because its start revision was compacted */
  readonly compactRevision: number | undefined;

  constructor(endpoint: string, message: string, options: { grpcCode?: number; compactRevision?: number; cause?: unknown; code?: ErrorCode } = {}) {
    super(options.code ?? 'UNAVAILABLE', message, options.cause !== undefined ? { cause: options.cause } : {});
    this.name = 'EtcdLiteError';
    this.endpoint = endpoint;
    this.grpcCode = options.grpcCode;
    this.compactRevision = options.compactRevision;
  }
}

export interface EtcdLiteOptions {
  endpoints: string[];
  /** deadline of every call, and of the creation of a watch */
  callTimeoutMs: number;
  /** speak TLS to every endpoint with these; an https:// endpoint without them uses the system's CAs */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  auth?: { user: string; password: string };
  /** the --cacert and --cert files, named in explanations of TLS failures */
  cacertFile?: string;
  certFile?: string;
}

export type { KeyValue, WatchEvent } from './proto.js';

export interface WatchListener {
  /** The events of one watch response, with the revision of its header. */
  onEvents(events: pb.WatchEvent[], revision: number): void;
  /**
   * The watch ended on its own: its start revision was compacted
   * (`err.compactRevision`), etcd canceled it, or its stream or connection
   * broke. Called at most once, and never after `cancel()` or `close()`.
   */
  onEnd(err: EtcdLiteError): void;
}

/** A watch that etcd created; `cancel()` ends it (resetting its stream cancels it in etcd). */
export class EtcdLiteWatch {
  readonly endpoint: string;
  readonly key: string;
  private readonly stop: () => void;
  private stopped = false;

  constructor(endpoint: string, key: string, stop: () => void) {
    this.endpoint = endpoint;
    this.key = key;
    this.stop = stop;
  }

  get canceled(): boolean {
    return this.stopped;
  }

  cancel(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stop();
  }
}

/** Time given beyond a call's deadline for etcd's own deadline answer to arrive. */
const SLACK_MS = 1000;

const PATHS = {
  range: '/etcdserverpb.KV/Range',
  put: '/etcdserverpb.KV/Put',
  deleteRange: '/etcdserverpb.KV/DeleteRange',
  leaseGrant: '/etcdserverpb.Lease/LeaseGrant',
  leaseRevoke: '/etcdserverpb.Lease/LeaseRevoke',
  leaseKeepAlive: '/etcdserverpb.Lease/LeaseKeepAlive',
  watch: '/etcdserverpb.Watch/Watch',
  authenticate: '/etcdserverpb.Auth/Authenticate',
} as const;

export class EtcdLite {
  readonly endpoints: string[];
  private readonly options: EtcdLiteOptions;
  private readonly usesTls: boolean;
  private readonly sessions = new Map<string, ClientHttp2Session>();
  private readonly open = new Set<ClientHttp2Stream>();
  private current = 0;
  private isClosed = false;
  /** the token of --user, once authenticated */
  private token: { value: string } | undefined;
  private authenticating: Promise<string | undefined> | undefined;
  private readonly diagnoses = new Map<string, { at: number; answer: Promise<Diagnosis> }>();

  /**
   * The client for the programs' connection flags: reads the PEM files,
   * checks the private key's mode, and needs --cacert for https:// endpoints,
   * as `connect` in src/store/connection.ts does for etcd3. Like etcd3, it
   * speaks TLS to every endpoint once --cacert is given.
   */
  static connect(options: ConnectionOptions, keyCheck: KeyFileCheck = {}): EtcdLite {
    const usesTls = options.endpoints.some((e) => e.startsWith('https:'));
    const out: EtcdLiteOptions = { endpoints: options.endpoints, callTimeoutMs: options.callTimeoutMs };
    if (usesTls || options.cacert !== undefined) {
      if (options.cacert === undefined) {
        throw new MembershipError('USAGE', '--cacert is required for https:// endpoints (the CA that signed Chainfire\'s certificate)');
      }
      const tls: NonNullable<EtcdLiteOptions['tls']> = { ca: readPemFile('--cacert', options.cacert) };
      out.cacertFile = options.cacert;
      if (options.cert !== undefined && options.key !== undefined) {
        const pair = readCertAndKey({ field: '--cert', path: options.cert }, { field: '--key', path: options.key }, keyCheck);
        tls.cert = pair.cert;
        tls.key = pair.key;
        out.certFile = options.cert;
      }
      out.tls = tls;
    }
    if (options.user !== undefined && options.password !== undefined) out.auth = { user: options.user, password: options.password };
    return new EtcdLite(out);
  }

  constructor(options: EtcdLiteOptions) {
    if (options.endpoints.length === 0) throw new MembershipError('USAGE', 'no Chainfire endpoint given');
    this.options = options;
    this.endpoints = [...options.endpoints];
    this.usesTls = options.tls !== undefined || options.endpoints.some((e) => e.startsWith('https:'));
  }

  // -------------------------------------------------------------------------
  // Calls

  /** The key (or, with `prefix`, every key under it) and the store's revision. */
  async range(key: string, opts: { prefix?: boolean } = {}): Promise<{ kvs: pb.KeyValue[]; revision: number; clusterId: string }> {
    const req = pb.encodeRangeRequest(opts.prefix ? { key, rangeEnd: pb.prefixRangeEnd(key) } : { key });
    const res = pb.decodeRangeResponse(await this.call(`range ${key}`, PATHS.range, req));
    return { kvs: res.kvs, revision: res.header.revision, clusterId: res.header.clusterId };
  }

  async put(key: string, value: string, opts: { lease?: string } = {}): Promise<{ revision: number }> {
    const req = pb.encodePutRequest(opts.lease !== undefined ? { key, value, lease: opts.lease } : { key, value });
    return { revision: pb.decodeHeaderOnly(await this.call(`put ${key}`, PATHS.put, req)).header.revision };
  }

  /** Deletes one key (a DeleteRangeRequest has the RangeRequest's key field); says how many keys went. */
  async delete(key: string): Promise<{ deleted: number; revision: number }> {
    const res = pb.decodeDeleteRangeResponse(await this.call(`delete ${key}`, PATHS.deleteRange, pb.encodeRangeRequest({ key })));
    return { deleted: res.deleted, revision: res.header.revision };
  }

  /** A new lease; its ID stays a string (an int64 that a double cannot hold). */
  async leaseGrant(ttlSeconds: number): Promise<{ id: string; ttl: number }> {
    const op = `lease grant (TTL ${ttlSeconds}s)`;
    const res = pb.decodeLeaseGrantResponse(await this.call(op, PATHS.leaseGrant, pb.encodeLeaseGrantRequest(ttlSeconds)));
    if (res.id === '0' || res.error !== '') {
      const endpoint = this.endpoint();
      throw new EtcdLiteError(endpoint, `Chainfire at ${endpoint}: ${op} failed: ${res.error || 'no lease ID in the answer'}`);
    }
    return { id: res.id, ttl: res.ttl };
  }

  /**
   * Renews a lease once; resolves to its remaining TTL in seconds, 0 when the
   * lease no longer exists. (A stream in etcd's API: one request, then the
   * end of the request side, and etcd answers once and ends the stream.)
   */
  async leaseKeepAlive(leaseId: string): Promise<number> {
    return pb.decodeLeaseKeepAliveResponse(await this.call(`lease keepalive ${leaseId}`, PATHS.leaseKeepAlive, pb.encodeLeaseId(leaseId))).ttl;
  }

  /** Revokes a lease: its keys go at once. A lease that no longer exists is not an error. */
  async leaseRevoke(leaseId: string): Promise<void> {
    try {
      await this.call(`lease revoke ${leaseId}`, PATHS.leaseRevoke, pb.encodeLeaseId(leaseId));
    } catch (err) {
      if (err instanceof EtcdLiteError && (err.grpcCode === GRPC.NOT_FOUND || /lease not found/.test(err.message))) return;
      throw err;
    }
  }

  /**
   * Watches one key from `startRevision`. Resolves once etcd has created the
   * watch; rejects when etcd refuses it (permission denied) or cannot be
   * reached in time. Events and the end go to `listener` afterwards.
   */
  watch(key: string, startRevision: number, listener: WatchListener): Promise<EtcdLiteWatch> {
    const req = frame(pb.encodeWatchCreateRequest({ key, startRevision }));
    return this.attempt(`watch ${key}`, (endpoint, token, remainingMs) => this.openWatch(endpoint, token, remainingMs, key, req, listener));
  }

  /** Ends every call and watch and closes the connections; the client cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const stream of this.open) stream.close(http2.constants.NGHTTP2_CANCEL);
    this.open.clear();
    for (const session of this.sessions.values()) session.destroy();
    this.sessions.clear();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  // -------------------------------------------------------------------------
  // Attempts, failover and the token

  private endpoint(): string {
    return this.endpoints[this.current % this.endpoints.length]!;
  }

  private explainContext(endpoint: string): ExplainContext {
    const ctx: ExplainContext = { endpoint, usesTls: this.usesTls };
    if (this.options.cacertFile !== undefined) ctx.cacertFile = this.options.cacertFile;
    if (this.options.certFile !== undefined) ctx.certFile = this.options.certFile;
    return ctx;
  }

  /** What a connection of our own tells about an endpoint, asked at most every 30 s. */
  private diagnosis(endpoint: string): Promise<Diagnosis> {
    const last = this.diagnoses.get(endpoint);
    if (last !== undefined && Date.now() - last.at < 30_000) return last.answer;
    const target = this.usesTls ? endpoint.replace(/^http:/, 'https:') : endpoint;
    const answer = diagnose(target, this.usesTls ? (this.options.tls ?? {}) : undefined);
    this.diagnoses.set(endpoint, { at: Date.now(), answer });
    return answer;
  }

  private async unreachable(err: unknown, endpoint: string): Promise<EtcdLiteError> {
    const d = needsDiagnosis(err) ? await this.diagnosis(endpoint) : undefined;
    return new EtcdLiteError(endpoint, explainFailure(err, this.explainContext(endpoint), d), { cause: err });
  }

  /**
   * Runs `fn` against the current endpoint until it succeeds, moving to the
   * next endpoint when one cannot be reached or answers UNAVAILABLE, within
   * the call's deadline; gets a new token once when etcd says it is invalid.
   */
  private async attempt<T>(op: string, fn: (endpoint: string, token: string | undefined, remainingMs: number) => Promise<T>): Promise<T> {
    const timeoutMs = this.options.callTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    let renewed = false;
    const failures: EtcdLiteError[] = [];
    const maxTries = this.endpoints.length + 2;
    for (let tries = 0; ; tries++) {
      const endpoint = this.endpoint();
      if (this.isClosed) throw new EtcdLiteError(endpoint, `${op}: the Chainfire client is closed`);
      const remaining = deadline - Date.now();
      if (remaining <= 0 || tries >= maxTries) {
        if (failures.length > 0) throw combine(failures);
        throw new EtcdLiteError(endpoint, `Chainfire at ${endpoint}: ${op}: no answer within ${seconds(timeoutMs)}`);
      }
      let token: string | undefined;
      try {
        token = await this.getToken(endpoint, remaining);
        return await fn(endpoint, token, deadline - Date.now());
      } catch (err) {
        if (this.isClosed) throw new EtcdLiteError(endpoint, `${op}: the Chainfire client is closed`, { cause: err });
        if (err instanceof Stale) {
          if (token !== undefined && !renewed) {
            renewed = true;
            this.dropToken(token);
            continue;
          }
          throw err.error;
        }
        if (err instanceof EtcdLiteError) {
          if (err.grpcCode === GRPC.UNAVAILABLE && this.endpoints.length > 1) {
            failures.push(err);
            this.current++;
            continue;
          }
          throw err;
        }
        if (err instanceof DeadlineError) {
          failures.push(new EtcdLiteError(endpoint, `Chainfire at ${endpoint}: ${op}: no answer within ${seconds(timeoutMs)}`, { cause: err }));
          this.current++;
          continue;
        }
        failures.push(await this.unreachable(err, endpoint));
        this.current++;
        // Every endpoint failed once: a short pause before going round again.
        if (failures.length % this.endpoints.length === 0) await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
      }
    }
  }

  private async getToken(endpoint: string, remainingMs: number): Promise<string | undefined> {
    const auth = this.options.auth;
    if (auth === undefined) return undefined;
    if (this.token !== undefined) return this.token.value;
    this.authenticating ??= this.authenticate(endpoint, auth, remainingMs).finally(() => {
      this.authenticating = undefined;
    });
    return this.authenticating;
  }

  private dropToken(token: string): void {
    if (this.token?.value === token) this.token = undefined;
  }

  private async authenticate(endpoint: string, auth: { user: string; password: string }, remainingMs: number): Promise<string | undefined> {
    const answer = await this.rpc(endpoint, PATHS.authenticate, pb.encodeAuthenticateRequest(auth.user, auth.password), undefined, remainingMs);
    if (answer.status.code === GRPC.OK) {
      const token = pb.decodeAuthenticateResponse(answer.message).token;
      this.token = { value: token };
      return token;
    }
    if (answer.status.code === GRPC.UNAVAILABLE) throw refusal(endpoint, `authentication as ${auth.user}`, answer.status);
    throw answered(endpoint, `Chainfire at ${endpoint}: authentication as ${auth.user} failed: ${answer.status.message}`, answer.status.code);
  }

  // -------------------------------------------------------------------------
  // HTTP/2

  /** A unary call with failover and the token: the one message of the answer. */
  private call(op: string, path: string, message: Buffer): Promise<Buffer> {
    return this.attempt(op, async (endpoint, token, remainingMs) => {
      const answer = await this.rpc(endpoint, path, message, token, remainingMs);
      if (answer.status.code === GRPC.OK) return answer.message;
      const error = refusal(endpoint, op, answer.status, this.options.auth?.user);
      if (token !== undefined && isInvalidTokenMessage(answer.status.message)) throw new Stale(error);
      throw error;
    });
  }

  /** The HTTP/2 connection to an endpoint, opened on first use and again after it closed or failed. */
  private session(endpoint: string): ClientHttp2Session {
    const existing = this.sessions.get(endpoint);
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const url = new URL(endpoint);
    if (this.usesTls) url.protocol = 'https:';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const tls = this.options.tls ?? {};
    const session = http2.connect(url.origin, {
      ...(this.usesTls
        ? {
            ...(tls.ca ? { ca: tls.ca } : {}),
            ...(tls.cert ? { cert: tls.cert } : {}),
            ...(tls.key ? { key: tls.key } : {}),
            ...(isIP(host) === 0 ? { servername: host } : {}),
          }
        : {}),
    });
    const forget = () => {
      if (this.sessions.get(endpoint) === session) this.sessions.delete(endpoint);
    };
    // Errors reach the streams on the session; the session only has to be forgotten.
    session.on('error', forget);
    session.on('close', forget);
    session.on('goaway', forget);
    // TCP keepalive notices a peer that vanished under a long watch.
    session.on('connect', (_s, socket) => socket.setKeepAlive(true, 10_000));
    this.sessions.set(endpoint, session);
    return session;
  }

  /**
   * Drops the connection to an endpoint that did not answer at all (etcd
   * answers a call past its grpc-timeout itself): the watches on it end and
   * start again elsewhere rather than wait on a connection that may be dead.
   */
  private abandon(endpoint: string): void {
    const session = this.sessions.get(endpoint);
    if (session === undefined) return;
    this.sessions.delete(endpoint);
    session.destroy();
  }

  private request(endpoint: string, path: string, token: string | undefined, timeoutMs: number | undefined): ClientHttp2Stream {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    };
    if (timeoutMs !== undefined) headers['grpc-timeout'] = grpcTimeout(timeoutMs);
    if (token !== undefined) headers.token = token;
    const stream = this.session(endpoint).request(headers);
    this.open.add(stream);
    stream.on('close', () => this.open.delete(stream));
    return stream;
  }

  /** One unary call to one endpoint: the first message and the status, or the failure to get them. */
  private rpc(endpoint: string, path: string, message: Buffer, token: string | undefined, remainingMs: number): Promise<{ message: Buffer; status: GrpcStatus }> {
    return new Promise((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = this.request(endpoint, path, token, remainingMs);
      } catch (err) {
        return reject(err);
      }
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const timer = setTimeout(() => {
        settle(() => reject(new DeadlineError()));
        stream.close(http2.constants.NGHTTP2_CANCEL);
        this.abandon(endpoint);
      }, remainingMs + SLACK_MS);
      const decoder = new FrameDecoder();
      const messages: Buffer[] = [];
      let status: GrpcStatus | undefined;
      let httpStatus = 0;
      stream.on('response', (headers) => {
        httpStatus = Number(headers[':status'] ?? 0);
        status = statusOf(headers) ?? status;
      });
      stream.on('trailers', (headers) => {
        status = statusOf(headers) ?? status;
      });
      stream.on('data', (chunk: Buffer) => {
        try {
          messages.push(...decoder.push(chunk));
        } catch (err) {
          settle(() => reject(err));
          stream.close(http2.constants.NGHTTP2_CANCEL);
        }
      });
      stream.on('error', (err) => settle(() => reject(err)));
      stream.on('close', () =>
        settle(() => {
          if (status !== undefined) return resolve({ message: messages[0] ?? Buffer.alloc(0), status });
          if (httpStatus !== 0 && httpStatus !== 200) {
            return resolve({ message: Buffer.alloc(0), status: { code: GRPC.UNAVAILABLE, message: `HTTP ${httpStatus} instead of a gRPC answer` } });
          }
          reject(closedWithoutAnswer(stream.rstCode));
        }),
      );
      stream.end(frame(message));
    });
  }

  private openWatch(
    endpoint: string,
    token: string | undefined,
    remainingMs: number,
    key: string,
    request: Buffer,
    listener: WatchListener,
  ): Promise<EtcdLiteWatch> {
    const op = `watch ${key}`;
    return new Promise<EtcdLiteWatch>((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        // No deadline on the stream itself: only its creation is bounded.
        stream = this.request(endpoint, PATHS.watch, token, undefined);
      } catch (err) {
        return reject(err);
      }
      const watch = new EtcdLiteWatch(endpoint, key, () => stream.close(http2.constants.NGHTTP2_CANCEL));
      let created = false;
      let ended = false;
      const createTimer = setTimeout(() => {
        fail(new DeadlineError());
        this.abandon(endpoint);
      }, remainingMs);
      const fail = (err: unknown) => {
        if (created || ended) return;
        ended = true;
        clearTimeout(createTimer);
        watch.cancel();
        reject(err);
      };
      const end = (err: EtcdLiteError) => {
        if (ended || watch.canceled || this.isClosed) return;
        ended = true;
        watch.cancel();
        listener.onEnd(err);
      };
      const decoder = new FrameDecoder();
      let status: GrpcStatus | undefined;
      const onMessage = (message: Buffer) => {
        const r = pb.decodeWatchResponse(message);
        if (!created) {
          clearTimeout(createTimer);
          if (r.canceled) {
            const reason = r.cancelReason || 'canceled at creation';
            const error = answered(endpoint, `Chainfire at ${endpoint}: ${op} was refused: ${reason}`, undefined, {
              ...(r.compactRevision > 0 ? { compactRevision: r.compactRevision } : {}),
            });
            // etcd 3.4 refuses a watch with a stale token as "permission denied": try once with a new token.
            return fail(token !== undefined && /invalid auth token|permission denied/i.test(reason) ? new Stale(error) : error);
          }
          created = true;
          resolve(watch);
          // The creation answer carries no events.
          if (r.created) return;
        }
        if (r.canceled) {
          return end(
            new EtcdLiteError(
              endpoint,
              r.compactRevision > 0
                ? `Chainfire at ${endpoint}: ${op}: revision ${r.compactRevision - 1} and older were compacted`
                : `Chainfire at ${endpoint}: ${op} was canceled: ${r.cancelReason || 'no reason given'}`,
              r.compactRevision > 0 ? { compactRevision: r.compactRevision } : {},
            ),
          );
        }
        listener.onEvents(r.events, r.header.revision);
      };
      stream.on('response', (headers) => {
        status = statusOf(headers) ?? status;
      });
      stream.on('trailers', (headers) => {
        status = statusOf(headers) ?? status;
      });
      stream.on('data', (chunk: Buffer) => {
        if (ended || watch.canceled) return;
        try {
          for (const m of decoder.push(chunk)) {
            if (ended || watch.canceled) return;
            onMessage(m);
          }
        } catch (err) {
          const error = new EtcdLiteError(endpoint, `Chainfire at ${endpoint}: ${op}: cannot read the answer: ${errText(err)}`, { cause: err });
          if (!created) fail(error);
          else end(error);
        }
      });
      stream.on('error', (err) => {
        if (!created) return fail(err);
        end(new EtcdLiteError(endpoint, `Chainfire at ${endpoint}: ${op}: the stream broke: ${errText(err)}`, { cause: err }));
      });
      stream.on('close', () => {
        if (!created) {
          if (status !== undefined && status.code !== GRPC.OK) {
            const error = refusal(endpoint, op, status, this.options.auth?.user);
            return fail(token !== undefined && isInvalidTokenMessage(status.message) ? new Stale(error) : error);
          }
          return fail(closedWithoutAnswer(stream.rstCode));
        }
        end(
          new EtcdLiteError(
            endpoint,
            `Chainfire at ${endpoint}: ${op}: the stream ended${status !== undefined && status.code !== GRPC.OK ? `: ${status.message}` : ''}`,
            status !== undefined ? { grpcCode: status.code } : {},
          ),
        );
      });
      stream.write(request);
    });
  }
}

/** An answer that may come from a stale token: the caller gets a new token and tries once more. */
class Stale extends Error {
  readonly error: EtcdLiteError;
  constructor(error: EtcdLiteError) {
    super(error.message);
    this.error = error;
  }
}

/** A call that got no answer within its deadline. */
class DeadlineError extends Error {
  constructor() {
    super('deadline exceeded');
    this.name = 'DeadlineError';
  }
}

/** etcd's refusal of a call; one that concerns who asked (permission denied) names the user. */
function refusal(endpoint: string, op: string, status: GrpcStatus, user?: string): EtcdLiteError {
  const as = user !== undefined && etcdAnswerCode(status.message, status.code) === 'ACCESS_DENIED' ? ` as user ${user}` : '';
  return answered(endpoint, `Chainfire at ${endpoint}: ${op}${as} failed: ${status.message || `gRPC status ${status.code}`}`, status.code);
}

/** The error for an answer of etcd, cast at this boundary: access refused, out of space (with what to do), or UNAVAILABLE. */
function answered(endpoint: string, message: string, grpcCode: number | undefined, options: { compactRevision?: number } = {}): EtcdLiteError {
  const code = etcdAnswerCode(message, grpcCode);
  return new EtcdLiteError(endpoint, explainAnswer(message), {
    ...options,
    ...(grpcCode !== undefined ? { grpcCode } : {}),
    ...(code !== undefined ? { code } : {}),
  });
}

/** A stream that closed with neither an answer nor an error: the connection went away under it. */
function closedWithoutAnswer(rstCode: number | undefined): Error {
  return Object.assign(new Error(`the connection closed before an answer${rstCode ? ` (HTTP/2 reset code ${rstCode})` : ''}`), { code: 'ECONNRESET' });
}

/** One error for failures at several endpoints: each distinct message once. */
function combine(failures: EtcdLiteError[]): EtcdLiteError {
  const messages = [...new Set(failures.map((f) => f.message))];
  const last = failures[failures.length - 1]!;
  if (messages.length === 1) return last;
  return new EtcdLiteError(last.endpoint, messages.join('; '), { ...(last.grpcCode !== undefined ? { grpcCode: last.grpcCode } : {}), cause: last, code: last.code });
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

function errText(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ? `${(err as NodeJS.ErrnoException).code}: ${err.message}` : err.message;
  return String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

