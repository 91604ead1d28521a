import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { binPath, runProcess, type ProcessHandle } from '../support/processes.js';
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
  writeJson,
} from '../support/fixtures.js';

/** Waits for whichever controller logs that it became leader; returns it and the other one. */
async function leaderOf(a: ProcessHandle, b: ProcessHandle): Promise<[ProcessHandle, ProcessHandle]> {
  const winner = await Promise.race([
    a.waitForLine(/became leader/, 30_000).then(() => a),
    b.waitForLine(/became leader/, 30_000).then(() => b),
  ]);
  return winner === a ? [a, b] : [b, a];
}

describe('two controllers: only the leader acts, and a standby finishes a join after kill -9', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  const controllers: ProcessHandle[] = [];
  let currentLeader: ProcessHandle | undefined;

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    client = new Etcd3({ hosts: cluster.endpoints });
  });

  after(async () => {
    for (const c of controllers) c.kill('SIGKILL');
    await Promise.all(controllers.map((c) => c.exited));
    client?.close();
    await cluster?.stop();
  });

  it('the standby adopts the learner the dead leader added, promotes it, and adds no duplicate', async () => {
    const c1 = startController(cluster.endpoints, 'c1');
    const c2 = startController(cluster.endpoints, 'c2');
    controllers.push(c1, c2);
    const [leader, standby] = await leaderOf(c1, c2);
    await standby.waitForLine(/standing by/, 30_000);

    const plan = await cluster.planMember('node04');
    const records = [...bootstrapRecords(cluster), membershipFor(plan, false, { role: 'worker' })];
    const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(records));
    assert.equal(applied.code, 0, applied.stderr);

    // The node's etcd starts only once the test says so, so that the leader dies mid-join.
    const dir = await tempDir('failover-');
    const go = join(dir, 'go');
    const startCommand = `while [ ! -f '${go}' ]; do sleep 0.1; done; ${plan.startCommand}`;
    const configPath = await writeJson(dir, 'cluster-config.json', joinerClusterConfig(cluster, plan));
    const agent = runProcess(
      process.execPath,
      [
        binPath('first-boot-agent'), 'join', 'chainfire', '--config', configPath, '--state-dir', join(dir, 'state'),
        '--endpoints', cluster.endpoints.join(','), '--start-command', startCommand, '--local-url', plan.clientUrl,
        '--timeout', '120s',
      ],
      { timeoutMs: 150_000 },
    );

    await eventually('the leader to add node04 as a learner', async () => ((await voters(client)).learners.length === 1 ? true : undefined));
    assert.ok(!standby.lines.some((l) => /adding learner|promoted learner/.test(l)), 'the standby acted while not leader');

    leader.kill('SIGKILL');
    await leader.exited;
    await writeFile(go, 'go');
    await standby.waitForLine(/became leader/, 30_000);

    const result = await agent;
    assert.equal(result.code, 0, `agent failed:\n${result.stdout}\n${result.stderr}`);
    const members = await client.cluster.memberList({});
    const withPeer = members.members.filter((m) => m.peerURLs.includes(plan.peerUrl));
    assert.equal(withPeer.length, 1, 'exactly one member has node04\'s peer URL');
    assert.deepEqual(await voters(client), { voters: ['node01', 'node02', 'node03', 'node04'], learners: [] });
    assert.ok(standby.lines.some((l) => /promoted learner to voter/.test(l)), 'the new leader promoted the learner');
    assert.ok(!standby.lines.some((l) => /adding learner/.test(l)), 'the new leader added the learner a second time');

    const status = await eventually('node04 Ready', async () => {
      const s = await readStatus(client, 'node04');
      return s?.status.phase === 'Ready' ? s : undefined;
    });
    currentLeader = standby;
    const c2Identity = standby === c2 ? 'c2' : 'c1';
    assert.equal(status.status.controller?.identity, c2Identity, 'the status was last written by the new leader');
  });

  it('SIGTERM makes the leader resign so that the standby takes over at once', async () => {
    const current = currentLeader;
    assert.ok(current, 'the first test left a leader running');
    const fresh = startController(cluster.endpoints, 'c3');
    controllers.push(fresh);
    await fresh.waitForLine(/standing by/, 30_000);
    const started = Date.now();
    current.kill('SIGTERM');
    await fresh.waitForLine(/became leader/, 10_000);
    const took = Date.now() - started;
    // The lease TTL is 3 s: a takeover well inside it shows the resignation, not an expiry.
    assert.ok(took < 2500, `standby took ${took} ms to take over after SIGTERM`);
    const exit = await current.exited;
    assert.equal(exit.code, 0);
  });
});
