import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { binPath, runProcess, startProcess, type ProcessHandle } from '../support/processes.js';
import { bootstrapRecords, controllerStateDir, ctl, eventually, joinerClusterConfig, membershipFor, readStatus, tempDir, writeJson } from '../support/fixtures.js';
import { KeyLayout } from '../../src/store/keys.js';

const keys = new KeyLayout();

/**
 * kill -9 of the leader at each step of a join and of a removal, through the
 * controller's failpoints: the process kills itself with SIGKILL exactly
 * there. A standby takes over and must converge: no duplicate or phantom
 * member, no learner and no operation record left behind.
 */
describe('a leader killed at each step of a join and of a removal: the standby converges', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let dir: string;
  const running: ProcessHandle[] = [];

  const controller = (identity: string, failpoint?: string) => {
    const p = startProcess(
      process.execPath,
      [binPath('membership-controller'), '--endpoints', cluster.endpoints.join(','), '--identity', identity,
        '--lease-ttl', '4', '--resync-period', '3s', '--metrics-addr', 'off', '--log-level', 'debug', '--state-dir', controllerStateDir()],
      failpoint ? { env: { MEMBERSHIP_FAILPOINTS: failpoint } } : {},
    );
    running.push(p);
    return p;
  };

  /** A leader armed with `failpoint` and a standby without; resolves once both are in place. */
  const pair = async (failpoint: string, round: string) => {
    const leader = controller(`armed-${round}`, failpoint);
    await leader.waitForLine(/became leader/, 30_000);
    const standby = controller(`standby-${round}`);
    await standby.waitForLine(/standing by/, 30_000);
    return { leader, standby };
  };

  const settle = async (what: string) => {
    await eventually(`${what}: no operation left`, async () => ((await client.getAll().prefix(`${keys.prefix}/operations/`).keys()).length === 0 ? true : undefined), 60_000);
    const members = (await client.cluster.memberList({})).members;
    assert.equal(members.filter((m) => m.isLearner).length, 0, `${what}: a learner was left behind`);
    const peers = members.flatMap((m) => m.peerURLs);
    assert.equal(new Set(peers).size, peers.length, `${what}: a duplicate member`);
    return members;
  };

  /** The armed leader's exit, bounded: a leader that lost its term before reaching the failpoint fails the test, not hangs it. */
  const died = (leader: ProcessHandle, step: string) =>
    Promise.race([
      leader.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the armed leader did not reach ${step} within 120 s`)), 120_000).unref()),
    ]);

  const stopAll = async () => {
    for (const p of running.splice(0)) {
      p.kill('SIGKILL');
      await p.exited;
    }
  };

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    client = new Etcd3({ hosts: cluster.endpoints });
    dir = await tempDir('crash-');
    await client.put(keys.clusterConfig()).value(JSON.stringify({ spec: { maxVoters: 9 } }));
    assert.equal((await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(bootstrapRecords(cluster)))).code, 0);
  });
  after(async () => {
    await stopAll();
    client?.close();
    await cluster?.stop();
  });

  const joinSteps = ['after-operation-recorded', 'after-addLearner', 'before-promote', 'after-promote'];
  const joined: string[] = [];
  joinSteps.forEach((step, i) => {
    it(`join: leader killed at ${step}`, async () => {
      const node = `node0${4 + i}`;
      const { leader, standby } = await pair(step, `join-${i}`);
      const plan = await cluster.planMember(node);
      assert.equal((await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(membershipFor(plan, false, { role: 'control-plane' })))).code, 0);
      const config = await writeJson(dir, `${node}.json`, joinerClusterConfig(cluster, plan));
      const agent = await runProcess(process.execPath, [
        binPath('first-boot-agent'), 'join', 'chainfire', '--config', config, '--state-dir', join(dir, node),
        '--endpoints', cluster.endpoints.join(','), '--start-command', plan.startCommand, '--local-url', plan.clientUrl, '--timeout', '120s',
      ], { timeoutMs: 150_000 });
      const exit = await died(leader, step);
      assert.equal(exit.signal, 'SIGKILL', `the armed leader did not reach ${step}`);
      assert.equal(agent.code, 0, agent.stdout + agent.stderr);
      await standby.waitForLine(/became leader/, 30_000);
      const members = await settle(`join ${step}`);
      assert.equal(members.filter((m) => m.peerURLs.includes(plan.peerUrl) && !m.isLearner).length, 1, `${node} is a voter once`);
      await eventually(`${node} Ready`, async () => ((await readStatus(client, node))?.status.phase === 'Ready' ? true : undefined));
      joined.push(node);
      await stopAll();
    });
  });

  const removalSteps = ['after-operation-recorded', 'before-removeMember', 'after-removeMember', 'after-moveLeader'];
  removalSteps.forEach((step, i) => {
    it(`removal: leader killed at ${step}`, async () => {
      const node = joined[i];
      assert.ok(node, 'a node joined in the join rounds');
      if (step === 'after-moveLeader') {
        // Make the node the Raft leader so that its removal starts with MoveLeader.
        const members = (await client.cluster.memberList({})).members;
        const target = members.find((m) => m.name === node)!;
        const leaderId = String((await client.maintenance.status()).leader);
        const current = members.find((m) => String(m.ID) === leaderId)!;
        if (current.name !== node) {
          const direct = new Etcd3({ hosts: current.clientURLs });
          await direct.maintenance.moveLeader({ targetID: String(target.ID) });
          direct.close();
        }
      }
      const { leader, standby } = await pair(step, `remove-${i}`);
      const del = await ctl(cluster.endpoints, ['delete', node, '--timeout', '90s']);
      const exit = await died(leader, step);
      assert.equal(exit.signal, 'SIGKILL', `the armed leader did not reach ${step}`);
      assert.equal(del.code, 0, del.stdout + del.stderr);
      await standby.waitForLine(/became leader/, 30_000);
      const members = await settle(`removal ${step}`);
      assert.ok(!members.some((m) => m.name === node), `${node} is gone from Chainfire`);
      assert.equal(members.filter((m) => !m.isLearner).length, 3 + joinSteps.length - (i + 1));
      await stopAll();
    });
  });
});
