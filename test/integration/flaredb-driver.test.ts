import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlareDBSimulator, type SimulatedMember } from '../support/flaredb-simulator.js';
import { ForeignHost, lies } from '../support/lies.js';
import { FlareDBConflictError, HttpFlareDBDriver } from '../../src/drivers/flaredb.js';
import { createDispatcher } from '../../src/drivers/http.js';
import type { HttpServiceOptions } from '../../src/drivers/types.js';
import { MembershipError, isMembershipError } from '../../src/errors.js';

const BOOTSTRAP: SimulatedMember[] = [
  { id: 'node01', raft_addr: '10.0.1.10:2480' },
  { id: 'node02', raft_addr: '10.0.1.11:2480' },
  { id: 'node03', raft_addr: '10.0.1.12:2480' },
];

const ADD = 'POST /admin/member/add';

function driverFor(endpoints: string[], over: Partial<HttpServiceOptions> = {}): HttpFlareDBDriver {
  // Short backoff keeps the suite fast; the policy itself is the same.
  return new HttpFlareDBDriver({ endpoints, requestTimeoutMs: 400, retries: 3, ...over }, { minDelayMs: 20, maxDelayMs: 100 });
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<MembershipError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isMembershipError(err), `expected a MembershipError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

describe('HttpFlareDBDriver against the FlareDB simulator', () => {
  let sim: FlareDBSimulator;
  let driver: HttpFlareDBDriver;

  beforeEach(async () => {
    sim = await FlareDBSimulator.start({ members: BOOTSTRAP });
    driver = driverFor(sim.urls);
  });

  afterEach(async () => {
    await driver.close();
    await sim.stop();
  });

  it('adds, lists and removes a member; health is ok', async () => {
    assert.deepEqual(await driver.health(), { healthy: true, detail: `${sim.urls[0]}/health answered HTTP 200` });
    assert.equal(await driver.addMember('node04', '10.0.1.13:2480'), 'added');
    const members = await driver.listMembers();
    assert.deepEqual(members.find((m) => m.id === 'node04'), { id: 'node04', raftAddr: '10.0.1.13:2480', status: 'healthy' });
    assert.equal(members.length, 4);
    assert.equal(await driver.removeMember('node04'), 'removed');
    assert.equal(await driver.removeMember('node04'), 'not-member');
    assert.deepEqual(sim.members().map((m) => m.id), ['node01', 'node02', 'node03']);
  });

  it('takes 409 for the same id and raft_addr as already-member, and the list holds the id once', async () => {
    assert.equal(await driver.addMember('node04', '10.0.1.13:2480'), 'added');
    assert.equal(await driver.addMember('node04', '10.0.1.13:2480'), 'already-member');
    assert.equal(sim.members().filter((m) => m.id === 'node04').length, 1);
    assert.equal(sim.count('POST', '/admin/member/add'), 2);
  });

  it('retries 503, 500 and 429 answers and then succeeds', async () => {
    sim.failNext(1, 503, { route: ADD });
    sim.failNext(1, 500, { route: ADD });
    sim.failNext(1, 429, { route: ADD });
    assert.equal(await driver.addMember('node04', '10.0.1.13:2480'), 'added');
    assert.deepEqual(
      sim.calls.filter((c) => c.path === '/admin/member/add').map((c) => c.status),
      [503, 500, 429, 201],
    );
  });

  it('gives up on answers slower than the deadline with UNAVAILABLE after the retries', async () => {
    sim.latencyMs = 1000;
    const started = Date.now();
    const err = await rejectsWith(driver.listMembers(), 'UNAVAILABLE');
    assert.match(err.message, /list members \(GET \/admin\/cluster\/members\) failed after 4 attempt\(s\), 3 retries allowed/);
    assert.match(err.message, /no answer within 400 ms \(the request deadline\)/);
    for (const url of sim.urls) assert.ok(err.message.includes(url), `${url} named in: ${err.message}`);
    assert.equal(sim.count('GET', '/admin/cluster/members'), 4);
    assert.ok(Date.now() - started < 4 * 400 + 1500, 'bounded by retries × deadline plus backoff');
  });

  it('retries one slow answer and succeeds', async () => {
    sim.slowOnce(1000);
    assert.equal((await driver.listMembers()).length, 3);
    assert.equal(sim.count('GET', '/admin/cluster/members'), 2);
  });

  it('retries dropped connections on the next endpoints', async () => {
    sim.dropNext(2);
    assert.equal(await driver.addMember('node04', '10.0.1.13:2480'), 'added');
    // Each failure moves on to the next endpoint; replica 2 is a follower and points back to the leader.
    assert.deepEqual(
      sim.calls.map((c) => [c.replica, c.status]),
      [[0, null], [1, null], [2, 503], [0, 201]],
    );
  });

  it('follows a not-leader answer to the leader and goes there first afterwards', async () => {
    sim.setLeader(2);
    assert.equal(await driver.addMember('node04', '10.0.1.13:2480'), 'added');
    assert.deepEqual(
      sim.calls.map((c) => [c.replica, c.status]),
      [[0, 503], [2, 201]],
    );
    assert.equal(await driver.removeMember('node04'), 'removed');
    assert.deepEqual(sim.calls.at(-1), { method: 'DELETE', path: '/admin/member/node04', replica: 2, status: 204 });

    // Leadership moves: the old leader's answer points to the new one.
    sim.setLeader(1);
    assert.equal(await driver.addMember('node05', '10.0.1.14:2480'), 'added');
    assert.deepEqual(sim.calls.slice(-2).map((c) => [c.replica, c.status]), [[2, 503], [1, 201]]);
  });

  it('names every endpoint when all are down, and works again once they are back', async () => {
    await sim.down();
    const err = await rejectsWith(driver.addMember('node04', '10.0.1.13:2480'), 'UNAVAILABLE');
    assert.match(err.message, /^FlareDB: add member node04 \(raft_addr 10\.0\.1\.13:2480\) \(POST \/admin\/member\/add\) failed after 4 attempt\(s\)/);
    assert.match(err.message, /connection refused \(ECONNREFUSED\)/);
    for (const url of sim.urls) assert.ok(err.message.includes(url), `${url} named in: ${err.message}`);
    await sim.up();
    assert.equal(await driver.addMember('node04', '10.0.1.13:2480'), 'added');
  });

  it('stops at once on abort during a request, and makes no call afterwards', async () => {
    sim.latencyMs = 300;
    const ac = new AbortController();
    const reason = new MembershipError('NOT_LEADER', 'leadership lost');
    const call = driver.addMember('node04', '10.0.1.13:2480', ac.signal);
    await sleep(50);
    const abortedAt = Date.now();
    ac.abort(reason);
    await assert.rejects(call, (err) => err === reason);
    assert.ok(Date.now() - abortedAt < 100, 'rejects without waiting for the answer');
    const callsAtAbort = sim.calls.length;
    await sleep(600);
    assert.equal(sim.calls.length, callsAtAbort);
    assert.equal(callsAtAbort, 1);
    assert.equal(sim.members().some((m) => m.id === 'node04'), false, 'the abandoned request was not applied');
  });

  it('stops at once on abort during the backoff, and makes no call afterwards', async () => {
    sim.failNext(100, 503);
    const ac = new AbortController();
    const slow = new HttpFlareDBDriver({ endpoints: sim.urls, requestTimeoutMs: 400, retries: 5 }, { minDelayMs: 300, maxDelayMs: 300 });
    try {
      const call = slow.listMembers(ac.signal);
      while (sim.calls.length === 0) await sleep(5);
      await sleep(50);
      ac.abort();
      await assert.rejects(call, { name: 'AbortError' });
      const callsAtAbort = sim.calls.length;
      await sleep(800);
      assert.equal(sim.calls.length, callsAtAbort);
    } finally {
      await slow.close();
    }
  });

  it('makes no call at all with a signal that is already aborted', async () => {
    await assert.rejects(driver.addMember('node04', '10.0.1.13:2480', AbortSignal.abort()), { name: 'AbortError' });
    assert.equal(sim.calls.length, 0);
  });

  it('fails a 400 at once with SERVICE_ERROR saying what was refused', async () => {
    const err = await rejectsWith(driver.addMember('node04', 'not-an-address'), 'SERVICE_ERROR');
    assert.match(err.message, /add member node04 \(raft_addr not-an-address\)/);
    assert.match(err.message, /answered HTTP 400 \{"error":"raft_addr \\"not-an-address\\" is not host:port"\}/);
    assert.equal(sim.count('POST', '/admin/member/add'), 1);
  });

  it('fails a 401 or 403 at once with ACCESS_DENIED, saying that FlareDB refused this client', async () => {
    sim.failNext(1, 403, { route: 'POST /admin/member/add' });
    const err = await rejectsWith(driver.addMember('node04', '10.0.1.13:2480'), 'ACCESS_DENIED');
    assert.match(err.message, /add member node04 .* answered HTTP 403/);
    assert.match(err.message, /FlareDB refused this client, which presents no certificate: configure flaredb\.tls\.certFile and flaredb\.tls\.keyFile; not retried/);
    sim.failNext(1, 401, { route: 'GET /admin/cluster/members' });
    await rejectsWith(driver.listMembers(), 'ACCESS_DENIED');
    assert.equal(sim.count('POST', '/admin/member/add'), 1);
    assert.equal(sim.count('GET', '/admin/cluster/members'), 1);
  });

  it('detects an id that exists with another raft_addr', async () => {
    const err = await rejectsWith(driver.addMember('node02', '10.0.1.99:2480'), 'SERVICE_ERROR');
    assert.ok(err instanceof FlareDBConflictError);
    assert.equal(err.kind, 'id-has-other-raft-addr');
    assert.equal(err.existingRaftAddr, '10.0.1.11:2480');
    assert.match(err.message, /already has member node02 with raft_addr 10\.0\.1\.11:2480, not the requested 10\.0\.1\.99:2480/);
    assert.equal(sim.count('POST', '/admin/member/add'), 1);
  });

  it('detects a raft_addr that belongs to another id', async () => {
    const err = await rejectsWith(driver.addMember('node09', '10.0.1.11:2480'), 'SERVICE_ERROR');
    assert.ok(err instanceof FlareDBConflictError);
    assert.equal(err.kind, 'raft-addr-has-other-id');
    assert.equal(err.existingId, 'node02');
    assert.equal(sim.members().length, 3);
  });

  it('reports a failed health check as unhealthy, naming the endpoints', async () => {
    await sim.down();
    const h = await driver.health();
    assert.equal(h.healthy, false);
    assert.match(h.detail, /health check \(GET \/health\) failed after 4 attempt\(s\)/);
  });
});

describe('leader redirect by Location', () => {
  let sim: FlareDBSimulator;
  let redirector: Server;
  let redirectorUrl: string;

  before(async () => {
    sim = await FlareDBSimulator.start({ members: BOOTSTRAP });
    // A replica that answers like an HTTP front end: 307 to the leader, keeping the path.
    redirector = createServer((req, res) => {
      res.writeHead(307, { location: `${sim.leaderUrl}${req.url ?? '/'}` }).end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    redirectorUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
  });

  after(async () => {
    await sim.stop();
    await new Promise((r) => redirector.close(r));
  });

  it('follows a 307 Location to the leader on a host listed in allowedLeaderHosts', async () => {
    const driver = driverFor([redirectorUrl], { allowedLeaderHosts: [new URL(sim.leaderUrl).host] });
    try {
      assert.equal(await driver.addMember('node04', '10.0.1.13:2480'), 'added');
      assert.deepEqual(sim.calls.map((c) => [c.replica, c.status]), [[0, 201]]);
    } finally {
      await driver.close();
    }
  });

  it('does not follow a 307 to a host that is neither configured nor listed: no request reaches it', async () => {
    const calls = sim.calls.length;
    const refused: string[] = [];
    const driver = new HttpFlareDBDriver(
      { endpoints: [redirectorUrl], requestTimeoutMs: 400, retries: 2 },
      { minDelayMs: 20, maxDelayMs: 100, onRefusedLeader: (m) => refused.push(m) },
    );
    try {
      const err = await rejectsWith(driver.addMember('node05', '10.0.1.14:2480'), 'UNAVAILABLE');
      const leaderHost = new URL(sim.leaderUrl).host;
      assert.match(err.message, new RegExp(`leader http://${leaderHost} named by ${redirectorUrl} \\(HTTP 307\\) is not followed: ${leaderHost} is neither one of FlareDB's configured endpoints nor listed in flaredb\\.allowedLeaderHosts`));
      assert.equal(sim.calls.length, calls, 'the unlisted host got no request');
      assert.equal(refused.length, 1, `told once, however often the hint came: ${refused.join(' | ')}`);
    } finally {
      await driver.close();
    }
  });
});

describe('answers that are not what the API promises', () => {
  let sim: FlareDBSimulator;
  let foreign: ForeignHost;
  let driver: HttpFlareDBDriver;

  beforeEach(async () => {
    sim = await FlareDBSimulator.start({ members: BOOTSTRAP });
    foreign = await ForeignHost.start();
    driver = driverFor(sim.urls);
  });

  afterEach(async () => {
    await driver.close();
    await sim.stop();
    await foreign.stop();
  });

  it('an add answered 201 with an HTML page is SERVICE_ERROR saying so, not added', async () => {
    sim.lie(lies.html(ADD, 201));
    const err = await rejectsWith(driver.addMember('node04', '10.0.1.13:2480'), 'SERVICE_ERROR');
    assert.match(err.message, /add member node04 \(raft_addr 10\.0\.1\.13:2480\) \(POST \/admin\/member\/add\): http:\/\/127\.0\.0\.1:\d+\/admin\/member\/add answered badly: HTTP 201 <!DOCTYPE html>.*the body is not JSON \(an HTML page\); expected \{"id": "node04", "raft_addr": "10\.0\.1\.13:2480"\}/);
    assert.equal(sim.count('POST', '/admin/member/add'), 1, 'not retried within the call');
  });

  it('an add answered 201 naming another member is SERVICE_ERROR naming both', async () => {
    sim.lie(lies.shaped(ADD, { id: 'node99', raft_addr: '10.9.9.9:2480' }, 201));
    const err = await rejectsWith(driver.addMember('node04', '10.0.1.13:2480'), 'SERVICE_ERROR');
    assert.match(err.message, /it names member "node99" with raft_addr "10\.9\.9\.9:2480", not the requested node04 with 10\.0\.1\.13:2480/);
  });

  it('a member list with a member listed twice, or a raft_addr that is no host:port, is SERVICE_ERROR naming the field', async () => {
    sim.lie(lies.shaped('GET /admin/cluster/members', { members: [{ id: 'a', raft_addr: '10.0.0.1:1' }, { id: 'a', raft_addr: '10.0.0.2:1' }] }));
    assert.match((await rejectsWith(driver.listMembers(), 'SERVICE_ERROR')).message, /members\.1\.id: member a is listed twice/);
    sim.tellTruth();
    sim.lie(lies.shaped('GET /admin/cluster/members', { members: [{ id: 'a', raft_addr: 'nowhere' }] }));
    assert.match((await rejectsWith(driver.listMembers(), 'SERVICE_ERROR')).message, /members\.0\.raft_addr: must be host:port/);
  });

  it('a removal answered 200 with an HTML page is SERVICE_ERROR; 204 and 200 {} are removals', async () => {
    sim.lie(lies.html('DELETE /admin/member/', 200));
    assert.match((await rejectsWith(driver.removeMember('node03'), 'SERVICE_ERROR')).message, /answered badly: HTTP 200 .*not JSON/);
    sim.tellTruth();
    assert.equal(await driver.removeMember('node03'), 'removed');
    sim.lie(lies.shaped('DELETE /admin/member/', {}, 200));
    assert.equal(await driver.removeMember('node02'), 'removed');
  });

  it('a health answer that is not {"status": ...} is unhealthy', async () => {
    sim.lie(lies.html('GET /health'));
    const h = await driver.health();
    assert.equal(h.healthy, false);
    assert.match(h.detail, /answered badly.*not JSON/);
  });

  it('a body over 1 MiB is not read: SERVICE_ERROR at once, with or without a content-length, or endless', async () => {
    for (const lie of [lies.huge('GET /admin/cluster/members', 2 * 1024 * 1024), lies.huge('GET /admin/cluster/members', 2 * 1024 * 1024, { chunked: true }), lies.endless('GET /admin/cluster/members')]) {
      sim.tellTruth();
      sim.lie(lie);
      const err = await rejectsWith(driver.listMembers(), 'SERVICE_ERROR');
      assert.match(err.message, /answered badly: HTTP 200 with a body (of 2097152 bytes \(its content-length\), )?over the 1 MiB an answer may have/);
    }
    sim.tellTruth();
    assert.equal((await driver.listMembers()).length, 3, 'the next true answer is read as ever');
  });

  it('a 503 naming a leader on another host is not followed; the configured leader is found instead', async () => {
    // Replica 0, tried first, is a follower that names another host; replica 1 leads.
    sim.setLeader(1);
    sim.lie({ ...lies.leaderHint(ADD, foreign.url), replica: 0 });
    assert.equal(await driver.addMember('node04', '10.0.1.13:2480'), 'added');
    assert.equal(foreign.requests.length, 0);
  });

  it('a member list naming a leader on another host does not send the next call there', async () => {
    sim.lie({ route: 'GET /admin/cluster/members', status: 200, body: () => ({ members: sim.members(), leader: foreign.url }) });
    await driver.listMembers();
    assert.equal(await driver.addMember('node04', '10.0.1.13:2480'), 'added');
    assert.equal(foreign.requests.length, 0);
  });

  it('replicas that name each other as leader: at most endpoints + 1 hops per call, then a failure that says so', async () => {
    const urls = sim.urls;
    for (const [i, next] of [1, 2, 0].entries()) sim.lie({ ...lies.leaderHint(ADD, urls[next]!), replica: i });
    const err = await rejectsWith(driver.addMember('node04', '10.0.1.13:2480'), 'UNAVAILABLE');
    assert.match(err.message, /not followed, after 4 leader hints in one call/);
    // 4 hops, then each of the 4 attempts the retries allow is one request: 8 at most.
    assert.ok(sim.count('POST', '/admin/member/add') <= 8, `${sim.count('POST', '/admin/member/add')} requests in one call`);
  });
});

describe('https with a CA made at test time', () => {
  let dir: string;
  let pem: Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string>;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'flaredb-tls-'));
    pem = makeCertificates(dir);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('works with the CA, and plain http against it fails with a clear error', async () => {
    const sim = await FlareDBSimulator.start({
      members: BOOTSTRAP,
      tls: { cert: readFileSync(pem.serverCert), key: readFileSync(pem.serverKey) },
    });
    const tls = driverFor(sim.urls, { tls: { caFile: pem.ca } });
    const plain = driverFor(sim.urls.map((u) => u.replace('https://', 'http://')), { retries: 1 });
    const noCa = driverFor(sim.urls);
    try {
      assert.equal(await tls.addMember('node04', '10.0.1.13:2480'), 'added');
      assert.equal((await tls.listMembers()).length, 4);

      const err = await rejectsWith(plain.listMembers(), 'UNAVAILABLE');
      assert.match(err.message, /connection closed before an answer/);
      assert.match(err.message, /serves https closes plain-HTTP connections like this: its URL must start with https:\/\//);

      const before = sim.calls.length;
      const tlsErr = await rejectsWith(noCa.listMembers(), 'UNAVAILABLE');
      assert.match(tlsErr.message, /TLS failed \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
      assert.match(tlsErr.message, /no CA file is configured/);
      assert.match(tlsErr.message, /not retried/);
      assert.equal(sim.calls.length, before, 'no request got through');
    } finally {
      await Promise.all([tls.close(), plain.close(), noCa.close()]);
      await sim.stop();
    }
  });

  it('presents the client certificate when the server requires one', async () => {
    const sim = await FlareDBSimulator.start({
      members: BOOTSTRAP,
      tls: { cert: readFileSync(pem.serverCert), key: readFileSync(pem.serverKey), ca: readFileSync(pem.ca), requireClientCert: true },
    });
    const mtls = driverFor(sim.urls, { tls: { caFile: pem.ca, certFile: pem.clientCert, keyFile: pem.clientKey } });
    const anonymous = driverFor(sim.urls, { tls: { caFile: pem.ca }, retries: 1 });
    try {
      assert.equal((await mtls.listMembers()).length, 3);
      await rejectsWith(anonymous.listMembers(), 'UNAVAILABLE');
      assert.equal(sim.count('GET', '/admin/cluster/members'), 1);
    } finally {
      await Promise.all([mtls.close(), anonymous.close()]);
      await sim.stop();
    }
  });

  it('names an unreadable or non-PEM TLS file', () => {
    const missing = join(dir, 'missing-ca.crt');
    assert.throws(() => createDispatcher({ caFile: missing }), (err) => isMembershipError(err, 'CONFIG_UNREADABLE') && err.message === `tls.caFile: cannot read ${missing}: not found`);
    const garbage = join(dir, 'garbage.crt');
    writeFileSync(garbage, 'not a certificate');
    assert.throws(() => createDispatcher({ caFile: garbage }), (err) => isMembershipError(err, 'CONFIG_INVALID') && err.message.includes(garbage));
    assert.throws(() => createDispatcher({ caFile: pem.ca, certFile: pem.clientCert }), (err) => isMembershipError(err, 'CONFIG_INVALID'));
  });

  it('refuses a client key that group or others can read, naming the config field, as the controller refuses --key', () => {
    const loose = join(dir, 'loose-client.key');
    writeFileSync(loose, readFileSync(pem.clientKey), { mode: 0o644 });
    assert.throws(
      () => driverFor(['https://127.0.0.1:1'], { tls: { caFile: pem.ca, certFile: pem.clientCert, keyFile: loose } }),
      (err) =>
        isMembershipError(err, 'CONFIG_INVALID') &&
        err.message.startsWith(`flaredb.tls.keyFile ${loose} has mode 0644: `) &&
        err.message.includes(`chmod 600 ${loose}`),
    );
    const missing = join(dir, 'missing-client.key');
    assert.throws(
      () => driverFor(['https://127.0.0.1:1'], { tls: { caFile: pem.ca, certFile: pem.clientCert, keyFile: missing } }),
      (err) => isMembershipError(err, 'CONFIG_UNREADABLE') && err.message === `flaredb.tls.keyFile: cannot read ${missing}: not found`,
    );
  });
});

/** A CA, a server certificate for IP 127.0.0.1 and a client certificate, with openssl. */
function makeCertificates(dir: string) {
  const p = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '1', '-subj', '/CN=flaredb-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const issue = (name: string, cn: string, ext: string, serial: string) => {
    openssl('req', ...ec, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`);
    writeFileSync(p(`${name}.ext`), ext);
    openssl('x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-set_serial', serial,
      '-days', '1', '-out', p(`${name}.crt`), '-extfile', p(`${name}.ext`));
  };
  issue('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n', '2');
  issue('client', 'membership-controller', 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n', '3');
  return {
    ca: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
  };
}
