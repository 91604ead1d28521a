import type { IncomingHttpHeaders } from 'node:http';
import pRetry from 'p-retry';
import { Agent, request, type Dispatcher } from 'undici';
import { MembershipError } from '../errors.js';
import { readPemFile } from '../files.js';
import type { HttpServiceOptions } from './types.js';

/**
 * Shared HTTP plumbing of the service drivers (FlareDB, IAM): one JSON request
 * with a deadline, the TLS dispatcher, which failures are worth retrying, and
 * which endpoint gets the next attempt. A driver only maps answers to results.
 */

export type TlsFiles = NonNullable<HttpServiceOptions['tls']>;

/** The flags or config fields that messages name for the three TLS files. */
export interface TlsFileNames {
  ca: string;
  cert: string;
  key: string;
}

/** The config fields of a service's tls block: `flaredb.tls.caFile`, ... */
export function tlsFieldsOf(block: string): TlsFileNames {
  return { ca: `${block}.caFile`, cert: `${block}.certFile`, key: `${block}.keyFile` };
}

/**
 * An undici Agent that trusts `caFile` and, given both, presents a client
 * certificate. The private key is refused (CONFIG_INVALID) when group or
 * others may access it, as the controller and membershipctl refuse --key.
 */
export function createDispatcher(
  tls?: TlsFiles,
  options: { connectTimeoutMs?: number; names?: TlsFileNames } = {},
): Agent {
  const connect: { timeout?: number; ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  if (options.connectTimeoutMs !== undefined) connect.timeout = options.connectTimeoutMs;
  if (tls !== undefined) {
    const names = options.names ?? tlsFieldsOf('tls');
    if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
      throw new MembershipError('CONFIG_INVALID', `${names.cert} and ${names.key} must be given together (a client certificate and its private key)`);
    }
    connect.ca = readPemFile(names.ca, tls.caFile);
    if (tls.certFile !== undefined && tls.keyFile !== undefined) {
      connect.cert = readPemFile(names.cert, tls.certFile);
      connect.key = readPemFile(names.key, tls.keyFile, { insecureKey: 'refuse' });
    }
  }
  return new Agent({ connect });
}

/** No answer came back: `transient` says whether another attempt may succeed. */
export class HttpTransportError extends Error {
  readonly url: string;
  readonly transient: boolean;
  readonly detail: string;
  /** what a person might check, said once per message however many attempts failed this way */
  readonly hint: string | undefined;
  constructor(url: string, detail: string, transient: boolean, cause?: unknown, hint?: string) {
    super(`${url}: ${detail}${hint ? ` (${hint})` : ''}`);
    this.name = 'HttpTransportError';
    this.url = url;
    this.detail = detail;
    this.transient = transient;
    this.hint = hint;
    if (cause !== undefined) this.cause = cause;
  }
}

/** An answer that a retry may turn out differently (5xx, 429, not leader). */
export class HttpStatusError extends Error {
  readonly response: JsonResponse;
  readonly transient = true;
  constructor(response: JsonResponse) {
    super(`${response.url} answered ${describeAnswer(response)}`);
    this.name = 'HttpStatusError';
    this.response = response;
  }
}

export const isTransientStatus = (status: number): boolean => status === 429 || status >= 500;

/** The retry predicate: only errors that say so are transient; everything else fails at once. */
export function isTransientError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { transient?: unknown }).transient === true;
}

// Codes that mean the endpoint could not be reached now, not that the request is wrong.
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN',
  'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
]);

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown }; errors?: Array<{ code?: unknown }> } | undefined;
  const code = e?.code ?? e?.cause?.code ?? e?.errors?.[0]?.code;
  return typeof code === 'string' ? code : undefined;
}

function transportError(url: string, err: unknown): HttpTransportError {
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ECONNREFUSED') return new HttpTransportError(url, 'connection refused (ECONNREFUSED): nothing listens there', true, err);
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET') {
    // An https server hangs up on plain HTTP exactly like this, so say so.
    const hint = url.startsWith('http:') ? 'an endpoint that serves https closes plain-HTTP connections like this: its URL must start with https://' : undefined;
    return new HttpTransportError(url, `connection closed before an answer (${code}: ${message})`, true, err, hint);
  }
  if (code !== undefined && TRANSIENT_CODES.has(code)) return new HttpTransportError(url, `${code}: ${message}`, true, err);
  if (code !== undefined && (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|ALTNAME/.test(code))) {
    // Certificates do not fix themselves between two attempts a second apart.
    return new HttpTransportError(url, `TLS failed (${code}: ${message})`, false, err);
  }
  return new HttpTransportError(url, code ? `${code}: ${message}` : message, false, err);
}

export interface JsonRequestOptions {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  /** sent as JSON when given */
  body?: unknown;
  /** deadline of this one request, connect to last body byte */
  timeoutMs: number;
  /** the caller's signal: aborting it abandons the request at once */
  signal?: AbortSignal;
  dispatcher?: Dispatcher;
  headers?: Record<string, string>;
}

export interface JsonResponse {
  url: string;
  status: number;
  headers: IncomingHttpHeaders;
  /** the parsed body, or undefined when it is empty or not JSON */
  body: unknown;
  text: string;
}

/**
 * One request. Any answer is returned, whatever its status; no answer throws
 * HttpTransportError, and a caller's abort throws the signal's reason unchanged
 * (the controller aborts with NOT_LEADER and expects to see it again).
 */
export async function jsonRequest(opts: JsonRequestOptions): Promise<JsonResponse> {
  opts.signal?.throwIfAborted();
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  let payload: string | undefined;
  if (opts.body !== undefined) {
    payload = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  try {
    const res = await request(opts.url, {
      method: opts.method,
      headers,
      body: payload,
      signal,
      // undici's own timers as well: they also cover a stalled socket the signal would not see
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
    });
    const text = await res.body.text();
    return { url: opts.url, status: res.statusCode, headers: res.headers, body: parseJson(text), text };
  } catch (err) {
    if (opts.signal?.aborted) throw abortReason(opts.signal);
    const code = errorCode(err);
    if (deadline.aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      throw new HttpTransportError(opts.url, `no answer within ${opts.timeoutMs} ms (the request deadline)`, true, err);
    }
    throw transportError(opts.url, err);
  }
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The reason a signal was aborted with, as an Error. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(`aborted: ${String(reason)}`);
}

/** `HTTP 400 {"error":"…"}`, the body cut short: enough for a log line. */
export function describeAnswer(res: Pick<JsonResponse, 'status' | 'text'>): string {
  const text = res.text.trim().replace(/\s+/g, ' ');
  return text === '' ? `HTTP ${res.status}` : `HTTP ${res.status} ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
}

export interface RetryPolicy {
  /** retries after the first attempt */
  retries: number;
  minDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
  /** default: isTransientError */
  isTransient?: (err: Error) => boolean;
  /** false for a failure that should be retried at once without using up a retry (a leader redirect) */
  consumesRetry?: (err: Error) => boolean;
  onRetry?: (err: Error, attempt: number) => void;
}

/**
 * Runs `fn` until it succeeds, a failure is not transient, or the retries are
 * used up (then the last failure is thrown). Backoff doubles from 100 ms to at
 * most 2 s, with jitter. An abort of `signal` ends it at once with its reason.
 */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  const { signal } = policy;
  const transient = policy.isTransient ?? isTransientError;
  try {
    return await pRetry(
      (attempt) => {
        signal?.throwIfAborted();
        return fn(attempt);
      },
      {
        retries: policy.retries,
        minTimeout: policy.minDelayMs ?? 100,
        maxTimeout: policy.maxDelayMs ?? 2000,
        factor: 2,
        randomize: true,
        signal,
        shouldConsumeRetry: ({ error }) => policy.consumesRetry?.(error) ?? true,
        shouldRetry: ({ error }) => !signal?.aborted && transient(error),
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft > 0 && transient(error)) policy.onRetry?.(error, attemptNumber);
        },
      },
    );
  } catch (err) {
    if (signal?.aborted) throw abortReason(signal);
    throw err;
  }
}

/** A not-leader answer: retried at once at the leader it names, without using up a retry. */
class LeaderRedirect extends Error {
  readonly transient = true;
  constructor(
    readonly from: string,
    readonly leader: string,
  ) {
    super(`${from} is not the leader; the leader is ${leader}`);
    this.name = 'LeaderRedirect';
  }
}

/** Strips a trailing slash so that `endpoint + path` is always one URL. */
function normalizeEndpoint(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new MembershipError('CONFIG_INVALID', `endpoint ${JSON.stringify(raw)} is not a URL (expected e.g. https://10.0.1.10:2479)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MembershipError('CONFIG_INVALID', `endpoint ${raw} must use http:// or https://`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

interface Failure {
  endpoint: string;
  detail: string;
  hint: string | undefined;
}

export interface ServiceCall {
  method: JsonRequestOptions['method'];
  /** starts with "/"; appended to the endpoint */
  path: string;
  body?: unknown;
  signal?: AbortSignal;
  /** what was asked, in words, for error messages: "add member node04 (raft_addr 10.0.1.13:2480)" */
  what: string;
}

export interface ServiceResponse extends JsonResponse {
  endpoint: string;
}

export interface ServiceClientOptions extends HttpServiceOptions {
  /** the service's name in messages: "FlareDB" */
  service: string;
  /** a dispatcher to use instead of one made from `tls` (not closed by close()) */
  dispatcher?: Dispatcher;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** told of each transient failure that will be retried, e.g. to log it */
  onRetry?: (err: Error, attempt: number) => void;
}

/**
 * Sends calls to a replicated service: the last endpoint that answered (or the
 * leader an answer named) first, then the configured endpoints in order, moving
 * to the next one after each transient failure. Every answer that is not
 * transient is returned for the driver to interpret; transient failures that
 * outlast the retries become UNAVAILABLE naming each endpoint and its last failure.
 */
export class ServiceClient {
  readonly service: string;
  readonly endpoints: readonly string[];
  private readonly options: ServiceClientOptions;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private preferred: string | undefined;

  constructor(options: ServiceClientOptions) {
    if (options.endpoints.length === 0) throw new MembershipError('CONFIG_INVALID', `${options.service}: no endpoint configured`);
    this.options = options;
    this.service = options.service;
    this.endpoints = options.endpoints.map(normalizeEndpoint);
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ??
      createDispatcher(options.tls, { connectTimeoutMs: options.requestTimeoutMs, names: tlsFieldsOf(`${options.service.toLowerCase()}.tls`) });
  }

  /** The endpoint the next call tries first, if any is known. */
  get preferredEndpoint(): string | undefined {
    return this.preferred;
  }

  /** Records a leader named out of band (e.g. in a member list), if it is an acceptable URL. */
  noteLeader(leader: string, namedBy: string): void {
    const url = this.acceptLeader(leader, namedBy);
    if (url !== undefined) this.preferred = url;
  }

  async call(c: ServiceCall): Promise<ServiceResponse> {
    const order = this.order();
    let index = 0;
    let redirects = 0;
    const maxRedirects = this.endpoints.length + 1;
    const failures: Failure[] = [];
    const failedAt = (endpoint: string, detail: string, hint?: string) => {
      failures.push({ endpoint, detail, hint });
      if (this.preferred === endpoint) this.preferred = undefined;
      index += 1;
    };
    try {
      return await withRetries(
        async () => {
          const endpoint = order[index % order.length] as string;
          let res: JsonResponse;
          try {
            res = await jsonRequest({
              method: c.method,
              url: endpoint + c.path,
              body: c.body,
              timeoutMs: this.options.requestTimeoutMs,
              dispatcher: this.dispatcher,
              ...(c.signal ? { signal: c.signal } : {}),
            });
          } catch (err) {
            if (err instanceof HttpTransportError) failedAt(endpoint, err.detail, err.hint);
            throw err;
          }
          const leader = this.leaderNamedBy(res, endpoint, c.path);
          if (leader !== undefined) {
            failures.push({ endpoint, detail: `answered ${describeAnswer(res)}`, hint: undefined });
            redirects += 1;
            this.preferred = leader;
            order.splice(0, order.length, leader, ...order.filter((e) => e !== leader));
            index = 0;
            throw new LeaderRedirect(endpoint, leader);
          }
          if (isTransientStatus(res.status)) {
            failedAt(endpoint, `answered ${describeAnswer(res)}`);
            throw new HttpStatusError(res);
          }
          this.preferred = endpoint;
          return { ...res, endpoint };
        },
        {
          retries: this.options.retries,
          ...(c.signal ? { signal: c.signal } : {}),
          ...(this.options.minDelayMs !== undefined ? { minDelayMs: this.options.minDelayMs } : {}),
          ...(this.options.maxDelayMs !== undefined ? { maxDelayMs: this.options.maxDelayMs } : {}),
          ...(this.options.onRetry ? { onRetry: this.options.onRetry } : {}),
          // Bounded, so that two replicas naming each other cannot loop forever.
          consumesRetry: (err) => !(err instanceof LeaderRedirect) || redirects > maxRedirects,
        },
      );
    } catch (err) {
      if (c.signal?.aborted) throw abortReason(c.signal);
      if (err instanceof MembershipError) throw err;
      if (err instanceof HttpTransportError && !err.transient) {
        const tls = err.detail.startsWith('TLS failed') ? `; ${this.tlsHint()}` : '';
        throw new MembershipError('UNAVAILABLE', `${this.service}: ${this.asked(c)}: ${err.message}${tls} (not retried: another attempt would fail the same way)`, { cause: err });
      }
      if (isTransientError(err)) throw new MembershipError('UNAVAILABLE', this.exhausted(c, failures), { cause: err });
      throw err;
    }
  }

  /**
   * SERVICE_ERROR for an answer the driver did not expect: what was asked, of
   * whom, what came back. A 401 or 403 is ACCESS_DENIED: the service refused
   * this client, which no retry changes; the message says which certificate it presented.
   */
  unexpected(c: ServiceCall, res: ServiceResponse, explanation?: string): MembershipError {
    const answer = `${this.service}: ${this.asked(c)}: ${res.url} answered ${describeAnswer(res)}`;
    if (res.status === 401 || res.status === 403) return new MembershipError('ACCESS_DENIED', `${answer}: ${this.accessHint()}`);
    return new MembershipError('SERVICE_ERROR', `${answer}${explanation ? `: ${explanation}` : ''}`);
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  private asked(c: ServiceCall): string {
    return `${c.what} (${c.method} ${c.path})`;
  }

  private accessHint(): string {
    const block = `${this.service.toLowerCase()}.tls`;
    const cert = this.options.tls?.certFile;
    return cert !== undefined
      ? `${this.service} refused this client's certificate ${cert} (${block}.certFile): it must be one that ${this.service} grants this access; not retried`
      : `${this.service} refused this client, which presents no certificate: configure ${block}.certFile and ${block}.keyFile; not retried`;
  }

  private tlsHint(): string {
    const tls = this.options.tls;
    if (this.options.dispatcher !== undefined) return 'check the dispatcher\'s CA and that the certificate covers this address';
    if (tls === undefined) return 'no CA file is configured, so only the system CAs are trusted: configure the CA that signed the service\'s certificate';
    return `check that ${tls.caFile} is the CA that signed the service's certificate and that the certificate covers this address`;
  }

  private order(): string[] {
    const p = this.preferred;
    return p === undefined ? [...this.endpoints] : [p, ...this.endpoints.filter((e) => e !== p)];
  }

  private exhausted(c: ServiceCall, failures: Failure[]): string {
    const last = new Map<string, { detail: string; times: number }>();
    for (const f of failures) last.set(f.endpoint, { detail: f.detail, times: (last.get(f.endpoint)?.times ?? 0) + 1 });
    const tried = [...last].map(([e, f]) => `${e} ${f.detail}${f.times > 1 ? ` (${f.times} times)` : ''}`);
    const untried = this.endpoints.filter((e) => !last.has(e));
    const hints = [...new Set(failures.map((f) => f.hint).filter((h) => h !== undefined))];
    return (
      `${this.service}: ${this.asked(c)} failed after ${failures.length} attempt(s), ${this.options.retries} retries allowed: ` +
      `${tried.join('; ')}${untried.length > 0 ? `; not tried: ${untried.join(', ')}` : ''}. ` +
      `Check that ${this.service} runs and has a leader at ${this.endpoints.join(', ')}` +
      (hints.length > 0 ? `; ${hints.join('; ')}` : '')
    );
  }

  /**
   * The leader an answer points to: `503 {"leader": url}` or a 307/308
   * `Location`. Ignored when it is the endpoint that answered (no progress).
   */
  private leaderNamedBy(res: JsonResponse, endpoint: string, path: string): string | undefined {
    let raw: string | undefined;
    if (res.status === 503) {
      const leader = (res.body as { leader?: unknown } | undefined)?.leader;
      if (typeof leader === 'string' && leader !== '') raw = leader;
    } else if (res.status === 307 || res.status === 308) {
      const location = res.headers.location;
      const loc = Array.isArray(location) ? location[0] : location;
      if (loc !== undefined) {
        const target = new URL(loc, res.url);
        // The Location names the resource; the leader's endpoint is what precedes our path.
        const pathname = target.pathname.endsWith(path) ? target.pathname.slice(0, -path.length) : '';
        raw = `${target.origin}${pathname}`;
      }
    }
    if (raw === undefined) return undefined;
    const leader = this.acceptLeader(raw, endpoint);
    return leader === endpoint ? undefined : leader;
  }

  /** Only http(s) URLs, and never https to http: a follower must not talk us out of TLS. */
  private acceptLeader(raw: string, namedBy: string): string | undefined {
    let leader: string;
    try {
      leader = normalizeEndpoint(raw);
    } catch {
      return undefined;
    }
    if (namedBy.startsWith('https:') && !leader.startsWith('https:')) return undefined;
    return leader;
  }
}
