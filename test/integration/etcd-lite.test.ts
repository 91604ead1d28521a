// The first-boot agent's own etcd client (src/store/etcd-lite) against real
// etcd: plain, with authentication (short-lived tokens) and with mTLS.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { ReportPublisher } from '../../src/agent/report.js';
import { createLogger } from '../../src/log.js';
import { applyRbac } from '../../src/ctl/rbac.js';
import { EtcdLite, EtcdLiteError, type WatchEvent } from '../../src/store/etcd-lite/client.js';
import { EtcdLiteLease } from '../../src/store/etcd-lite/lease.js';
import { WatchedKey, type KeyChange } from '../../src/store/etcd-lite/watched-key.js';
import { KeyLayout } from '../../src/store/keys.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { EtcdCluster, freePort } from '../support/etcd-cluster.js';
import { eventually, tempDir, writeJson } from '../support/fixtures.js';
import { binPath, runProcess } from '../support/processes.js';

const log = createLogger({ level: 'silent' });
const keys = new KeyLayout();

/** Collects a watch's events; `ended` resolves with the error that ended it. */
function collector() {
  const events: WatchEvent[] = [];
  let onEnd!: (err: EtcdLiteError) => void;
  const ended = new Promise<EtcdLiteError>((resolve) => {
    onEnd = resolve;
  });
  return { events, ended, listener: { onEvents: (e: WatchEvent[]) => events.push(...e), onEnd } };
}

/** Resolves once a WatchedKey's value satisfies `check`. */
async function valueOf<T>(w: WatchedKey<T>, check: (v: T | undefined) => boolean, what: string): Promise<void> {
  await eventually(what, async () => (check(w.value) ? true : undefined), 20_000, 50);
}

async function rejectsWith(fn: () => Promise<unknown>, pattern: RegExp): Promise<EtcdLiteError> {
  let caught: unknown;
  await assert.rejects(async () => {
    try {
      await fn();
    } catch (err) {
      caught = err;
      throw err;
    }
  });
  assert.ok(caught instanceof EtcdLiteError, `expected an EtcdLiteError, got ${String(caught)}`);
  assert.match((caught as Error).message, pattern);
  return caught as EtcdLiteError;
}

describe('etcd-lite against a real 3-member etcd', () => {
  let cluster: EtcdCluster;
  let admin: Etcd3;
  let lite: EtcdLite;
  const clients: EtcdLite[] = [];
  const open = (endpoints: string[], callTimeoutMs = 5000) => {
    const c = new EtcdLite({ endpoints, callTimeoutMs });
    clients.push(c);
    return c;
  };

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    admin = new Etcd3({ hosts: cluster.endpoints });
    lite = open(cluster.endpoints);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    admin?.close();
    await cluster?.stop();
  });

  it('range, put and prefix ranges see what etcd3 wrote, and etcd3 sees what they wrote', async () => {
    await admin.put('/lite/a/1').value('{"one":"ü"}');
    await admin.put('/lite/a/2').value('');
    await admin.put('/lite/b').value('other');
    const one = await lite.range('/lite/a/1');
    assert.equal(one.kvs.length, 1);
    assert.equal(one.kvs[0]!.value, '{"one":"ü"}');
    assert.ok(one.kvs[0]!.modRevision > 0 && one.kvs[0]!.createRevision === one.kvs[0]!.modRevision);
    assert.ok(one.revision >= one.kvs[0]!.modRevision);
    assert.deepEqual((await lite.range('/lite/missing')).kvs, []);
    const prefix = await lite.range('/lite/a/', { prefix: true });
    assert.deepEqual(prefix.kvs.map((kv) => [kv.key, kv.value]), [['/lite/a/1', '{"one":"ü"}'], ['/lite/a/2', '']]);

    const put = await lite.put('/lite/c', 'from lite');
    assert.ok(put.revision > one.revision);
    assert.equal(await admin.get('/lite/c').string(), 'from lite');
  });

  it('leases: a key bound to a lease lives while kept alive and goes when the lease is revoked', async () => {
    const lease = await lite.leaseGrant(5);
    assert.match(lease.id, /^\d+$/);
    assert.equal(lease.ttl, 5);
    await lite.put('/lite/leased', 'x', { lease: lease.id });
    const stored = (await lite.range('/lite/leased')).kvs[0]!;
    assert.equal(stored.lease, lease.id);
    assert.equal(BigInt(lease.id), BigInt(String((await admin.getAll().prefix('/lite/leased').exec()).kvs[0]!.lease)));
    assert.ok((await lite.leaseKeepAlive(lease.id)) > 0);
    await lite.leaseRevoke(lease.id);
    assert.equal(await admin.get('/lite/leased').string(), null);
    assert.equal(await lite.leaseKeepAlive(lease.id), 0, 'a revoked lease keeps alive with TTL 0');
    await lite.leaseRevoke(lease.id); // gone already: not an error
  });

  it('EtcdLiteLease keeps its lease past the TTL, and reports it lost when it is revoked elsewhere', async () => {
    const lease = new EtcdLiteLease(lite, 2);
    await lease.put('/lite/kept', 'alive');
    await sleep(3500);
    assert.equal(await admin.get('/lite/kept').string(), 'alive', 'kept alive past its 2 s TTL');
    const lost = new Promise<unknown>((resolve) => lease.once('lost', resolve));
    const id = (await lite.range('/lite/kept')).kvs[0]!.lease;
    await lite.leaseRevoke(id);
    assert.match(String(await lost), /expired or was revoked/);
    // The next put grants a new lease.
    await lease.put('/lite/kept', 'again');
    assert.notEqual((await lite.range('/lite/kept')).kvs[0]!.lease, id);
    await lease.revoke();
    assert.equal(await admin.get('/lite/kept').string(), null);
  });

  it('the agent report is published again under a new lease when its lease is lost, and goes on close', async () => {
    const report = new ReportPublisher({ client: lite, keys, node: 'node09', waitingFor: 'iam', mode: 'join', ttlSeconds: 2, log });
    await report.publish('iam', true, 'fine');
    const first = (await lite.range(keys.agent('node09'))).kvs[0]!;
    assert.equal(JSON.parse(first.value).kind, 'AgentReport');
    await lite.leaseRevoke(first.lease);
    await eventually('report published again', async () => {
      const kv = (await lite.range(keys.agent('node09'))).kvs[0];
      return kv !== undefined && kv.lease !== first.lease ? kv : undefined;
    }, 10_000, 100);
    await report.close();
    assert.deepEqual((await lite.range(keys.agent('node09'))).kvs, []);
  });

  it('watch: the events after the start revision, in order; cancel stops them', async () => {
    const start = (await lite.put('/lite/w', 'v1')).revision;
    await admin.put('/lite/w').value('v2');
    await admin.put('/lite/other').value('ignored');
    const c = collector();
    const watch = await lite.watch('/lite/w', start, c.listener);
    await admin.delete().key('/lite/w');
    await admin.put('/lite/w').value('v3');
    await eventually('four events', async () => (c.events.length >= 4 ? true : undefined), 10_000, 20);
    assert.deepEqual(c.events.map((e) => [e.type, e.kv.key, e.kv.value]), [
      ['put', '/lite/w', 'v1'],
      ['put', '/lite/w', 'v2'],
      ['delete', '/lite/w', ''],
      ['put', '/lite/w', 'v3'],
    ]);
    watch.cancel();
    await admin.put('/lite/w').value('v4');
    await sleep(300);
    assert.equal(c.events.length, 4, 'no event after cancel');
  });

  it('a watch from a compacted revision ends saying so; WatchedKey then lists again and keeps watching', async () => {
    const old = (await lite.put('/lite/compacted', 'c1')).revision;
    const latest = (await lite.put('/lite/compacted', 'c2')).revision;
    await admin.kv.compact({ revision: String(latest) });

    const c = collector();
    await lite.watch('/lite/compacted', old, c.listener);
    const ended = await c.ended;
    assert.equal(ended.compactRevision, latest);
    assert.match(ended.message, /compacted/);

    // A first list that reports an old revision makes the watch start in compacted history.
    let stale = true;
    const client = {
      range: async (key: string) => {
        const r = await lite.range(key);
        if (!stale) return r;
        stale = false;
        return { ...r, revision: old - 1 };
      },
      watch: lite.watch.bind(lite),
    };
    const changes: KeyChange<string>[] = [];
    const w = new WatchedKey<string>({ client, key: '/lite/compacted', decode: (kv) => kv.value, resource: 'test', log, minBackoffMs: 10 });
    w.on('change', (e) => changes.push(e));
    await w.start();
    assert.equal(w.value, 'c2');
    await admin.put('/lite/compacted').value('c3');
    await valueOf(w, (v) => v === 'c3', 'WatchedKey sees c3 after its restart');
    await admin.delete().key('/lite/compacted');
    await valueOf(w, (v) => v === undefined, 'WatchedKey sees the delete');
    assert.deepEqual(changes.map((e) => [e.type, e.record ?? e.previous]), [['put', 'c2'], ['put', 'c3'], ['delete', 'c3']]);
    await w.stop();
  });

  it('a watched key survives the member it was watched on going away', async () => {
    const client = open(cluster.endpoints);
    await admin.put('/lite/survivor').value('s1');
    const w = new WatchedKey<string>({ client, key: '/lite/survivor', decode: (kv) => kv.value, resource: 'test', log, minBackoffMs: 10 });
    await w.start();
    assert.equal(w.value, 's1');
    const first = cluster.members[0]!;
    await cluster.kill(first.name);
    try {
      await admin.put('/lite/survivor').value('s2');
      await valueOf(w, (v) => v === 's2', 'the watch moved to another member');
      await admin.put('/lite/survivor').value('s3');
      await valueOf(w, (v) => v === 's3', 'and keeps watching there');
    } finally {
      await w.stop();
      await cluster.restart(first.name);
    }
  });

  it('a watched key moves to another member when its member stops answering (found by the lease keepalive)', async () => {
    const client = open(cluster.endpoints, 1000);
    await admin.put('/lite/frozen').value('f1');
    const lease = new EtcdLiteLease(client, 2);
    await lease.put('/lite/frozen-heartbeat', 'x');
    const w = new WatchedKey<string>({ client, key: '/lite/frozen', decode: (kv) => kv.value, resource: 'test', log, minBackoffMs: 10 });
    await w.start();
    const first = cluster.members[0]!;
    // Written through the other members: a call to the stopped one would wait for it.
    const writer = open(cluster.endpoints.slice(1));
    process.kill(first.pid!, 'SIGSTOP');
    try {
      // If the stopped member led, the others elect a new leader first.
      await eventually('a put through the other members', () => writer.put('/lite/frozen', 'f2').then(() => true, () => undefined), 30_000, 100);
      await valueOf(w, (v) => v === 'f2', 'the watch left the stopped member');
    } finally {
      process.kill(first.pid!, 'SIGCONT');
      await w.stop();
      await lease.revoke().catch(() => undefined);
    }
  });

  it('goes to the next endpoint when one refuses connections, and names each endpoint when none answers', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const c = open([dead, cluster.endpoints[1]!]);
    assert.equal((await c.range('/lite/a/1')).kvs[0]!.value, '{"one":"ü"}');
    const dead2 = `http://127.0.0.1:${await freePort()}`;
    const none = open([dead, dead2], 2000);
    const err = await rejectsWith(() => none.range('/k'), /connection refused/);
    assert.ok(err.message.includes(dead) && err.message.includes(dead2), err.message);
    assert.equal(err.code, 'UNAVAILABLE');
  });

  it('a call that gets no answer ends at its deadline, naming the endpoint', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => {
      sockets.push(s);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      const c = open([endpoint], 800);
      const started = Date.now();
      await rejectsWith(() => c.range('/k'), new RegExp(`Chainfire at ${endpoint}: range /k: no answer within 0.8s`));
      const took = Date.now() - started;
      assert.ok(took >= 700 && took < 4000, `took ${took} ms`);
      await rejectsWith(() => c.watch('/k', 1, collector().listener), /watch \/k: no answer within 0.8s/);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});

describe('etcd-lite with authentication on (simple tokens that expire after 1 s unused)', () => {
  const ROOT_PASSWORD = 'root-pw-for-this-test-only';
  let cluster: EtcdCluster;
  let outDir: string;
  let root: Etcd3;
  let agentPassword: string;
  const clients: EtcdLite[] = [];
  const as = (user: string | undefined, password?: string) => {
    const c = new EtcdLite({ endpoints: cluster.endpoints, callTimeoutMs: 3000, ...(user ? { auth: { user, password: password ?? '' } } : {}) });
    clients.push(c);
    return c;
  };

  before(async () => {
    cluster = await EtcdCluster.start({ size: 1, extraArgs: ['--auth-token-ttl', '1'] });
    outDir = join(await tempDir('lite-auth-'), 'credentials');
    const setup = new Etcd3({ hosts: cluster.endpoints });
    try {
      await applyRbac(setup, keys, { nodes: ['node04'], outDir, enableAuth: true, rootPassword: ROOT_PASSWORD });
    } finally {
      setup.close();
    }
    root = new Etcd3({ hosts: cluster.endpoints, auth: { username: 'root', password: ROOT_PASSWORD } });
    await root.put(keys.desired('node04')).value('{"desired":"node04"}');
    agentPassword = (await readFile(join(outDir, 'membership-agent-node04.password'), 'utf8')).trim();
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    root?.close();
    await cluster?.stop();
    if (outDir) await rm(join(outDir, '..'), { recursive: true, force: true });
  });

  it("reads and writes within the agent's role, and is refused outside it", async () => {
    const agent = as('membership-agent-node04', agentPassword);
    assert.equal((await agent.range(keys.desired('node04'))).kvs[0]!.value, '{"desired":"node04"}');
    const lease = new EtcdLiteLease(agent, 5);
    await lease.put(keys.agent('node04'), '{"report":{}}');
    assert.equal(await root.get(keys.agent('node04')).string(), '{"report":{}}');
    await lease.revoke();
    assert.equal(await root.get(keys.agent('node04')).string(), null);
    const denied = await rejectsWith(() => agent.range(keys.desired('node05')), /range .*desired\/node05 as user membership-agent-node04 failed: etcdserver: permission denied/);
    assert.equal(denied.grpcCode, 7);
    await rejectsWith(() => agent.watch(keys.desired('node05'), 1, collector().listener), /watch .*desired\/node05 was refused: .*permission denied/);
  });

  it('says what is wrong with a wrong password, or with none', async () => {
    await rejectsWith(
      () => as('membership-agent-node04', 'wrong').range(keys.desired('node04')),
      new RegExp(`^Chainfire at ${cluster.endpoints[0]}: authentication as membership-agent-node04 failed: etcdserver: authentication failed, invalid user ID or password$`),
    );
    await rejectsWith(() => as(undefined).range(keys.desired('node04')), /failed: etcdserver: user name is empty/);
  });

  it('gets a new token when the old one expired, for calls and for watches', async () => {
    const agent = as('membership-agent-node04', agentPassword);
    await agent.range(keys.desired('node04'));
    await sleep(3000); // the token expires after 1 s unused
    assert.equal((await agent.range(keys.desired('node04'))).kvs[0]!.value, '{"desired":"node04"}');
    await sleep(3000);
    const w = new WatchedKey<string>({ client: agent, key: keys.desired('node04'), decode: (kv) => kv.value, resource: 'desired', log });
    await w.start();
    await root.put(keys.desired('node04')).value('{"desired":"again"}');
    await valueOf(w, (v) => v === '{"desired":"again"}', 'the watch created after the token expired sees the change');
    await w.stop();
  });
});

describe('etcd-lite over TLS with client certificates', () => {
  let pki: TestPki;
  let other: TestPki;
  let cluster: EtcdCluster;
  let plain: EtcdCluster;
  let dir: string;
  const clients: EtcdLite[] = [];
  const open = (endpoints: string[], tls: { ca?: string; cert?: string; key?: string }, auth?: { user: string; password: string }) => {
    const c = new EtcdLite({
      endpoints,
      callTimeoutMs: 3000,
      tls: {
        ...(tls.ca ? { ca: Buffer.from(tls.ca) } : {}),
        ...(tls.cert ? { cert: Buffer.from(tls.cert) } : {}),
        ...(tls.key ? { key: Buffer.from(tls.key) } : {}),
      },
      ...(auth ? { auth } : {}),
    });
    clients.push(c);
    return c;
  };
  const files = async (pair: { certFile: string; keyFile: string }, caFile: string) => ({
    ca: await readFile(caFile, 'utf8'),
    cert: await readFile(pair.certFile, 'utf8'),
    key: await readFile(pair.keyFile, 'utf8'),
  });

  before(async () => {
    pki = await makeTestPki(['node04', 'operator']);
    other = await makeTestPki(['stranger']);
    cluster = await EtcdCluster.start({
      size: 1,
      tls: { caFile: pki.caFile, certFile: pki.server.certFile, keyFile: pki.server.keyFile, clientCertAuth: true },
    });
    plain = await EtcdCluster.start({ size: 1 });
    dir = await tempDir('lite-tls-');
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await cluster?.stop();
    await plain?.stop();
    await pki?.cleanup();
    await other?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('works with the CA and a client certificate, and with authentication on top (a certificate with a Common Name)', async () => {
    const tls = await files(pki.clients.node04!, pki.caFile);
    const c = open(cluster.endpoints, tls);
    await c.put('/lite/tls', 'secure');
    assert.equal((await c.range('/lite/tls')).kvs[0]!.value, 'secure');
    const events = collector();
    const watch = await c.watch('/lite/tls', 1, events.listener);
    await eventually('the watch sees the put', async () => (events.events.length > 0 ? true : undefined), 10_000, 20);
    watch.cancel();

    // client-cert-auth and authentication together: etcd's JSON gateway refuses such requests, gRPC does not.
    const operator = await files(pki.clients.operator!, pki.caFile);
    const setup = new Etcd3({
      hosts: cluster.endpoints,
      credentials: { rootCertificate: Buffer.from(operator.ca), certChain: Buffer.from(operator.cert), privateKey: Buffer.from(operator.key) },
    });
    const outDir = join(dir, 'credentials');
    try {
      await applyRbac(setup, keys, { nodes: ['node04'], outDir, enableAuth: true, rootPassword: 'tls-root-pw' });
    } finally {
      setup.close();
    }
    const password = (await readFile(join(outDir, 'membership-agent-node04.password'), 'utf8')).trim();
    const agent = open(cluster.endpoints, tls, { user: 'membership-agent-node04', password });
    const lease = new EtcdLiteLease(agent, 5);
    await lease.put(keys.agent('node04'), '{}');
    assert.deepEqual((await agent.range(keys.desired('node04'))).kvs, []);
    await lease.revoke();
  });

  it('explains an http:// endpoint on the TLS port, a missing or foreign client certificate, a wrong CA and https on a plain port', async () => {
    const endpoint = cluster.endpoints[0]!;
    const hostPort = new URL(endpoint).host;
    const plainEndpoint = endpoint.replace('https://', 'http://');
    const noTls = new EtcdLite({ endpoints: [plainEndpoint], callTimeoutMs: 3000 });
    clients.push(noTls);
    await rejectsWith(
      () => noTls.range('/k'),
      new RegExp(`cannot connect to Chainfire at ${plainEndpoint}: it serves TLS, but the endpoint says http://; use https://${hostPort} with --cacert`),
    );

    const ca = await readFile(pki.caFile, 'utf8');
    const noCert = new EtcdLite({ endpoints: [endpoint], callTimeoutMs: 3000, tls: { ca: Buffer.from(ca) }, cacertFile: pki.caFile });
    clients.push(noCert);
    const e1 = await rejectsWith(() => noCert.range('/k'), /refused the TLS connection \(TLS alert: [a-z ]+\): it requires a client certificate; pass --cert and --key/);
    assert.doesNotMatch(e1.message, /SSL routines|ERR_/);

    const stranger = other.clients.stranger!;
    const foreign = new EtcdLite({
      endpoints: [endpoint], callTimeoutMs: 3000,
      tls: { ca: Buffer.from(ca), cert: await readFile(stranger.certFile), key: await readFile(stranger.keyFile) },
      cacertFile: pki.caFile, certFile: stranger.certFile,
    });
    clients.push(foreign);
    await rejectsWith(() => foreign.range('/k'), new RegExp(`refused the client certificate --cert ${stranger.certFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

    const node04 = pki.clients.node04!;
    const wrongCa = new EtcdLite({
      endpoints: [endpoint], callTimeoutMs: 3000,
      tls: { ca: await readFile(other.caFile), cert: await readFile(node04.certFile), key: await readFile(node04.keyFile) },
      cacertFile: other.caFile, certFile: node04.certFile,
    });
    clients.push(wrongCa);
    const e2 = await rejectsWith(() => wrongCa.range('/k'), /cannot verify Chainfire's TLS certificate/);
    assert.ok(e2.message.includes(`--cacert ${other.caFile}`), e2.message);

    const onPlain = new EtcdLite({ endpoints: [plain.endpoints[0]!.replace('http://', 'https://')], callTimeoutMs: 3000, tls: { ca: Buffer.from(ca) }, cacertFile: pki.caFile });
    clients.push(onPlain);
    await rejectsWith(() => onPlain.range('/k'), /over TLS \(.*\): it does not seem to serve TLS there; if it serves plain http, use http:\/\/ endpoints without --cacert/);
  });

  it('the agent exits 69 with that explanation instead of waiting for its local service', async () => {
    const config = await writeJson(dir, 'node04.json', {
      node_id: 'node04', node_role: 'worker', bootstrap: false, cluster_name: 'test-cluster',
      leader_url: cluster.endpoints[0], raft_addr: '127.0.0.1:12380', initial_peers: ['127.0.0.1:2380'], flaredb_peers: [],
      services: { chainfire: { enabled: false }, flaredb: { enabled: false }, iam: { enabled: true, api_url: `http://127.0.0.1:${await freePort()}` } },
    });
    const started = Date.now();
    const r = await runProcess(
      process.execPath,
      [binPath('first-boot-agent'), 'iam-setup', '--config', config, '--state-dir', join(dir, 'state'), '--cacert', pki.caFile, '--health-timeout', '60s'],
      { timeoutMs: 60_000 },
    );
    assert.equal(r.code, 69, r.stdout + r.stderr);
    assert.match(r.stdout, /cannot publish agent report to Chainfire: Chainfire at https:\/\/127\.0\.0\.1:\d+ refused the TLS connection \(TLS alert: [a-z ]+\): it requires a client certificate/);
    assert.ok(Date.now() - started < 30_000, 'it did not wait out --health-timeout');
  });
});
