import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MembershipError } from './errors.js';
import { fileProblem, readChecked, readConfigFile, readPemFile, readSecretFile } from './files.js';

const PEM = '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n';

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
    // root reads anything: read as nobody instead.
    const script =
      `import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, 'files.js')).href)}).then((m) => {` +
      `  try { m.readSecretFile('--password-file', ${JSON.stringify(secret)}); console.log(JSON.stringify({ read: true })); }` +
      `  catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }` +
      '});';
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8' });
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
    assert.equal(readPemFile('--cacert', file('ok.crt', PEM, 0o644)).toString(), PEM);
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
      readPemFile('--cacert', file('world.crt', PEM, 0o644));
      assert.deepEqual(warned, []);
    });
  });
});
