import type { Etcd3 } from 'etcd3';
import { EXIT, connectionFrom, defaultExitCode } from '../cli/common.js';
import { MembershipError, errorMessage } from '../errors.js';
import type { RawConnectionFlags } from '../store/connection.js';
import { connect } from '../store/connection.js';
import { KeyLayout } from '../store/keys.js';

/** sysexits' EX_NOPERM: etcd refused the user (authentication or permission). */
export const EXIT_NOPERM = 77;
/** A wait or watch ended by Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;

/** etcd refused the credentials or the user's permissions: exit 77. */
export class AccessDenied extends MembershipError {
  constructor(message: string, cause: unknown) {
    super('SERVICE_ERROR', message, { cause });
    this.name = 'AccessDenied';
  }
}

/** membershipctl's exit codes: the common mapping, plus 77 for access refused by etcd. */
export function ctlExitCode(err: MembershipError): number {
  if (err instanceof AccessDenied) return EXIT_NOPERM;
  return defaultExitCode(err);
}

const UNREACHABLE =
  /cannot connect to Chainfire|refused the TLS connection|refused the client certificate|cannot verify Chainfire|No connection established|failed to connect|UNAVAILABLE|DEADLINE_EXCEEDED|deadline exceeded|ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|circuit|isolated/i;

/**
 * Turns what etcd3 throws into a MembershipError that says what to do next:
 * access refused (77), Chainfire unreachable (69). Other errors pass unchanged.
 */
export function explainEtcdError(err: unknown, flags: RawConnectionFlags): unknown {
  if (err instanceof MembershipError || !(err instanceof Error)) return err;
  const msg = errorMessage(err);
  const who = flags.user !== undefined ? `user ${flags.user}` : 'this client (no --user)';
  if (err.name === 'EtcdAuthenticationFailedError' || /authentication failed|invalid auth token/i.test(msg)) {
    return new AccessDenied(
      `Chainfire refused the credentials of ${who}: ${msg}; check --user and the password (CHAINFIRE_PASSWORD or --password-file)`,
      err,
    );
  }
  if (err.name === 'EtcdPermissionDeniedError' || /permission denied|user name is empty/i.test(msg)) {
    return new AccessDenied(
      `Chainfire refused the request for ${who}: ${msg}; use an operator's credentials ` +
        '(membershipctl rbac apply creates the membership-operator user), or ask for the role to be granted',
      err,
    );
  }
  if (UNREACHABLE.test(msg) || /^GRPC(Unavailable|DeadlineExceeded|ConnectFailed)/.test(err.name)) {
    const hint = /is it running|use https|pass --cert|--cacert/.test(msg) ? '' : ' (check --endpoints or CHAINFIRE_ENDPOINTS, and that Chainfire is running)';
    return new MembershipError('UNAVAILABLE', `${msg}${hint}`, { cause: err });
  }
  return err;
}

/** Runs `fn` with a connected client, closing it afterwards; etcd3's errors are explained. */
export async function withClient<T>(
  opts: RawConnectionFlags,
  fn: (client: Etcd3, keys: KeyLayout) => Promise<T>,
): Promise<T> {
  const connection = connectionFrom(opts);
  const client = connect(connection);
  try {
    return await fn(client, new KeyLayout(connection.prefix));
  } catch (err) {
    throw explainEtcdError(err, opts);
  } finally {
    client.close();
  }
}

export { EXIT };
