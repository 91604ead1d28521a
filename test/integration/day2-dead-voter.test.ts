// Day two, case 2: a dead voter in the smallest cluster (3 bootstrap voters, minVoters 3 by default).
// node03's etcd is killed for good; the operator deletes node03 and applies a new control-plane node04
// whose agent starts a real etcd member, in either order. Without touching minVoters the cluster must be
// back to three healthy voters (node01, node02, node04) within 30 s of the operator's actions: the dead
// member is removed although that leaves fewer than minVoters listed (the floor keeps healthy voters, not
// dead ones), and node04's add, which etcd refuses while node03 is listed, holds no lock against it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { REMOVE_NOW_ANNOTATION } from '../../src/schema/node-membership.js';
import { KeyLayout } from '../../src/store/keys.js';
import {
  agentOutput, deleteHasNow, describeMembers, describeStatus, healthyVoters, makeJoiner, readStatusBody, startJoin, stopAgent, until,
} from '../support/day-two.js';
import type { ProcessHandle } from '../support/processes.js';
import {
  bootstrapRecords, ctl, membershipFor, readStatus, tempDir, withControllerLog, withRunningController, type RunningController,
} from '../support/fixtures.js';

const keys = new KeyLayout();
/** From the operator's last action to three healthy voters (the issue's bound). */
const BACK_TO_THREE_MS = 30_000;

type Order = 'delete first' | 'apply first';

function threeReadyVoters() {
  return {
    afterStart: async ({ cluster, client }: RunningController) => {
      const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(bootstrapRecords(cluster)));
      assert.equal(applied.code, 0, applied.stderr);
      for (const n of ['node01', 'node02', 'node03']) {
        await until(`${n} Ready`, async () => {
          const st = (await readStatus(client, n))?.status;
          return st?.phase === 'Ready' ? { done: true } : { seen: describeStatus(st) };
        }, 30_000);
      }
    },
  };
}

/** membershipctl delete node03 --now (or, before that flag exists, the record it writes: Absent with remove-now). */
async function deleteNode03(env: RunningController, endpoints: string[]): Promise<string> {
  if (await deleteHasNow()) {
    const r = await ctl(endpoints, ['delete', 'node03', '--now', '--no-wait']);
    assert.equal(r.code, 0, `membershipctl delete node03 --now: exit ${r.code}\n${r.stdout}${r.stderr}`);
    return 'membershipctl delete node03 --now --no-wait';
  }
  const record = membershipFor(env.cluster.member('node03'), true, { state: 'Absent' });
  record.metadata = { name: 'node03', annotations: { [REMOVE_NOW_ANNOTATION]: 'true' } };
  const r = await ctl(endpoints, ['apply', '-f', '-'], JSON.stringify(record));
  assert.equal(r.code, 0, `membershipctl apply (node03 Absent, remove-now): exit ${r.code}\n${r.stdout}${r.stderr}`);
  return `membershipctl apply node03 state Absent with ${REMOVE_NOW_ANNOTATION}`;
}

async function replaceDeadVoter(env: RunningController, order: Order): Promise<void> {
  const { cluster } = env;
  const configBefore = await env.client.get(keys.clusterConfig()).string();
  await cluster.kill('node03', 'SIGKILL'); // for good
  const live = cluster.endpoints;
  const client = new Etcd3({ hosts: live });
  const plan = await cluster.planMember('node04');
  const node04 = await makeJoiner(cluster, plan, await tempDir('day2-dead-voter-'), 'control-plane');
  let agent: ProcessHandle | undefined;
  try {
    // The operator notices node03 is gone.
    await new Promise((r) => setTimeout(r, 1_000));
    const actions: string[] = [];
    const applyNode04 = async () => {
      const r = await ctl(live, ['apply', '-f', '-'], JSON.stringify(membershipFor(plan, false, { role: 'control-plane' })));
      assert.equal(r.code, 0, `membershipctl apply node04: exit ${r.code}\n${r.stdout}${r.stderr}`);
      agent = await startJoin(node04, live, '90s');
      actions.push('membershipctl apply node04 (its agent started)');
    };
    const firstAt = Date.now();
    if (order === 'delete first') {
      actions.push(await deleteNode03(env, live));
      await applyNode04();
    } else {
      await applyNode04();
      actions.push(await deleteNode03(env, live));
    }
    const lastAt = Date.now();

    const reached = await until<number>(
      `three healthy voters node01, node02, node04, no learner, and node03 Removed (after: ${actions.join(', then ')})`,
      async () => {
        const h = await healthyVoters(client);
        const st03 = await readStatusBody(client, 'node03');
        const st04 = await readStatusBody(client, 'node04');
        const ok = h.healthy.join(',') === 'node01,node02,node04' && h.rows.length === 3 && st03?.phase === 'Removed';
        return ok
          ? { done: Date.now() }
          : {
              seen:
                `members ${describeMembers(h.rows)}; healthy voters ${h.healthy.join(',') || '(none)'}` +
                `${h.problems.length ? ` (${h.problems.join('; ')})` : ''}; ` +
                `node03 status: ${describeStatus(st03)}; node04 status: ${describeStatus(st04)}; ` +
                `node04's agent ${agent === undefined ? 'not started' : agent.lines.length ? `last said: ${agent.lines[agent.lines.length - 1]}` : 'silent'}`,
            };
      },
      BACK_TO_THREE_MS,
    );

    const exit = await Promise.race([agent!.exited, new Promise<undefined>((r) => setTimeout(r, 30_000, undefined))]);
    assert.equal(exit?.code, 0, `node04's agent: expected exit 0 once node04 is a voter, got ${exit ? `exit ${exit.code}` : 'still running 30 s later'}:\n${agentOutput(agent!)}`);
    assert.equal(await client.get(keys.clusterConfig()).string(), configBefore, 'cluster/config (minVoters) was changed');
    process.stdout.write(`# ${order}: three healthy voters ${reached - lastAt} ms after the operator's last action (${reached - firstAt} ms after the first)\n`);
  } finally {
    await stopAgent(agent);
    client.close();
  }
}

for (const order of ['delete first', 'apply first'] as const) {
  describe(`day two: a dead voter of 3 is replaced through delete + apply (${order}) without touching minVoters`, () => {
    const env = withRunningController(threeReadyVoters());

    it(`node03 killed for good; ${order === 'delete first' ? 'delete node03, then apply node04' : 'apply node04, then delete node03'}: back to 3 healthy voters within 30 s`, { timeout: 150_000 }, async () => {
      await withControllerLog(env.controller, () => replaceDeadVoter(env, order));
    });
  });
}
