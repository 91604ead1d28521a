// Joins through the controller against a real 3-member etcd, with a snapshot of
// Chainfire before each membership change: node04's join leaves one before the
// learner was added and one before it was promoted, which etcdctl reads and
// restores and membershipctl lists; node05's join, while no snapshot can be
// written, is held back (SnapshotFailed), adds no learner and leaves nothing
// partial, and goes through once a controller can write one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { parseSnapshotFileName } from '../../src/snapshots/naming.js';
import { KeyLayout } from '../../src/store/keys.js';
import { EtcdCluster, type PlannedMember } from '../support/etcd-cluster.js';
import {
  bootstrapRecords,
  ctl,
  eventually,
  joinerClusterConfig,
  membershipFor,
  readStatus,
  startController,
  tempDir,
  voters,
  withControllerLog,
  writeJson,
} from '../support/fixtures.js';
import { binPath, runProcess, startProcess, type ProcessHandle } from '../support/processes.js';
import { snapshotStatus, withRestored } from '../support/snapshots.js';

const keys = new KeyLayout();

/** The controller's metric `name` (with `labels`, e.g. `{result="success"}`) from its /metrics. */
async function metric(port: number, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `${series} is exported`);
  return Number(line.split(' ')[1]);
}

async function metricsPort(controller: ProcessHandle): Promise<number> {
  const line = await controller.waitForLine(/serving \/metrics, \/healthz, \/readyz/, 30_000);
  return (JSON.parse(line) as { port: number }).port;
}

describe('a snapshot of Chainfire before each membership change of a join', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let dir: string;
  let stateDir: string;
  let snapshots: string;
  const controllers: ProcessHandle[] = [];
  const start = async (identity: string, args: string[]) => {
    const c = startController(cluster.endpoints, identity, args);
    controllers.push(c);
    await c.waitForLine(/became leader/, 30_000);
    return c;
  };
  const stop = async (c: ProcessHandle) => {
    c.kill('SIGTERM');
    await c.exited;
  };
  const agentArgs = async (plan: PlannedMember) => [
    binPath('first-boot-agent'), 'join', 'chainfire',
    '--config', await writeJson(dir, `${plan.name}-cluster-config.json`, joinerClusterConfig(cluster, plan)),
    '--state-dir', join(dir, `${plan.name}-state`),
    '--endpoints', cluster.endpoints.join(','),
    '--start-command', plan.startCommand,
    '--local-url', plan.clientUrl,
    '--timeout', '240s',
  ];
  /** The snapshot directory's entries, temporary files included. */
  const entries = () => (existsSync(snapshots) ? readdirSync(snapshots).sort() : []);

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    client = new Etcd3({ hosts: cluster.endpoints });
    dir = await tempDir('snapshots-join-');
    stateDir = join(dir, 'controller-state');
    snapshots = join(stateDir, 'snapshots');
    const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(bootstrapRecords(cluster)));
    assert.equal(applied.code, 0, applied.stderr);
  });
  after(async () => {
    for (const c of controllers) c.kill('SIGKILL');
    await Promise.all(controllers.map((c) => c.exited));
    client?.close();
    await cluster?.stop();
    if (dir && !process.env.KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
  });

  it('node04: one snapshot before the learner is added, one before it is promoted, in <state-dir>/snapshots', async () => {
    const controller = await start('c1', ['--state-dir', stateDir]);
    const port = await metricsPort(controller);
    await withControllerLog(controller, async () => {
      const plan = await cluster.planMember('node04');
      const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(membershipFor({ ...plan }, false, { role: 'worker' })));
      assert.equal(applied.code, 0, applied.stderr);
      const agent = await runProcess(process.execPath, await agentArgs(plan), { timeoutMs: 270_000 });
      assert.equal(agent.code, 0, `agent failed:\n${agent.stdout}\n${agent.stderr}`);
      assert.deepEqual(await voters(client), { voters: ['node01', 'node02', 'node03', 'node04'], learners: [] });

      const files = entries();
      const parsed = files.map((f) => parseSnapshotFileName(f));
      assert.deepEqual(parsed.map((p) => `${p?.node}/${p?.change}`), ['node04/addLearner', 'node04/promote'], `files: ${files.join(', ')}`);
      // However often etcd refused the promote while the learner caught up, one snapshot before it.
      const promoteAttempts = controller.lines.filter((l) => /"node":"node04"/.test(l) && /learner not yet in sync|promoted learner to voter/.test(l)).length;
      assert.ok(promoteAttempts >= 1, 'the controller promoted node04');
      assert.equal(files.filter((f) => f.includes('_promote_')).length, 1, `one promote snapshot for ${promoteAttempts} promote attempt(s)`);

      for (const [i, f] of files.entries()) {
        const st = await snapshotStatus(join(snapshots, f));
        assert.ok(st.revision >= parsed[i]!.revision, `${f}: etcdctl says revision ${st.revision}`);
        assert.ok(st.totalKey > 0 && st.totalSize > 0, JSON.stringify(st));
      }
      // Taken after the change was recorded and before it was made: the record is in the snapshot.
      await withRestored(join(snapshots, files[0]!), dir, async (restored) => {
        const op = JSON.parse((await restored.get(keys.operation('chainfire')).string()) ?? '{}') as { node?: string; change?: string };
        assert.deepEqual({ node: op.node, change: op.change }, { node: 'node04', change: 'join' });
        assert.ok(await restored.get(keys.desired('node04')).string(), 'desired/node04 is in the snapshot');
      });

      assert.equal(await metric(port, 'membership_snapshots_total{result="success"}'), 2);
      assert.equal(await metric(port, 'membership_snapshots_total{result="failure"}'), 0);
      assert.equal(await metric(port, 'membership_last_snapshot_timestamp_seconds'), parsed[1]!.at.getTime() / 1000);
    });
  });

  it('membershipctl snapshots lists them, newest first, as a table and as JSON', async () => {
    const run = (args: string[]) => runProcess(process.execPath, [binPath('membershipctl'), 'snapshots', ...args], { timeoutMs: 30_000 });
    const table = await run(['--dir', snapshots]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+NODE\s+CHANGE\s+SIZE\s+REVISION\s+AGE$/);
    assert.equal(lines.length, 3, table.stdout);
    assert.match(lines[1]!, /^\S+_node04_promote_rev\d+\.db\s+node04\s+promote\s+\d+(\.\d)? (B|KiB|MiB)\s+\d+\s+\d+s$/);
    assert.match(lines[2]!, /^\S+_node04_addLearner_rev\d+\.db\s+node04\s+addLearner\s+/);

    const json = await run(['--dir', snapshots, '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const rows = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(rows.map((r) => [r.node, r.change]), [['node04', 'promote'], ['node04', 'addLearner']]);
    for (const r of rows) {
      assert.equal(r.path, join(snapshots, String(r.name)));
      assert.equal(r.bytes, readFileSync(String(r.path)).length);
      assert.ok(Number(r.revision) > 0 && Number(r.ageSeconds) >= 0 && !Number.isNaN(Date.parse(String(r.takenAt))), JSON.stringify(r));
    }

    const missing = await run(['--dir', join(dir, 'nowhere')]);
    assert.equal(missing.code, 78);
    assert.equal(missing.stderr, `error: --dir: cannot read ${join(dir, 'nowhere')}: not found (the controller makes it at its first snapshot; --dir names another directory)\n`);
    const relative = await run(['--dir', 'snapshots']);
    assert.equal(relative.code, 64);
    assert.match(relative.stderr, /--dir must be an absolute path/);
  });

  it('node05: while no snapshot can be written the join is held back (SnapshotFailed), adds no learner, loses no snapshot; then it goes through', async () => {
    await stop(controllers[0]!);
    const before = new Map(entries().map((f) => [f, readFileSync(join(snapshots, f))]));
    // A cap smaller than any snapshot of this Chainfire: nothing can be written.
    const tight = await writeJson(dir, 'tight.json', { snapshots: { dir: snapshots, maxBytes: 1000, minFreeBytes: 0 } });
    const refusing = await start('c2', ['--config', tight]);
    const port = await metricsPort(refusing);
    const plan = await cluster.planMember('node05');
    const agent = startProcess(process.execPath, await agentArgs(plan));
    try {
      await withControllerLog(refusing, async () => {
        // A controller restarted keeps its figure of the newest snapshot.
        assert.equal(await metric(port, 'membership_last_snapshot_timestamp_seconds'), parseSnapshotFileName([...before.keys()].at(-1)!)!.at.getTime() / 1000);
        const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(membershipFor({ ...plan }, false, { role: 'worker' })));
        assert.equal(applied.code, 0, applied.stderr);
        const held = await eventually('node05 SnapshotFailed', async () => {
          const c = (await readStatus(client, 'node05'))?.status.conditions.find((x) => x.type === 'ChainfireMember');
          return c?.reason === 'SnapshotFailed' ? c : undefined;
        }, 90_000);
        assert.equal(held.status, 'False');
        assert.ok(held.message.startsWith(`adding node05 as a Chainfire learner with peer URL ${plan.peerUrl}: held back, no snapshot of Chainfire before addLearner of node05 could be written to ${snapshots}: `), held.message);
        assert.match(held.message, /more than snapshots\.maxBytes \(1000 B\)/);
        // Tried again later, with the work queue's backoff, and never made.
        await eventually('a second refused attempt', async () => (await metric(port, 'membership_snapshots_total{result="failure"}')) >= 2 ? true : undefined, 60_000);
        assert.deepEqual(await voters(client), { voters: ['node01', 'node02', 'node03', 'node04'], learners: [] }, 'no learner was added');
        assert.deepEqual(refusing.lines.filter((l) => /adding learner/.test(l)), []);
        await eventually('no change left recorded', async () => ((await client.get(keys.operation('chainfire')).string()) === null ? true : undefined), 30_000);
        assert.equal(await metric(port, 'membership_snapshots_total{result="success"}'), 0);
        // Nothing partial, nothing lost.
        assert.deepEqual(entries(), [...before.keys()]);
        for (const [f, bytes] of before) assert.deepEqual(readFileSync(join(snapshots, f)), bytes, f);
      });

      // A controller that can write snapshots carries the join out: it was only held back.
      await stop(refusing);
      const roomy = await writeJson(dir, 'roomy.json', { snapshots: { dir: snapshots, minFreeBytes: 0 } });
      const controller = await start('c3', ['--config', roomy]);
      await withControllerLog(controller, async () => {
        const exit = await agent.exited;
        assert.equal(exit.code, 0, `agent failed:\n${agent.lines.join('\n')}`);
        assert.deepEqual(await voters(client), { voters: ['node01', 'node02', 'node03', 'node04', 'node05'], learners: [] });
        const now = entries();
        for (const f of before.keys()) assert.ok(now.includes(f), `${f} kept`);
        assert.deepEqual(now.filter((f) => !before.has(f)).map((f) => parseSnapshotFileName(f)).map((p) => `${p?.node}/${p?.change}`), [
          'node05/addLearner', 'node05/promote',
        ]);
      });
    } finally {
      agent.kill('SIGKILL');
      await agent.exited;
    }
  });
});
