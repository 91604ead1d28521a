import { ConsecutiveBreaker, circuitBreaker, handleWhen, retry, type IPolicy } from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import { MembershipError } from '../errors.js';
import { readCertAndKey, readPemFile, type KeyFileCheck } from '../files.js';
import type { ConnectionOptions } from './connection-options.js';
import { diagnose, etcdAnswerCode, explainFailure, type ExplainContext } from './etcd-lite/explain.js';

export {
  DEFAULT_CALL_TIMEOUT_MS,
  DEFAULT_ENDPOINTS,
  resolveConnection,
  type ConnectionOptions,
  type KeyFileCheck,
  type RawConnectionFlags,
} from './connection-options.js';

export function connect(options: ConnectionOptions, keyCheck: KeyFileCheck = {}): Etcd3 {
  const usesTls = options.endpoints.some((e) => e.startsWith('https:'));
  const etcdOptions: IOptions = {
    hosts: options.endpoints,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + options.callTimeoutMs }),
    faultHandling: {
      // etcd3 counts RESOURCE_EXHAUSTED as recoverable; etcd's NOSPACE alarm is not, until an operator acts.
      global: explainingFailures(retry(handleWhen((err) => isRecoverableError(err) && etcdAnswerCode(err.message) !== 'RESOURCE_EXHAUSTED'), { maxAttempts: 3 }), options),
      // etcd3's default breaker also trips on answers such as "etcdserver: unhealthy
      // cluster" (a refused member add), and then fails every call to that host
      // locally for 5 s, status writes included. Trip only when the host itself fails.
      host: () =>
        circuitBreaker(
          handleWhen((err) => isRecoverableError(err) && !/etcdserver:/.test(err.message)),
          { halfOpenAfter: 5000, breaker: new ConsecutiveBreaker(3) },
        ),
    },
  };
  if (usesTls || options.cacert !== undefined) {
    if (options.cacert === undefined) {
      throw new MembershipError('USAGE', '--cacert is required for https:// endpoints (the CA that signed Chainfire\'s certificate)');
    }
    const credentials: NonNullable<IOptions['credentials']> = { rootCertificate: readPemFile('--cacert', options.cacert) };
    if (options.cert !== undefined && options.key !== undefined) {
      const pair = readCertAndKey({ field: '--cert', path: options.cert }, { field: '--key', path: options.key }, keyCheck);
      credentials.certChain = pair.cert;
      credentials.privateKey = pair.key;
    }
    etcdOptions.credentials = credentials;
  }
  if (options.user !== undefined && options.password !== undefined) {
    etcdOptions.auth = { username: options.user, password: options.password };
  }
  return new Etcd3(etcdOptions);
}

// ---------------------------------------------------------------------------
// Failures to reach Chainfire, explained. grpc-js reports a wrong scheme, a
// missing client certificate or an untrusted server certificate as
// "14 UNAVAILABLE: No connection established. Last error: <OpenSSL dump>".
// The wrapper below rewrites the message of such failures (never of answers
// etcd gave) to say what is wrong and which flag fixes it. The error keeps
// its class, so retries and circuit breakers see what they saw before.

const explained = new WeakSet<object>();

/** The retry policy etcd3 runs every unary call through, with failures to connect explained. */
function explainingFailures(inner: IPolicy, options: ConnectionOptions): IPolicy {
  const probe = tlsProbe();
  return {
    _altReturn: undefined as never,
    onSuccess: inner.onSuccess,
    onFailure: inner.onFailure,
    // etcd3 rethrows the error of the last attempt rather than what the policy
    // throws (a broken circuit, say), so each attempt's error is explained.
    execute(fn, signal) {
      return inner.execute(async (context) => {
        try {
          return await fn(context);
        } catch (err) {
          await explainConnectionFailure(err, options, probe);
          throw err;
        }
      }, signal);
    },
  };
}

const CONNECT_FAILURE = /No connection established|Failed to connect|failed to connect to all addresses|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|SSL routines|alert|certificate|TLS/i;

/** The low-level part of a grpc-js connection failure: what follows "Last error:", without timestamps and notes. */
function lastError(message: string): string {
  const last = /Last error: ([\s\S]*?)(?:\s*\(\d{4}-\d\d-\d\dT[^)]*\))?\.?\s*(?:Resolution note:[\s\S]*)?$/.exec(message)?.[1] ?? message;
  return last.replace(/^\d+ [A-Z_]+: /, '').replace(/^Error: /, '').trim();
}

/** Whether an endpoint serves TLS, asked at most every 30 s per endpoint of one client. */
function tlsProbe(): (endpoint: string) => Promise<boolean> {
  const asked = new Map<string, { at: number; answer: Promise<boolean> }>();
  return (endpoint) => {
    const last = asked.get(endpoint);
    if (last !== undefined && Date.now() - last.at < 30_000) return last.answer;
    const answer = diagnose(endpoint, undefined).then((d) => d.kind === 'serves-tls');
    asked.set(endpoint, { at: Date.now(), answer });
    return answer;
  };
}

/** Rewrites the message of a failure to reach Chainfire in the words the agent's client uses (explain.ts). */
async function explainConnectionFailure(
  err: unknown,
  options: ConnectionOptions,
  probe: (endpoint: string) => Promise<boolean>,
): Promise<void> {
  if (!(err instanceof Error) || explained.has(err)) return;
  const original = err.message;
  if (/etcdserver:/.test(original) || !CONNECT_FAILURE.test(original)) return;
  const usesTls = options.endpoints.some((e) => e.startsWith('https:')) || options.cacert !== undefined;
  // A TLS port answers a plaintext HTTP/2 client by closing the connection,
  // which grpc-js reports as a bare "Failed to connect" (no errno): only
  // then is it worth asking whether the port speaks TLS.
  const bareFailure = !usesTls && /Failed to connect/.test(original) && !/\bE[A-Z]{3,}\b/.test(original);
  const tlsEndpoint = bareFailure ? await firstTlsEndpoint(options.endpoints, probe) : undefined;
  const context: ExplainContext = {
    endpoint: tlsEndpoint ?? options.endpoints.join(','),
    usesTls,
    ...(options.cacert !== undefined ? { cacertFile: options.cacert } : {}),
    ...(options.cert !== undefined ? { certFile: options.cert } : {}),
  };
  err.message = explainFailure(new Error(lastError(original)), context, tlsEndpoint !== undefined ? { kind: 'serves-tls' } : { kind: 'unknown' });
  explained.add(err);
}

async function firstTlsEndpoint(endpoints: string[], probe: (endpoint: string) => Promise<boolean>): Promise<string | undefined> {
  const answers = await Promise.all(endpoints.map(async (e) => ((await probe(e)) ? e : undefined)));
  return answers.find((e) => e !== undefined);
}
