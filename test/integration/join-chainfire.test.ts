import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PlannedMember } from '../support/etcd-cluster.js';
import { binPath, runProcess } from '../support/processes.js';
import {
  bootstrapRecords,
  ctl,
  eventually,
  joinerClusterConfig,
  membershipFor,
  readStatus,
  tempDir,
  voters,
  withControllerLog,
  withRunningController,
  writeJson,
} from '../support/fixtures.js';
import { KeyLayout } from '../../src/store/keys.js';

describe('node04 joins a real 3-member Chainfire through the controller', () => {
  let plan: PlannedMember;
  let dir: string;
  const env = withRunningController({
    afterStart: async ({ cluster }) => {
      plan = await cluster.planMember('node04');
      dir = await tempDir('join-chainfire-');
    },
  });

  it('adds node04 as a learner, the agent starts it, the controller promotes it', async () => {
    const records = [...bootstrapRecords(env.cluster), membershipFor({ ...plan }, false, { role: 'worker' })];
    const applied = await ctl(env.cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(records));
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /nodemembership\/node04 created/);

    const configPath = await writeJson(dir, 'cluster-config.json', joinerClusterConfig(env.cluster, plan));
    const stateDir = join(dir, 'state');
    const agentArgs = [
      binPath('first-boot-agent'), 'join', 'chainfire',
      '--config', configPath,
      '--state-dir', stateDir,
      '--endpoints', env.cluster.endpoints.join(','),
      '--start-command', plan.startCommand,
      '--local-url', plan.clientUrl,
      '--timeout', '120s',
    ];
    const agent = await runProcess(process.execPath, agentArgs, { timeoutMs: 150_000 });
    assert.equal(agent.code, 0, `agent failed:\n${agent.stdout}\n${agent.stderr}`);
    for (const line of agent.stdout.trim().split('\n')) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      assert.ok(entry.timestamp && entry.level && entry.service && entry.operation && entry.message, `log line lacks a field: ${line}`);
    }

    // etcd itself reports four voters, node04 among them, no learner left.
    const members = await voters(env.client);
    assert.deepEqual(members, { voters: ['node01', 'node02', 'node03', 'node04'], learners: [] });

    const desired = await env.client.get(new KeyLayout().desired('node04')).exec();
    const generation = Number(desired.kvs[0]!.mod_revision);
    const status = await eventually('node04 Ready', async () => {
      const s = await readStatus(env.client, 'node04');
      return s?.status.phase === 'Ready' ? s : undefined;
    });
    assert.equal(status.status.observedGeneration, generation);
    const cf = status.status.conditions.find((c) => c.type === 'ChainfireMember');
    assert.equal(cf?.status, 'True');
    assert.equal(cf?.reason, 'Promoted');
    assert.equal(status.status.chainfire.role, 'voter');
    assert.match(status.status.chainfire.initialCluster ?? '', /node01=http:\/\/127\.0\.0\.1:\d+.*node04=/);

    const marker = await readFile(join(stateDir, '.chainfire-joined'), 'utf8');
    assert.ok(!Number.isNaN(Date.parse(marker.trim())), `marker holds a timestamp: ${marker}`);

    // Run again (a reboot): exit 0 at once, without contacting anything.
    const again = await runProcess(process.execPath, [...agentArgs.slice(0, 7), '--endpoints', 'http://127.0.0.1:9'], { timeoutMs: 20_000 });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /already done/);

    // All four Ready, as membershipctl shows them.
    const got = await eventually('all four Ready', async () => {
      const r = await ctl(env.cluster.endpoints, ['get']);
      return (r.stdout.match(/\bReady\b/g) ?? []).length === 4 ? r.stdout : undefined;
    });
    assert.match(got, /^NAME\s+ROLE\s+STATE\s+PHASE\s+CHAINFIRE/m);
    assert.match(got, /node01\s+control-plane\s+Present\s+Ready\s+True/);
  });

  it('writes nothing when a resync finds nothing to do', async () => {
    const key = new KeyLayout().status('node04');
    const before = Number((await env.client.get(key).exec()).kvs[0]!.mod_revision);
    // The controller resyncs every 5 s: wait for more than one resync.
    await new Promise((r) => setTimeout(r, 11_000));
    const afterRev = Number((await env.client.get(key).exec()).kvs[0]!.mod_revision);
    assert.equal(afterRev, before, 'status of a Ready node was rewritten by an idle resync');
  });

  it('a joiner adds nothing while a voter is down, holding no lock and naming what unblocks it; an add etcd then refuses for now is tried every second', async () => {
    await withControllerLog(env.controller, async () => {
      const keys = new KeyLayout();
      const planned = await env.cluster.planMember('node05');
      await env.cluster.kill('node02', 'SIGKILL');
      const applied = await ctl(env.cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(membershipFor({ ...planned }, false, { role: 'worker' })));
      assert.equal(applied.code, 0, applied.stderr);
      // node05's agent reports (a learner is added only for a node whose agent waits to start it).
      await env.client.put(keys.agent('node05')).value(JSON.stringify({
        apiVersion: 'membership.photoncloud.io/v1alpha1', kind: 'AgentReport', metadata: { name: 'node05' },
        report: { agentVersion: 't', pid: 1, hostname: 'h', startedAt: new Date().toISOString(), mode: 'join', waitingFor: 'chainfire', services: {} },
      }));
      // etcd would refuse the add ("unhealthy cluster"): the joiner waits, and says for what.
      const waiting = await eventually('node05 waiting for the dead voter', async () => {
        const c = (await readStatus(env.client, 'node05'))?.status.conditions.find((x) => x.type === 'ChainfireMember');
        return c?.reason === 'WaitingForHealthyVoters' ? c : undefined;
      }, 60_000);
      assert.match(waiting.message, /node02/);
      assert.match(waiting.message, /membershipctl delete node02 --now/);
      assert.equal((await env.client.get(keys.operation('chainfire')).string()), null, 'a join that cannot start holds no lock');
      assert.deepEqual(env.controller.lines.filter((l) => /"node":"node05".*adding learner/.test(l)), [], 'no add is tried while a voter is down');

      // Back: etcd still refuses reconfiguration until its leader has been connected to every voter for 5 s.
      const from = env.controller.lines.length;
      await env.cluster.restart('node02');
      await eventually('node05 added as a learner', async () => {
        const st = await readStatus(env.client, 'node05');
        return st?.status.chainfire.role === 'learner' ? true : undefined;
      }, 60_000);
      assert.ok((await voters(env.client)).learners.length === 1);
      const after = env.controller.lines.slice(from);
      const refusals = after.filter((l) => /"node":"node05".*refused for now/.test(l)).map((l) => Date.parse((JSON.parse(l) as { timestamp: string }).timestamp));
      const gaps = refusals.slice(1).map((t, i) => t - refusals[i]!);
      for (const gap of gaps) assert.ok(gap <= 5000, `refusals ${gaps.join(', ')} ms apart: the retry must not grow`);
      const backoffs = after.filter((l) => /"node":"node05".*unhealthy cluster.*reconcile failed; retrying with backoff/.test(l));
      assert.deepEqual(backoffs, [], 'a refusal for now went through the backoff');
    });
  });
});
