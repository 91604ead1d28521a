/**
 * The one error taxonomy of the project. Every error a person on call may see
 * is a MembershipError with a stable `code`; foreign errors (etcd3, undici,
 * zod, the file system) are cast at the boundary where they enter.
 */

export type ErrorCode =
  | 'CONFIG_INVALID' // a config file or record failed validation
  | 'CONFIG_UNREADABLE' // a config file is missing or cannot be read
  | 'USAGE' // bad command-line flags or arguments
  | 'INVALID_NAME' // a node name is not a DNS-1123 label
  | 'NOT_FOUND' // a record that was asked for does not exist
  | 'FENCED' // a leader write was rejected because the writer is no longer leader
  | 'CONFLICT' // a compare-and-swap lost to a concurrent writer: look again
  | 'NOT_LEADER' // work attempted without (or after losing) leadership
  | 'UNAVAILABLE' // a service (Chainfire, FlareDB, IAM) could not be reached in time, or kept failing transiently
  | 'SERVICE_ERROR' // a service answered with a non-transient error (4xx other than 409/429): retrying will not help
  | 'BUSY' // a service refused a change for now (etcd: unhealthy cluster, not enough started members): try again shortly, without backing off
  | 'ACCESS_DENIED' // a service refused who we are or what we may do: etcd authentication failed, permission denied, invalid auth token; HTTP 401/403 from FlareDB or IAM
  | 'RESOURCE_EXHAUSTED' // Chainfire is out of space: "etcdserver: mvcc: database space exceeded", the NOSPACE alarm; only reads and deletes work until an operator frees space and disarms it
  | 'REJECTED' // the controller gave a terminal answer (InvalidSpec, Conflict)
  | 'SNAPSHOT_FAILED' // the snapshot of Chainfire a membership change waits for could not be written (disk full, over the cap, permission): the change is held back
  | 'TIMEOUT' // a bounded wait ran out
  | 'COMMAND_FAILED'; // an external command exited non-zero

export class MembershipError extends Error {
  readonly code: ErrorCode;
  override readonly cause?: unknown;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message);
    this.name = 'MembershipError';
    this.code = code;
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

export class FencedWriteRejected extends MembershipError {
  constructor(key: string, term: string) {
    super(
      'FENCED',
      `write to ${key} rejected: this controller's term ${term} is no longer the current leader term`,
    );
    this.name = 'FencedWriteRejected';
  }
}

export function isMembershipError(err: unknown, code?: ErrorCode): err is MembershipError {
  return err instanceof MembershipError && (code === undefined || err.code === code);
}

/**
 * The code to keep when an error is wrapped in another: a refusal that
 * says what an operator must do (access refused, out of space) stays what it
 * is; anything else becomes `fallback`.
 */
export function keptCode(err: unknown, fallback: ErrorCode): ErrorCode {
  return isMembershipError(err, 'ACCESS_DENIED') || isMembershipError(err, 'RESOURCE_EXHAUSTED') ? err.code : fallback;
}

/** A message for any thrown value, without stack traces. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
