/**
 * The connection flags shared by the three programs, resolved and checked
 * without loading an etcd client: the first-boot agent talks to Chainfire
 * with its own small client (src/store/etcd-lite), the controller and
 * membershipctl with etcd3 (connection.ts).
 */
import { MembershipError } from '../errors.js';
import { readSecretFile, type KeyFileCheck } from '../files.js';
import { DEFAULT_PREFIX } from './keys.js';

/** The common connection flags of all three programs, already validated. */
export interface ConnectionOptions {
  endpoints: string[];
  prefix: string;
  cacert?: string;
  cert?: string;
  key?: string;
  user?: string;
  password?: string;
  /** Deadline of every unary call (etcd3 ignores dialTimeout, so each call gets one). */
  callTimeoutMs: number;
}

export const DEFAULT_ENDPOINTS = ['http://127.0.0.1:2379'];
export const DEFAULT_CALL_TIMEOUT_MS = 5000;

export interface RawConnectionFlags {
  endpoints?: string;
  prefix?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  user?: string;
  passwordFile?: string;
}

export type { KeyFileCheck } from '../files.js';

/**
 * Resolves the connection flags shared by the three programs. Endpoints come
 * from the flag, then CHAINFIRE_ENDPOINTS; the password from CHAINFIRE_PASSWORD
 * or --password-file, never from a flag value that would show in `ps`. A
 * password file that group or others may access is treated as `keyCheck` says.
 */
export function resolveConnection(
  flags: RawConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
  fallbackEndpoints: string[] = DEFAULT_ENDPOINTS,
  keyCheck: KeyFileCheck = {},
): ConnectionOptions {
  // An explicitly empty --endpoints is an error, not a silent fallback to the default.
  const raw = flags.endpoints ?? (env.CHAINFIRE_ENDPOINTS || undefined);
  const source = flags.endpoints === undefined && raw !== undefined ? 'CHAINFIRE_ENDPOINTS' : '--endpoints';
  const endpoints = raw !== undefined ? raw.split(',').map((s) => s.trim()).filter(Boolean) : fallbackEndpoints;
  if (endpoints.length === 0) {
    throw new MembershipError('USAGE', `${source}: no endpoint given (comma-separated URLs such as https://10.0.1.10:2379)`);
  }
  for (const e of endpoints) checkEndpoint(source, e);
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new MembershipError('USAGE', '--cert and --key must be given together (client certificate and its private key)');
  }
  let password: string | undefined;
  if (flags.user !== undefined) {
    if (flags.passwordFile !== undefined) {
      password = readSecretFile('--password-file', flags.passwordFile, keyCheck).trim();
    } else if (env.CHAINFIRE_PASSWORD !== undefined) {
      password = env.CHAINFIRE_PASSWORD;
    } else {
      throw new MembershipError('USAGE', '--user needs a password: set CHAINFIRE_PASSWORD or pass --password-file FILE');
    }
  }
  const out: ConnectionOptions = {
    endpoints,
    prefix: flags.prefix ?? DEFAULT_PREFIX,
    callTimeoutMs: DEFAULT_CALL_TIMEOUT_MS,
  };
  if (flags.cacert !== undefined) out.cacert = flags.cacert;
  if (flags.cert !== undefined) out.cert = flags.cert;
  if (flags.key !== undefined) out.key = flags.key;
  if (flags.user !== undefined) out.user = flags.user;
  if (password !== undefined) out.password = password;
  return out;
}

/**
 * One endpoint: an http:// or https:// URL without credentials. A password
 * in a URL shows in `ps` and in every error that names the endpoint, so it is
 * refused, and the message shows the endpoint with the credentials hidden.
 */
function checkEndpoint(source: string, e: string): void {
  if (e.includes('@')) {
    const hidden = e.replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/i, '$1<credentials hidden>@');
    throw new MembershipError(
      'USAGE',
      `${source}: ${hidden} carries credentials (user:password@), which would show in ps and in messages; ` +
        'give the user with --user and the password in CHAINFIRE_PASSWORD or --password-file',
    );
  }
  let url: URL;
  try {
    url = new URL(e);
  } catch {
    throw new MembershipError('USAGE', `${source}: ${JSON.stringify(e)} is not a URL (expected e.g. https://10.0.1.10:2379)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MembershipError('USAGE', `${source}: ${e} must use http:// or https://`);
  }
}
