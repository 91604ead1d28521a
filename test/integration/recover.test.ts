// Quorum loss recovered by one command, against real etcd: three bootstrap voters and a controller;
// two voters are killed for good (their disks gone); `first-boot-agent recover chainfire` on the
// survivor makes it a one-member cluster (from its own data, or from a snapshot); the controller
// resumes by itself and re-admits the two lost nodes, reprovisioned, one at a time, until etcd's own
// member list shows three healthy voters, no learner and no stale member.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { clusterStatus } from '../../src/schema/cluster.js';
import { KeyLayout } from '../../src/store/keys.js';
import {
  agentOutput, describeMembers, describeStatus, healthyVoters, makeJoiner, memberRows, readStatusBody, startJoin, stopAgent, until, type Joiner,
} from '../support/day-two.js';
import { checkHealth, EtcdCluster } from '../support/etcd-cluster.js';
import { bootstrapRecords, ctl, joinerClusterConfig, membershipFor, startController, tempDir, withControllerLog, writeJson } from '../support/fixtures.js';
import { binPath, runProcess, type ProcessHandle } from '../support/processes.js';

const run = promisify(execFile);
const keys = new KeyLayout();
const ETCDCTL = process.env.ETCDCTL_BIN ?? 'etcdctl';

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
  const controller = startController(cluster.endpoints, 'c1');
  const dir = await tempDir('recover-');
  const node01 = cluster.asNode('node01');
  // (Several nodes share 127.0.0.1 here, which a bootstrap config's initial_peers cannot tell apart: its join-mode form.)
  const config = await writeJson(dir, 'node01-cluster-config.json', {
    ...joinerClusterConfig(cluster, node01), node_role: 'control-plane', leader_url: cluster.member('node02').clientUrl,
  });
  const world: World = { cluster, controller, dir, survivor: { plan: node01, config, stateDir: join(dir, 'node01-state') } };
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

function recoverArgs(w: World, extra: string[] = []): string[] {
  const node = w.cluster.asNode('node01');
  return [
    binPath('first-boot-agent'), 'recover', 'chainfire',
    '--config', w.survivor.config,
    '--state-dir', w.survivor.stateDir,
    '--data-dir', node.dataDir,
    '--local-url', node.clientUrl,
    '--stop-command', node.stopCommand,
    '--start-command', node.startCommand,
    '--etcdctl', ETCDCTL,
    '--health-timeout', '60s',
    ...extra,
  ];
}

function recover(w: World, extra: string[] = []) {
  return runProcess(process.execPath, recoverArgs(w, extra), { timeoutMs: 120_000 });
}

/** Kills node02 and node03 for good (their data dirs gone) and waits until node01 has no leader. */
async function loseQuorum(w: World): Promise<void> {
  for (const n of ['node02', 'node03']) {
    await w.cluster.kill(n, 'SIGKILL');
    await rm(w.cluster.member(n).dataDir, { recursive: true, force: true });
  }
  const url = w.cluster.member('node01').clientUrl;
  await until('node01 without a leader', async () => {
    const h = await checkHealth(url);
    return h === true ? { seen: 'healthy' } : { done: true };
  }, 30_000);
}

/** The lost nodes come back reprovisioned (wiped data, join mode) and their join units run. */
async function bringBack(w: World, endpoints: string[]): Promise<ProcessHandle[]> {
  const agents: ProcessHandle[] = [];
  for (const n of ['node02', 'node03']) {
    const j = await makeJoiner(w.cluster, w.cluster.asNode(n), w.dir, 'control-plane');
    agents.push(await startJoin(j, endpoints, '150s'));
  }
  return agents;
}

async function threeHealthyVoters(endpoint: string): Promise<void> {
  const client = new Etcd3({ hosts: [endpoint] });
  try {
    await until('three healthy voters, no learner, no stale member', async () => {
      const { healthy, rows, problems } = await healthyVoters(client);
      const names = rows.map((r) => r.name).sort().join(',');
      const ok = healthy.length === 3 && rows.length === 3 && rows.every((r) => !r.isLearner) && names === 'node01,node02,node03';
      return ok ? { done: true } : { seen: `${describeMembers(rows)} ${problems.join('; ')}` };
    }, 150_000);
    for (const n of ['node01', 'node02', 'node03', 'node09']) {
      await until(`${n} Ready after the recovery`, async () => {
        const st = await readStatusBody(client, n);
        return st?.phase === 'Ready' ? { done: true } : { seen: describeStatus(st) };
      }, 60_000);
    }
  } finally {
    client.close();
  }
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
      const held = await recover(w, ['--yes']);
      assert.equal(held.code, 65, agentOutput(held));
      assert.match(held.stdout + held.stderr, /still has a quorum: .*node0[123].*healthy/);
      assert.equal(await checkHealth(w.cluster.member('node01').clientUrl), true, 'node01 untouched');

      await loseQuorum(w);
      // Off a terminal without --yes: 64, nothing changed.
      const unconfirmed = await recover(w);
      assert.equal(unconfirmed.code, 64, agentOutput(unconfirmed));
      assert.match(unconfirmed.stdout + unconfirmed.stderr, /--yes/);
      assert.notEqual(w.cluster.member('node01').pid, undefined, 'node01 still runs');
      // A snapshot that does not exist, or that etcdctl refuses: 78, naming the file.
      const missing = await recover(w, ['--yes', '--from-snapshot', join(w.dir, 'nope.db')]);
      assert.equal(missing.code, 78, agentOutput(missing));
      assert.match(missing.stdout + missing.stderr, /--from-snapshot .*nope\.db/);
      const broken = join(w.dir, 'broken.db');
      await run('sh', ['-c', `head -c 4096 /dev/urandom > '${broken}'`]);
      const refused = await recover(w, ['--yes', '--from-snapshot', broken]);
      assert.equal(refused.code, 78, agentOutput(refused));
      assert.match(refused.stdout + refused.stderr, /broken\.db: etcd's check refused it/);
      assert.notEqual(w.cluster.member('node01').pid, undefined, 'node01 still runs');

      const done = await recover(w, ['--yes']);
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

      const agents = await bringBack(w, [survivor]);
      try {
        await threeHealthyVoters(survivor);
        for (const a of agents) {
          const code = await Promise.race([a.exited.then((s) => s.code), new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
          assert.equal(code, 0, `the rejoined node's agent ends with 0: ${agentOutput(a)}`);
        }
      } finally {
        for (const a of agents) await stopAgent(a);
      }
    });
  });

  it('recovers from a snapshot: the store goes back to its revision and every watcher lists again', async () => {
    const w = await threeVoters();
    await withControllerLog(w.controller, async () => {
      const snapshot = join(w.dir, 'before.db');
      await run(ETCDCTL, ['snapshot', 'save', snapshot, '--endpoints', w.cluster.member('node01').clientUrl], { env: { ...process.env, ETCDCTL_API: '3' } });
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
        await loseQuorum(w);
        const done = await recover(w, ['--yes', '--from-snapshot', snapshot]);
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
        const agents = await bringBack(w, [survivor]);
        try {
          await threeHealthyVoters(survivor);
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
