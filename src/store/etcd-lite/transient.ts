/**
 * Which failures of a call to Chainfire pass by themselves, so that the agent
 * tries again (src/agent/retry.ts) instead of exiting: etcd's UNAVAILABLE
 * class (a request timed out, the leader changed, no leader yet, a proposal
 * dropped in an election, too many requests), an expired lease (the next try
 * grants a new one), and a connection that was refused, reset, closed or sent
 * GOAWAY while a member restarts. What a person must fix does not pass: access
 * refused, the NOSPACE alarm, a TLS certificate or scheme that does not fit, a
 * request etcd calls invalid, a host name that does not resolve.
 */
import { isMembershipError, type ErrorCode } from '../../errors.js';
import { EtcdLiteError } from './client.js';
import { failureText } from './explain.js';
import { GRPC } from './grpc.js';

/** Codes that say what a person must fix; never tried again. */
const LASTING: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ACCESS_DENIED',
  'RESOURCE_EXHAUSTED',
  'CONFIG_INVALID',
  'CONFIG_UNREADABLE',
  'USAGE',
  'INVALID_NAME',
  'REJECTED',
  'COMMAND_FAILED',
  'TIMEOUT',
]);

/** A TLS setup that does not fit (the explanations of explain.ts, and OpenSSL's own words): retrying cannot help. */
const TLS_MISFIT =
  /refused the TLS connection|refused the client certificate|cannot verify Chainfire's TLS certificate|does not seem to serve TLS|it serves TLS, but|alert (bad certificate|certificate required|unknown ca)|self[- ]signed certificate|unable to verify|CERT_HAS_EXPIRED|wrong version number/i;

/** Transient causes, the first that matches naming it. */
const TRANSIENT: ReadonlyArray<[RegExp, string]> = [
  [/leader changed/i, 'leader changed'],
  [/no leader/i, 'no leader'],
  [/previous leader failure/i, 'leader failure'],
  [/proposal dropped/i, 'proposal dropped'],
  [/requested lease not found|lease not found/i, 'lease expired'],
  [/request timed out|timed out|no answer within|deadline exceeded|ETIMEDOUT/i, 'timed out'],
  [/ECONNREFUSED|connection refused/i, 'connection refused'],
  [/GOAWAY/i, 'GOAWAY'],
  [/ECONNRESET|connection reset|closed before an answer|socket hang up|EPIPE|the stream (broke|ended)|ERR_HTTP2_(STREAM|SESSION)/i, 'connection reset'],
  [/server stopped|not capable|too many requests|unhealthy cluster|connection lost|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN/i, 'unavailable'],
];

/**
 * What makes `err` transient, in a word or two (`leader changed`, `timed
 * out`, `connection refused`, ...), or undefined when trying again cannot
 * help.
 */
export function transientCause(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  if (isMembershipError(err) && LASTING.has(err.code)) return undefined;
  const text = failureText(err);
  if (/client is closed/.test(text) || TLS_MISFIT.test(text)) return undefined;
  for (const [pattern, cause] of TRANSIENT) if (pattern.test(text)) return cause;
  if (err instanceof EtcdLiteError && (err.grpcCode === GRPC.UNAVAILABLE || err.grpcCode === GRPC.DEADLINE_EXCEEDED)) return 'unavailable';
  return undefined;
}

export function isTransient(err: unknown): boolean {
  return transientCause(err) !== undefined;
}
