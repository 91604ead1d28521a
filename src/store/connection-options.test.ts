import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MembershipError, type ErrorCode } from '../errors.js';
import { DEFAULT_ENDPOINTS, resolveConnection, resolveConnectionSources } from './connection-options.js';

function throwsWith(fn: () => unknown, code: ErrorCode, ...fragments: string[]): MembershipError {
  let caught: MembershipError | undefined;
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MembershipError, `expected a MembershipError, got ${String(err)}`);
    assert.equal(err.code, code);
    for (const f of fragments) assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(f)}`);
    caught = err;
    return true;
  });
  return caught!;
}

describe('resolveConnection: endpoints from the flag, CHAINFIRE_ENDPOINTS, ETCDCTL_ENDPOINTS, the default', () => {
  const all = { CHAINFIRE_ENDPOINTS: 'http://ours:2379', ETCDCTL_ENDPOINTS: 'etcdctl:2379' };

  it('the flag wins over both variables', () => {
    const r = resolveConnectionSources({ endpoints: 'flag:2379' }, all);
    assert.deepEqual(r.connection.endpoints, ['http://flag:2379']);
    assert.equal(r.sources.endpoints, '--endpoints');
  });

  it('CHAINFIRE_ENDPOINTS wins over ETCDCTL_ENDPOINTS', () => {
    const r = resolveConnectionSources({}, all);
    assert.deepEqual(r.connection.endpoints, ['http://ours:2379']);
    assert.equal(r.sources.endpoints, 'CHAINFIRE_ENDPOINTS');
  });

  it('ETCDCTL_ENDPOINTS alone is used, host:port as etcdctl takes it', () => {
    const r = resolveConnectionSources({}, { ETCDCTL_ENDPOINTS: '10.0.1.10:2379,10.0.1.11:2379' });
    assert.deepEqual(r.connection.endpoints, ['http://10.0.1.10:2379', 'http://10.0.1.11:2379']);
    assert.equal(r.sources.endpoints, 'ETCDCTL_ENDPOINTS');
  });

  it('an empty variable is no setting: the next place is asked', () => {
    assert.deepEqual(resolveConnection({}, { CHAINFIRE_ENDPOINTS: '', ETCDCTL_ENDPOINTS: '10.0.1.10:2379' }).endpoints, ['http://10.0.1.10:2379']);
    assert.deepEqual(resolveConnection({}, { CHAINFIRE_ENDPOINTS: '', ETCDCTL_ENDPOINTS: '' }).endpoints, DEFAULT_ENDPOINTS);
  });

  it('the default comes last, named as the program names it', () => {
    const r = resolveConnectionSources({}, {}, { endpoints: ['https://10.0.1.10:2379'], endpointsFrom: 'leader_url of /etc/cluster-config.json' });
    assert.deepEqual(r.connection.endpoints, ['https://10.0.1.10:2379']);
    assert.equal(r.sources.endpoints, 'leader_url of /etc/cluster-config.json');
    assert.equal(resolveConnectionSources({}, {}).sources.endpoints, 'default');
  });

  it('checks ETCDCTL_ENDPOINTS as it checks the flag, naming the variable', () => {
    throwsWith(() => resolveConnection({}, { ETCDCTL_ENDPOINTS: 'ftp://x:21' }), 'USAGE', 'ETCDCTL_ENDPOINTS: ftp://x:21 must use http:// or https://');
    throwsWith(() => resolveConnection({}, { ETCDCTL_ENDPOINTS: '10.0.1.10' }), 'USAGE', 'ETCDCTL_ENDPOINTS: "10.0.1.10" is neither a URL nor host:port: no port');
    throwsWith(() => resolveConnection({}, { ETCDCTL_ENDPOINTS: ' , ' }), 'USAGE', 'ETCDCTL_ENDPOINTS: no endpoint given');
    const err = throwsWith(() => resolveConnection({}, { ETCDCTL_ENDPOINTS: 'u:s3cr3t@10.0.1.10:2379' }), 'USAGE', 'ETCDCTL_ENDPOINTS: <credentials hidden>@10.0.1.10:2379 carries credentials');
    assert.ok(!err.message.includes('s3cr3t'), err.message);
  });
});

describe('resolveConnection: TLS files from the flags, then ETCDCTL_*, then the default', () => {
  it('--cacert wins over ETCDCTL_CACERT, which wins over the default', () => {
    const env = { ETCDCTL_CACERT: 'env-ca.pem' };
    const defaults = { cacert: 'config-ca.pem', cacertFrom: 'tls.ca_file of c.json' };
    assert.deepEqual(
      [resolveConnectionSources({ cacert: 'flag-ca.pem' }, env, defaults)].map((r) => [r.connection.cacert, r.sources.cacert]),
      [['flag-ca.pem', '--cacert']],
    );
    const fromEnv = resolveConnectionSources({}, env, defaults);
    assert.deepEqual([fromEnv.connection.cacert, fromEnv.sources.cacert], ['env-ca.pem', 'ETCDCTL_CACERT']);
    const fromDefault = resolveConnectionSources({}, {}, defaults);
    assert.deepEqual([fromDefault.connection.cacert, fromDefault.sources.cacert], ['config-ca.pem', 'tls.ca_file of c.json']);
  });

  it('takes the client certificate and key from ETCDCTL_CERT and ETCDCTL_KEY', () => {
    const r = resolveConnectionSources({}, { ETCDCTL_CERT: 'c.pem', ETCDCTL_KEY: 'k.pem' });
    assert.deepEqual([r.connection.cert, r.connection.key, r.sources.certAndKey], ['c.pem', 'k.pem', 'ETCDCTL_CERT/ETCDCTL_KEY']);
  });

  it('takes certificate and key as a pair from one place: the flags win over both variables', () => {
    const r = resolveConnection({ cert: 'fc.pem', key: 'fk.pem' }, { ETCDCTL_CERT: 'c.pem', ETCDCTL_KEY: 'k.pem' });
    assert.deepEqual([r.cert, r.key], ['fc.pem', 'fk.pem']);
    // --cert alone is not completed by ETCDCTL_KEY, which may belong to another certificate.
    throwsWith(() => resolveConnection({ cert: 'fc.pem' }, { ETCDCTL_CERT: 'c.pem', ETCDCTL_KEY: 'k.pem' }), 'USAGE', '--cert and --key must be given together');
  });

  it('refuses ETCDCTL_CERT without ETCDCTL_KEY, and the other way round', () => {
    throwsWith(() => resolveConnection({}, { ETCDCTL_CERT: 'c.pem' }), 'USAGE', 'ETCDCTL_CERT is set without ETCDCTL_KEY');
    throwsWith(() => resolveConnection({}, { ETCDCTL_KEY: 'k.pem' }), 'USAGE', 'ETCDCTL_KEY is set without ETCDCTL_CERT');
  });
});

describe('resolveConnection: the user and password', () => {
  const dir = mkdtempSync(join(tmpdir(), 'connection-options-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('takes ETCDCTL_USER as name:password, as etcdctl does', () => {
    const r = resolveConnectionSources({}, { ETCDCTL_USER: 'operator:pa:ss' });
    assert.deepEqual([r.connection.user, r.connection.password], ['operator', 'pa:ss']);
    assert.deepEqual([r.sources.user, r.sources.password], ['ETCDCTL_USER', 'ETCDCTL_USER']);
  });

  it('takes ETCDCTL_USER as a name with ETCDCTL_PASSWORD (etcdctl 3.4)', () => {
    const r = resolveConnectionSources({}, { ETCDCTL_USER: 'operator', ETCDCTL_PASSWORD: 'pw' });
    assert.deepEqual([r.connection.user, r.connection.password, r.sources.password], ['operator', 'pw', 'ETCDCTL_PASSWORD']);
  });

  it('--user wins over ETCDCTL_USER, whose password then is not used', () => {
    const r = resolveConnectionSources({ user: 'root' }, { ETCDCTL_USER: 'operator:op-pw', CHAINFIRE_PASSWORD: 'root-pw' });
    assert.deepEqual([r.connection.user, r.connection.password, r.sources.user, r.sources.password], ['root', 'root-pw', '--user', 'CHAINFIRE_PASSWORD']);
    throwsWith(() => resolveConnection({ user: 'root' }, { ETCDCTL_USER: 'operator:op-pw' }), 'USAGE', '--user needs a password');
  });

  it('--user takes ETCDCTL_PASSWORD when nothing of ours gives one', () => {
    const r = resolveConnectionSources({ user: 'root' }, { ETCDCTL_PASSWORD: 'pw' });
    assert.deepEqual([r.connection.password, r.sources.password], ['pw', 'ETCDCTL_PASSWORD']);
  });

  it('the password: --password-file, then CHAINFIRE_PASSWORD, then ETCDCTL_USER\'s, then ETCDCTL_PASSWORD', () => {
    const file = join(dir, 'pw');
    writeFileSync(file, 'from-file\n', { mode: 0o600 });
    assert.equal(resolveConnection({ passwordFile: file }, { ETCDCTL_USER: 'op:from-user', CHAINFIRE_PASSWORD: 'ours' }).password, 'from-file');
    assert.equal(resolveConnection({}, { ETCDCTL_USER: 'op:from-user', CHAINFIRE_PASSWORD: 'ours' }).password, 'ours');
    assert.equal(resolveConnection({}, { ETCDCTL_USER: 'op', CHAINFIRE_PASSWORD: 'ours', ETCDCTL_PASSWORD: 'theirs' }).password, 'ours');
  });

  it('refuses ETCDCTL_USER without any password, never repeating the variable', () => {
    throwsWith(() => resolveConnection({}, { ETCDCTL_USER: 'operator' }), 'USAGE', 'ETCDCTL_USER names user operator but no password', 'ETCDCTL_PASSWORD', '--password-file');
    throwsWith(() => resolveConnection({}, { ETCDCTL_USER: 'operator:' }), 'USAGE', 'ETCDCTL_USER ends in ":" with no password');
    throwsWith(() => resolveConnection({}, { ETCDCTL_USER: ':s3cr3t' }), 'USAGE', 'ETCDCTL_USER names no user');
    const err = throwsWith(() => resolveConnection({}, { ETCDCTL_USER: 'op:s3cr3t', ETCDCTL_PASSWORD: 'x' }), 'USAGE', 'keep one of them');
    assert.ok(!err.message.includes('s3cr3t'), err.message);
  });

  it('refuses --user name:password (etcdctl\'s form), which would put the password in ps and the debug line, without repeating it', () => {
    const err = throwsWith(() => resolveConnection({ user: 'root:s3cr3t' }, { CHAINFIRE_PASSWORD: 'pw' }), 'USAGE', '--user takes a user name only');
    assert.ok(!err.message.includes('s3cr3t'), err.message);
  });

  it('uses no ETCDCTL_PASSWORD without a user', () => {
    const c = resolveConnection({}, { ETCDCTL_PASSWORD: 'pw' });
    assert.equal(c.user, undefined);
    assert.equal(c.password, undefined);
  });
});

describe('resolveConnection: where each setting came from, at debug level', () => {
  it('logs the sources once at debug, with the endpoints and file names and never a password', () => {
    const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
    const log = { debug: (fields: Record<string, unknown>, message: string) => lines.push({ fields, message }) };
    resolveConnection(
      { cacert: 'ca.pem' },
      { ETCDCTL_ENDPOINTS: '10.0.1.10:2379', ETCDCTL_CERT: 'c.pem', ETCDCTL_KEY: 'k.pem', ETCDCTL_USER: 'operator:s3cr3t' },
      undefined,
      {},
      log,
    );
    assert.equal(lines.length, 1);
    const { fields, message } = lines[0]!;
    assert.equal(
      message,
      'Chainfire connection: endpoints from ETCDCTL_ENDPOINTS; CA certificate from --cacert; client certificate and key from ETCDCTL_CERT/ETCDCTL_KEY; ' +
        'user from ETCDCTL_USER, password from ETCDCTL_USER',
    );
    assert.deepEqual(fields, {
      endpoints: ['https://10.0.1.10:2379'],
      endpointsFrom: 'ETCDCTL_ENDPOINTS',
      cacert: 'ca.pem',
      cacertFrom: '--cacert',
      cert: 'c.pem',
      key: 'k.pem',
      certAndKeyFrom: 'ETCDCTL_CERT/ETCDCTL_KEY',
      user: 'operator',
      userFrom: 'ETCDCTL_USER',
      passwordFrom: 'ETCDCTL_USER',
    });
    assert.ok(!JSON.stringify(lines).includes('s3cr3t'));
  });

  it('names the default when nothing was given', () => {
    const lines: string[] = [];
    resolveConnection({}, {}, undefined, {}, { debug: (_f, m) => lines.push(m) });
    assert.deepEqual(lines, ['Chainfire connection: endpoints from default']);
  });
});
