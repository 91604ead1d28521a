import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import { MembershipError } from '../errors.js';
import {
  HttpAnswerTooLargeError,
  HttpStatusError,
  HttpTransportError,
  abortReason,
  bodyProblem,
  createDispatcher,
  describeAnswer,
  isTransientError,
  isTransientStatus,
  jsonRequest,
  tlsFieldsOf,
  withRetries,
  zodIssues,
  type JsonRequestOptions,
  type JsonResponse,
} from './http.js';
import { LeaderHosts } from './leader-hosts.js';
import type { HttpServiceOptions } from './types.js';

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
  /** told of a leader hint or redirect that is not followed (each one at most once a minute), e.g. to log it */
  onRefusedLeader?: (message: string) => void;
}

/** How often one refused leader hint is told to onRefusedLeader. */
const REFUSAL_TOLD_EVERY_MS = 60_000;

/** What an answer says about the leader: nothing, a leader to go to, or one that is not followed and why. */
type LeaderHint = { leader: string } | { refused: string } | undefined;

/**
 * Sends calls to a replicated service: the last endpoint that answered (or the
 * leader an answer named) first, then the configured endpoints in order, moving
 * to the next one after each transient failure. A leader an answer names is
 * followed only on a configured or allowed host (LeaderHosts), and at most
 * endpoints + 1 times per call. Every answer that is not transient is
 * returned for the driver to interpret (`expectBody` checks a 2xx body's
 * shape); transient failures that outlast the retries become UNAVAILABLE
 * naming each endpoint and its last failure.
 */
export class ServiceClient {
  readonly service: string;
  readonly endpoints: readonly string[];
  private readonly options: ServiceClientOptions;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly leaderHosts: LeaderHosts;
  /** refusal message -> when it was last told */
  private readonly refusalsTold = new Map<string, number>();
  private preferred: string | undefined;

  constructor(options: ServiceClientOptions) {
    if (options.endpoints.length === 0) throw new MembershipError('CONFIG_INVALID', `${options.service}: no endpoint configured`);
    this.options = options;
    this.service = options.service;
    this.endpoints = options.endpoints.map(normalizeEndpoint);
    const block = options.service.toLowerCase();
    this.leaderHosts = new LeaderHosts(options.service, `${block}.allowedLeaderHosts`, this.endpoints, options.allowedLeaderHosts);
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ?? createDispatcher(options.tls, { connectTimeoutMs: options.requestTimeoutMs, names: tlsFieldsOf(`${block}.tls`) });
  }

  /** The endpoint the next call tries first, if any is known. */
  get preferredEndpoint(): string | undefined {
    return this.preferred;
  }

  /**
   * Records a leader named out of band, if it may be followed; a refused one
   * is told to onRefusedLeader. `how`: where it was named, "in its member list".
   */
  noteLeader(leader: string, namedBy: string, how?: string): void {
    const hint = this.acceptLeader(leader, namedBy, how);
    if (hint === undefined) return;
    if ('leader' in hint) this.preferred = hint.leader;
    else this.tellRefusal(hint.refused);
  }

  async call(c: ServiceCall): Promise<ServiceResponse> {
    const order = this.order();
    let index = 0;
    let hops = 0;
    // Bounded, so that replicas naming each other cannot keep a call going.
    const maxHops = this.endpoints.length + 1;
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
          const hint = this.leaderNamedBy(res, endpoint, c.path);
          if (hint !== undefined && 'refused' in hint) {
            this.tellRefusal(hint.refused);
            failedAt(endpoint, `answered ${describeAnswer(res)}: ${hint.refused}`);
            throw new HttpStatusError(res);
          }
          if (hint !== undefined && hops >= maxHops) {
            failedAt(endpoint, `answered ${describeAnswer(res)}: not followed, after ${hops} leader hints in one call (do the replicas name each other as leader?)`);
            throw new HttpStatusError(res);
          }
          if (hint !== undefined) {
            failures.push({ endpoint, detail: `answered ${describeAnswer(res)}`, hint: undefined });
            hops += 1;
            this.preferred = hint.leader;
            order.splice(0, order.length, hint.leader, ...order.filter((e) => e !== hint.leader));
            index = 0;
            throw new LeaderRedirect(endpoint, hint.leader);
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
          consumesRetry: (err) => !(err instanceof LeaderRedirect),
        },
      );
    } catch (err) {
      if (c.signal?.aborted) throw abortReason(c.signal);
      if (err instanceof MembershipError) throw err;
      if (err instanceof HttpAnswerTooLargeError) {
        throw new MembershipError('SERVICE_ERROR', `${this.service}: ${this.asked(c)}: ${err.url} answered badly: HTTP ${err.status} with ${err.detail}`);
      }
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

  /**
   * SERVICE_ERROR for a success whose body is not what the API promises: it
   * is not taken as done, and the work queue asks again later.
   */
  badAnswer(c: ServiceCall, res: ServiceResponse, problem: string): MembershipError {
    return new MembershipError(
      'SERVICE_ERROR',
      `${this.service}: ${this.asked(c)}: ${res.url} answered badly: ${describeAnswer(res)}: ${problem}; not taken as done`,
    );
  }

  /** The body of a success, checked against `schema`; `expected` says in words what the API promises. */
  expectBody<T>(c: ServiceCall, res: ServiceResponse, schema: z.ZodType<T>, expected: string): T {
    const problem = bodyProblem(res);
    if (problem !== undefined) throw this.badAnswer(c, res, `${problem}; expected ${expected}`);
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) throw this.badAnswer(c, res, `${zodIssues(parsed.error)}; expected ${expected}`);
    return parsed.data;
  }

  /**
   * A success that carries nothing the driver needs (a removal): no body, or
   * a JSON object, whose `id`, if it has one, is `id`. An HTML page or a body
   * about another id is not a removal.
   */
  expectNoneOrObject(c: ServiceCall, res: ServiceResponse, id: string): void {
    if (res.status === 204 || res.text.trim() === '') return;
    const problem = bodyProblem(res);
    if (problem !== undefined) throw this.badAnswer(c, res, `${problem}; expected no body or a JSON object`);
    if (typeof res.body !== 'object' || res.body === null || Array.isArray(res.body)) throw this.badAnswer(c, res, 'expected no body or a JSON object');
    const named = (res.body as { id?: unknown }).id;
    if (named !== undefined && named !== id) throw this.badAnswer(c, res, `it names ${JSON.stringify(named)}, not ${id}`);
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  private asked(c: ServiceCall): string {
    return `${c.what} (${c.method} ${c.path})`;
  }

  /** Each refused hint is told at most once a minute: a replica that keeps naming a foreign host does not flood the log. */
  private tellRefusal(message: string): void {
    if (this.options.onRefusedLeader === undefined) return;
    const now = Date.now();
    const told = this.refusalsTold.get(message);
    if (told !== undefined && now - told < REFUSAL_TOLD_EVERY_MS) return;
    if (this.refusalsTold.size >= 100) this.refusalsTold.clear();
    this.refusalsTold.set(message, now);
    this.options.onRefusedLeader(`${this.service}: ${message}`);
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
  private leaderNamedBy(res: JsonResponse, endpoint: string, path: string): LeaderHint {
    let raw: string | undefined;
    if (res.status === 503) {
      const leader = (res.body as { leader?: unknown } | undefined)?.leader;
      if (typeof leader === 'string' && leader !== '') raw = leader;
    } else if (res.status === 307 || res.status === 308) {
      const location = res.headers.location;
      const loc = Array.isArray(location) ? location[0] : location;
      if (loc !== undefined) {
        let target: URL;
        try {
          target = new URL(loc, res.url);
        } catch {
          return { refused: `redirect to ${JSON.stringify(loc.slice(0, 200))} from ${endpoint} (HTTP ${res.status}) is not followed: not a URL` };
        }
        // The Location names the resource; the leader's endpoint is what precedes our path.
        const pathname = target.pathname.endsWith(path) ? target.pathname.slice(0, -path.length) : '';
        raw = `${target.protocol}//${target.host}${pathname}`;
      }
    }
    if (raw === undefined) return undefined;
    const hint = this.acceptLeader(raw, endpoint, `HTTP ${res.status}`);
    return hint !== undefined && 'leader' in hint && hint.leader === endpoint ? undefined : hint;
  }

  /**
   * Only http(s) URLs on a configured or allowed host, and never from https
   * to http: a replica must talk us neither out of TLS nor to another host.
   * A hint that is not a URL at all is no hint (a plain 503).
   */
  private acceptLeader(raw: string, namedBy: string, how?: string): LeaderHint {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return undefined;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    const named = `leader ${url.protocol}//${url.host} named by ${namedBy}${how !== undefined ? ` (${how})` : ''} is not followed`;
    if (url.username !== '' || url.password !== '') return { refused: `${named}: its URL carries credentials` };
    if (namedBy.startsWith('https:') && url.protocol !== 'https:') return { refused: `${named}: it would move the call from https to plain http` };
    const refusal = this.leaderHosts.refusal(url);
    if (refusal !== undefined) return { refused: `${named}: ${refusal}` };
    return { leader: normalizeEndpoint(raw) };
  }
}
