import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MembershipError } from './errors.js';
import { MAX_FILE_BYTES, fileProblem, readCertAndKey, readChecked, readConfigFile, readPemFile, readSecretFile, readStream } from './files.js';

/** A throwaway key and self-signed certificate, made by openssl for this run. */
function makePair(dir: string, name: string): { key: string; cert: string } {
  const keyFile = join(dir, `${name}.pair.key`);
  const certFile = join(dir, `${name}.pair.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`], { stdio: 'ignore' });
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
}

let PEM = '';
let CERT = '';
let OTHER_KEY = '';

function fails(fn: () => unknown, code: MembershipError['code'], message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MembershipError, `expected a MembershipError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.message, message);
    return true;
  });
}

describe('the file reader', () => {
  let dir: string;
  const file = (name: string, content: string, mode = 0o600): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    chmodSync(path, mode);
    return path;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'files-test-'));
    chmodSync(dir, 0o755);
    ({ key: PEM, cert: CERT } = makePair(dir, 'one'));
    OTHER_KEY = makePair(dir, 'other').key;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('names the flag or field, the path and "not found" for a missing file', () => {
    const missing = join(dir, 'missing.pem');
    fails(() => readPemFile('--cacert', missing), 'CONFIG_UNREADABLE', `--cacert: cannot read ${missing}: not found`);
    fails(() => readConfigFile('--config', missing), 'CONFIG_UNREADABLE', `--config: cannot read ${missing}: not found`);
    fails(() => readSecretFile('--password-file', missing), 'CONFIG_UNREADABLE', `--password-file: cannot read ${missing}: not found`);
  });

  it('says "not found" when a part of the path is a file', () => {
    const inside = join(file('plain', 'x'), 'child');
    fails(() => readConfigFile('-f', inside), 'CONFIG_UNREADABLE', `-f: cannot read ${inside}: not found (a part of the path is not a directory)`);
  });

  it('says a directory is a directory', () => {
    const sub = join(dir, 'a-dir');
    mkdirSync(sub);
    fails(() => readPemFile('flaredb.tls.caFile', sub), 'CONFIG_UNREADABLE', `flaredb.tls.caFile: cannot read ${sub}: a directory, not a file`);
    fails(() => readSecretFile('iam.adminSecretFile', sub), 'CONFIG_UNREADABLE', `iam.adminSecretFile: cannot read ${sub}: a directory, not a file`);
  });

  it('says an empty (or blank) file is empty', () => {
    const empty = file('empty', '');
    const blank = file('blank', ' \n\n');
    fails(() => readSecretFile('--password-file', empty), 'CONFIG_UNREADABLE', `--password-file: cannot read ${empty}: empty`);
    fails(() => readConfigFile('--config', blank), 'CONFIG_UNREADABLE', `--config: cannot read ${blank}: empty`);
    fails(() => readPemFile('--cert', empty), 'CONFIG_UNREADABLE', `--cert: cannot read ${empty}: empty`);
    assert.equal(readChecked('--state-dir', empty, { allowEmpty: true }).length, 0);
  });

  it('says "permission denied" for a file this user may not read', () => {
    const secret = file('root-only', 'pw\n', 0o600);
    const expected = `--password-file: cannot read ${secret}: permission denied (it must be readable by the user this program runs as)`;
    if (process.getuid?.() !== 0) {
      chmodSync(secret, 0o000);
      fails(() => readSecretFile('--password-file', secret), 'CONFIG_UNREADABLE', expected);
      return;
    }
    // root reads anything: read as nobody instead (the module is loaded as root first, so that a checkout
    // nobody may not enter, e.g. under mktemp -d's 0700 directory, does not matter).
    const script =
      `import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, 'files.js')).href)}).then((m) => {` +
      '  process.setgid(65534); process.setuid(65534);' +
      `  try { m.readSecretFile('--password-file', ${JSON.stringify(secret)}); console.log(JSON.stringify({ read: true })); }` +
      `  catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }` +
      '});';
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { code: 'CONFIG_UNREADABLE', message: expected });
  });

  it('words the other causes of the file system', () => {
    assert.equal(fileProblem(Object.assign(new Error('EACCES: permission denied, open'), { code: 'EACCES' })), 'permission denied (it must be readable by the user this program runs as)');
    assert.equal(fileProblem(Object.assign(new Error('x'), { code: 'EPERM' })), 'permission denied (it must be readable by the user this program runs as)');
    assert.equal(fileProblem(Object.assign(new Error('too many links'), { code: 'ELOOP' })), 'a loop of symbolic links');
    assert.equal(fileProblem(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' })), 'EIO: EIO: i/o error, read');
  });

  it('returns undefined for a missing optional file, and still reports other problems', () => {
    assert.equal(readChecked('--state-dir', join(dir, 'no-marker'), { optional: true }), undefined);
    fails(
      () => readChecked('--state-dir', dir, { optional: true }),
      'CONFIG_UNREADABLE',
      `--state-dir: cannot read ${dir}: a directory, not a file`,
    );
  });

  it('refuses a file without a PEM block as invalid, naming the field', () => {
    const garbage = file('garbage.crt', 'not a certificate');
    fails(() => readPemFile('--cacert', garbage), 'CONFIG_INVALID', `--cacert: ${garbage} is not PEM (no "-----BEGIN" line)`);
    assert.equal(readPemFile('--cacert', file('ok.crt', CERT, 0o644)).toString(), CERT);
  });

  it('parses a key up front: garbage inside the armour names the flag and the file, not an OpenSSL code alone', () => {
    const garbage = file('armoured.key', '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n');
    assert.throws(() => readPemFile('--key', garbage, {}), (err: unknown) => {
      assert.ok(err instanceof MembershipError && err.code === 'CONFIG_INVALID');
      assert.match(err.message, new RegExp(`^--key: ${garbage} is not a valid PEM private key: its contents do not decode as a key`));
      assert.doesNotMatch(err.message, /error:[0-9A-F]{8}/);
      return true;
    });
  });

  it('says an encrypted key needs its passphrase removed', () => {
    const encrypted = join(dir, 'encrypted.key');
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-aes256', '-pass', 'pass:x', '-out', encrypted]);
    chmodSync(encrypted, 0o600);
    assert.throws(() => readPemFile('--key', encrypted, {}), /--key: .* is not a valid PEM private key: it is encrypted with a passphrase/);
  });

  it('parses every certificate of a bundle, naming the one that is not', () => {
    const bundle = file('bundle.crt', `${CERT}-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n`, 0o644);
    assert.throws(() => readPemFile('--cacert', bundle), new RegExp(`^MembershipError: --cacert: ${bundle} is not a valid PEM certificate \\(certificate 2 of 2\\)`));
    const key = file('a-key-as-ca.pem', PEM);
    assert.throws(() => readPemFile('--cacert', key), new RegExp(`--cacert: ${key} is not a valid PEM certificate: it holds no "BEGIN CERTIFICATE" block`));
  });

  it('checks that a client key belongs to its certificate', () => {
    const cert = file('client.crt', CERT, 0o644);
    const own = file('client.key', PEM);
    const other = file('other.key', OTHER_KEY);
    assert.deepEqual(readCertAndKey({ field: '--cert', path: cert }, { field: '--key', path: own }), { cert: Buffer.from(CERT), key: Buffer.from(PEM) });
    fails(
      () => readCertAndKey({ field: '--cert', path: cert }, { field: '--key', path: other }),
      'CONFIG_INVALID',
      `--key ${other} does not match the certificate --cert ${cert}: it is the key of another certificate`,
    );
  });

  describe('reads only regular files, and only so much of them', () => {
    it('refuses a FIFO at once instead of blocking on it', () => {
      const fifo = join(dir, 'a-fifo');
      execFileSync('mkfifo', [fifo]);
      fails(() => readConfigFile('--config', fifo), 'CONFIG_UNREADABLE', `--config: cannot read ${fifo}: a FIFO (named pipe), not a regular file: it would block until something writes to it`);
    });

    it('refuses a device instead of reading it forever', () => {
      fails(() => readSecretFile('--password-file', '/dev/zero'), 'CONFIG_UNREADABLE', '--password-file: cannot read /dev/zero: a device, not a regular file');
      fails(() => readPemFile('--cacert', '/dev/zero'), 'CONFIG_UNREADABLE', '--cacert: cannot read /dev/zero: a device, not a regular file');
    });

    it('refuses a file over 1 MiB, or over the bound given', () => {
      const big = file('big.json', 'x'.repeat(MAX_FILE_BYTES + 1));
      fails(() => readConfigFile('--config', big), 'CONFIG_UNREADABLE', `--config: cannot read ${big}: larger than 1 MiB (${MAX_FILE_BYTES + 1} bytes), more than such a file ever holds`);
      assert.equal(readConfigFile('-f', big, 2 * MAX_FILE_BYTES).length, MAX_FILE_BYTES + 1);
      const exact = file('exact.json', 'y'.repeat(MAX_FILE_BYTES));
      assert.equal(readConfigFile('--config', exact).length, MAX_FILE_BYTES);
    });

    it('bounds a stream too (stdin for -f -)', async () => {
      const { Readable } = await import('node:stream');
      assert.equal((await readStream('-f', Readable.from([Buffer.from('ab'), Buffer.from('cd')]), 4)).toString(), 'abcd');
      await assert.rejects(readStream('-f', Readable.from([Buffer.from('abc'), Buffer.from('de')]), 4), (err: unknown) => {
        assert.ok(err instanceof MembershipError && err.code === 'CONFIG_UNREADABLE');
        assert.equal(err.message, '-f: cannot read stdin: larger than 4 bytes, more than such a file ever holds');
        return true;
      });
    });
  });

  describe('the mode of a private key or a secret', () => {
    const warning = (field: string, path: string, mode: string, what: string) =>
      `${field} ${path} has mode ${mode}: group or others can access it, but ${what} must be readable by its owner only (chmod 600 ${path})`;

    it('refuses one that group or others can access, by default, with one message', () => {
      const key = file('loose.key', PEM, 0o644);
      fails(() => readPemFile('--key', key, {}), 'CONFIG_INVALID', warning('--key', key, '0644', 'a private key'));
      const group = file('group.key', PEM, 0o640);
      fails(() => readPemFile('flaredb.tls.keyFile', group, {}), 'CONFIG_INVALID', warning('flaredb.tls.keyFile', group, '0640', 'a private key'));
      const secret = file('loose.password', 'pw', 0o604);
      fails(() => readSecretFile('--password-file', secret), 'CONFIG_INVALID', warning('--password-file', secret, '0604', 'a secret'));
    });

    it('warns with the same message and reads the file when told to warn', () => {
      const key = file('warned.key', PEM, 0o644);
      const warned: string[] = [];
      const data = readPemFile('--key', key, { insecureKey: 'warn', warn: (m) => warned.push(m) });
      assert.equal(data.toString(), PEM);
      assert.deepEqual(warned, [warning('--key', key, '0644', 'a private key')]);
      const secret = file('warned.password', 'pw\n', 0o660);
      assert.equal(readSecretFile('--password-file', secret, { insecureKey: 'warn', warn: (m) => warned.push(m) }), 'pw\n');
      assert.equal(warned[1], warning('--password-file', secret, '0660', 'a secret'));
    });

    it('says nothing about 0600 and 0400, nor about a CA or a certificate', () => {
      const warned: string[] = [];
      const check = { insecureKey: 'warn' as const, warn: (m: string) => warned.push(m) };
      readPemFile('--key', file('owner.key', PEM, 0o600), check);
      readPemFile('--key', file('readonly.key', PEM, 0o400), check);
      readSecretFile('--password-file', file('owner.password', 'pw', 0o600), check);
      readPemFile('--cacert', file('world.crt', CERT, 0o644));
      assert.deepEqual(warned, []);
    });

    it('takes a systemd credential (LoadCredential=) as private with the group bits its ACL shows, never with others\' bits', () => {
      // systemd gives a service user other than root read access to a 0400 credential through an ACL: stat shows 0440.
      const credentials = join(dir, 'credentials', 'membership-controller.service');
      mkdirSync(credentials, { recursive: true });
      const acl = join(credentials, 'flaredb-key');
      writeFileSync(acl, PEM);
      chmodSync(acl, 0o440);
      const saved = process.env.CREDENTIALS_DIRECTORY;
      try {
        process.env.CREDENTIALS_DIRECTORY = credentials;
        assert.equal(readPemFile('flaredb.tls.keyFile', acl, {}).toString(), PEM);
        const open = join(credentials, 'etcd-password');
        writeFileSync(open, 'pw');
        chmodSync(open, 0o444);
        fails(() => readSecretFile('--password-file', open), 'CONFIG_INVALID', warning('--password-file', open, '0444', 'a secret'));
        // The same mode outside the credentials directory (or a path that only starts like it) is refused.
        const outside = file('acl-like.key', PEM, 0o440);
        fails(() => readPemFile('--key', outside, {}), 'CONFIG_INVALID', warning('--key', outside, '0440', 'a private key'));
        const sibling = join(`${credentials}-other`);
        mkdirSync(sibling, { recursive: true });
        const lookalike = join(sibling, 'key');
        writeFileSync(lookalike, PEM);
        chmodSync(lookalike, 0o440);
        fails(() => readPemFile('--key', lookalike, {}), 'CONFIG_INVALID', warning('--key', lookalike, '0440', 'a private key'));
        delete process.env.CREDENTIALS_DIRECTORY;
        fails(() => readPemFile('--key', acl, {}), 'CONFIG_INVALID', warning('--key', acl, '0440', 'a private key'));
      } finally {
        if (saved === undefined) delete process.env.CREDENTIALS_DIRECTORY;
        else process.env.CREDENTIALS_DIRECTORY = saved;
      }
    });
  });
});
