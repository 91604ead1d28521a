// Chainfire out of space: a real etcd with a tiny --quota-backend-bytes, filled
// until it raises its NOSPACE alarm. membershipctl apply exits 69 (not 70,
// "internal error") with a message that names the alarm and what to do, and
// the controller's /healthz stops answering ok, naming the alarm, until an
// operator has freed space and disarmed it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { Etcd3 } from 'etcd3';
import { connect, resolveConnection } from '../../src/store/connection.js';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { binPath, runProcess, type ProcessHandle } from '../support/processes.js';
import { ctl, eventually, joinerClusterConfig, membershipFor, startController, tempDir, writeJson } from '../support/fixtures.js';

/** Small enough to fill in a second or two, large enough for etcd to start and the controller to lead. */
const QUOTA_BYTES = 2 * 1024 * 1024;
const FILLER_PREFIX = '/nospace-test/filler/';

async function healthz(port: number): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: res.status, body: await res.text() };
}

describe('Chainfire out of space (etcd alarm NOSPACE)', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let controller: ProcessHandle;
  let port: number;
  let dir: string;
  let record: string;

  before(async () => {
    cluster = await EtcdCluster.start({ size: 1, extraArgs: ['--quota-backend-bytes', String(QUOTA_BYTES)] });
    // The programs' own client: etcd3's default circuit breaker would trip on the refused puts and hide the refusal.
    client = connect(resolveConnection({ endpoints: cluster.endpoints.join(',') }, {}));
    dir = await tempDir('nospace-');
    record = await writeJson(dir, 'node04.json', membershipFor(
      { name: 'node04', peerUrl: 'http://127.0.0.1:12380', clientUrl: 'http://127.0.0.1:12379' }, false, { role: 'worker' },
    ));
    controller = startController(cluster.endpoints, 'nospace-c1');
    const line = await controller.waitForLine(/serving \/metrics, \/healthz, \/readyz/, 30_000);
    port = (JSON.parse(line) as { port: number }).port;
    await controller.waitForLine(/became leader/, 30_000);
  });

  after(async () => {
    controller?.kill('SIGKILL');
    await controller?.exited;
    client?.close();
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('before: /healthz answers ok and apply works', async () => {
    const h = await healthz(port);
    assert.equal(h.status, 200, h.body);
    assert.match(h.body, /^ok: Chainfire healthy: no alarm raised/);
    const r = await ctl(cluster.endpoints, ['apply', '-f', record]);
    assert.equal(r.code, 0, r.stderr);
  });

  it('filling the database raises the alarm NOSPACE', async () => {
    let refused: string | undefined;
    for (let i = 0; i < 200 && refused === undefined; i++) {
      try {
        await client.put(`${FILLER_PREFIX}${i}`).value(randomBytes(64 * 1024));
      } catch (err) {
        refused = (err as Error).message;
      }
    }
    assert.match(refused ?? 'every put landed', /database space exceeded/);
    const { alarms } = await client.maintenance.alarm({ action: 'Get' });
    assert.deepEqual(alarms.map((a) => String(a.alarm).toUpperCase()), ['NOSPACE']);
  });

  it('membershipctl apply exits 69 naming the alarm and what an operator does about it', async () => {
    const changed = await writeJson(dir, 'node04-changed.json', membershipFor(
      { name: 'node04', peerUrl: 'http://127.0.0.1:12380', clientUrl: 'http://127.0.0.1:12379' }, false, { role: 'worker', rack: 'r9' },
    ));
    const r = await ctl(cluster.endpoints, ['apply', '-f', changed]);
    assert.equal(r.code, 69, `exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /^error: Chainfire is out of space: etcdserver: mvcc: database space exceeded: etcd raised its NOSPACE alarm/);
    for (const step of ['etcdctl compact', 'etcdctl defrag', 'etcdctl alarm disarm', '--quota-backend-bytes', 'docs/troubleshooting.md']) {
      assert.ok(r.stderr.includes(step), `the message says ${step}: ${r.stderr}`);
    }
    assert.ok(!/RESOURCE_EXHAUSTED|internal error/.test(r.stderr), r.stderr);
    // Reads still work.
    const get = await ctl(cluster.endpoints, ['get', 'node04']);
    assert.equal(get.code, 0, get.stderr);
  });

  it('the agent exits 69 (its contract has no other code for it), naming the alarm', async () => {
    const plan = await cluster.planMember('node05');
    const config = await writeJson(dir, 'node05.json', joinerClusterConfig(cluster, plan));
    const r = await runProcess(process.execPath, [
      binPath('first-boot-agent'), 'join', 'chainfire', '--config', config, '--state-dir', `${dir}/state`,
      '--endpoints', cluster.endpoints.join(','), '--local-url', plan.clientUrl, '--timeout', '10s', '--health-timeout', '1s',
    ], { timeoutMs: 60_000 });
    assert.equal(r.code, 69, r.stdout + r.stderr);
    assert.match(r.stdout, /database space exceeded: etcd raised its NOSPACE alarm.*etcdctl alarm disarm/);
  });

  it('the controller\'s /healthz is not ok while the alarm is raised, and names it', async () => {
    const h = await healthz(port);
    assert.equal(h.status, 503, h.body);
    const memberId = BigInt((await client.maintenance.alarm({ action: 'Get' })).alarms[0]!.memberID).toString(16);
    assert.ok(h.body.startsWith(`unhealthy: Chainfire reports itself unhealthy: alarm NOSPACE on member ${memberId} (database space exceeded: `), h.body);
    assert.match(h.body, /etcdctl alarm disarm/);
  });

  it('after compacting, defragmenting and disarming, /healthz is ok again and apply works', async () => {
    const del = await client.delete().prefix(FILLER_PREFIX).exec();
    await client.kv.compact({ revision: del.header.revision, physical: true });
    await client.maintenance.defragment({});
    for (const a of (await client.maintenance.alarm({ action: 'Get' })).alarms) {
      await client.maintenance.alarm({ action: 'Deactivate', memberID: a.memberID, alarm: 'Nospace' });
    }
    await eventually('/healthz 200', async () => ((await healthz(port)).status === 200 ? true : undefined), 15_000);
    const r = await ctl(cluster.endpoints, ['apply', '-f', record]);
    assert.equal(r.code, 0, r.stderr);
  });
});
