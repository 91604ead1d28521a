// Exercises the etcd test harness against real etcd processes: cluster start,
// membership as etcd reports it, joining a planned member through its shell
// start command, kill/restart, and complete cleanup.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Etcd3, type IMember } from 'etcd3';
import { checkHealth, EtcdCluster } from '../support/etcd-cluster.js';
import { isProcessAlive } from '../support/processes.js';

const execFileAsync = promisify(execFile);

/** Calls `action` until it succeeds, retrying only errors that `isTransient` accepts, for at most `timeoutMs`. */
async function retryWhile<T>(
  what: string,
  isTransient: (err: Error) => boolean,
  timeoutMs: number,
  action: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await action();
    } catch (err) {
      const error = err as Error;
      if (!isTransient(error)) throw error;
      if (Date.now() >= deadline) throw new Error(`${what}: still failing after ${timeoutMs} ms: ${error.message}`);
      await sleep(250);
    }
  }
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

// etcd refuses reconfiguration until every member has been connected for 5 s
// ("etcdserver: unhealthy cluster"). After three such answers the etcd3
// client's circuit breaker opens and fails calls locally for a while.
const isUnhealthyCluster = (err: Error): boolean =>
  /unhealthy cluster|circuit breaker is open/i.test(err.message);

// etcd only promotes a learner whose log is close to the leader's.
const isLearnerNotInSync = (err: Error): boolean =>
  /learner member which is in sync with leader|circuit breaker is open/i.test(err.message);

function byName(members: IMember[]): IMember[] {
  return [...members].sort((a, b) => a.name.localeCompare(b.name));
}

test('EtcdCluster runs a real 3-member cluster, adds a 4th member and cleans up', { timeout: 180_000 }, async () => {
  const cluster = await EtcdCluster.start({ size: 3 });
  const client = new Etcd3({ hosts: cluster.endpoints });
  try {
    assert.deepEqual(
      cluster.members.map((member) => member.name),
      ['node01', 'node02', 'node03'],
    );
    assert.equal(cluster.endpoints.length, 3);
    for (const member of cluster.members) {
      assert.equal(await checkHealth(member.clientUrl), true, `${member.name} reports healthy`);
      assert.ok(member.pid !== undefined && isProcessAlive(member.pid), `${member.name} runs`);
    }
    assert.equal(
      cluster.initialCluster,
      cluster.members.map((member) => `${member.name}=${member.peerUrl}`).join(','),
    );

    const initialList = await client.cluster.memberList({});
    assert.deepEqual(
      byName(initialList.members).map((member) => [member.name, member.peerURLs, member.isLearner]),
      cluster.members.map((member) => [member.name, [member.peerUrl], false]),
    );

    // Join a 4th member the way a node agent would: add it as a learner, then
    // run its start command with the initial cluster etcd told us about.
    const plan = await cluster.planMember('node04');
    assert.equal(plan.raftAddr, `127.0.0.1:${plan.peerPort}`);
    const added = await retryWhile('memberAdd', isUnhealthyCluster, 60_000, () =>
      client.cluster.memberAdd({ peerURLs: [plan.peerUrl], isLearner: true }),
    );
    assert.equal(added.member.isLearner, true);
    const learnerId = added.member.ID;
    const initialCluster = [
      ...added.members
        .filter((member) => member.ID !== learnerId)
        .flatMap((member) => member.peerURLs.map((url) => `${member.name}=${url}`)),
      `${plan.name}=${plan.peerUrl}`,
    ].join(',');

    await execFileAsync('/bin/sh', ['-c', plan.startCommand], {
      env: { ...process.env, CHAINFIRE_INITIAL_CLUSTER: initialCluster },
      timeout: 30_000,
    });

    // A member's name stays empty in the member list until it has started and published itself.
    await waitFor('node04 to publish its name', 60_000, async () => {
      const { members } = await client.cluster.memberList({});
      return members.find((member) => member.ID === learnerId && member.name === 'node04');
    });
    assert.deepEqual(
      cluster.members.map((member) => member.name),
      ['node01', 'node02', 'node03', 'node04'],
    );
    assert.ok(cluster.endpoints.includes(plan.clientUrl), 'node04 started by its command counts as running');
    await retryWhile('memberPromote', isLearnerNotInSync, 60_000, () =>
      client.cluster.memberPromote({ ID: learnerId }),
    );

    const finalList = await client.cluster.memberList({});
    assert.deepEqual(
      byName(finalList.members).map((member) => [member.name, member.isLearner]),
      [
        ['node01', false],
        ['node02', false],
        ['node03', false],
        ['node04', false],
      ],
    );
    const node04 = finalList.members.find((member) => member.name === 'node04');
    assert.deepEqual(node04?.peerURLs, [plan.peerUrl]);
    assert.deepEqual(node04?.clientURLs, [plan.clientUrl]);
    assert.equal(await checkHealth(plan.clientUrl), true, 'node04 reports healthy');

    // The harness can kill and restart both its own members and the one started by the shell command.
    const node02 = cluster.member('node02');
    await cluster.kill('node02');
    assert.equal(node02.pid, undefined);
    assert.ok(!cluster.endpoints.includes(node02.clientUrl));
    await cluster.restart('node02');
    assert.equal(await checkHealth(node02.clientUrl), true, 'node02 healthy after restart');

    const externalPid = cluster.member('node04').pid;
    assert.ok(externalPid !== undefined && isProcessAlive(externalPid), 'node04 pid known from its pid file');
    await cluster.kill('node04');
    assert.equal(isProcessAlive(externalPid), false);
    const restarted = await cluster.restart('node04');
    assert.equal(await checkHealth(restarted.clientUrl), true, 'node04 healthy after restart');
    assert.equal(cluster.endpoints.length, 4);

    const pids = cluster.members.map((member) => member.pid);
    assert.equal(pids.length, 4);

    await cluster.stop();
    for (const pid of pids) {
      assert.ok(pid !== undefined && !isProcessAlive(pid), `etcd ${pid} is gone after stop()`);
    }
    if (!process.env.KEEP_TEST_DIRS) assert.equal(existsSync(cluster.dir), false, 'temp dir removed');
    assert.deepEqual(cluster.endpoints, []);
    await cluster.stop(); // idempotent
  } finally {
    client.close();
    await cluster.stop();
  }
});
