import type { Etcd3 } from 'etcd3';
import { connectionFrom } from '../cli/common.js';
import { MembershipError, errorMessage } from '../errors.js';
import { createLogger } from '../log.js';
import type { ConnectionOptions, RawConnectionFlags } from '../store/connection.js';
import { connect } from '../store/connection.js';
import { etcdAnswerCode, explainAnswer } from '../store/etcd-lite/explain.js';
import { KeyLayout } from '../store/keys.js';

/** A wait or watch ended by Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;

const UNREACHABLE =
  /cannot connect to Chainfire|refused the TLS connection|refused the client certificate|cannot verify Chainfire|No connection established|failed to connect|UNAVAILABLE|DEADLINE_EXCEEDED|deadline exceeded|ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|circuit|isolated/i;

/**
 * Turns what etcd3 throws into a MembershipError that says what to do next:
 * ACCESS_DENIED (credentials or permissions refused), RESOURCE_EXHAUSTED
 * (etcd's NOSPACE alarm), UNAVAILABLE (Chainfire unreachable). etcd's answers
 * are cast as the agent's client casts them (etcd-lite/explain.ts). Other
 * errors pass unchanged.
 */
export function explainEtcdError(err: unknown, flags: RawConnectionFlags): unknown {
  if (err instanceof MembershipError || !(err instanceof Error)) return err;
  // The local file system's EACCES ("permission denied") is not Chainfire's refusal.
  if (typeof (err as NodeJS.ErrnoException).syscall === 'string') return err;
  const msg = errorMessage(err);
  const who = flags.user !== undefined ? `user ${flags.user}` : 'this client (no --user)';
  const code =
    err.name === 'EtcdAuthenticationFailedError' || err.name === 'EtcdPermissionDeniedError' || err.name === 'EtcdInvalidAuthTokenError'
      ? 'ACCESS_DENIED'
      : etcdAnswerCode(msg);
  if (code === 'RESOURCE_EXHAUSTED') {
    // "8 RESOURCE_EXHAUSTED: etcdserver: ..." reads better without grpc-js's status prefix.
    return new MembershipError('RESOURCE_EXHAUSTED', `Chainfire is out of space: ${explainAnswer(msg.replace(/^\d+ [A-Z_]+: /, ''))}`, { cause: err });
  }
  if (code === 'ACCESS_DENIED') {
    return /authentication failed|invalid auth token|auth token is expired/i.test(msg) || err.name === 'EtcdAuthenticationFailedError'
      ? new MembershipError(
          'ACCESS_DENIED',
          `Chainfire refused the credentials of ${who}: ${msg}; check --user and the password (CHAINFIRE_PASSWORD or --password-file)`,
          { cause: err },
        )
      : new MembershipError(
          'ACCESS_DENIED',
          `Chainfire refused the request for ${who}: ${msg}; use an operator's credentials ` +
            '(membershipctl rbac apply creates the membership-operator user), or ask for the role to be granted',
          { cause: err },
        );
  }
  if (UNREACHABLE.test(msg) || /^GRPC(Unavailable|DeadlineExceeded|ConnectFailed)/.test(err.name)) {
    const hint = /is it running|use https|pass --cert|--cacert/.test(msg) ? '' : ' (check --endpoints, CHAINFIRE_ENDPOINTS or ETCDCTL_ENDPOINTS, and that Chainfire is running)';
    return new MembershipError('UNAVAILABLE', `${msg}${hint}`, { cause: err });
  }
  return err;
}

let sourcesLogged = false;

/**
 * The connection of membershipctl's flags and environment; with --log-level
 * debug, where each setting came from goes to stderr (once per run).
 */
export function ctlConnection(opts: RawConnectionFlags & { logLevel?: string }): ConnectionOptions {
  const log = sourcesLogged ? undefined : createLogger({ level: (opts.logLevel ?? 'warn') as 'warn', fd: 2, base: { service: 'membershipctl' } });
  sourcesLogged = true;
  return connectionFrom(opts, log);
}

/** Runs `fn` with a connected client, closing it afterwards; etcd3's errors are explained. */
export async function withClient<T>(
  opts: RawConnectionFlags,
  fn: (client: Etcd3, keys: KeyLayout) => Promise<T>,
): Promise<T> {
  const connection = ctlConnection(opts);
  const client = connect(connection);
  try {
    return await fn(client, new KeyLayout(connection.prefix));
  } catch (err) {
    throw explainEtcdError(err, opts);
  } finally {
    client.close();
  }
}

