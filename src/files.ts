/**
 * The one way the programs read the files a person hands them: PEM files (a
 * CA, a certificate, a private key), secrets (password files, the IAM admin
 * secret), config files, and the agent's markers.
 *
 * Every failure is a MembershipError CONFIG_UNREADABLE (exit 78) worded one
 * way, `<flag or config field>: cannot read <path>: <cause>`, the cause in
 * words (not found, permission denied, a directory, empty). A private key or
 * a secret that group or others may access gets one message everywhere,
 * `<field> <path> has mode 0644: ...`, refused or warned about as the
 * program decides (`KeyFileCheck`).
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { MembershipError } from './errors.js';

/** How a program treats a private key or secret that group or others may access. */
export interface KeyFileCheck {
  /**
   * 'refuse' (the default): a CONFIG_INVALID error, so the program exits 78.
   * 'warn': call `warn` and go on (the first-boot agent: a node must still boot).
   */
  insecureKey?: 'refuse' | 'warn';
  /** Where warnings go; default: a line on stderr. */
  warn?: (message: string) => void;
}

export interface ReadOptions {
  /** Check the mode: the file holds a private key or a secret. */
  secret?: { what: 'a private key' | 'a secret'; check: KeyFileCheck };
  /** A file that does not exist is no error: the read returns undefined. */
  optional?: boolean;
  /** An empty file is no error (markers, say); by default it is one. */
  allowEmpty?: boolean;
}

/** What went wrong, in words, for an error of the file system. */
export function fileProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'not found';
    case 'ENOTDIR':
      return 'not found (a part of the path is not a directory)';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (it must be readable by the user this program runs as)';
    case 'EISDIR':
      return 'a directory, not a file';
    case 'ELOOP':
      return 'a loop of symbolic links';
    default:
      return code !== undefined ? `${code}: ${(err as Error).message}` : String((err as Error | undefined)?.message ?? err);
  }
}

/** The CONFIG_UNREADABLE error for `field`'s file `path`. */
export function unreadable(field: string, path: string, problem: string, cause?: unknown): MembershipError {
  return new MembershipError('CONFIG_UNREADABLE', `${field}: cannot read ${path}: ${problem}`, cause !== undefined ? { cause } : {});
}

/** `0644` for a file mode. */
function octalMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/**
 * A private key or a secret must be readable by its owner only (0600 or
 * 0400): refuses, or warns, when group or others have any access to the
 * regular file. The message names the field, the file, its mode and the fix.
 */
export function checkOwnerOnly(field: string, path: string, mode: number, what: string, check: KeyFileCheck = {}): void {
  if ((mode & 0o077) === 0) return;
  const problem =
    `${field} ${path} has mode ${octalMode(mode)}: group or others can access it, but ${what} must be readable by its owner only ` +
    `(chmod 600 ${path})`;
  if (check.insecureKey === 'warn') {
    (check.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`)))(problem);
    return;
  }
  throw new MembershipError('CONFIG_INVALID', problem);
}

/**
 * Reads `field`'s file `path` (a flag such as `--cacert`, or a config field
 * such as `flaredb.tls.keyFile`). The mode checked is the mode of the file
 * read: both come from one open descriptor.
 */
export function readChecked(field: string, path: string, options: ReadOptions & { optional: true }): Buffer | undefined;
export function readChecked(field: string, path: string, options?: ReadOptions): Buffer;
export function readChecked(field: string, path: string, options: ReadOptions = {}): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (options.optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unreadable(field, path, fileProblem(err), err);
  }
  try {
    let data: Buffer;
    try {
      const st = fstatSync(fd);
      if (st.isDirectory()) throw unreadable(field, path, fileProblem({ code: 'EISDIR' }));
      // A pipe (--password-file <(pass show x)) or a device has a mode that says nothing about the secret.
      if (options.secret !== undefined && st.isFile()) checkOwnerOnly(field, path, st.mode, options.secret.what, options.secret.check);
      data = readFileSync(fd);
    } catch (err) {
      if (err instanceof MembershipError) throw err;
      throw unreadable(field, path, fileProblem(err), err);
    }
    if (!options.allowEmpty && data.toString('utf8').trim() === '') throw unreadable(field, path, 'empty');
    return data;
  } finally {
    closeSync(fd);
  }
}

/** A config file's text (JSON, say): not empty. */
export function readConfigFile(field: string, path: string): string {
  return readChecked(field, path).toString('utf8');
}

/** A secret (a password file, the IAM admin secret), mode-checked; not empty. */
export function readSecretFile(field: string, path: string, check: KeyFileCheck = {}): string {
  return readChecked(field, path, { secret: { what: 'a secret', check } }).toString('utf8');
}

/**
 * A PEM file: a CA or a certificate, or, with `privateKey`, a private key
 * whose mode is checked. A file without a PEM block is CONFIG_INVALID: caught
 * here, the mistake names the file; caught by the TLS layer, it would not.
 */
export function readPemFile(field: string, path: string, privateKey?: KeyFileCheck): Buffer {
  const data = readChecked(field, path, privateKey !== undefined ? { secret: { what: 'a private key', check: privateKey } } : {});
  if (!data.includes('-----BEGIN ')) throw new MembershipError('CONFIG_INVALID', `${field}: ${path} is not PEM (no "-----BEGIN" line)`);
  return data;
}
