// Planned disruptions against real etcd and real processes: `membershipctl disruption acquire` grants a
// voter's reboot only while Chainfire keeps a quorum of healthy voters without it, one voter at a time;
// the node's health-check releases it once it is back; the controller starts no membership change while
// one is held; a reboot wave in which every node acquires before it reboots never loses quorum.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { KeyLayout } from '../../src/store/keys.js';
import {
  agentOutput, bootstrapReady, conditionOf, describeStatus, makeJoiner, readStatusBody, startJoin, stopAgent, until, workerRecord, type Joiner,
} from '../support/day-two.js';
import { checkHealth, type EtcdCluster } from '../support/etcd-cluster.js';
import {
  ctl, joinerClusterConfig, membershipFor, tempDir, withControllerLog, withRunningController, writeJson, type RunningController,
} from '../support/fixtures.js';
import { binPath, runProcess, type ProcessHandle } from '../support/processes.js';

const keys = new KeyLayout();

const env: RunningController = withRunningController({ afterStart: bootstrapReady([workerRecord('node09')]) });

const acquire = (node: string, extra: string[] = []) => ctl(env.cluster.endpoints, ['disruption', 'acquire', node, '--reason', `reboot of ${node}`, ...extra]);
const release = (node: string) => ctl(env.cluster.endpoints, ['disruption', 'release', node]);
const out = (r: { stdout: string; stderr: string }) => `${r.stdout}${r.stderr}`;

let configDir: string | undefined;
/** The node's cluster-config.json (for its health-check). */
async function nodeConfig(name: string): Promise<Joiner> {
  configDir ??= await tempDir('disruption-');
  const plan = env.cluster.asNode(name);
  // leader_url names another member: a config may not point a node at its own Chainfire.
  const other = ['node01', 'node02', 'node03'].find((n) => n !== name)!;
  const config = await writeJson(configDir, `${name}-cluster-config.json`, {
    ...joinerClusterConfig(env.cluster, plan), node_role: 'control-plane', leader_url: env.cluster.member(other).clientUrl,
  });
  return { plan, config, stateDir: `${configDir}/${name}-state` };
}

function healthCheck(j: Joiner) {
  return runProcess(process.execPath, [binPath('first-boot-agent'), 'health-check', '--config', j.config, '--endpoints', env.cluster.endpoints.join(',')], { timeoutMs: 60_000 });
}

async function held(): Promise<string[]> {
  const r = await ctl(env.cluster.endpoints, ['disruption', 'list', '-o', 'json']);
  assert.equal(r.code, 0, out(r));
  return (JSON.parse(r.stdout) as Array<{ node: string }>).map((d) => d.node).sort();
}

/** Whether a member's etcd runs and serves: its /health answers at all. */
async function answers(clientUrl: string): Promise<boolean> {
  try {
    const res = await request(`${clientUrl}/health`, { headersTimeout: 1_000, bodyTimeout: 1_000 });
    await res.body.dump();
    return true;
  } catch {
    return false;
  }
}

/** Reboots a member: SIGTERM, down for `downMs`, started again on its data. */
async function reboot(cluster: EtcdCluster, name: string, downMs = 1_000): Promise<void> {
  await cluster.kill(name, 'SIGTERM');
  await new Promise((r) => setTimeout(r, downMs));
  await cluster.restart(name);
}

describe('planned disruptions', { timeout: 600_000 }, () => {
  it('bad input: an unknown node, a TTL that does not parse or is too long, no reason, a second acquire, a release of nothing', async () => {
    await withControllerLog(env.controller, async () => {
      const unknown = await acquire('node77');
      assert.equal(unknown.code, 1, out(unknown));
      assert.match(out(unknown), /nodemembership node77 not found/);
      const badTtl = await acquire('node02', ['--ttl', 'banana']);
      assert.equal(badTtl.code, 64, out(badTtl));
      assert.match(out(badTtl), /--ttl/);
      const longTtl = await acquire('node02', ['--ttl', '48h']);
      assert.equal(longTtl.code, 64, out(longTtl));
      assert.match(out(longTtl), /--ttl must be between 1s and 24h/);
      const noReason = await ctl(env.cluster.endpoints, ['disruption', 'acquire', 'node02']);
      assert.equal(noReason.code, 64, out(noReason));
      assert.match(out(noReason), /--reason/);
      const first = await acquire('node09');
      assert.equal(first.code, 0, out(first));
      assert.match(first.stdout, /disruption\/node09 granted until .*node09 is not a Chainfire voter/);
      const again = await acquire('node09');
      assert.equal(again.code, 65, out(again));
      assert.match(out(again), /node09 already holds a planned disruption: .*reboot of node09/);
      assert.equal((await release('node09')).code, 0);
      const nothing = await release('node09');
      assert.equal(nothing.code, 1, out(nothing));
      assert.match(out(nothing), /node09 holds no disruption/);
      // A record under disruptions/ that does not decode still counts as held, never as free.
      await env.client.put(keys.disruption('node03')).value('{"garbage"');
      const blocked = await acquire('node02');
      assert.equal(blocked.code, 69, out(blocked));
      assert.match(out(blocked), /node03 \("\(undecodable record\)", held by unknown/);
      await env.client.delete().key(keys.disruption('node03'));
      assert.deepEqual(await held(), []);
    });
  });

  it('grants one voter at a time; the controller holds changes meanwhile; the health-check releases it after the reboot', async () => {
    await withControllerLog(env.controller, async () => {
      const first = await acquire('node02', ['--ttl', '10m']);
      assert.equal(first.code, 0, out(first));
      assert.match(first.stdout, /Chainfire keeps 2 healthy voters of 3 \(quorum 2\)/);
      const second = await acquire('node03');
      assert.equal(second.code, 69, out(second));
      assert.match(out(second), /node02 \("reboot of node02", held by .* until .*\) already holds a planned disruption of a Chainfire voter; 1 at a time/);
      assert.deepEqual(await held(), ['node02']);

      // A control-plane node that wants to join waits: no learner while node02 is held.
      const plan = await env.cluster.planMember('node04');
      const applied = await ctl(env.cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(membershipFor(plan, false, { role: 'control-plane' })));
      assert.equal(applied.code, 0, out(applied));
      const joiner = await makeJoiner(env.cluster, plan, configDir ?? (configDir = await tempDir('disruption-')), 'control-plane');
      let agent: ProcessHandle | undefined = await startJoin(joiner, env.cluster.endpoints, '240s');
      try {
        await until('node04 WaitingForDisruption', async () => {
          const c = conditionOf(await readStatusBody(env.client, 'node04'), 'ChainfireMember');
          return c?.reason === 'WaitingForDisruption' && /node02 holds a planned disruption/.test(c.message) ? { done: true } : { seen: JSON.stringify(c) };
        }, 60_000);
        const learners = (await env.client.cluster.memberList({})).members.filter((m) => m.isLearner);
        assert.equal(learners.length, 0, 'no learner added while node02 is held');

        // node02 reboots: its status says why it is down.
        const node02 = await nodeConfig('node02');
        await env.cluster.kill('node02', 'SIGTERM');
        await until('node02 PlannedDisruption', async () => {
          const c = conditionOf(await readStatusBody(env.client, 'node02'), 'ChainfireMember');
          return c?.reason === 'PlannedDisruption' && /reboot of node02/.test(c.message) ? { done: true } : { seen: JSON.stringify(c) };
        }, 60_000);
        await env.cluster.restart('node02');
        const check = await healthCheck(node02);
        assert.equal(check.code, 0, out(check));
        assert.match(check.stdout, /node02 is healthy again: its planned disruption is released/);
        assert.deepEqual(await held(), []);

        // Now node04 joins, and node03 may go.
        await until('node04 Ready', async () => {
          const st = await readStatusBody(env.client, 'node04');
          return st?.phase === 'Ready' ? { done: true } : { seen: describeStatus(st) };
        }, 120_000);
        const exited = await agent.exited;
        assert.equal(exited.code, 0, agentOutput(agent));
        agent = undefined;
        const third = await acquire('node03');
        assert.equal(third.code, 0, out(third));
        assert.equal((await release('node03')).code, 0);
        // node04 leaves again, so that the next tests start from three voters.
        const gone = await ctl(env.cluster.endpoints, ['delete', 'node04', '--now', '--timeout', '120s']);
        assert.equal(gone.code, 0, out(gone));
        await env.cluster.kill('node04', 'SIGKILL');
      } finally {
        await stopAgent(agent);
      }
    });
  });

  it('a reboot wave of all three voters at once, each acquiring first, never loses quorum', async () => {
    await withControllerLog(env.controller, async () => {
      const members = ['node01', 'node02', 'node03'];
      // A quorum is a majority of the voters' etcd processes up and serving: each looked at through etcd's own
      // status endpoint (/health answers while the process runs; it says false only while a new leader is elected).
      let minHealthy = 3;
      let samples = 0;
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const up = await Promise.all(members.map((n) => answers(env.cluster.member(n).clientUrl)));
          minHealthy = Math.min(minHealthy, up.filter(Boolean).length);
          samples += 1;
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const configs = await Promise.all(members.map((n) => nodeConfig(n)));
      const order: string[] = [];
      try {
        // Each node's script: acquire (waiting for its turn), reboot, health-check (releases).
        await Promise.all(members.map(async (n, i) => {
          const got = await runProcess(process.execPath, [
            binPath('membershipctl'), 'disruption', 'acquire', n, '--reason', `reboot of ${n}`, '--wait', '240s', '--ttl', '5m',
            '--endpoints', env.cluster.endpoints.join(','),
          ], { timeoutMs: 300_000 });
          assert.equal(got.code, 0, out(got));
          order.push(n);
          await reboot(env.cluster, n);
          await until(`${n}'s health-check passes`, async () => {
            const r = await healthCheck(configs[i]!);
            return r.code === 0 ? { done: true } : { seen: out(r).slice(-300) };
          }, 120_000, 500);
        }));
      } finally {
        polling = false;
        await poller;
        // Whatever a failed script left held, so that the next test starts clean.
        for (const n of await held().catch(() => [])) await release(n);
      }
      assert.equal(order.length, 3);
      assert.ok(samples > 10, `the poller looked often (${samples} samples)`);
      assert.ok(minHealthy >= 2, `Chainfire kept a quorum throughout: at least ${minHealthy} of 3 members up at every look`);
      for (const n of members) assert.equal(await checkHealth(env.cluster.member(n).clientUrl), true, `${n} healthy after the wave`);
      assert.deepEqual(await held(), []);
    });
  });

  it('with one voter dead, no healthy voter may go; a worker still may', async () => {
    await withControllerLog(env.controller, async () => {
      await env.cluster.kill('node03', 'SIGKILL');
      for (const n of ['node01', 'node02']) {
        const r = await acquire(n);
        assert.equal(r.code, 69, out(r));
        assert.match(out(r), new RegExp(`with ${n} down, Chainfire would have 1 healthy voter of 3 \\(quorum 2\\): .*node03 \\(unhealthy\\)`));
      }
      const worker = await acquire('node09');
      assert.equal(worker.code, 0, out(worker));
      assert.equal((await release('node09')).code, 0);
    });
  });
});
