// Opt-in dead-member clean-up against real etcd: four voters (three bootstrap, node04 joined through its
// agent), node04's etcd killed for good. Off (the default), the dead member stays and the status only
// reports it. On, with a short threshold, it is removed once the threshold has passed since it stopped
// answering, not before, and the node's status says RejoinRequired. With three voters and one dead, it is
// not removed: fewer healthy voters than minVoters would be left.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapReady, conditionOf, describeMembers, joinControlPlane, memberRows, readStatusBody, setClusterConfig, until } from '../support/day-two.js';
import { tempDir, withControllerLog, withRunningController, type RunningController } from '../support/fixtures.js';

const THRESHOLD_S = 10;

const env: RunningController = withRunningController({ afterStart: bootstrapReady() });

async function memberNames(): Promise<string[]> {
  return (await memberRows(env.client)).map((r) => r.name).sort();
}

describe('dead-member clean-up (cluster/config deadMemberCleanup)', { timeout: 400_000 }, () => {
  it('off: reported only; on: removed after the threshold, not before; never below minVoters healthy voters', async () => {
    await withControllerLog(env.controller, async () => {
      await joinControlPlane(env.cluster, env.client, 'node04', await tempDir('cleanup-'));

      // Off (the default): node04 dies for good; its member stays, its status reports it.
      await env.cluster.kill('node04', 'SIGKILL');
      await until('node04 MemberUnhealthy', async () => {
        const c = conditionOf(await readStatusBody(env.client, 'node04'), 'ChainfireMember');
        return c?.reason === 'MemberUnhealthy' ? { done: true } : { seen: JSON.stringify(c) };
      }, 60_000);
      await new Promise((r) => setTimeout(r, (THRESHOLD_S + 5) * 1000));
      assert.deepEqual(await memberNames(), ['node01', 'node02', 'node03', 'node04'], 'clean-up off: the dead member stays');

      // On, with a threshold counted from the moment the controller saw it silent (status.chainfire.unhealthySince).
      const since = Date.parse((await readStatusBody(env.client, 'node04'))!.chainfire.unhealthySince!);
      assert.ok(Number.isFinite(since), 'the status keeps since when the member is silent');
      const threshold = Math.ceil((Date.now() - since) / 1000) + THRESHOLD_S * 3;
      await setClusterConfig(env.client, { deadMemberCleanup: { enabled: true, thresholdSeconds: threshold } });
      const due = since + threshold * 1000;
      await until('the status says when clean-up will remove it', async () => {
        const c = conditionOf(await readStatusBody(env.client, 'node04'), 'ChainfireMember');
        return (c?.message ?? '').includes(`dead-member clean-up removes it at ${new Date(due).toISOString()}`) ? { done: true } : { seen: JSON.stringify(c) };
      }, 30_000);
      // Just before it is due, it is still a member; after, it goes.
      await new Promise((r) => setTimeout(r, Math.max(0, due - 3_000 - Date.now())));
      assert.deepEqual(await memberNames(), ['node01', 'node02', 'node03', 'node04'], 'not before the threshold');
      await until('node04 removed by clean-up', async () => {
        const names = await memberNames();
        return names.length === 3 ? { done: true } : { seen: describeMembers(await memberRows(env.client)) };
      }, 90_000);
      assert.ok(Date.now() >= due, 'removed only once the threshold had passed');
      await until('node04 RejoinRequired', async () => {
        const c = conditionOf(await readStatusBody(env.client, 'node04'), 'ChainfireMember');
        return c?.reason === 'RejoinRequired' ? { done: true } : { seen: JSON.stringify(c) };
      }, 30_000);

      // Three voters, one dead: removing it would leave 2 healthy voters, fewer than minVoters 3.
      await env.cluster.kill('node03', 'SIGKILL');
      await until('node03: clean-up due but refused', async () => {
        const c = conditionOf(await readStatusBody(env.client, 'node03'), 'ChainfireMember');
        return /clean-up is due but cannot remove it: 2 healthy voter\(s\) would be left, fewer than minVoters 3/.test(c?.message ?? '')
          ? { done: true }
          : { seen: JSON.stringify(c) };
      }, 90_000);
      assert.deepEqual(await memberNames(), ['node01', 'node02', 'node03']);
    });
  });
});
