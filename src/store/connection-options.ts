/**
 * The connection flags shared by the three programs, resolved and checked
 * without loading an etcd client: the first-boot agent talks to Chainfire
 * with its own small client (src/store/etcd-lite), the controller and
 * membershipctl with etcd3 (connection.ts).
 *
 * Each setting comes from the first place that gives it: the command-line
 * flag, then the project's CHAINFIRE_* variable, then etcdctl's ETCDCTL_*
 * variable (so that a shell set up for etcdctl works as it is), then the
 * program's default. Endpoints may be URLs or etcdctl's bare host:port.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { MembershipError } from '../errors.js';
import { readSecretFile, type KeyFileCheck } from '../files.js';
import { DEFAULT_PREFIX } from './keys.js';

/** The common connection flags of all three programs, already validated. */
export interface ConnectionOptions {
  /** http:// or https:// URLs; a host:port given is turned into one */
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

/**
 * What a program falls back to when neither a flag nor a variable gives a
 * setting (the agent: its cluster-config.json's leader_url and tls.ca_file),
 * and how a log line names that place.
 */
export interface ConnectionDefaults {
  endpoints?: string[];
  endpointsFrom?: string;
  cacert?: string;
  cacertFrom?: string;
}

/** Where each setting of a resolved connection came from (a flag, a variable, a default); never a secret. */
export interface ConnectionSources {
  endpoints: string;
  cacert?: string;
  /** the client certificate and its key, which always come from one place */
  certAndKey?: string;
  user?: string;
  password?: string;
}

export interface ResolvedConnection {
  connection: ConnectionOptions;
  sources: ConnectionSources;
}

/** The one method of a logger the resolution needs (pino's). */
export interface DebugLog {
  debug(fields: Record<string, unknown>, message: string): void;
}

export type { KeyFileCheck } from '../files.js';

/**
 * Resolves the connection flags shared by the three programs (see the file's
 * comment for the order of precedence) and, when `log` is given, says at
 * debug level where each setting came from. The password comes from
 * --password-file, CHAINFIRE_PASSWORD or etcdctl's variables, never from a
 * flag value that would show in `ps`. A password file that group or others
 * may access is treated as `keyCheck` says.
 */
export function resolveConnection(
  flags: RawConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
  defaults: string[] | ConnectionDefaults = DEFAULT_ENDPOINTS,
  keyCheck: KeyFileCheck = {},
  log?: DebugLog,
): ConnectionOptions {
  const resolved = resolveConnectionSources(flags, env, defaults, keyCheck);
  if (log !== undefined) logConnectionSources(log, resolved);
  return resolved.connection;
}

/** The first of the places that gives a value (an empty variable gives none), with its name. */
function first(...places: Array<[string, string | undefined]>): { value: string; from: string } | undefined {
  for (const [from, value] of places) {
    if (value !== undefined && (from.startsWith('-') || value !== '')) return { value, from };
  }
  return undefined;
}

/** resolveConnection's work, returning where each setting came from as well. */
export function resolveConnectionSources(
  flags: RawConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
  defaults: string[] | ConnectionDefaults = DEFAULT_ENDPOINTS,
  keyCheck: KeyFileCheck = {},
): ResolvedConnection {
  const fallback: ConnectionDefaults = Array.isArray(defaults) ? { endpoints: defaults } : defaults;
  const sources: Partial<ConnectionSources> = {};

  // TLS first: a host:port endpoint becomes https:// when any TLS file is given, from anywhere.
  const cacert = first(['--cacert', flags.cacert], ['ETCDCTL_CACERT', env.ETCDCTL_CACERT], [fallback.cacertFrom ?? 'default', fallback.cacert]);
  if (cacert !== undefined) sources.cacert = cacert.from;
  const pair = certAndKey(flags, env);
  if (pair !== undefined) sources.certAndKey = pair.from;
  const tls = cacert !== undefined || pair !== undefined;

  // An explicitly empty --endpoints is an error, not a silent fallback to the default.
  const given = first(['--endpoints', flags.endpoints], ['CHAINFIRE_ENDPOINTS', env.CHAINFIRE_ENDPOINTS], ['ETCDCTL_ENDPOINTS', env.ETCDCTL_ENDPOINTS]);
  let endpoints: string[];
  if (given !== undefined) {
    const listed = given.value.split(',').map((s) => s.trim()).filter(Boolean);
    if (listed.length === 0) {
      throw new MembershipError('USAGE', `${given.from}: no endpoint given (comma-separated URLs such as https://10.0.1.10:2379, or host:port such as 10.0.1.10:2379)`);
    }
    endpoints = listed.map((e) => endpointUrl(given.from, e, tls));
    sources.endpoints = given.from;
  } else {
    endpoints = (fallback.endpoints ?? DEFAULT_ENDPOINTS).map((e) => endpointUrl(fallback.endpointsFrom ?? 'default endpoint', e, tls));
    sources.endpoints = fallback.endpointsFrom ?? 'default';
  }

  const auth = userAndPassword(flags, env, keyCheck);
  if (auth !== undefined) {
    sources.user = auth.userFrom;
    sources.password = auth.passwordFrom;
  }

  const out: ConnectionOptions = {
    endpoints,
    prefix: flags.prefix ?? DEFAULT_PREFIX,
    callTimeoutMs: DEFAULT_CALL_TIMEOUT_MS,
  };
  if (cacert !== undefined) out.cacert = cacert.value;
  if (pair !== undefined) {
    out.cert = pair.cert;
    out.key = pair.key;
  }
  if (auth !== undefined) {
    out.user = auth.user;
    out.password = auth.password;
  }
  return { connection: out, sources: sources as ConnectionSources };
}

/**
 * The client certificate and its key, taken as a pair from one place (the
 * flags, else etcdctl's variables): a certificate from one place and a key
 * from another would be a mismatch that only shows as a TLS failure.
 */
function certAndKey(flags: RawConnectionFlags, env: NodeJS.ProcessEnv): { cert: string; key: string; from: string } | undefined {
  if (flags.cert !== undefined || flags.key !== undefined) {
    if (flags.cert === undefined || flags.key === undefined) {
      throw new MembershipError('USAGE', '--cert and --key must be given together (client certificate and its private key)');
    }
    return { cert: flags.cert, key: flags.key, from: '--cert/--key' };
  }
  const cert = env.ETCDCTL_CERT || undefined;
  const key = env.ETCDCTL_KEY || undefined;
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    throw new MembershipError(
      'USAGE',
      `ETCDCTL_${cert === undefined ? 'KEY' : 'CERT'} is set without ETCDCTL_${cert === undefined ? 'CERT' : 'KEY'}: ` +
        'the client certificate and its private key go together (or pass --cert and --key)',
    );
  }
  return { cert, key, from: 'ETCDCTL_CERT/ETCDCTL_KEY' };
}

/**
 * The etcd user and its password. The user comes from --user, else
 * ETCDCTL_USER (`name` or `name:password`, as etcdctl takes it); the password
 * from --password-file, else CHAINFIRE_PASSWORD, else the password part of
 * ETCDCTL_USER (only for the user named there), else ETCDCTL_PASSWORD. A
 * password without a user is not used.
 */
function userAndPassword(
  flags: RawConnectionFlags,
  env: NodeJS.ProcessEnv,
  keyCheck: KeyFileCheck,
): { user: string; userFrom: string; password: string; passwordFrom: string } | undefined {
  let user: string;
  let userFrom: string;
  let inUser: string | undefined;
  if (flags.user !== undefined) {
    // Checked again here for callers that build the flags themselves; the value is not repeated (a password may follow ":").
    if (flags.user.includes(':')) throw new MembershipError('USAGE', '--user takes a user name only (no ":password"): give the password in --password-file or CHAINFIRE_PASSWORD');
    user = flags.user;
    userFrom = '--user';
  } else if (env.ETCDCTL_USER) {
    const colon = env.ETCDCTL_USER.indexOf(':');
    user = colon < 0 ? env.ETCDCTL_USER : env.ETCDCTL_USER.slice(0, colon);
    inUser = colon < 0 ? undefined : env.ETCDCTL_USER.slice(colon + 1);
    userFrom = 'ETCDCTL_USER';
    // The message never repeats the variable: it may hold a password.
    if (user.trim() === '') throw new MembershipError('USAGE', 'ETCDCTL_USER names no user (expected name or name:password)');
    if (inUser === '') throw new MembershipError('USAGE', `ETCDCTL_USER ends in ":" with no password after it (expected ${user} or ${user}:password)`);
    if (inUser !== undefined && env.ETCDCTL_PASSWORD) {
      throw new MembershipError('USAGE', 'ETCDCTL_USER carries a password (name:password) and ETCDCTL_PASSWORD is set too: keep one of them');
    }
  } else {
    return undefined;
  }
  if (flags.passwordFile !== undefined) {
    return { user, userFrom, password: readSecretFile('--password-file', flags.passwordFile, keyCheck).trim(), passwordFrom: '--password-file' };
  }
  if (env.CHAINFIRE_PASSWORD !== undefined) return { user, userFrom, password: env.CHAINFIRE_PASSWORD, passwordFrom: 'CHAINFIRE_PASSWORD' };
  if (inUser !== undefined) return { user, userFrom, password: inUser, passwordFrom: 'ETCDCTL_USER' };
  if (env.ETCDCTL_PASSWORD) return { user, userFrom, password: env.ETCDCTL_PASSWORD, passwordFrom: 'ETCDCTL_PASSWORD' };
  throw new MembershipError(
    'USAGE',
    userFrom === '--user'
      ? '--user needs a password: set CHAINFIRE_PASSWORD or pass --password-file FILE'
      : `ETCDCTL_USER names user ${user} but no password: set CHAINFIRE_PASSWORD or ETCDCTL_PASSWORD, pass --password-file FILE, or give ETCDCTL_USER as name:password`,
  );
}

/**
 * One endpoint as a URL: an http:// or https:// URL without credentials, or
 * etcdctl's bare host:port (an IPv6 host in brackets), which becomes https://
 * when a TLS file is given and http:// otherwise. A password in an endpoint
 * shows in `ps` and in every error that names the endpoint, so it is refused,
 * and the message shows the endpoint with the credentials hidden.
 */
export function endpointUrl(source: string, e: string, tls: boolean): string {
  if (e.includes('@')) {
    const hidden = e.replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/i, '$1<credentials hidden>@');
    throw new MembershipError(
      'USAGE',
      `${source}: ${hidden} carries credentials (user:password@), which would show in ps and in messages; ` +
        'give the user with --user and the password in CHAINFIRE_PASSWORD or --password-file',
    );
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(e)) {
    let url: URL;
    try {
      url = new URL(e);
    } catch {
      throw new MembershipError('USAGE', `${source}: ${JSON.stringify(e)} is not a valid URL (expected e.g. https://10.0.1.10:2379 or 10.0.1.10:2379)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new MembershipError('USAGE', `${source}: ${e} must use http:// or https:// (or be host:port such as 10.0.1.10:2379)`);
    }
    if (url.hostname === '') throw new MembershipError('USAGE', `${source}: ${e} names no host (expected e.g. https://10.0.1.10:2379)`);
    // etcd's gRPC endpoint is a host and port: a path, query or fragment would only fail later, as an unreachable store.
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
      throw new MembershipError('USAGE', `${source}: ${e} has a path, query or fragment; an endpoint is scheme, host and port only (e.g. https://10.0.1.10:2379)`);
    }
    return e.endsWith('/') ? e.slice(0, -1) : e;
  }
  const problem = hostPortProblem(e);
  if (problem !== undefined) {
    throw new MembershipError(
      'USAGE',
      `${source}: ${JSON.stringify(e)} is neither a URL nor host:port: ${problem} ` +
        '(expected a URL such as https://10.0.1.10:2379, or host:port such as 10.0.1.10:2379)',
    );
  }
  return `${tls ? 'https' : 'http'}://${e}`;
}

/** Why `e` is not etcdctl's host:port (a name, IPv4 or bracketed IPv6 address, and a port 1-65535), or undefined. */
function hostPortProblem(e: string): string | undefined {
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(e);
  let host: string;
  let port: string | undefined;
  if (bracketed !== null) {
    [, host = '', port] = bracketed;
    if (!isIPv6(host)) return `${host} is not an IPv6 address`;
  } else {
    if ((e.match(/:/g) ?? []).length > 1) return 'an IPv6 address goes in brackets, as in [fd00::10]:2379';
    const colon = e.indexOf(':');
    host = colon < 0 ? e : e.slice(0, colon);
    port = colon < 0 ? undefined : e.slice(colon + 1);
    if (host === '') return 'no host before the port';
    if (/^[0-9.]+$/.test(host)) {
      if (!isIPv4(host)) return `${host} is not an IPv4 address`;
    } else if (!/^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$/.test(host) || host.includes('..')) {
      return `${JSON.stringify(host)} is not a host name`;
    }
  }
  if (port === undefined || port === '') return 'no port (etcd clients listen on 2379)';
  if (!/^\d+$/.test(port)) return `port ${JSON.stringify(port)} is not a number`;
  if (Number(port) < 1 || Number(port) > 65535) return `port ${port} is out of range 1-65535`;
  return undefined;
}

/** Says at debug level where each setting of the connection came from; never a password. */
export function logConnectionSources(log: DebugLog, { connection, sources }: ResolvedConnection): void {
  const parts = [`endpoints from ${sources.endpoints}`];
  if (sources.cacert !== undefined) parts.push(`CA certificate from ${sources.cacert}`);
  if (sources.certAndKey !== undefined) parts.push(`client certificate and key from ${sources.certAndKey}`);
  if (sources.user !== undefined) parts.push(`user from ${sources.user}, password from ${sources.password}`);
  log.debug(
    {
      endpoints: connection.endpoints,
      endpointsFrom: sources.endpoints,
      ...(sources.cacert !== undefined ? { cacert: connection.cacert, cacertFrom: sources.cacert } : {}),
      ...(sources.certAndKey !== undefined ? { cert: connection.cert, key: connection.key, certAndKeyFrom: sources.certAndKey } : {}),
      ...(sources.user !== undefined ? { user: connection.user, userFrom: sources.user, passwordFrom: sources.password } : {}),
    },
    `Chainfire connection: ${parts.join('; ')}`,
  );
}
