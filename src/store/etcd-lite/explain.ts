/**
 * Failures to reach Chainfire, explained: what is wrong and which flag fixes
 * it, naming the endpoint. The agent's client and, for the same failures
 * through etcd3, membershipctl and the controller (src/store/connection.ts)
 * both explain with `explainFailure`.
 *
 * A TLS port closes a plaintext client without a word, and a TLS server that
 * refuses a client certificate may close the connection before its alert is
 * read. For those, `diagnose` makes one TLS connection of its own with the
 * same files and reads what the server says.
 */
import { connect as tlsConnect } from 'node:tls';

/** What the explanations need to know about the connection. */
export interface ExplainContext {
  endpoint: string;
  /** whether the client speaks TLS (https:// endpoints or --cacert) */
  usesTls: boolean;
  /** the --cacert and --cert files, to name them */
  cacertFile?: string;
  certFile?: string;
}

/** What a TLS connection of our own learned about an endpoint. */
export type Diagnosis =
  | { kind: 'serves-tls' }
  | { kind: 'no-tls' }
  | { kind: 'tls-error'; message: string }
  | { kind: 'unknown' };

/** The error's message with the messages and codes of its causes, as one line to match on. */
export function failureText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (e instanceof Error) {
      const code = (e as NodeJS.ErrnoException).code;
      parts.push(code !== undefined ? `${code}: ${e.message}` : e.message);
      e = (e as { cause?: unknown }).cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(' <- ');
}

/** The useful part of an OpenSSL error: "TLS alert: bad certificate", "TLS: wrong version number". */
export function tlsDetail(message: string): string | undefined {
  const alert = /alert ([a-z ]+?)(?::|$)/m.exec(message);
  if (alert) return `TLS alert: ${alert[1]}`;
  const ssl = /SSL routines:[^:]*:([^:]+)/.exec(message);
  if (ssl) return `TLS: ${ssl[1]}`;
  return undefined;
}

const CLIENT_CERT_REFUSED = /alert (bad certificate|certificate required|unknown ca|certificate unknown|handshake failure|access denied|unsupported certificate|decrypt error)/i;
const SERVER_CERT_UNTRUSTED =
  /self[- ]signed certificate|unable to verify|unable to get (local )?issuer|certificate has expired|not yet valid|does not match|ALTNAME|UNABLE_TO_VERIFY|SELF_SIGNED|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|UNABLE_TO_GET_ISSUER/i;
const NOT_TLS = /wrong version number|packet length too long|http request|disconnected before secure TLS|unknown protocol/i;
/** The server went away without a word: over TLS, often a refused certificate; over http, often a TLS port. */
const CLOSED_WITHOUT_ANSWER = /ECONNRESET|socket hang up|closed before an answer|ERR_HTTP2_SESSION_ERROR|ERR_HTTP2_STREAM_CANCEL|ERR_HTTP2_ERROR|Protocol error|GOAWAY/i;

/** True when only a connection of our own can tell what went wrong. */
export function needsDiagnosis(err: unknown): boolean {
  const text = failureText(err);
  return CLOSED_WITHOUT_ANSWER.test(text) && !NOT_TLS.test(text) && !/ECONNREFUSED/.test(text);
}

/**
 * The message for a failure to reach `ctx.endpoint`; `diagnosis` is what
 * `diagnose` found, for failures that `needsDiagnosis`.
 */
export function explainFailure(err: unknown, ctx: ExplainContext, diagnosis: Diagnosis = { kind: 'unknown' }): string {
  const text = failureText(err);
  const where = ctx.endpoint;
  const host = hostOf(where);
  if (/ECONNREFUSED/.test(text)) {
    return `cannot connect to Chainfire at ${where}: connection refused (is it running, and listening on that address?)`;
  }
  if (!ctx.usesTls) {
    if (diagnosis.kind === 'serves-tls') {
      return (
        `cannot connect to Chainfire at ${where}: it serves TLS, but the endpoint says http://; ` +
        `use https://${host} with --cacert (the CA that signed its certificate), ` +
        `and --cert/--key if it requires client certificates`
      );
    }
    return `cannot connect to Chainfire at ${where}: ${plainDetail(text)}`;
  }
  const seen = diagnosis.kind === 'tls-error' ? `${text} <- ${diagnosis.message}` : text;
  const detail = tlsDetail(seen) ?? plainDetail(text);
  if (CLIENT_CERT_REFUSED.test(seen)) {
    return ctx.certFile === undefined
      ? `Chainfire at ${where} refused the TLS connection (${detail}): it requires a client certificate; ` +
          `pass --cert and --key (a certificate signed by a CA that Chainfire trusts)`
      : `Chainfire at ${where} refused the client certificate --cert ${ctx.certFile} (${detail}): ` +
          `it must be signed by a CA that Chainfire trusts (its --trusted-ca-file) and allow client authentication`;
  }
  if (SERVER_CERT_UNTRUSTED.test(seen)) {
    return (
      `cannot verify Chainfire's TLS certificate at ${where} (${serverCertDetail(seen)}): --cacert ${ctx.cacertFile ?? '(none)'} ` +
      `must be the CA that signed it, and the certificate must name the host of the endpoint`
    );
  }
  if (NOT_TLS.test(seen) || diagnosis.kind === 'no-tls') {
    return (
      `cannot connect to Chainfire at ${where} over TLS (${detail}): it does not seem to serve TLS there; ` +
      `if it serves plain http, use http:// endpoints without --cacert`
    );
  }
  return `cannot connect to Chainfire at ${where}: ${detail}`;
}

function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).host;
  } catch {
    return endpoint;
  }
}

/** The first message of a failure, without Node's error codes. */
function plainDetail(text: string): string {
  const first = text.split(' <- ').pop() ?? text;
  const detail = tlsDetail(first);
  if (detail !== undefined) return detail;
  return first.replace(/^[A-Z_]+: /, '').trim() || text;
}

function serverCertDetail(text: string): string {
  const m = /(self[- ]signed certificate[a-z ]*|unable to verify the first certificate|unable to get (?:local )?issuer certificate[a-z ]*|certificate has expired|certificate is not yet valid|Hostname\/IP does not match[^<]*|ALTNAME[^<]*)/i.exec(text);
  return (m?.[1] ?? tlsDetail(text) ?? 'untrusted certificate').trim();
}

/**
 * One TLS connection to `endpoint` with the client's own files: what the
 * server says after the handshake (an alert about our certificate), or, for
 * a client that speaks plain http, whether the port speaks TLS at all.
 */
export function diagnose(
  endpoint: string,
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined,
  timeoutMs = 2000,
): Promise<Diagnosis> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return Promise.resolve({ kind: 'unknown' });
  }
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    let done = false;
    const finish = (d: Diagnosis) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(d);
    };
    const timer = setTimeout(() => finish({ kind: 'unknown' }), timeoutMs);
    const socket = tlsConnect(
      tls === undefined
        ? { host, port, rejectUnauthorized: false }
        : { host, port, ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.cert ? { cert: tls.cert } : {}), ...(tls.key ? { key: tls.key } : {}) },
      () => {
        if (tls === undefined) return finish({ kind: 'serves-tls' });
        // TLS 1.3 servers judge the client certificate after the handshake: ask something and read the answer.
        socket.write(`POST /v3/maintenance/status HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 2\r\n\r\n{}`);
      },
    );
    socket.on('data', () => finish({ kind: 'unknown' }));
    socket.on('end', () => finish({ kind: 'unknown' }));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const message = `${err.code ?? ''}: ${err.message}`;
      if (tls === undefined) {
        // A TLS alert (say, "certificate required") is still an answer in TLS.
        return finish(/alert|SSL routines/i.test(message) && !NOT_TLS.test(message) ? { kind: 'serves-tls' } : { kind: 'no-tls' });
      }
      finish(NOT_TLS.test(message) ? { kind: 'no-tls' } : { kind: 'tls-error', message });
    });
  });
}

// ---------------------------------------------------------------------------
// Answers etcd gave, cast into the error taxonomy (src/errors.ts): both the
// agent's client and membershipctl's etcd3 client (src/ctl/client.ts) ask here.

/** etcd's NOSPACE alarm: the backend reached --quota-backend-bytes. */
const NO_SPACE = /database space exceeded|alarm:?\s*NOSPACE/i;
/** etcd refused the user: wrong password, no such user, a role without the permission, a stale token. */
const ACCESS_REFUSED = /authentication failed|invalid user ID or password|permission denied|invalid auth token|auth token is expired|user name is empty/i;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_UNAUTHENTICATED = 16;

/**
 * What an answer of etcd means: ACCESS_DENIED (authentication failed,
 * permission denied, an invalid token), RESOURCE_EXHAUSTED (database space
 * exceeded), or undefined for anything else.
 */
export function etcdAnswerCode(message: string, grpcCode?: number): 'ACCESS_DENIED' | 'RESOURCE_EXHAUSTED' | undefined {
  if (NO_SPACE.test(message)) return 'RESOURCE_EXHAUSTED';
  if (ACCESS_REFUSED.test(message) || grpcCode === GRPC_PERMISSION_DENIED || grpcCode === GRPC_UNAUTHENTICATED) return 'ACCESS_DENIED';
  return undefined;
}

/** What an operator does about the NOSPACE alarm; docs/troubleshooting.md says it at length. */
export const NO_SPACE_ADVICE =
  'etcd raised its NOSPACE alarm (the database reached its --quota-backend-bytes) and accepts only reads and deletes until the alarm is disarmed: ' +
  'compact the history (etcdctl compact REVISION), defragment every member (etcdctl defrag --cluster), then run etcdctl alarm disarm; ' +
  'or raise --quota-backend-bytes on every member (docs/troubleshooting.md, "Database space exceeded")';

/** `message`, followed by what to do when it is the NOSPACE alarm. */
export function explainAnswer(message: string): string {
  return NO_SPACE.test(message) && !message.includes(NO_SPACE_ADVICE) ? `${message}: ${NO_SPACE_ADVICE}` : message;
}
