import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MembershipError, type ErrorCode } from '../errors.js';
import { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_ENDPOINTS, resolveConnection } from './connection.js';

const noEnv = {};

/** Asserts a MembershipError with this code whose message contains every fragment. */
function throwsWith(fn: () => unknown, code: ErrorCode, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MembershipError, `expected a MembershipError, got ${String(err)}`);
    assert.equal(err.code, code);
    for (const f of fragments) assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

describe('resolveConnection: endpoints', () => {
  it('takes endpoints from the flag, trimmed, ignoring the environment', () => {
    const c = resolveConnection({ endpoints: 'https://10.0.1.10:2379, https://10.0.1.11:2379,' }, { CHAINFIRE_ENDPOINTS: 'http://env:2379' });
    assert.deepEqual(c.endpoints, ['https://10.0.1.10:2379', 'https://10.0.1.11:2379']);
  });

  it('falls back to CHAINFIRE_ENDPOINTS without the flag', () => {
    const c = resolveConnection({}, { CHAINFIRE_ENDPOINTS: 'http://10.0.1.10:2379,http://10.0.1.11:2379' });
    assert.deepEqual(c.endpoints, ['http://10.0.1.10:2379', 'http://10.0.1.11:2379']);
  });

  it('uses the fallback endpoints when neither is set', () => {
    assert.deepEqual(resolveConnection({}, noEnv).endpoints, DEFAULT_ENDPOINTS);
    assert.deepEqual(resolveConnection({}, noEnv, ['http://10.9.9.9:2379']).endpoints, ['http://10.9.9.9:2379']);
  });

  it('rejects a list with no endpoint in it, including an empty flag value', () => {
    throwsWith(() => resolveConnection({ endpoints: ' , ' }, noEnv), 'USAGE', '--endpoints', 'no endpoint given');
    throwsWith(() => resolveConnection({ endpoints: '' }, noEnv), 'USAGE', '--endpoints', 'no endpoint given');
  });

  it('rejects an endpoint that is neither a URL nor host:port, naming the flag and the value', () => {
    throwsWith(() => resolveConnection({ endpoints: 'http://ok:2379,not a url' }, noEnv), 'USAGE', '--endpoints', '"not a url"', 'neither a URL nor host:port');
  });

  it('rejects a scheme other than http or https', () => {
    throwsWith(() => resolveConnection({ endpoints: 'unix:///run/etcd.sock' }, noEnv), 'USAGE', '--endpoints', 'unix:///run/etcd.sock', 'http:// or https://');
    throwsWith(() => resolveConnection({ endpoints: 'ftp://10.0.1.10:2379' }, noEnv), 'USAGE', '--endpoints', 'ftp://10.0.1.10:2379', 'http:// or https://');
  });

  it('rejects a URL that does not parse, such as a port out of range', () => {
    throwsWith(() => resolveConnection({ endpoints: 'http://10.0.1.10:99999' }, noEnv), 'USAGE', '--endpoints', '"http://10.0.1.10:99999" is not a valid URL');
  });

  it('rejects a URL with a path, query or fragment, and drops a lone trailing slash', () => {
    for (const e of ['http://10.0.1.10:2379/v3', 'http://10.0.1.10:2379/?x=1', 'http://10.0.1.10:2379#a']) {
      throwsWith(() => resolveConnection({ endpoints: e }, noEnv), 'USAGE', '--endpoints', 'has a path, query or fragment');
    }
    assert.deepEqual(resolveConnection({ endpoints: 'http://10.0.1.10:2379/' }, noEnv).endpoints, ['http://10.0.1.10:2379']);
  });

  // etcdctl takes --endpoints 127.0.0.1:2379; so do the three programs.
  for (const [given, url] of [
    ['127.0.0.1:2379', 'http://127.0.0.1:2379'],
    ['localhost:2379', 'http://localhost:2379'],
    ['etcd-0.chainfire.svc:2379', 'http://etcd-0.chainfire.svc:2379'],
    ['[::1]:2379', 'http://[::1]:2379'],
    ['[fd00::10]:32379', 'http://[fd00::10]:32379'],
  ] as const) {
    it(`takes the bare host:port ${given} as ${url} without a TLS file`, () => {
      assert.deepEqual(resolveConnection({ endpoints: given }, noEnv).endpoints, [url]);
    });
  }

  it('turns host:port into https:// when any TLS file is given, from a flag, a variable or a default', () => {
    const https = ['https://10.0.1.10:2379', 'https://10.0.1.11:2379'];
    assert.deepEqual(resolveConnection({ endpoints: '10.0.1.10:2379,10.0.1.11:2379', cacert: 'ca.pem' }, noEnv).endpoints, https);
    assert.deepEqual(resolveConnection({ endpoints: '10.0.1.10:2379,10.0.1.11:2379', cert: 'c.pem', key: 'k.pem' }, noEnv).endpoints, https);
    assert.deepEqual(resolveConnection({}, { ETCDCTL_ENDPOINTS: '10.0.1.10:2379,10.0.1.11:2379', ETCDCTL_CACERT: 'ca.pem' }).endpoints, https);
    assert.deepEqual(resolveConnection({}, { ETCDCTL_ENDPOINTS: '10.0.1.10:2379,10.0.1.11:2379', ETCDCTL_CERT: 'c.pem', ETCDCTL_KEY: 'k.pem' }).endpoints, https);
    assert.deepEqual(resolveConnection({ endpoints: '10.0.1.10:2379,10.0.1.11:2379' }, noEnv, { cacert: 'ca.pem', cacertFrom: 'tls.ca_file' }).endpoints, https);
  });

  it('keeps the scheme of a URL as given, beside host:port', () => {
    const c = resolveConnection({ endpoints: 'http://10.0.1.10:2379,10.0.1.11:2379', cacert: 'ca.pem' }, noEnv);
    assert.deepEqual(c.endpoints, ['http://10.0.1.10:2379', 'https://10.0.1.11:2379']);
  });

  for (const [given, problem] of [
    ['10.0.1.10', 'no port'],
    ['10.0.1.10:', 'no port'],
    ['10.0.1.10:0', 'port 0 is out of range 1-65535'],
    ['10.0.1.10:65536', 'port 65536 is out of range 1-65535'],
    ['10.0.1.10:http', 'port "http" is not a number'],
    [':2379', 'no host before the port'],
    ['10.0.1.300:2379', '10.0.1.300 is not an IPv4 address'],
    ['::1:2379', 'an IPv6 address goes in brackets, as in [fd00::10]:2379'],
    ['[::g]:2379', '::g is not an IPv6 address'],
    ['[::1]', 'no port'],
    ['etcd_0:2379', '"etcd_0" is not a host name'],
    ['10.0.1.10:2379/v3', 'port "2379/v3" is not a number'],
  ] as const) {
    it(`refuses ${JSON.stringify(given)}: ${problem}`, () => {
      throwsWith(() => resolveConnection({ endpoints: given }, noEnv), 'USAGE', `--endpoints: ${JSON.stringify(given)} is neither a URL nor host:port: ${problem}`, 'https://10.0.1.10:2379');
    });
  }

  it('checks endpoints that came from the environment too, naming the variable', () => {
    throwsWith(() => resolveConnection({}, { CHAINFIRE_ENDPOINTS: 'ftp://x:21' }), 'USAGE', 'CHAINFIRE_ENDPOINTS', 'ftp://x:21');
  });

  // A password in a URL shows in ps and was echoed by the connection error.
  for (const [endpoint, shown] of [
    ['http://u:s3cr3t@127.0.0.1:1', 'http://<credentials hidden>@127.0.0.1:1'],
    ['https://operator@10.0.1.10:2379', 'https://<credentials hidden>@10.0.1.10:2379'],
    ['u:s3cr3t@127.0.0.1:2379', '<credentials hidden>@127.0.0.1:2379'],
    ['http://u:p%40ss@[::1]:2379', 'http://<credentials hidden>@[::1]:2379'],
  ] as const) {
    it(`refuses credentials in ${JSON.stringify(endpoint)} without repeating them`, () => {
      assert.throws(() => resolveConnection({ endpoints: `http://ok:2379,${endpoint}` }, noEnv), (err: unknown) => {
        assert.ok(err instanceof MembershipError && err.code === 'USAGE');
        assert.ok(err.message.startsWith(`--endpoints: ${shown} carries credentials`), err.message);
        assert.ok(!/s3cr3t|p%40ss|operator@/.test(err.message), err.message);
        return true;
      });
    });
  }

  it('refuses credentials in CHAINFIRE_ENDPOINTS, naming the variable', () => {
    throwsWith(() => resolveConnection({}, { CHAINFIRE_ENDPOINTS: 'http://u:pw@127.0.0.1:1' }), 'USAGE', 'CHAINFIRE_ENDPOINTS: http://<credentials hidden>@127.0.0.1:1');
  });
});

describe('resolveConnection: TLS and auth', () => {
  it('defaults the prefix and call timeout and sets no credentials', () => {
    assert.deepEqual(resolveConnection({}, noEnv), {
      endpoints: DEFAULT_ENDPOINTS,
      prefix: '/photoncloud/membership/v1',
      callTimeoutMs: DEFAULT_CALL_TIMEOUT_MS,
    });
  });

  it('passes the TLS files and prefix through', () => {
    const c = resolveConnection({ prefix: '/p', cacert: 'ca.pem', cert: 'c.pem', key: 'k.pem' }, noEnv);
    assert.deepEqual([c.prefix, c.cacert, c.cert, c.key], ['/p', 'ca.pem', 'c.pem', 'k.pem']);
  });

  it('requires --cert and --key together', () => {
    throwsWith(() => resolveConnection({ cert: 'c.pem' }, noEnv), 'USAGE', '--cert', '--key');
    throwsWith(() => resolveConnection({ key: 'k.pem' }, noEnv), 'USAGE', '--cert', '--key');
  });

  it('requires a password source for --user, naming both', () => {
    throwsWith(() => resolveConnection({ user: 'root' }, noEnv), 'USAGE', '--user', 'CHAINFIRE_PASSWORD', '--password-file');
  });

  it('takes the password from CHAINFIRE_PASSWORD', () => {
    const c = resolveConnection({ user: 'root' }, { CHAINFIRE_PASSWORD: 's3cret' });
    assert.equal(c.user, 'root');
    assert.equal(c.password, 's3cret');
  });

  describe('--password-file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'connection-test-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('reads the password from the file, without the trailing newline, in preference to the env', () => {
      const file = join(dir, 'pw');
      writeFileSync(file, 'from-file\n', { mode: 0o600 });
      const c = resolveConnection({ user: 'root', passwordFile: file }, { CHAINFIRE_PASSWORD: 'from-env' });
      assert.equal(c.password, 'from-file');
    });

    it('reports an unreadable file as a configuration problem naming the flag', () => {
      const missing = join(dir, 'missing');
      throwsWith(() => resolveConnection({ user: 'root', passwordFile: missing }, noEnv), 'CONFIG_UNREADABLE', `--password-file: cannot read ${missing}: not found`);
    });

    it('refuses a password file that group or others can read, or warns about it when told to', () => {
      const file = join(dir, 'loose');
      writeFileSync(file, 'pw\n', { mode: 0o644 });
      throwsWith(() => resolveConnection({ user: 'root', passwordFile: file }, noEnv), 'CONFIG_INVALID', `--password-file ${file} has mode 0644`, `chmod 600 ${file}`);
      const warned: string[] = [];
      const c = resolveConnection({ user: 'root', passwordFile: file }, noEnv, undefined, { insecureKey: 'warn', warn: (m) => warned.push(m) });
      assert.equal(c.password, 'pw');
      assert.equal(warned.length, 1);
      assert.ok(warned[0]!.startsWith(`--password-file ${file} has mode 0644`), warned[0]);
    });

    it('refuses an empty password file', () => {
      const file = join(dir, 'empty');
      writeFileSync(file, '\n', { mode: 0o600 });
      throwsWith(() => resolveConnection({ user: 'root', passwordFile: file }, noEnv), 'CONFIG_UNREADABLE', `--password-file: cannot read ${file}: empty`);
    });
  });

  it('takes no password without --user', () => {
    const c = resolveConnection({}, { CHAINFIRE_PASSWORD: 's3cret' });
    assert.equal(c.password, undefined);
    assert.equal(c.user, undefined);
  });
});
