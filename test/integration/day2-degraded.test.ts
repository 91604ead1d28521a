// Day two, case 5: Ready does not mean healthy. A joined voter whose etcd is killed (4 voters, so quorum
// holds) shows phase Degraded, ChainfireMember=False and Ready=False with reason MemberUnhealthy within its
// health interval (cluster/config healthIntervalSeconds, 2 s here) plus a reconcile; once its etcd runs
// again on its data dir, the node is Ready again under the same member.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StatusBody } from '../../src/schema/status.js';
import type { PlannedMember } from '../support/etcd-cluster.js';
import {
  agentOutput, conditionOf, describeMembers, describeStatus, makeJoiner, memberRows, readStatusBody, runJoin, setClusterConfig,
  StatusHistory, until, type Joiner,
} from '../support/day-two.js';
import { bootstrapRecords, ctl, membershipFor, tempDir, withControllerLog, withRunningController } from '../support/fixtures.js';

const HEALTH_INTERVAL_S = 2;
/** The health interval plus a reconcile, generously. */
const DEGRADED_WITHIN_MS = 15_000;
const READY_AGAIN_WITHIN_MS = 15_000;

describe('day two: a killed member shows Degraded within its health interval, and Ready again once it answers', () => {
  let plan: PlannedMember;
  let node04: Joiner;
  const env = withRunningController({
    afterStart: async ({ cluster, client }) => {
      await setClusterConfig(client, { healthIntervalSeconds: HEALTH_INTERVAL_S });
      plan = await cluster.planMember('node04');
      node04 = await makeJoiner(cluster, plan, await tempDir('day2-degraded-'));
    },
  });

  it('node04 (a joined voter of 4) killed: Degraded/MemberUnhealthy; restarted on its data dir: Ready', { timeout: 180_000 }, async () => {
    await withControllerLog(env.controller, async () => {
      const { cluster, client } = env;
      const records = [...bootstrapRecords(cluster), membershipFor(plan, false, { role: 'worker' })];
      const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(records));
      assert.equal(applied.code, 0, applied.stderr);
      const joined = await runJoin(node04, cluster.endpoints);
      assert.equal(joined.code, 0, `node04's join: expected exit 0, got ${joined.code}:\n${agentOutput(joined)}`);
      const before = await memberRows(client);
      assert.equal(before.filter((m) => !m.isLearner).length, 4, `expected 4 voters: ${describeMembers(before)}`);
      const member = before.find((m) => m.name === 'node04')!;
      await until('node04 Ready', async () => {
        const st = await readStatusBody(client, 'node04');
        return st?.phase === 'Ready' ? { done: true } : { seen: describeStatus(st) };
      }, 30_000);

      const history = await StatusHistory.start(client, 'node04');
      try {
        await cluster.kill('node04', 'SIGKILL');
        const killedAt = Date.now();
        const degraded = await until<StatusBody>(
          `phase Degraded with ChainfireMember=False/MemberUnhealthy and Ready=False/MemberUnhealthy (health interval ${HEALTH_INTERVAL_S} s plus a reconcile) after node04's etcd was killed`,
          async () => {
            const st = await readStatusBody(client, 'node04');
            const cf = conditionOf(st, 'ChainfireMember');
            const ready = conditionOf(st, 'Ready');
            const ok = st?.phase === 'Degraded' && cf?.status === 'False' && cf.reason === 'MemberUnhealthy' && ready?.status === 'False' && ready.reason === 'MemberUnhealthy';
            return ok ? { done: st } : { seen: describeStatus(st) };
          },
          DEGRADED_WITHIN_MS,
        );
        const degradedAfter = Date.now() - killedAt;
        assert.equal(degraded.chainfire.memberId, member.id, 'the Degraded status names another member');
        assert.equal(
          describeMembers(await memberRows(client)),
          describeMembers(before),
          'a member that does not answer was removed or changed: Degraded only reports it',
        );

        await cluster.restart('node04'); // systemctl start chainfire.service: the same data dir
        const restartedAt = Date.now();
        const ready = await until<StatusBody>('phase Ready with ChainfireMember=True once node04\'s etcd answers again', async () => {
          const st = await readStatusBody(client, 'node04');
          return st?.phase === 'Ready' && conditionOf(st, 'ChainfireMember')?.status === 'True' && conditionOf(st, 'Ready')?.status === 'True'
            ? { done: st }
            : { seen: describeStatus(st) };
        }, READY_AGAIN_WITHIN_MS);
        assert.equal(ready.chainfire.memberId, member.id, 'node04 is Ready under another member');
        assert.equal(describeMembers(await memberRows(client)), describeMembers(before));
        process.stdout.write(
          `# Degraded ${degradedAfter} ms after the kill; Ready ${Date.now() - restartedAt} ms after the restart; phases: ${history.phases().join(' -> ')}\n`,
        );
      } finally {
        await history.close();
      }
    });
  });
});
