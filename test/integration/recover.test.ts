// Quorum loss recovered by one command, against real etcd: three bootstrap voters and a controller;
// two voters are killed for good (their disks gone); `first-boot-agent recover chainfire` on the
// survivor makes it a one-member cluster (from its own data, or from a snapshot); the controller
// resumes by itself and re-admits the two lost nodes, reprovisioned, one at a time, until etcd's own
// member list shows three healthy voters, no learner and no stale member.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { clusterStatus } from '../../src/schema/cluster.js';
import { KeyLayout } from '../../src/store/keys.js';
import { agentOutput, describeMembers, describeStatus, makeJoiner, memberRows, readStatusBody, startJoin, stopAgent, until, type Joiner } from '../support/day-two.js';
import { bringBack, loseQuorum, runRecover, survivorOf, threeHealthyVoters } from '../support/quorum-loss.js';
import { checkHealth, EtcdCluster } from '../support/etcd-cluster.js';
import { bootstrapRecords, ctl, membershipFor, startController, tempDir, withControllerLog } from '../support/fixtures.js';
import { binPath, type ProcessHandle } from '../support/processes.js';

const run = promisify(execFile);
const keys = new KeyLayout();

interface World {
  cluster: EtcdCluster;
  controller: ProcessHandle;
  dir: string;
  /** node01's cluster-config.json and state dir: the survivor */
  survivor: Joiner;
}

const worlds: World[] = [];
after(async () => {
  for (const w of worlds) {
    w.controller.kill('SIGKILL');
    await w.controller.exited;
    await w.cluster.stop();
  }
});

/** Three bootstrap voters Ready, a worker's record beside them (data that must survive), one controller leading. */
async function threeVoters(): Promise<World> {
  const cluster = await EtcdCluster.start({ size: 3 });
  const dir = await tempDir('recover-');
  const controller = startController(cluster.endpoints, 'c1', ['--state-dir', join(dir, 'controller-state')]);
  const world: World = { cluster, controller, dir, survivor: await survivorOf(cluster, dir) };
  worlds.push(world);
  await controller.waitForLine(/became leader/, 30_000);
  const worker = membershipFor({ name: 'node09', peerUrl: 'http://127.0.0.1:1', clientUrl: 'http://127.0.0.1:2' }, false, { role: 'worker', chainfire: undefined });
  const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify([...bootstrapRecords(cluster), worker]));
  assert.equal(applied.code, 0, applied.stderr);
  const client = new Etcd3({ hosts: cluster.endpoints });
  try {
    for (const n of ['node01', 'node02', 'node03', 'node09']) {
      await until(`${n} Ready`, async () => {
        const st = await readStatusBody(client, n);
        return st?.phase === 'Ready' ? { done: true } : { seen: describeStatus(st) };
      }, 60_000);
    }
  } finally {
    client.close();
  }
  return world;
}

async function recordedRecovery(endpoint: string, source: 'data' | 'snapshot'): Promise<void> {
  const client = new Etcd3({ hosts: [endpoint] });
  try {
    const raw = await client.get(keys.clusterRecovery()).string();
    assert.ok(raw, 'cluster/recovery is written');
    const rec = JSON.parse(raw) as { recovery: { node: string; source: string; dropped: string[] } };
    assert.equal(rec.recovery.node, 'node01');
    assert.equal(rec.recovery.source, source);
    assert.deepEqual([...rec.recovery.dropped].sort(), ['node02', 'node03']);
    await until('cluster/status tells of the recovery', async () => {
      const text = await client.get(keys.clusterStatus()).string();
      const st = text ? clusterStatus.safeParse(JSON.parse(text)) : undefined;
      const r = st?.success ? st.data.status.recovery : undefined;
      return r?.node === 'node01' && r.source === source ? { done: true } : { seen: text ?? 'none' };
    }, 30_000);
  } finally {
    client.close();
  }
}

describe('first-boot-agent recover chainfire', { timeout: 600_000 }, () => {
  it('refuses while quorum holds, off a terminal without --yes, and with a missing or broken snapshot; then recovers from its own data and the lost voters come back', async () => {
    const w = await threeVoters();
    await withControllerLog(w.controller, async () => {
      // Quorum holds: refused (65), naming the healthy members; nothing stopped.
      const held = await runRecover(w.cluster, w.survivor, ['--yes']);
      assert.equal(held.code, 65, agentOutput(held));
      assert.match(held.stdout + held.stderr, /still has a quorum: .*node0[123].*healthy/);
      assert.equal(await checkHealth(w.cluster.member('node01').clientUrl), true, 'node01 untouched');

      await loseQuorum(w.cluster);
      // Off a terminal without --yes: 64, nothing changed.
      const unconfirmed = await runRecover(w.cluster, w.survivor);
      assert.equal(unconfirmed.code, 64, agentOutput(unconfirmed));
      assert.match(unconfirmed.stdout + unconfirmed.stderr, /--yes/);
      assert.notEqual(w.cluster.member('node01').pid, undefined, 'node01 still runs');
      // A snapshot that does not exist, or that etcdctl refuses: 78, naming the file.
      const missing = await runRecover(w.cluster, w.survivor, ['--yes', '--from-snapshot', join(w.dir, 'nope.db')]);
      assert.equal(missing.code, 78, agentOutput(missing));
      assert.match(missing.stdout + missing.stderr, /--from-snapshot .*nope\.db/);
      const broken = join(w.dir, 'broken.db');
      await run('sh', ['-c', `head -c 4096 /dev/urandom > '${broken}'`]);
      const refused = await runRecover(w.cluster, w.survivor, ['--yes', '--from-snapshot', broken]);
      assert.equal(refused.code, 78, agentOutput(refused));
      assert.match(refused.stdout + refused.stderr, /broken\.db: etcd's check refused it/);
      assert.notEqual(w.cluster.member('node01').pid, undefined, 'node01 still runs');

      const done = await runRecover(w.cluster, w.survivor, ['--yes']);
      assert.equal(done.code, 0, agentOutput(done));
      assert.match(done.stdout, /recovered on node01 as a one-member cluster \(from data\)/);
      const survivor = w.cluster.member('node01').clientUrl;
      assert.equal(await checkHealth(survivor), true);
      const one = new Etcd3({ hosts: [survivor] });
      try {
        const rows = await memberRows(one);
        assert.deepEqual(rows.map((r) => r.name), ['node01'], describeMembers(rows));
      } finally {
        one.close();
      }
      await recordedRecovery(survivor, 'data');

      const agents = await bringBack(w.cluster, w.dir, [survivor]);
      try {
        await threeHealthyVoters(survivor, ['node01', 'node02', 'node03', 'node09']);
        for (const a of agents) {
          const code = await Promise.race([a.exited.then((s) => s.code), new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
          assert.equal(code, 0, `the rejoined node's agent ends with 0: ${agentOutput(a)}`);
        }
      } finally {
        for (const a of agents) await stopAgent(a);
      }
    });
  });

  it('recovers from a snapshot the controller took before a change: the store goes back to its revision and every watcher lists again', async () => {
    const w = await threeVoters();
    await withControllerLog(w.controller, async () => {
      // A Chainfire change, so that the controller takes its snapshots: node04 joins, then leaves again.
      const plan = await w.cluster.planMember('node04');
      assert.equal((await ctl(w.cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(membershipFor(plan, false, { role: 'control-plane' })))).code, 0);
      const agent = await startJoin(await makeJoiner(w.cluster, plan, w.dir, 'control-plane'), w.cluster.endpoints, '120s');
      assert.equal((await agent.exited).code, 0, agentOutput(agent));
      const left = await ctl(w.cluster.endpoints, ['delete', 'node04', '--now', '--timeout', '120s']);
      assert.equal(left.code, 0, left.stdout + left.stderr);
      await w.cluster.kill('node04', 'SIGKILL');
      const taken = (await readdir(join(w.dir, 'controller-state', 'snapshots'))).filter((f) => f.endsWith('.db')).sort();
      assert.ok(taken.some((f) => /_node04_addLearner_rev\d+\.db$/.test(f)) && taken.some((f) => /_node04_removeMember_rev\d+\.db$/.test(f)), taken.join(' '));
      // The newest: taken before node04's member was removed.
      const snapshot = join(w.dir, 'controller-state', 'snapshots', taken.at(-1)!);
      // Written after the snapshot: gone after the restore, and the revision goes back below what watchers saw.
      const client = new Etcd3({ hosts: w.cluster.endpoints });
      for (let i = 0; i < 50; i++) await client.put(`/scratch/${i}`).value('x');
      const lateWorker = membershipFor({ name: 'node08', peerUrl: 'http://127.0.0.1:1', clientUrl: 'http://127.0.0.1:2' }, false, { role: 'worker', chainfire: undefined });
      assert.equal((await ctl(w.cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(lateWorker))).code, 0);
      client.close();
      // membershipctl get -w, watching across the recovery.
      const watch = await import('../support/processes.js').then((p) => p.startProcess(process.execPath, [binPath('membershipctl'), 'get', '-w', '--endpoints', w.cluster.endpoints.join(',')]));
      try {
        await watch.waitForLine(/node09/, 30_000);
        await loseQuorum(w.cluster);
        const done = await runRecover(w.cluster, w.survivor, ['--yes', '--from-snapshot', snapshot]);
        assert.equal(done.code, 0, agentOutput(done));
        const survivor = w.cluster.member('node01').clientUrl;
        await recordedRecovery(survivor, 'snapshot');
        // A record written now gets a revision below the last one the watchers saw before the recovery.
        const fresh = membershipFor({ name: 'node07', peerUrl: 'http://127.0.0.1:1', clientUrl: 'http://127.0.0.1:2' }, false, { role: 'worker', chainfire: undefined });
        assert.equal((await ctl([survivor], ['apply', '-f', '-'], JSON.stringify(fresh))).code, 0);
        const c = new Etcd3({ hosts: [survivor] });
        try {
          await until('the controller sees node07 (its caches listed again)', async () => {
            const st = await readStatusBody(c, 'node07');
            return st?.phase === 'Ready' ? { done: true } : { seen: describeStatus(st) };
          }, 60_000);
          assert.equal(await c.get(keys.desired('node08')).string(), null, 'node08 was written after the snapshot');
        } finally {
          c.close();
        }
        await watch.waitForLine(/node07/, 60_000);
        const agents = await bringBack(w.cluster, w.dir, [survivor]);
        try {
          await threeHealthyVoters(survivor, ['node01', 'node02', 'node03', 'node09']);
        } finally {
          for (const a of agents) await stopAgent(a);
        }
      } finally {
        watch.kill('SIGKILL');
        await watch.exited;
      }
    });
  });
});
