// Day two, case 1: the seed's "Reset and Re-join" on a joined voter. node04's Chainfire is stopped, its
// data dir and markers wiped (rm, as the seed's README does), and its agent run again with the same
// config: the controller must tell the wiped node from a restarted one, remove the old member and add
// the node again, and the agent start etcd with the new initial cluster on the same (empty) data dir.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusBody } from '../../src/schema/status.js';
import type { PlannedMember } from '../support/etcd-cluster.js';
import {
  agentOutput, describeMembers, describeStatus, healthyVoters, logTail, makeJoiner, memberRows, panicLines,
  readStatusBody, runJoin, setClusterConfig, settle, StatusHistory, until, wipeLikeTheSeed, type Joiner,
} from '../support/day-two.js';
import { bootstrapRecords, ctl, membershipFor, tempDir, withControllerLog, withRunningController } from '../support/fixtures.js';

/** How often the controller asks members for their health in this test (cluster/config). */
const HEALTH_INTERVAL_S = 2;
/** A Ready status for the old member may outlive the wipe by at most a health interval plus a reconcile. */
const STALE_READY_GRACE_MS = (HEALTH_INTERVAL_S + 8) * 1000;

describe('day two: a reprovisioned node (the seed\'s Reset and Re-join) comes back under a new member id', () => {
  let plan: PlannedMember;
  let node04: Joiner;
  const env = withRunningController({
    afterStart: async ({ cluster, client }) => {
      await setClusterConfig(client, { healthIntervalSeconds: HEALTH_INTERVAL_S });
      plan = await cluster.planMember('node04');
      node04 = await makeJoiner(cluster, plan, await tempDir('day2-reprovision-'));
    },
  });

  it('wiped node04 ends a healthy voter under a new member id, no etcd panics, and Ready only after that', { timeout: 240_000 }, async () => {
    await withControllerLog(env.controller, async () => {
      const { cluster, client } = env;
      const records = [...bootstrapRecords(cluster), membershipFor(plan, false, { role: 'worker' })];
      const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(records));
      assert.equal(applied.code, 0, applied.stderr);

      // First boot: node04 joins and its agent exits 0 with its marker written.
      const first = await runJoin(node04, cluster.endpoints);
      assert.equal(first.code, 0, `node04's first join: expected exit 0, got ${first.code}:\n${agentOutput(first)}`);
      assert.ok(existsSync(join(node04.stateDir, '.chainfire-joined')), 'first join wrote no .chainfire-joined marker');
      const before = await memberRows(client);
      const old = before.find((m) => m.name === 'node04');
      assert.ok(old && !old.isLearner, `node04 is not a voter after its first join: ${describeMembers(before)}`);
      const ready = await until<StatusBody>('node04 Ready after its first join', async () => {
        const st = await readStatusBody(client, 'node04');
        return st?.phase === 'Ready' && st.chainfire.memberId === old.id ? { done: st } : { seen: describeStatus(st) };
      }, 30_000);
      assert.equal(ready.chainfire.role, 'voter');
      // What the controller writes when the first agent's report goes away is not "after the wipe".
      await settle(client, 'node04');

      // Reset and Re-join, as the seed's README does it.
      const history = await StatusHistory.start(client, 'node04');
      const samples: Array<{ at: number; status: string; readyOld: boolean }> = [];
      let sampling = true;
      let sampler: Promise<void> | undefined;
      try {
        await cluster.kill('node04', 'SIGTERM'); // systemctl stop chainfire.service
        await wipeLikeTheSeed(node04); // rm -rf /var/lib/chainfire/*; rm .../.chainfire-*
        const wipedAt = Date.now();
        sampler = (async () => {
          while (sampling) {
            const st = await readStatusBody(client, 'node04').catch(() => undefined);
            samples.push({ at: Date.now(), status: describeStatus(st), readyOld: st?.phase === 'Ready' && st.chainfire.memberId === old.id });
            await new Promise((r) => setTimeout(r, 200));
          }
        })();

        // systemctl restart chainfire-cluster-join.service: the same config, the same (now empty) data dir.
        const again = await runJoin(node04, cluster.endpoints);
        const agentDone = Date.now();
        assert.equal(again.code, 0, `node04's join after the wipe: expected exit 0, got ${again.code}:\n${agentOutput(again)}`);

        const after = await memberRows(client);
        const now04 = after.filter((m) => m.name === 'node04' || m.peerUrls.includes(plan.peerUrl));
        const timeline = `node04's status after the wipe:\n${history.describe(wipedAt)}`;
        assert.ok(
          !after.some((m) => m.id === old.id),
          `expected the old member ${old.id} (node04 before the wipe) removed once the agent exited 0; ` +
            `members are ${describeMembers(after)}. ` +
            `node04's etcd ${cluster.member('node04').pid === undefined ? 'was never started again' : 'runs'}; agent:\n${agentOutput(again)}\n${timeline}`,
        );
        assert.equal(now04.length, 1, `expected one member under node04's peer URL, got ${describeMembers(now04)}`);
        const fresh = now04[0]!;
        assert.notEqual(fresh.id, old.id);
        assert.ok(!fresh.isLearner, `expected node04's new member ${fresh.id} a voter once the agent exited 0; members ${describeMembers(after)}`);

        assert.notEqual(cluster.member('node04').pid, undefined, `node04's etcd is not running after the agent exited 0; its log:\n${await logTail(plan.logFile)}`);
        const health = await until<Awaited<ReturnType<typeof healthyVoters>>>('four healthy voters node01-node04', async () => {
          const h = await healthyVoters(client);
          return h.healthy.join(',') === 'node01,node02,node03,node04' && h.rows.length === 4
            ? { done: h }
            : { seen: `healthy ${h.healthy.join(',') || '(none)'}; members ${describeMembers(h.rows)}; ${h.problems.join('; ')}` };
        }, 30_000);
        assert.deepEqual(health.rows.filter((m) => m.isLearner), []);

        const panics = await panicLines(cluster);
        assert.deepEqual(panics, [], `expected no etcd log line with "panic"; found:\n${panics.join('\n')}`);

        const final = await until<StatusBody>('node04 Ready under its new member id', async () => {
          const st = await readStatusBody(client, 'node04');
          return st?.phase === 'Ready' && st.chainfire.memberId === fresh.id ? { done: st } : { seen: describeStatus(st) };
        }, 30_000);
        assert.equal(final.chainfire.role, 'voter');
        sampling = false;
        await sampler;

        // Ready only for the new member once it is a voter: no status written after the wipe says Ready for the
        // old member, or Ready while node04's member is a learner.
        for (const e of history.entries) {
          const st = e.status;
          if (st?.phase !== 'Ready') continue;
          assert.notEqual(st.chainfire.memberId, old.id, `a status written ${e.at - wipedAt} ms after the wipe says Ready for the old member ${old.id}:\n${timeline}`);
          assert.equal(st.chainfire.role, 'voter', `a status written ${e.at - wipedAt} ms after the wipe says Ready for a learner:\n${timeline}`);
        }
        // The Ready status of before the wipe may stand for a health interval plus a reconcile, not longer.
        const stale = samples.filter((s) => s.readyOld && s.at - wipedAt > STALE_READY_GRACE_MS);
        assert.deepEqual(
          stale.map((s) => `+${s.at - wipedAt} ms: ${s.status}`),
          [],
          `status/node04 still said Ready for the old member more than ${STALE_READY_GRACE_MS} ms after the wipe ` +
            `(the agent exited ${agentDone - wipedAt} ms after it)`,
        );
        assert.ok(existsSync(join(node04.stateDir, '.chainfire-joined')), 'the join after the wipe wrote no .chainfire-joined marker');
      } finally {
        sampling = false;
        await sampler;
        await history.close();
      }
    });
  });
});
