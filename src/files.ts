/**
 * The one way the programs read the files a person hands them: PEM files (a
 * CA, a certificate, a private key), secrets (password files, the IAM admin
 * secret), config files, and the agent's markers.
 *
 * Every failure is a MembershipError CONFIG_UNREADABLE (exit 78) worded one
 * way, `<flag or config field>: cannot read <path>: <cause>`, the cause in
 * words (not found, permission denied, a directory, a FIFO, a device, larger
 * than 1 MiB, empty). A private key or a secret that group or others may
 * access gets one message everywhere, `<field> <path> has mode 0644: ...`,
 * refused or warned about as the program decides (`KeyFileCheck`).
 *
 * Only regular files are read, and only so much of them: a FIFO given as
 * --config blocked the program forever, and /dev/zero as --password-file read
 * until the machine ran out of memory. The file is opened without blocking
 * (O_NONBLOCK), so that opening a FIFO returns at once, and what it is comes
 * from fstat of that one descriptor.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { MembershipError } from './errors.js';

/** The most any file is read: config files, secrets, keys and markers are a few KiB. */
export const MAX_FILE_BYTES = 1024 * 1024;

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
  /** The most read; a larger file is refused (default MAX_FILE_BYTES, 1 MiB). */
  maxBytes?: number;
}

/** `1 MiB`, `64 MiB`, `512 KiB`, `100 bytes`. */
export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/** What a file that is not a regular file is, in words. */
function notRegular(st: Stats): string {
  if (st.isDirectory()) return 'a directory, not a file';
  if (st.isFIFO()) return 'a FIFO (named pipe), not a regular file: it would block until something writes to it';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device, not a regular file';
  if (st.isSocket()) return 'a socket, not a regular file';
  return 'not a regular file';
}

/** The problem of a file larger than `max` bytes. */
function tooLarge(max: number, size?: number): string {
  return `larger than ${formatSize(max)}${size !== undefined ? ` (${size} bytes)` : ''}, more than such a file ever holds`;
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
 * Whether `path` is one of systemd's credentials (LoadCredential=): a file in
 * $CREDENTIALS_DIRECTORY. systemd writes each with mode 0400 into a read-only
 * directory only the service's user may enter, and gives a service user other
 * than root read access through an ACL, which stat shows as the group bits
 * (0440): those bits are then no access of any group.
 */
export function isCredential(path: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const dir = env.CREDENTIALS_DIRECTORY;
  if (dir === undefined || !isAbsolute(dir)) return false;
  return resolve(path).startsWith(`${resolve(dir)}/`);
}

/**
 * A private key or a secret must be readable by its owner only (0600 or
 * 0400): refuses, or warns, when group or others have any access to the
 * regular file. The message names the field, the file, its mode and the fix.
 * A systemd credential (isCredential) is only checked for others' access.
 */
export function checkOwnerOnly(field: string, path: string, mode: number, what: string, check: KeyFileCheck = {}): void {
  if ((mode & (isCredential(path) ? 0o007 : 0o077)) === 0) return;
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
  const max = options.maxBytes ?? MAX_FILE_BYTES;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    if (options.optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unreadable(field, path, fileProblem(err), err);
  }
  try {
    let data: Buffer;
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw unreadable(field, path, notRegular(st));
      if (options.secret !== undefined) checkOwnerOnly(field, path, st.mode, options.secret.what, options.secret.check);
      if (st.size > max) throw unreadable(field, path, tooLarge(max, st.size));
      data = readUpTo(fd, max + 1);
    } catch (err) {
      if (err instanceof MembershipError) throw err;
      throw unreadable(field, path, fileProblem(err), err);
    }
    // It grew since fstat.
    if (data.length > max) throw unreadable(field, path, tooLarge(max));
    if (!options.allowEmpty && data.toString('utf8').trim() === '') throw unreadable(field, path, 'empty');
    return data;
  } finally {
    closeSync(fd);
  }
}

/** At most `limit` bytes of a regular file, from its start. */
function readUpTo(fd: number, limit: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  while (total < limit) {
    const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, limit - total));
    const n = readSync(fd, chunk, 0, chunk.length, null);
    if (n === 0) break;
    chunks.push(chunk.subarray(0, n));
    total += n;
  }
  return Buffer.concat(chunks, total);
}

/**
 * Reads a stream (stdin, for `-f -`) to its end, refusing more than
 * `maxBytes`: the error names `field` and "stdin" as the file.
 */
export async function readStream(field: string, stream: NodeJS.ReadableStream, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    total += buf.length;
    if (total > maxBytes) {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      throw unreadable(field, 'stdin', tooLarge(maxBytes));
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

/** A config file's text (JSON, say): not empty, at most `maxBytes` (default 1 MiB). */
export function readConfigFile(field: string, path: string, maxBytes = MAX_FILE_BYTES): string {
  return readChecked(field, path, { maxBytes }).toString('utf8');
}

/** A secret (a password file, the IAM admin secret), mode-checked; not empty. */
export function readSecretFile(field: string, path: string, check: KeyFileCheck = {}): string {
  return readChecked(field, path, { secret: { what: 'a secret', check } }).toString('utf8');
}

/**
 * A PEM file: a CA or a certificate (every CERTIFICATE block parsed), or,
 * with `privateKey`, a private key (parsed, and its mode checked). A file
 * that is not what it should be is CONFIG_INVALID naming the flag and the
 * file: caught by the TLS layer, the mistake surfaced as an OpenSSL code
 * ("error:1E08010C:DECODER routines::unsupported") naming neither.
 */
export function readPemFile(field: string, path: string, privateKey?: KeyFileCheck): Buffer {
  const data = readChecked(field, path, privateKey !== undefined ? { secret: { what: 'a private key', check: privateKey } } : {});
  if (!data.includes('-----BEGIN ')) throw new MembershipError('CONFIG_INVALID', `${field}: ${path} is not PEM (no "-----BEGIN" line)`);
  if (privateKey !== undefined) parsePrivateKey(field, path, data);
  else parseCertificates(field, path, data);
  return data;
}

function parsePrivateKey(field: string, path: string, data: Buffer): void {
  const invalid = (why: string) => new MembershipError('CONFIG_INVALID', `${field}: ${path} is not a valid PEM private key: ${why}`);
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(data.toString('utf8'))) {
    throw invalid('it is encrypted with a passphrase; the programs need an unencrypted key (readable by its owner only)');
  }
  try {
    createPrivateKey(data);
  } catch (err) {
    throw invalid(`its contents do not decode as a key (${cryptoReason(err)})`);
  }
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function parseCertificates(field: string, path: string, data: Buffer): void {
  const blocks = data.toString('utf8').match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) {
    throw new MembershipError('CONFIG_INVALID', `${field}: ${path} is not a valid PEM certificate: it holds no "BEGIN CERTIFICATE" block`);
  }
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (err) {
      const which = blocks.length > 1 ? ` (certificate ${i + 1} of ${blocks.length})` : '';
      throw new MembershipError('CONFIG_INVALID', `${field}: ${path} is not a valid PEM certificate${which}: ${cryptoReason(err)}`);
    }
  });
}

/** OpenSSL's reason without its numeric code: "error:1E08010C:DECODER routines::unsupported" is "unsupported (DECODER routines)". */
function cryptoReason(err: unknown): string {
  const message = (err as Error | undefined)?.message ?? String(err);
  const m = /^error:[0-9A-F]+:([^:]*):[^:]*:(.+)$/.exec(message);
  return m ? `${m[2]} (${m[1]})` : message;
}

/**
 * A client certificate and its private key, each read as readPemFile reads
 * it, and checked to belong together: a key of another certificate makes
 * every TLS handshake fail later with a message naming neither file.
 */
export function readCertAndKey(
  cert: { field: string; path: string },
  key: { field: string; path: string },
  check: KeyFileCheck = {},
): { cert: Buffer; key: Buffer } {
  const certPem = readPemFile(cert.field, cert.path);
  const keyPem = readPemFile(key.field, key.path, check);
  if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) {
    throw new MembershipError(
      'CONFIG_INVALID',
      `${key.field} ${key.path} does not match the certificate ${cert.field} ${cert.path}: it is the key of another certificate`,
    );
  }
  return { cert: certPem, key: keyPem };
}
