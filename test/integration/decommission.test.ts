import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { binPath, runProcess } from '../support/processes.js';
import {
  bootstrapRecords, ctl, eventually, joinerClusterConfig, membershipFor, readStatus, tempDir, voters, withControllerLog, withRunningController, writeJson,
} from '../support/fixtures.js';
import { KeyLayout } from '../../src/store/keys.js';

const keys = new KeyLayout();

describe('pause, join, then decommission the Raft leader: MoveLeader first, then removal', () => {
  const env = withRunningController();

  it('makes no change while paused, and says so; joins once resumed', async () => {
    assert.equal((await ctl(env.cluster.endpoints, ['pause'])).code, 0);
    const plan = await env.cluster.planMember('node04');
    const applied = await ctl(env.cluster.endpoints, ['apply', '-f', '-'], JSON.stringify([...bootstrapRecords(env.cluster), membershipFor(plan, false, { role: 'worker' })]));
    assert.equal(applied.code, 0, applied.stderr);
    const dir = await tempDir('decom-');
    const config = await writeJson(dir, 'node04.json', joinerClusterConfig(env.cluster, plan));
    const agent = runProcess(process.execPath, [
      binPath('first-boot-agent'), 'join', 'chainfire', '--config', config, '--state-dir', join(dir, 'state'),
      '--endpoints', env.cluster.endpoints.join(','), '--start-command', plan.startCommand, '--local-url', plan.clientUrl, '--timeout', '120s',
    ], { timeoutMs: 150_000 });

    const paused = await eventually('node04 Paused', async () => {
      const s = await readStatus(env.client, 'node04');
      return s?.status.conditions.find((c) => c.type === 'ChainfireMember' && c.reason === 'Paused') ? s : undefined;
    });
    assert.match(paused.status.conditions.find((c) => c.type === 'ChainfireMember')!.message, /membershipctl resume/);
    assert.equal((await env.client.cluster.memberList({})).members.length, 3, 'no learner added while paused');

    assert.equal((await ctl(env.cluster.endpoints, ['resume'])).code, 0);
    const r = await agent;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await voters(env.client), { voters: ['node01', 'node02', 'node03', 'node04'], learners: [] });
    // The change is over: no operation left in flight.
    assert.equal(await env.client.get(keys.operation('chainfire')).string(), null);
  });

  it('moves Raft leadership away from node04, removes it, and deletes its records', async () => {
    // Make node04 the Raft leader, so that its removal needs MoveLeader first.
    const members = (await env.client.cluster.memberList({})).members;
    const node04 = members.find((m) => m.name === 'node04')!;
    const leaderId = String((await env.client.maintenance.status()).leader);
    const leaderMember = members.find((m) => String(m.ID) === leaderId)!;
    if (leaderMember.name !== 'node04') {
      const direct = new Etcd3({ hosts: leaderMember.clientURLs });
      await direct.maintenance.moveLeader({ targetID: String(node04.ID) });
      direct.close();
    }
    await eventually('node04 to lead', async () => (String((await env.client.maintenance.status()).leader) === String(node04.ID) ? true : undefined));

    const del = await ctl(env.cluster.endpoints, ['delete', 'node04', '--timeout', '90s']);
    assert.equal(del.code, 0, del.stdout + del.stderr);
    assert.match(del.stdout, /node04 marked Absent/);
    assert.match(del.stdout, /phase Removing/);
    assert.match(del.stdout, /nodemembership\/node04 deleted/);
    assert.ok(env.controller.lines.some((l) => /moving Raft leadership/.test(l)), 'leadership was moved before the removal');

    const left = (await env.client.cluster.memberList({})).members.map((m) => m.name).sort();
    assert.deepEqual(left, ['node01', 'node02', 'node03']);
    assert.equal(await env.client.get(keys.desired('node04')).string(), null);
    assert.equal(await env.client.get(keys.status('node04')).string(), null);
    // The cluster still answers writes: it kept its quorum.
    await env.client.put('/probe').value('ok');
  });

  it('refuses to go below the floor of 3 voters with QuorumProtection', async () => {
    const r = await ctl(env.cluster.endpoints, ['delete', 'node03', '--no-wait']);
    assert.equal(r.code, 0, r.stderr);
    const s = await eventually('node03 QuorumProtection', async () => {
      const st = await readStatus(env.client, 'node03');
      return st?.status.conditions.find((c) => c.reason === 'QuorumProtection') ? st : undefined;
    });
    assert.equal(s.status.phase, 'Removing');
    assert.match(s.status.conditions.find((c) => c.reason === 'QuorumProtection')!.message, /below the floor of 3/);
    assert.equal((await env.client.cluster.memberList({})).members.length, 3);
  });
});

describe('with one of three etcd members killed, reconciling goes on and a removal that would lose quorum is refused', () => {
  const env = withRunningController({
    afterStart: async ({ cluster, client }) => {
      assert.equal((await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(bootstrapRecords(cluster)))).code, 0);
      for (const n of ['node01', 'node02', 'node03']) {
        await eventually(`${n} Ready`, async () => ((await readStatus(client, n))?.status.phase === 'Ready' ? true : undefined));
      }
    },
  });

  it('refuses QuorumProtection naming the unhealthy voter, while other records are still reconciled', async () => {
    await withControllerLog(env.controller, async () => {
      // Lower the floor so that only quorum arithmetic guards the removal.
      await env.client.put(keys.clusterConfig()).value(JSON.stringify({ spec: { minVoters: 1 } }));
      await env.cluster.kill('node03');
      const live = env.cluster.endpoints;
      const del = await ctl(live, ['delete', 'node02', '--no-wait']);
      assert.equal(del.code, 0, del.stderr);
      const st = await eventually('node02 QuorumProtection', async () => {
        const s = await readStatus(env.client, 'node02');
        return s?.status.conditions.find((c) => c.reason === 'QuorumProtection') ? s : undefined;
      }, 150_000);
      const msg = st.status.conditions.find((c) => c.reason === 'QuorumProtection')!.message;
      assert.match(msg, /quorum needs 2/);
      assert.equal((await env.client.cluster.memberList({})).members.length, 3, 'no member was removed');

      // Reconciling goes on: a new record still gets its status.
      await env.client.put(keys.desired('node09')).value('not json');
      await eventually('node09 InvalidSpec', async () => ((await readStatus(env.client, 'node09'))?.status.phase === 'Failed' ? true : undefined));
    });
  });
});

/** Runs `body`; on failure, adds what the controller logged last (for failures that are hard to reproduce). */
