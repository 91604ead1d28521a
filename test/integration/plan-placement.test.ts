// `membershipctl plan` must decide voter seats as the controller does: with
// one seat left, the candidate in the datacenter with fewer voters gets it, and
// the other stays a client of Chainfire (VoterLimitReached).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Lease } from 'etcd3';
import { API_VERSION } from '../../src/schema/common.js';
import type { PlanRow } from '../../src/ctl/plan.js';
import { KeyLayout } from '../../src/store/keys.js';
import { ctl, eventually, membershipFor, readStatus, withControllerLog, withRunningController } from '../support/fixtures.js';

const keys = new KeyLayout();

describe('membershipctl plan ranks voter candidates by placement, as the controller does', () => {
  const env = withRunningController();

  it('with one seat left, the candidate in the datacenter with more voters is VoterLimitReached in the status and in plan', async () => {
    const { cluster, client } = env;
    // 3 voters, one seat left; paused, so that neither candidate is added and both stay candidates.
    await client.put(keys.clusterConfig()).value(JSON.stringify({ spec: { maxVoters: 4, paused: true } }));

    // dc-a holds two voters, dc-b one, dc-c none.
    const [m1, m2, m3] = cluster.members;
    // node04 comes first by name: only placement gives node05 the seat.
    const loser = await cluster.planMember('node04');
    const winner = await cluster.planMember('node05');
    const records = [
      membershipFor(m1!, true, { datacenter: 'dc-a' }),
      membershipFor(m2!, true, { datacenter: 'dc-a' }),
      membershipFor(m3!, true, { datacenter: 'dc-b' }),
      membershipFor(loser, false, { datacenter: 'dc-a' }),
      membershipFor(winner, false, { datacenter: 'dc-c' }),
    ];
    const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(records));
    assert.equal(applied.code, 0, applied.stderr);

    // Both agents report, each bound to a lease as a real agent's report is (no etcd is ever started for them).
    const leases: Lease[] = [];
    try {
      for (const node of ['node04', 'node05']) {
        const lease = client.lease(60);
        leases.push(lease);
        await lease.put(keys.agent(node)).value(JSON.stringify({
          apiVersion: API_VERSION, kind: 'AgentReport', metadata: { name: node },
          report: { agentVersion: 'test', pid: 4242, hostname: `${node}-host`, startedAt: new Date().toISOString(), mode: 'join', waitingFor: 'chainfire', services: {} },
        }));
      }
      const chainfireCondition = async (node: string) =>
        (await readStatus(client, node))?.status.conditions.find((c) => c.type === 'ChainfireMember');

      // (a) The controller: the seat goes to node05 (dc-c, no voters), held back by the pause;
      // node04 (dc-a, two voters) stays out although its name comes first.
      await withControllerLog(env.controller, async () => {
        const loserCond = await eventually('node04 ChainfireMember=False VoterLimitReached', async () => {
          const c = await chainfireCondition('node04');
          return c?.status === 'False' && c.reason === 'VoterLimitReached' ? c : undefined;
        });
        assert.match(loserCond.message, /voter seat\(s\) left \(maxVoters 4\)/);
        const winnerCond = await eventually('node05 ChainfireMember=False Paused', async () => {
          const c = await chainfireCondition('node05');
          return c?.status === 'False' && c.reason === 'Paused' ? c : undefined;
        });
        assert.match(winnerCond.message, /next: adding node05 as a Chainfire learner/);
      });

      // (b) membershipctl plan, on the same observations, says the same.
      const planned = await ctl(cluster.endpoints, ['plan', '-o', 'json']);
      assert.equal(planned.code, 0, planned.stderr);
      const rows = JSON.parse(planned.stdout) as PlanRow[];
      const row = (node: string): PlanRow => {
        const r = rows.find((x) => x.node === node);
        assert.ok(r, `plan has a row for ${node}: ${planned.stdout}`);
        return r;
      };
      const loserRow = row('node04');
      const winnerRow = row('node05');
      assert.doesNotMatch(loserRow.next, /add learner/, `plan's next action for node04: ${JSON.stringify(loserRow)}`);
      assert.match(
        loserRow.why,
        /^ChainfireMember=False VoterLimitReached: /,
        `plan's why for node04 (the controller says ChainfireMember=False VoterLimitReached): ${JSON.stringify(loserRow)}`,
      );
      assert.match(winnerRow.why, /^ChainfireMember=False Paused: /, `plan's why for node05: ${JSON.stringify(winnerRow)}`);
      for (const node of ['node04', 'node05']) {
        assert.equal(row(node).phase, (await readStatus(client, node))?.status.phase, `plan's phase for ${node} is the controller's`);
      }
    } finally {
      await Promise.all(leases.map((l) => l.revoke().catch(() => undefined)));
    }
  });
});
