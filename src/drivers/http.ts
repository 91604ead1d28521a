import type { IncomingHttpHeaders } from 'node:http';
import pRetry from 'p-retry';
import { Agent, request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { MembershipError } from '../errors.js';
import { readPemFile } from '../files.js';
import type { HttpServiceOptions } from './types.js';

/**
 * Shared HTTP plumbing of the service drivers (FlareDB, IAM): one JSON request
 * with a deadline and a bounded body, the TLS dispatcher, which failures are
 * worth retrying, and how an answer is quoted. Which endpoint gets the next
 * attempt is ServiceClient's (service-client.ts).
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

/**
 * The most of an answer's body that is read. The admin APIs answer in a few
 * kilobytes; a bigger answer is a bad answer, and must not fill the memory.
 */
export const MAX_ANSWER_BYTES = 1024 * 1024;

/** An answer whose body is over the limit: not read further, never taken for an answer. */
export class HttpAnswerTooLargeError extends Error {
  readonly transient = false;
  constructor(
    readonly url: string,
    readonly status: number,
    readonly detail: string,
  ) {
    super(`${url} answered HTTP ${status} with ${detail}`);
    this.name = 'HttpAnswerTooLargeError';
  }
}

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
  /** the most of the body read (default MAX_ANSWER_BYTES); more is HttpAnswerTooLargeError */
  maxBodyBytes?: number;
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
 * HttpTransportError, a body over `maxBodyBytes` HttpAnswerTooLargeError, and
 * a caller's abort throws the signal's reason unchanged (the controller
 * aborts with NOT_LEADER and expects to see it again).
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
    const text = await readBody(opts.url, res, opts.maxBodyBytes ?? MAX_ANSWER_BYTES);
    return { url: opts.url, status: res.statusCode, headers: res.headers, body: parseJson(text), text };
  } catch (err) {
    if (opts.signal?.aborted) throw abortReason(opts.signal);
    if (err instanceof HttpAnswerTooLargeError) throw err;
    const code = errorCode(err);
    if (deadline.aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      throw new HttpTransportError(opts.url, `no answer within ${opts.timeoutMs} ms (the request deadline)`, true, err);
    }
    throw transportError(opts.url, err);
  }
}

/** The body as text, read no further than `max` bytes (a declared length over it is not read at all). */
async function readBody(url: string, res: Dispatcher.ResponseData, max: number): Promise<string> {
  const limit = max >= 1024 * 1024 && max % (1024 * 1024) === 0 ? `${max / (1024 * 1024)} MiB` : `${max} bytes`;
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    res.body.destroy();
    throw new HttpAnswerTooLargeError(url, res.statusCode, `a body of ${declared} bytes (its content-length), over the ${limit} an answer may have; not read`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      res.body.destroy();
      throw new HttpAnswerTooLargeError(url, res.statusCode, `a body over the ${limit} an answer may have; not read further`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
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

/**
 * `HTTP 400 {"error":"…"}`, the body cut short and its control characters
 * escaped: enough for a log line or a status message, and nothing a
 * service sends can move a terminal's cursor when it is printed.
 */
export function describeAnswer(res: Pick<JsonResponse, 'status' | 'text'>): string {
  const text = res.text
    .slice(0, 1000)
    .trim()
    .replace(/\s+/g, ' ')
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return text === '' ? `HTTP ${res.status}` : `HTTP ${res.status} ${text.length > 200 || res.text.length > 1000 ? `${text.slice(0, 200)}…` : text}`;
}

/** What is wrong with a body before its shape is looked at: empty, or not JSON. */
export function bodyProblem(res: Pick<JsonResponse, 'body' | 'text'>): string | undefined {
  const text = res.text.trim();
  if (text === '') return 'the body is empty';
  if (res.body === undefined) return /^<(!doctype|html|\?xml|head|body)/i.test(text) ? 'the body is not JSON (an HTML page)' : 'the body is not JSON';
  return undefined;
}

/** zod's issues as `field: problem`, the first three. */
export function zodIssues(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : 'body'}: ${i.message}`)
    .join('; ');
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
