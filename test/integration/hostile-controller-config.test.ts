// Bad controller config files (--config), each run through the real
// membership-controller: it must stop at start with exit 78, a message that
// names the field (and never a secret it was handed), no stack trace, and
// without having talked to anything: the Chainfire endpoint given is a port
// nobody listens on, so a controller that got past its config would keep
// retrying instead of exiting. A valid config beside them shows that is so.
// This table is about the file's fields; the controller's flags (--workers,
// --lease-ttl, --resync-period, durations) are checked with the flags.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../support/etcd-cluster.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { binPath, runProcess, startProcess } from '../support/processes.js';
import { tempDir } from '../support/fixtures.js';

interface Files {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  /** the same key, mode 0644 */
  openKey: string;
  secret: string;
  openSecret: string;
  notJsonSecret: string;
  noPasswordSecret: string;
  notPem: string;
}

const SECRET_PASSWORD = 'hunter2-not-for-any-log';

/** A valid config: FlareDB over https with mTLS, IAM over https with an admin secret. */
function valid(f: Files): Record<string, any> {
  return {
    flaredb: {
      endpoints: ['https://127.0.0.1:2479', 'https://127.0.0.2:2479'],
      tls: { caFile: f.ca, certFile: f.cert, keyFile: f.key },
      requestTimeoutMs: 5000,
      retries: 3,
    },
    iam: { endpoints: ['https://127.0.0.1:8080'], tls: { caFile: f.ca }, adminSecretFile: f.secret },
    chainfire: { callTimeoutMs: 5000 },
  };
}

type Edit = (c: Record<string, any>, f: Files) => unknown;

/** [case, the config (an edit of the valid one, or raw text), what the message must name] */
const CASES: Array<[string, Edit | string, RegExp]> = [
  ['not JSON', '{"flaredb": {', /not valid JSON/],
  ['a JSON array', '[]', /expected object/],
  ['an unknown top-level field', (c) => ({ ...c, workers: 4 }), /workers/],
  ['a misspelt field', (c) => ({ ...c, flaredb: { ...c.flaredb, endpoint: c.flaredb.endpoints } }), /endpoint/],
  ['endpoints as a string', (c) => ({ ...c, flaredb: { ...c.flaredb, endpoints: 'https://127.0.0.1:2479' } }), /flaredb\.endpoints/],
  ['no endpoint', (c) => ({ ...c, flaredb: { ...c.flaredb, endpoints: [] } }), /flaredb\.endpoints/],
  ['an endpoint that is no URL', (c) => ({ ...c, iam: { ...c.iam, endpoints: ['10.0.1.10 port 8080'] } }), /iam\.endpoints\.0/],
  ['an ftp endpoint', (c) => ({ ...c, iam: { ...c.iam, endpoints: ['ftp://10.0.1.10:8080'] } }), /iam\.endpoints\.0/],
  ['an endpoint with a password in it', (c) => ({ ...c, iam: { ...c.iam, endpoints: [`https://admin:${SECRET_PASSWORD}@10.0.1.10:8080`] } }), /iam\.endpoints\.0/],
  ['an endpoint with a path', (c) => ({ ...c, flaredb: { ...c.flaredb, endpoints: ['https://127.0.0.1:2479/admin'] } }), /flaredb\.endpoints\.0/],
  ['the same endpoint twice', (c) => ({ ...c, flaredb: { ...c.flaredb, endpoints: ['https://127.0.0.1:2479', 'https://127.0.0.1:2479/'] } }), /flaredb\.endpoints\.1/],
  ['an http endpoint beside a tls block (FlareDB)', (c) => ({ ...c, flaredb: { ...c.flaredb, endpoints: ['http://127.0.0.1:2479'] } }), /flaredb\.endpoints\.0.*http:\/\/.*flaredb\.tls/],
  ['an http endpoint after an https one beside a tls block (IAM)', (c) => ({ ...c, iam: { ...c.iam, endpoints: ['https://127.0.0.1:8080', 'http://127.0.0.2:8080'] } }), /iam\.endpoints\.1.*http:\/\/.*iam\.tls/],
  ['https endpoints without a tls block', (c) => ({ ...c, iam: { ...c.iam, tls: undefined } }), /iam\.tls/],
  ['requestTimeoutMs as "5s"', (c) => ({ ...c, flaredb: { ...c.flaredb, requestTimeoutMs: '5s' } }), /flaredb\.requestTimeoutMs/],
  ['requestTimeoutMs 0', (c) => ({ ...c, flaredb: { ...c.flaredb, requestTimeoutMs: 0 } }), /flaredb\.requestTimeoutMs/],
  ['requestTimeoutMs negative', (c) => ({ ...c, iam: { ...c.iam, requestTimeoutMs: -5000 } }), /iam\.requestTimeoutMs/],
  ['requestTimeoutMs fractional', (c) => ({ ...c, iam: { ...c.iam, requestTimeoutMs: 1500.5 } }), /iam\.requestTimeoutMs/],
  ['requestTimeoutMs huge', (c) => ({ ...c, flaredb: { ...c.flaredb, requestTimeoutMs: 1e12 } }), /flaredb\.requestTimeoutMs/],
  ['retries negative', (c) => ({ ...c, flaredb: { ...c.flaredb, retries: -1 } }), /flaredb\.retries/],
  ['retries fractional', (c) => ({ ...c, iam: { ...c.iam, retries: 2.5 } }), /iam\.retries/],
  ['retries huge', (c) => ({ ...c, iam: { ...c.iam, retries: 1_000_000 } }), /iam\.retries/],
  ['callTimeoutMs as a word', (c) => ({ ...c, chainfire: { callTimeoutMs: 'fast' } }), /chainfire\.callTimeoutMs/],
  ['callTimeoutMs 0', (c) => ({ ...c, chainfire: { callTimeoutMs: 0 } }), /chainfire\.callTimeoutMs/],
  ['an unknown chainfire field', (c) => ({ ...c, chainfire: { callTimeoutMs: 5000, endpoints: ['http://x:2379'] } }), /chainfire|endpoints/],
  ['a relative caFile', (c) => ({ ...c, flaredb: { ...c.flaredb, tls: { ...c.flaredb.tls, caFile: 'ca.crt' } } }), /flaredb\.tls\.caFile/],
  ['a caFile that does not exist', (c, f) => ({ ...c, iam: { ...c.iam, tls: { caFile: join(f.dir, 'nope.crt') } } }), /iam\.tls\.caFile.*not found/],
  ['a caFile that is a directory', (c, f) => ({ ...c, iam: { ...c.iam, tls: { caFile: f.dir } } }), /iam\.tls\.caFile.*directory/],
  ['a caFile that is not PEM', (c, f) => ({ ...c, iam: { ...c.iam, tls: { caFile: f.notPem } } }), /iam\.tls\.caFile.*not PEM/],
  ['certFile without keyFile', (c) => ({ ...c, flaredb: { ...c.flaredb, tls: { caFile: c.flaredb.tls.caFile, certFile: c.flaredb.tls.certFile } } }), /keyFile/],
  ['a keyFile others may read', (c, f) => ({ ...c, flaredb: { ...c.flaredb, tls: { ...c.flaredb.tls, keyFile: f.openKey } } }), /flaredb\.tls\.keyFile.*0644/],
  ['a keyFile that does not exist', (c, f) => ({ ...c, flaredb: { ...c.flaredb, tls: { ...c.flaredb.tls, keyFile: join(f.dir, 'nope.key') } } }), /flaredb\.tls\.keyFile.*not found/],
  ['an unknown tls field', (c) => ({ ...c, iam: { ...c.iam, tls: { ...c.iam.tls, insecureSkipVerify: true } } }), /insecureSkipVerify/],
  ['iam without adminSecretFile', (c) => ({ ...c, iam: { ...c.iam, adminSecretFile: undefined } }), /iam\.adminSecretFile/],
  ['an adminSecretFile that does not exist', (c, f) => ({ ...c, iam: { ...c.iam, adminSecretFile: join(f.dir, 'nope.json') } }), /iam\.adminSecretFile.*not found/],
  ['an adminSecretFile others may read', (c, f) => ({ ...c, iam: { ...c.iam, adminSecretFile: f.openSecret } }), /iam\.adminSecretFile.*0644/],
  ['an adminSecretFile that is not JSON', (c, f) => ({ ...c, iam: { ...c.iam, adminSecretFile: f.notJsonSecret } }), /iam\.adminSecretFile.*not valid JSON/],
  ['an adminSecretFile without a password', (c, f) => ({ ...c, iam: { ...c.iam, adminSecretFile: f.noPasswordSecret } }), /iam\.adminSecretFile.*password/],
  ['allowedLeaderHosts as a string', (c) => ({ ...c, flaredb: { ...c.flaredb, allowedLeaderHosts: '10.0.1.11' } }), /flaredb\.allowedLeaderHosts/],
  ['an allowed leader host given as a URL', (c) => ({ ...c, flaredb: { ...c.flaredb, allowedLeaderHosts: ['https://10.0.1.11:2479'] } }), /flaredb\.allowedLeaderHosts\.0/],
  ['an allowed leader host with a path', (c) => ({ ...c, iam: { ...c.iam, allowedLeaderHosts: ['10.0.1.11:8080/admin'] } }), /iam\.allowedLeaderHosts\.0/],
  ['an allowed leader host with port 99999', (c) => ({ ...c, iam: { ...c.iam, allowedLeaderHosts: ['10.0.1.11:99999'] } }), /iam\.allowedLeaderHosts\.0/],
  ['an allowed leader host "*"', (c) => ({ ...c, flaredb: { ...c.flaredb, allowedLeaderHosts: ['*'] } }), /flaredb\.allowedLeaderHosts\.0/],
  ['an empty allowed leader host', (c) => ({ ...c, flaredb: { ...c.flaredb, allowedLeaderHosts: ['10.0.1.11', ''] } }), /flaredb\.allowedLeaderHosts\.1/],
];

describe('bad controller config files: exit 78 at start, naming the field, never a stack trace', () => {
  let pki: TestPki;
  let files: Files;
  let chainfire: string;
  const failed: string[] = [];

  before(async () => {
    pki = await makeTestPki(['controller']);
    const dir = await tempDir('hostile-config-');
    await mkdir(join(dir, 'sub'));
    const file = async (name: string, text: string, mode = 0o600) => {
      const p = join(dir, name);
      await writeFile(p, text);
      await chmod(p, mode);
      return p;
    };
    const client = pki.clients.controller!;
    const keyText = await readFile(client.keyFile, 'utf8');
    files = {
      dir,
      ca: pki.caFile,
      cert: client.certFile,
      key: client.keyFile,
      openKey: await file('open.key', keyText, 0o644),
      secret: await file('iam-admin.json', JSON.stringify({ user: 'admin', password: SECRET_PASSWORD })),
      openSecret: await file('open-admin.json', JSON.stringify({ user: 'admin', password: SECRET_PASSWORD }), 0o644),
      notJsonSecret: await file('admin.txt', `admin\n${SECRET_PASSWORD}\n`),
      noPasswordSecret: await file('nopw.json', JSON.stringify({ user: 'admin' })),
      notPem: await file('ca.txt', 'this is no certificate\n', 0o644),
    };
    // Nobody listens here: a controller that got past its config would retry, not exit.
    chainfire = `http://127.0.0.1:${await freePort()}`;
  });

  after(async () => {
    await pki?.cleanup();
  });

  const run = (configPath: string) =>
    runProcess(process.execPath, [binPath('membership-controller'), '--endpoints', chainfire, '--config', configPath, '--metrics-addr', 'off'], {
      timeoutMs: 20_000,
    });

  it('a valid config gets past the checks: the controller starts and tries to reach Chainfire', async () => {
    const path = join(files.dir, 'valid.json');
    await writeFile(path, JSON.stringify(valid(files)));
    const c = startProcess(process.execPath, [binPath('membership-controller'), '--endpoints', chainfire, '--config', path, '--metrics-addr', 'off']);
    try {
      await c.waitForLine(/cannot list records from Chainfire; retrying/, 20_000);
    } finally {
      c.kill('SIGKILL');
      await c.exited;
    }
  });

  for (const [i, [what, edit, names]] of CASES.entries()) {
    it(`${i + 1}. ${what}`, async () => {
      try {
        const path = join(files.dir, `case${i + 1}.json`);
        await writeFile(path, typeof edit === 'string' ? edit : JSON.stringify(edit(valid(files), files)));
        const r = await run(path);
        const out = r.stdout + r.stderr;
        assert.doesNotMatch(out, /\n\s+at |"stack"/, `${what}: no stack trace:\n${out}`);
        assert.ok(!out.includes(SECRET_PASSWORD), `${what}: the output holds no secret:\n${out}`);
        assert.notEqual(r.code, 70, `${what}: not an internal error:\n${out}`);
        assert.equal(r.code, 78, `${what}: exit 78 (configuration):\n${out}`);
        assert.match(r.stderr, names, `${what}: the message names the field`);
      } catch (err) {
        failed.push(what);
        throw err;
      }
    });
  }

  it('summary', (t) => {
    t.diagnostic(`config cases: ${CASES.length} cases, ${failed.length} failed${failed.length > 0 ? `: ${failed.join('; ')}` : ''}`);
    assert.ok(CASES.length >= 30);
  });
});
