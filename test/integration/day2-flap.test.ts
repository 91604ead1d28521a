// Day two, case 3: a record flipped Absent and back. Flips shorter than cluster/config's removalGraceSeconds
// (default 5 s) remove nothing; a real removal followed by Present again says RejoinRequired, naming the one
// command to run on the node (`first-boot-agent reset chainfire`), and after that command the agent's join
// re-admits the node.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { StatusBody } from '../../src/schema/status.js';
import type { PlannedMember } from '../support/etcd-cluster.js';
import {
  agentOutput, conditionOf, describeMembers, describeStatus, healthyVoters, logTail, makeJoiner, memberRows, panicLines,
  putDesiredState, readStatusBody, runJoin, StatusHistory, until, type Joiner, type MemberRow,
} from '../support/day-two.js';
import { binPath, runProcess } from '../support/processes.js';
import {
  bootstrapRecords, ctl, membershipFor, tempDir, withControllerLog, withRunningController, type RunningController,
} from '../support/fixtures.js';

const FLIPS = 20;
const FLIP_EVERY_MS = 300;
/** cluster/config's default removalGraceSeconds. */
const GRACE_MS = 5_000;
const RESET_COMMAND = 'first-boot-agent reset chainfire';

/** node04 joined through its agent (a worker, which becomes a voter), Ready. */
function withJoinedNode04(prefix: string) {
  const ctx = {} as { plan: PlannedMember; node04: Joiner; member: MemberRow };
  const env = withRunningController({
    afterStart: async ({ cluster, client }: RunningController) => {
      ctx.plan = await cluster.planMember('node04');
      ctx.node04 = await makeJoiner(cluster, ctx.plan, await tempDir(prefix));
      const records = [...bootstrapRecords(cluster), membershipFor(ctx.plan, false, { role: 'worker' })];
      const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(records));
      assert.equal(applied.code, 0, applied.stderr);
      const joined = await runJoin(ctx.node04, cluster.endpoints);
      assert.equal(joined.code, 0, `node04's join: expected exit 0, got ${joined.code}:\n${agentOutput(joined)}`);
      const rows = await memberRows(client);
      const member = rows.find((m) => m.name === 'node04');
      assert.ok(member && !member.isLearner, `node04 not a voter after its join: ${describeMembers(rows)}`);
      ctx.member = member;
      await until('node04 Ready', async () => {
        const st = await readStatusBody(client, 'node04');
        return st?.phase === 'Ready' ? { done: true } : { seen: describeStatus(st) };
      }, 30_000);
    },
  });
  return { env, ctx };
}

describe('day two: 20 Present/Absent flips 300 ms apart on a Ready voter remove nothing', () => {
  const { env, ctx } = withJoinedNode04('day2-flap-');

  it('node04 stays a voter, its etcd keeps running, the member list is unchanged', { timeout: 180_000 }, async () => {
    await withControllerLog(env.controller, async () => {
      const { cluster, client } = env;
      const before = await memberRows(client);
      const pid = cluster.member('node04').pid;
      assert.notEqual(pid, undefined, 'node04\'s etcd is not running before the flips');
      const history = await StatusHistory.start(client, 'node04');
      const started = Date.now();
      try {
        for (let i = 0; i < FLIPS; i++) {
          await putDesiredState(client, 'node04', i % 2 === 0 ? 'Absent' : 'Present');
          await new Promise((r) => setTimeout(r, FLIP_EVERY_MS));
        }
        // The last flip said Present; give a removal that was (wrongly) scheduled its grace and a reconcile.
        await new Promise((r) => setTimeout(r, GRACE_MS + 3_000));
        const timeline = `node04's status since the first flip:\n${history.describe(started)}`;

        const after = await memberRows(client);
        assert.equal(
          describeMembers(after),
          describeMembers(before),
          `expected ${FLIPS} flips of ${FLIP_EVERY_MS} ms (each shorter than the ${GRACE_MS / 1000} s removal grace) to change no member; ` +
            `before: ${describeMembers(before)}; after: ${describeMembers(after)}; node04's etcd ` +
            `${cluster.member('node04').pid === pid ? 'still runs' : `is gone; its log ends:\n${await logTail(ctx.plan.logFile, 5)}`}\n${timeline}`,
        );
        assert.equal(cluster.member('node04').pid, pid, `node04's etcd (pid ${pid}) stopped during the flips\n${timeline}`);
        const h = await healthyVoters(client);
        assert.deepEqual(h.healthy, ['node01', 'node02', 'node03', 'node04'], `healthy voters after the flips: ${h.healthy.join(',')} (${h.problems.join('; ')})`);
        const st = await until<StatusBody>('node04 Ready again after the flips, same member', async () => {
          const s = await readStatusBody(client, 'node04');
          return s?.phase === 'Ready' && s.chainfire.memberId === ctx.member.id ? { done: s } : { seen: describeStatus(s) };
        }, 20_000);
        assert.equal(st.chainfire.role, 'voter');
      } finally {
        await history.close();
      }
    });
  });
});

describe('day two: removed for real, then Present again: RejoinRequired names the reset; after it node04 joins again', () => {
  const { env, ctx } = withJoinedNode04('day2-rejoin-');

  it('Removed, etcd gone; Present: RejoinRequired; reset chainfire; join: a healthy voter again', { timeout: 240_000 }, async () => {
    await withControllerLog(env.controller, async () => {
      const { cluster, client } = env;
      const { plan, node04 } = ctx;
      const history = await StatusHistory.start(client, 'node04');
      const started = Date.now();
      try {
        // A real removal: Absent, and left so until Removed.
        const del = await ctl(cluster.endpoints, ['delete', 'node04', '--no-wait']);
        assert.equal(del.code, 0, del.stdout + del.stderr);
        await until('node04 Removed', async () => {
          const st = await readStatusBody(client, 'node04');
          return st?.phase === 'Removed' ? { done: true } : { seen: describeStatus(st) };
        }, 60_000);
        await until('node04\'s etcd to exit (removed from the cluster)', async () => {
          const pid = cluster.member('node04').pid;
          return pid === undefined ? { done: true } : { seen: `pid ${pid} still running; log ends: ${await logTail(plan.logFile, 3)}` };
        }, 30_000);
        const rows = await memberRows(client);
        assert.ok(!rows.some((m) => m.id === ctx.member.id), `node04's member ${ctx.member.id} is still listed: ${describeMembers(rows)}`);

        // Present again: the node's marker says done, so the status must say what to run there.
        const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(membershipFor(plan, false, { role: 'worker' })));
        assert.equal(applied.code, 0, applied.stderr);
        const presentAt = Date.now();
        const rejoin = await until<StatusBody>(`ChainfireMember=False reason RejoinRequired naming \`${RESET_COMMAND}\``, async () => {
          const st = await readStatusBody(client, 'node04');
          const cf = conditionOf(st, 'ChainfireMember');
          return cf?.reason === 'RejoinRequired' && cf.status === 'False' && cf.message.includes(RESET_COMMAND) && st !== undefined
            ? { done: st }
            : { seen: describeStatus(st) };
        }, 30_000);
        assert.notEqual(rejoin.phase, 'Ready');

        // On the node: the one command, then the join unit again.
        const reset = await runProcess(process.execPath, [
          binPath('first-boot-agent'), 'reset', 'chainfire', '--config', node04.config, '--data-dir', plan.dataDir, '--state-dir', node04.stateDir,
        ], { timeoutMs: 30_000 });
        assert.equal(reset.code, 0, `${RESET_COMMAND}: expected exit 0, got ${reset.code}:\n${agentOutput(reset)}`);
        const aside = (await readdir(dirname(plan.dataDir))).filter((f) => f.startsWith(`${basename(plan.dataDir)}.reset-`));
        assert.equal(aside.length, 1, `expected the data dir moved aside to ${plan.dataDir}.reset-<time>; found ${aside.join(', ') || 'nothing'}`);
        const markers = (await readdir(node04.stateDir).catch(() => [] as string[])).filter((f) => f.startsWith('.chainfire-'));
        assert.deepEqual(markers, [], 'the reset left chainfire markers behind');

        const again = await runJoin(node04, cluster.endpoints);
        assert.equal(again.code, 0, `node04's join after the reset: expected exit 0, got ${again.code}:\n${agentOutput(again)}\n` +
          `node04's status since the removal:\n${history.describe(started)}`);
        const h = await until<Awaited<ReturnType<typeof healthyVoters>>>('node04 a healthy voter again (four healthy voters, no learner)', async () => {
          const v = await healthyVoters(client);
          return v.healthy.join(',') === 'node01,node02,node03,node04' && v.rows.length === 4
            ? { done: v }
            : { seen: `members ${describeMembers(v.rows)}; healthy ${v.healthy.join(',')}; ${v.problems.join('; ')}` };
        }, 30_000);
        const fresh = h.rows.find((m) => m.name === 'node04')!;
        assert.notEqual(fresh.id, ctx.member.id, 'node04 came back under its removed member id');
        assert.ok(existsSync(join(node04.stateDir, '.chainfire-joined')), 'the join wrote no .chainfire-joined marker');
        const st = await until<StatusBody>('node04 Ready under its new member', async () => {
          const s = await readStatusBody(client, 'node04');
          return s?.phase === 'Ready' && s.chainfire.memberId === fresh.id ? { done: s } : { seen: describeStatus(s) };
        }, 20_000);
        assert.equal(st.chainfire.role, 'voter');
        const panics = await panicLines(cluster);
        assert.deepEqual(panics, [], `expected no etcd log line with "panic"; found:\n${panics.join('\n')}`);
        process.stdout.write(`# node04 Ready again ${Date.now() - presentAt} ms after its record said Present again\n`);
      } finally {
        await history.close();
      }
    });
  });
});
