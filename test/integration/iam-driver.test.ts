import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HttpIAMDriver, readAdminSecret } from '../../src/drivers/iam.js';
import type { HttpServiceOptions } from '../../src/drivers/types.js';
import { MembershipError, isMembershipError } from '../../src/errors.js';
import { IAMSimulator, type IAMSimulatorOptions } from '../support/iam-simulator.js';
import { ForeignHost, lies } from '../support/lies.js';
import { tempDir } from '../support/fixtures.js';

const execFileAsync = promisify(execFile);

const ADMIN = { user: 'admin', password: 'S3cret-pa55word-do-not-print' };

/** Every text a thrown error could show a person: message, stack and the whole cause chain. */
function allErrorText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && depth < 10; depth++) {
    if (e instanceof Error) {
      parts.push(e.message, e.stack ?? '', String(e));
      e = (e as { cause?: unknown }).cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join('\n');
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('expected the call to fail');
}

describe('HttpIAMDriver against the IAM simulator', () => {
  let sim: IAMSimulator;
  let driver: HttpIAMDriver;
  const drivers: HttpIAMDriver[] = [];

  function makeDriver(extra: Partial<HttpServiceOptions> = {}): HttpIAMDriver {
    const d = new HttpIAMDriver({ endpoints: sim.urls, requestTimeoutMs: 400, retries: 3, ...extra });
    drivers.push(d);
    return d;
  }

  async function fresh(options: IAMSimulatorOptions = {}): Promise<void> {
    sim = await IAMSimulator.start(options);
    driver = makeDriver();
  }

  afterEach(async () => {
    await Promise.all(drivers.splice(0).map((d) => d.close()));
    await sim?.stop();
  });

  it('reports health', async () => {
    await fresh();
    assert.equal((await driver.health()).healthy, true);
    await sim.down();
    const h = await driver.health();
    assert.equal(h.healthy, false);
    assert.match(h.detail, /GET \/health/);
    assert.match(h.detail, /ECONNREFUSED/);
  });

  it('runs the initial admin setup once; a second one is already-initialized', async () => {
    await fresh();
    assert.deepEqual(await driver.bootstrapStatus(), { initialized: false });
    assert.equal(await driver.bootstrap(ADMIN), 'initialized');
    assert.deepEqual(await driver.bootstrapStatus(), { initialized: true });
    assert.equal(await driver.bootstrap({ user: 'other', password: 'another-one' }), 'already-initialized');
    assert.equal(sim.bootstrapCount, 1);
    assert.equal(sim.adminUser, 'admin');
    assert.ok(sim.checkAdminPassword(ADMIN.password));
  });

  it('sets up the admin exactly once across an IAM leader change', async () => {
    await fresh({ endpoints: 3, leader: 1 });
    // endpoint 0 is a replica: the driver follows its leader hint to 1
    assert.equal(await driver.bootstrap(ADMIN), 'initialized');
    sim.setLeader(2);
    // a second controller (after a controller failover) tries again against the new leader
    const second = makeDriver({ endpoints: [...sim.urls].reverse() });
    assert.equal(await second.bootstrap(ADMIN), 'already-initialized');
    assert.equal(await makeDriver().bootstrap(ADMIN), 'already-initialized');
    assert.equal(sim.bootstrapCount, 1);
    const posts = sim.calls.filter((c) => c.method === 'POST' && c.path === '/admin/bootstrap');
    assert.deepEqual(
      posts.map((c) => [c.endpoint, c.status]),
      [[0, 503], [1, 201], [2, 409], [0, 503], [2, 409]],
      'each driver is sent on from a replica to the leader it names',
    );
  });

  it('registers, lists and deregisters nodes; registering twice is fine', async () => {
    await fresh();
    const node04 = { id: 'node04', role: 'worker', fqdn: 'node04.example.com', ip: '10.0.1.13' };
    await driver.registerNode(node04);
    await driver.registerNode(node04);
    await driver.registerNode({ id: 'node05', role: 'control-plane' });
    assert.deepEqual(await driver.listNodes(), [node04, { id: 'node05', role: 'control-plane' }]);
    assert.equal(await driver.deregisterNode('node04'), 'removed');
    assert.equal(await driver.deregisterNode('node04'), 'not-registered');
    assert.deepEqual(
      (await driver.listNodes()).map((n) => n.id),
      ['node05'],
    );
    assert.deepEqual([...sim.nodes.keys()], ['node05']);
  });

  for (const status of [503, 500, 429]) {
    it(`retries a transient ${status}`, async () => {
      await fresh();
      sim.failNext(2, status, { route: 'PUT /admin/nodes/' });
      await driver.registerNode({ id: 'node04', role: 'worker' });
      assert.equal(sim.count('PUT', '/admin/nodes/node04'), 3);
      assert.ok(sim.nodes.has('node04'));
    });
  }

  it('retries a dropped connection', async () => {
    await fresh();
    sim.dropNext(1, { route: 'GET /admin/nodes' });
    assert.deepEqual(await driver.listNodes(), []);
    assert.equal(sim.count('GET', '/admin/nodes'), 2);
  });

  it('retries a request slower than its deadline', async () => {
    await fresh();
    sim.slowNext(1, 3_000, { route: 'GET /admin/bootstrap' });
    const started = Date.now();
    assert.deepEqual(await driver.bootstrapStatus(), { initialized: false });
    assert.ok(Date.now() - started < 2_500, 'the slow request was not cut at its deadline');
    assert.equal(sim.count('GET', '/admin/bootstrap'), 1 + 1);
  });

  it('gives up on a persistent transient failure with UNAVAILABLE naming the route', async () => {
    await fresh();
    sim.failNext(100, 503, { route: 'DELETE /admin/nodes/' });
    const err = await rejection(driver.deregisterNode('node04'));
    assert.ok(isMembershipError(err, 'UNAVAILABLE'), String(err));
    assert.match((err as Error).message, /DELETE \/admin\/nodes\/node04/);
    assert.equal(sim.count('DELETE', '/admin/nodes/node04'), 1 + 3);
  });

  it('does not retry a 400', async () => {
    await fresh();
    sim.failNext(1, 400, { route: 'PUT /admin/nodes/', body: { error: 'role is unknown' } });
    const err = await rejection(driver.registerNode({ id: 'node04', role: 'worker' }));
    assert.ok(isMembershipError(err, 'SERVICE_ERROR'), String(err));
    assert.match((err as Error).message, /400/);
    assert.match((err as Error).message, /role is unknown/);
    assert.equal(sim.count('PUT', '/admin/nodes/node04'), 1);
  });

  it('stops at once when the caller aborts, with the caller\'s reason', async () => {
    await fresh();
    sim.latencyMs = 5_000;
    const controller = new AbortController();
    const reason = new MembershipError('NOT_LEADER', 'lost leadership');
    const started = Date.now();
    setTimeout(() => controller.abort(reason), 100);
    const err = await rejection(driver.listNodes(controller.signal));
    assert.ok(Date.now() - started < 1_000, `abort took ${Date.now() - started} ms`);
    assert.equal(err, reason);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(sim.calls.length, 1, 'no retry after the abort');
  });

  it('stops the retries when the caller aborts between attempts', async () => {
    await fresh();
    sim.failNext(100, 503);
    const controller = new AbortController();
    const d = makeDriver({ retries: 50 });
    const pending = rejection(d.registerNode({ id: 'node04', role: 'worker' }, controller.signal));
    await new Promise((r) => setTimeout(r, 250));
    controller.abort();
    const before = sim.calls.length;
    const err = await pending;
    assert.equal((err as Error).name, 'AbortError');
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(before >= 1);
    assert.equal(sim.calls.length, before, 'a call was made after the abort');
  });

  it('makes no call with a signal that is already aborted', async () => {
    await fresh();
    const controller = new AbortController();
    controller.abort();
    await rejection(driver.registerNode({ id: 'node04', role: 'worker' }, controller.signal));
    assert.equal(sim.calls.length, 0);
  });

  // A service that echoes the request in its error answers is the worst case:
  // the driver quotes answers in its messages, so it must cut the password out.
  const echo = { error: `rejected admin_password ${ADMIN.password}` };
  const failures: Array<[string, string, () => void | Promise<void>]> = [
    ['a 400 echoing the body', 'SERVICE_ERROR', () => sim.failNext(1, 400, { route: 'POST /admin/bootstrap', body: echo })],
    ['a 403 echoing the body', 'ACCESS_DENIED', () => sim.failNext(1, 403, { route: 'POST /admin/bootstrap', body: echo })],
    ['500s echoing the body', 'UNAVAILABLE', () => sim.failNext(100, 500, { route: 'POST /admin/bootstrap', body: echo })],
    ['503s echoing the body', 'UNAVAILABLE', () => sim.failNext(100, 503, { route: 'POST /admin/bootstrap', body: echo })],
    ['dropped connections', 'UNAVAILABLE', () => sim.dropNext(100, { route: 'POST /admin/bootstrap' })],
    ['answers slower than the deadline', 'UNAVAILABLE', () => sim.slowNext(100, 3_000, { route: 'POST /admin/bootstrap' })],
    ['IAM down', 'UNAVAILABLE', () => sim.down()],
  ];
  for (const [name, code, inject] of failures) {
    it(`never shows the admin password in an error: ${name}`, async () => {
      await fresh();
      await inject();
      const err = await rejection(driver.bootstrap(ADMIN));
      assert.ok(isMembershipError(err), String(err));
      assert.equal(err.code, code, err.message);
      const text = allErrorText(err);
      assert.ok(!text.includes(ADMIN.password), `password leaked: ${text.replaceAll(ADMIN.password, '<PASSWORD>')}`);
      assert.match(err.message, /POST \/admin\/bootstrap/);
      assert.equal(sim.bootstrapCount, 0);
    });
  }
});

describe('HttpIAMDriver and an IAM that lies', () => {
  let sim: IAMSimulator;
  let foreign: ForeignHost;
  let driver: HttpIAMDriver;
  const refused: string[] = [];

  before(async () => {
    foreign = await ForeignHost.start();
  });
  after(async () => {
    await foreign.stop();
  });

  afterEach(async () => {
    await driver?.close();
    await sim?.stop();
    refused.length = 0;
  });

  async function fresh(): Promise<void> {
    sim = await IAMSimulator.start({ endpoints: 2 });
    driver = new HttpIAMDriver({ endpoints: sim.urls, requestTimeoutMs: 400, retries: 2 }, { minDelayMs: 20, maxDelayMs: 100, onRefusedLeader: (m) => refused.push(m) });
  }

  for (const [name, lie] of [
    ['a 503 naming a leader on another host', () => lies.leaderHint('POST /admin/bootstrap', foreign.url)],
    ['a 307 to another host', () => lies.redirect('POST /admin/bootstrap', 307, `${foreign.url}/admin/bootstrap`)],
    ['a 308 to another host', () => lies.redirect('POST /admin/bootstrap', 308, `${foreign.url}/admin/bootstrap`)],
  ] as const) {
    it(`the admin password never goes to another host: ${name}`, async () => {
      await fresh();
      sim.lie(lie());
      const err = await rejection(driver.bootstrap(ADMIN));
      assert.ok(isMembershipError(err, 'UNAVAILABLE'), String(err));
      assert.match(err.message, new RegExp(`leader http://127\\.0\\.0\\.1:${foreign.port} named by .* is not followed: 127\\.0\\.0\\.1:${foreign.port} is neither one of IAM's configured endpoints nor listed in iam\\.allowedLeaderHosts`));
      assert.equal(foreign.requests.length, 0, 'no request to the other host');
      assert.ok(!foreign.sawSecret(ADMIN.password));
      assert.ok(!allErrorText(err).includes(ADMIN.password));
      // 3 attempts over 2 replicas: each replica's refusal is told once.
      assert.equal(refused.length, 2, refused.join(' | '));
      assert.equal(sim.bootstrapCount, 0);
    });
  }

  it('follows a leader on a host listed in iam.allowedLeaderHosts (here: the second replica, named by the first)', async () => {
    sim = await IAMSimulator.start({ endpoints: 2, leader: 1 });
    // Only the first replica is configured; the second is listed.
    driver = new HttpIAMDriver({ endpoints: [sim.urls[0]!], requestTimeoutMs: 400, retries: 2, allowedLeaderHosts: [new URL(sim.urls[1]!).host] });
    assert.equal(await driver.bootstrap(ADMIN), 'initialized');
    await driver.close();
    driver = new HttpIAMDriver({ endpoints: [sim.urls[0]!], requestTimeoutMs: 400, retries: 2 });
    assert.ok(isMembershipError(await rejection(driver.registerNode({ id: 'node04', role: 'worker' })), 'UNAVAILABLE'), 'unlisted, the same leader is not followed');
  });

  const successes: Array<[string, () => unknown, RegExp]> = [
    ['setup answered 201 with an HTML page', () => sim.lie(lies.html('POST /admin/bootstrap', 201)), /not JSON \(an HTML page\); expected \{"initialized": true\}/],
    ['setup answered 201 {"initialized": false}', () => sim.lie(lies.shaped('POST /admin/bootstrap', { initialized: false }, 201)), /initialized: .*expected \{"initialized": true\}/],
    ['setup answered 200 with nothing', () => sim.lie(lies.empty('POST /admin/bootstrap', 200)), /the body is empty/],
  ];
  for (const [name, inject, says] of successes) {
    it(`a setup that did not happen is not 'initialized': ${name}`, async () => {
      await fresh();
      inject();
      const err = await rejection(driver.bootstrap(ADMIN));
      assert.ok(isMembershipError(err, 'SERVICE_ERROR'), String(err));
      assert.match(err.message, /answered badly/);
      assert.match(err.message, says);
    });
  }

  const registrations: Array<[string, () => unknown, RegExp]> = [
    ['200 with an HTML page', () => sim.lie(lies.html('PUT /admin/nodes/', 200)), /not JSON \(an HTML page\)/],
    ['200 with cut-off JSON', () => sim.lie(lies.truncated('PUT /admin/nodes/', { id: 'node04', role: 'worker' })), /the body is not JSON;/],
    ['201 with the wrong fields', () => sim.lie(lies.shaped('PUT /admin/nodes/', { ok: true }, 201)), /id: .*role: /],
    ['200 echoing another node', () => sim.lie(lies.shaped('PUT /admin/nodes/', { id: 'node05', role: 'worker' })), /it holds \{"id":"node05","role":"worker"\}, not the registration sent, \{"id":"node04","role":"worker"\}/],
    ['200 with a body that never ends', () => sim.lie(lies.endless('PUT /admin/nodes/')), /over the 1 MiB an answer may have/],
  ];
  for (const [name, inject, says] of registrations) {
    it(`a registration answered ${name} is SERVICE_ERROR, not registered`, async () => {
      await fresh();
      inject();
      const err = await rejection(driver.registerNode({ id: 'node04', role: 'worker' }));
      assert.ok(isMembershipError(err, 'SERVICE_ERROR'), String(err));
      assert.match(err.message, /register node node04 \(role worker\) \(PUT \/admin\/nodes\/node04\): .* answered badly/);
      assert.match(err.message, says);
    });
  }

  it('a registration answered 204, or 200 with the registration, is one', async () => {
    await fresh();
    await driver.registerNode({ id: 'node04', role: 'worker', fqdn: 'node04.example', ip: '10.0.1.13' });
    assert.deepEqual(sim.nodes.get('node04'), { id: 'node04', role: 'worker', fqdn: 'node04.example', ip: '10.0.1.13' });
    sim.lie(lies.empty('PUT /admin/nodes/', 204));
    await driver.registerNode({ id: 'node05', role: 'worker' });
    assert.equal(sim.count('PUT', '/admin/nodes/node05'), 1, 'one call, answered 204');
  });

  it('a node list with a node listed twice is SERVICE_ERROR', async () => {
    await fresh();
    sim.lie(lies.shaped('GET /admin/nodes', { nodes: [{ id: 'a', role: 'worker' }, { id: 'a', role: 'worker' }] }));
    const err = await rejection(driver.listNodes());
    assert.ok(isMembershipError(err, 'SERVICE_ERROR'), String(err));
    assert.match(err.message, /nodes\.1\.id: node a is listed twice/);
  });
});

describe('HttpIAMDriver over mutual TLS', () => {
  let dir: string;
  let certs: TestCerts;
  let sim: IAMSimulator;

  before(async () => {
    dir = await tempDir('iam-tls-');
    certs = await makeCerts(dir);
    sim = await IAMSimulator.start({
      tls: {
        cert: await readFile(certs.serverCert),
        key: await readFile(certs.serverKey),
        ca: await readFile(certs.ca),
        requireClientCert: true,
      },
    });
  });
  after(async () => {
    await sim?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('registers a node with the client certificate', async () => {
    const driver = new HttpIAMDriver({
      endpoints: sim.urls,
      tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey },
      requestTimeoutMs: 2_000,
      retries: 1,
    });
    try {
      assert.match(sim.urls[0] ?? '', /^https:/);
      assert.equal((await driver.health()).healthy, true);
      await driver.registerNode({ id: 'node04', role: 'worker' });
      assert.deepEqual(await driver.listNodes(), [{ id: 'node04', role: 'worker' }]);
    } finally {
      await driver.close();
    }
  });

  it('is refused without a client certificate', async () => {
    const driver = new HttpIAMDriver({ endpoints: sim.urls, tls: { caFile: certs.ca }, requestTimeoutMs: 2_000, retries: 0 });
    try {
      const before = sim.calls.length;
      assert.equal((await driver.health()).healthy, false);
      assert.equal(sim.calls.length, before, 'the server served a client without a certificate');
    } finally {
      await driver.close();
    }
  });
});

describe('readAdminSecret', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('iam-secret-');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function secretFile(name: string, content: string, mode = 0o600): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, content);
    await chmod(path, mode);
    return path;
  }

  it('reads {"user","password"}', async () => {
    const path = await secretFile('ok.json', JSON.stringify(ADMIN));
    assert.deepEqual(await readAdminSecret(path), ADMIN);
  });

  it('names a missing file', async () => {
    const path = join(dir, 'missing.json');
    const err = await rejection(readAdminSecret(path));
    assert.ok(isMembershipError(err, 'CONFIG_UNREADABLE'), String(err));
    assert.equal(err.message, `iam.adminSecretFile: cannot read ${path}: not found`);
  });

  it('refuses a file readable by others, saying its mode and what to chmod', async () => {
    const path = await secretFile('open.json', JSON.stringify(ADMIN), 0o644);
    const err = await rejection(readAdminSecret(path));
    assert.ok(isMembershipError(err, 'CONFIG_INVALID'), String(err));
    assert.match(err.message, /0644/);
    assert.ok(err.message.includes(`chmod 600 ${path}`), err.message);
    assert.ok(!err.message.includes(ADMIN.password));
  });

  for (const [name, content] of [
    ['not JSON', `admin\n${ADMIN.password}\n`],
    ['no password', JSON.stringify({ user: 'admin', passwd: ADMIN.password })],
    ['empty user', JSON.stringify({ user: '', password: ADMIN.password })],
    ['a number as password', JSON.stringify({ user: 'admin', password: 12345678 })],
  ] as const) {
    it(`rejects a bad format (${name}) naming the file, never its content`, async () => {
      const path = await secretFile(`bad-${name.replaceAll(' ', '-')}.json`, content);
      const err = await rejection(readAdminSecret(path));
      assert.ok(isMembershipError(err, 'CONFIG_INVALID'), String(err));
      assert.ok(err.message.includes(path), err.message);
      assert.ok(!allErrorText(err).includes(ADMIN.password), err.message);
      assert.ok(!allErrorText(err).includes('12345678'), err.message);
    });
  }
});

interface TestCerts {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A throwaway CA with a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
async function makeCerts(dir: string): Promise<TestCerts> {
  const openssl = (...args: string[]) => execFileAsync('openssl', args, { cwd: dir });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl('req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=iam-test-ca', '-days', '2');
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, subject] of [['server', '/CN=127.0.0.1'], ['client', '/CN=membership-controller']] as const) {
    await openssl('req', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    await openssl(
      'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`,
    );
  }
  return {
    ca: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  };
}
