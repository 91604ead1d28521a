/**
 * Scenario 7, quorum loss: three bootstrap voters Ready; two of them killed
 * for good (SIGKILL, data dirs removed); `first-boot-agent recover chainfire`
 * on the survivor, then the two lost nodes' join units run again with wiped
 * data (agents whose --start-command starts a real etcd member). Measured:
 * how long `recover` takes (look, stop, force a new cluster, healthy), and the
 * time from the start of `recover` until Chainfire has three voters that
 * answer GET /health, no learner, no stale member, and every node's status is
 * Ready again. The full run repeats this over several rounds (the same two
 * nodes lost each time, each round after the previous one healed).
 */
import { join } from 'node:path';
import { bootstrapRecords } from '../../support/fixtures.js';
import type { ProcessHandle } from '../../support/processes.js';
import { bringBack, loseQuorum, runRecover, survivorOf, threeHealthyVoters } from '../../support/quorum-loss.js';
import { stopAgent } from '../../support/day-two.js';
import { BenchEnv } from '../env.js';
import { ms, round, summarize } from '../stats.js';
import type { BenchParams, ScenarioResult } from '../types.js';

/** What an operator may expect: back to three healthy voters this soon after running the command. */
const BOUND_MS = 60_000;

export async function quorumScenario(params: BenchParams, log: (s: string) => void): Promise<ScenarioResult> {
  const started = performance.now();
  const env = await BenchEnv.start({ name: 'quorum' });
  const agents: ProcessHandle[] = [];
  try {
    for (const r of bootstrapRecords(env.cluster)) await env.putDesired(r);
    const controller = await env.startController('bench-quorum', { leaseTtlSeconds: 5, resyncPeriod: '30s' });
    await controller.waitForLog(/became leader/, 30_000);
    const survivor = await survivorOf(env.cluster, env.dir);
    const url = env.cluster.member('node01').clientUrl;
    await threeHealthyVoters(url, ['node01', 'node02', 'node03'], 60_000, 50);
    const recoverMs: number[] = [];
    const totalMs: number[] = [];
    for (let i = 0; i < params.quorum.rounds; i++) {
      await loseQuorum(env.cluster);
      const t0 = performance.now();
      const r = await runRecover(env.cluster, survivor, ['--yes']);
      if (r.code !== 0) throw new Error(`recover exited ${r.code}: ${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
      recoverMs.push(performance.now() - t0);
      agents.push(...(await bringBack(env.cluster, join(env.dir), [url])));
      await threeHealthyVoters(url, ['node01', 'node02', 'node03'], 150_000, 50);
      totalMs.push(performance.now() - t0);
      log(`  round ${i + 1}: recover ${ms(recoverMs[i]!)}; three healthy voters, all Ready ${ms(totalMs[i]!)} after recover started`);
      while (agents.length > 0) await stopAgent(agents.pop());
    }
    const rec = summarize(recoverMs);
    const tot = summarize(totalMs);
    const worst = Math.max(...totalMs);
    return {
      name: 'quorum',
      title: '7. Quorum loss: recover on the survivor, two lost voters back (real etcd)',
      rows: [
        ['rounds', String(totalMs.length)],
        ['recover command (look, stop, --force-new-cluster, healthy)', `p50 ${ms(rec.p50)}, max ${ms(rec.max)}`],
        ['recover started -> 3 healthy voters, all Ready', `p50 ${ms(tot.p50)}, max ${ms(tot.max)}`],
      ],
      targets: [{ target: `recover -> three healthy voters <= ${BOUND_MS / 1000} s`, measured: `max ${ms(worst)} (${totalMs.length} rounds)`, met: worst <= BOUND_MS }],
      data: { recoverMs: recoverMs.map(round), totalMs: totalMs.map(round) },
      durationMs: performance.now() - started,
    };
  } finally {
    while (agents.length > 0) await stopAgent(agents.pop());
    await env.stop();
  }
}
