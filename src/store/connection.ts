import { readFileSync } from 'node:fs';
import { ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import { MembershipError } from '../errors.js';
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

/**
 * Resolves the connection flags shared by the three programs. Endpoints come
 * from the flag, then CHAINFIRE_ENDPOINTS; the password from CHAINFIRE_PASSWORD
 * or --password-file, never from a flag value that would show in `ps`.
 */
export function resolveConnection(
  flags: RawConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
  fallbackEndpoints: string[] = DEFAULT_ENDPOINTS,
): ConnectionOptions {
  // An explicitly empty --endpoints is an error, not a silent fallback to the default.
  const raw = flags.endpoints ?? (env.CHAINFIRE_ENDPOINTS || undefined);
  const endpoints = raw !== undefined ? raw.split(',').map((s) => s.trim()).filter(Boolean) : fallbackEndpoints;
  if (endpoints.length === 0) {
    throw new MembershipError('USAGE', '--endpoints: no endpoint given (comma-separated URLs such as https://10.0.1.10:2379)');
  }
  for (const e of endpoints) {
    let url: URL;
    try {
      url = new URL(e);
    } catch {
      throw new MembershipError('USAGE', `--endpoints: ${JSON.stringify(e)} is not a URL (expected e.g. https://10.0.1.10:2379)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new MembershipError('USAGE', `--endpoints: ${e} must use http:// or https://`);
    }
  }
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new MembershipError('USAGE', '--cert and --key must be given together (client certificate and its private key)');
  }
  let password: string | undefined;
  if (flags.user !== undefined) {
    if (flags.passwordFile !== undefined) {
      password = readSecretFile(flags.passwordFile, '--password-file');
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

function readSecretFile(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new MembershipError('CONFIG_UNREADABLE', `${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new MembershipError('CONFIG_UNREADABLE', `${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

export function connect(options: ConnectionOptions): Etcd3 {
  const usesTls = options.endpoints.some((e) => e.startsWith('https:'));
  const etcdOptions: IOptions = {
    hosts: options.endpoints,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + options.callTimeoutMs }),
    faultHandling: {
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
    const credentials: NonNullable<IOptions['credentials']> = { rootCertificate: readPem(options.cacert, '--cacert') };
    if (options.cert !== undefined && options.key !== undefined) {
      credentials.certChain = readPem(options.cert, '--cert');
      credentials.privateKey = readPem(options.key, '--key');
    }
    etcdOptions.credentials = credentials;
  }
  if (options.user !== undefined && options.password !== undefined) {
    etcdOptions.auth = { username: options.user, password: options.password };
  }
  return new Etcd3(etcdOptions);
}
