/**
 * Scenario 3, failover: two controllers, one leads. The leader is killed
 * (SIGKILL) or stopped (SIGTERM); right after, a new IAM-only record is written
 * so that there is work to do. Measured from the signal until the standby's
 * first reconcile write lands: the first status put that carries the
 * standby's identity, seen on an etcd watch.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchEnv, waitFor } from '../env.js';
import { ms, round, summarize } from '../stats.js';
import type { BenchParams, ScenarioResult } from '../types.js';

interface Sample {
  signal: 'SIGKILL' | 'SIGTERM';
  /** signal -> first status write by the standby */
  firstWriteMs: number;
  /** signal -> the standby's "became leader" log line (its own timestamp) */
  becameLeaderMs: number;
}

export async function failoverScenario(params: BenchParams, log: (s: string) => void): Promise<ScenarioResult> {
  const started = performance.now();
  const p = params.failover;
  const env = await BenchEnv.start({ name: 'failover', iam: true });
  let counter = 0;
  const firstWrite = new Map<string, { identity: string; at: number }>();
  try {
    const watcher = await env.watchStatuses((node, st, at) => {
      if (!firstWrite.has(node)) firstWrite.set(node, { identity: st.status.controller?.identity ?? '', at });
    });
    const opts = { leaseTtlSeconds: p.leaseTtlSeconds, resyncPeriod: '30s' };
    let leader = await env.startController(`bench-fo-${counter++}`, opts);
    await leader.waitForLog(/became leader/, 30_000);
    let standby = await env.startController(`bench-fo-${counter++}`, opts);
    await standby.waitForLog(/standing by/, 30_000);

    // A join before the first sample: IAM's initial setup and warm connections.
    await probe(env, firstWrite, 'warmup');

    const samples: Sample[] = [];
    const plan: Array<'SIGKILL' | 'SIGTERM'> = [...Array<'SIGKILL'>(p.kill).fill('SIGKILL'), ...Array<'SIGTERM'>(p.term).fill('SIGTERM')];
    let raced = 0;
    for (const signal of plan) {
      const node = `fo-${String(samples.length + raced).padStart(2, '0')}`;
      const wallAtSignal = Date.now();
      const t0 = performance.now();
      leader.kill(signal);
      const write = await probe(env, firstWrite, node);
      if (write.identity !== standby.identity) {
        // The stopping leader handled the probe before it let go; the standby then had nothing to write.
        raced++;
        log(`    ${signal}: the old leader wrote ${node}'s status first; sample discarded`);
      } else {
        const line = await standby.waitForLog(/became leader/, 30_000);
        const becameAt = Date.parse((JSON.parse(line) as { timestamp: string }).timestamp);
        samples.push({ signal, firstWriteMs: round(write.at - t0), becameLeaderMs: becameAt - wallAtSignal });
        log(`    ${signal}: standby's first write ${ms(write.at - t0)} after the signal`);
      }
      await leader.exited;
      // The standby leads now; a fresh controller stands by for the next sample.
      leader = standby;
      standby = await env.startController(`bench-fo-${counter++}`, opts);
      await standby.waitForLog(/standing by/, 30_000);
      await sleep(500);
    }
    await watcher.cancel();

    const kill = summarize(samples.filter((s) => s.signal === 'SIGKILL').map((s) => s.firstWriteMs));
    const term = summarize(samples.filter((s) => s.signal === 'SIGTERM').map((s) => s.firstWriteMs));
    const killBound = p.leaseTtlSeconds * 1000 + 1000;
    return {
      name: 'failover',
      title: `3. Failover (signal to the leader -> the standby's first status write; lease TTL ${p.leaseTtlSeconds} s)`,
      rows: [
        ['kill -9', `p50 ${ms(kill.p50)}  max ${ms(kill.max)}  (n=${kill.n})`],
        ['SIGTERM', `p50 ${ms(term.p50)}  max ${ms(term.max)}  (n=${term.n})${raced > 0 ? `; ${raced} sample(s) discarded (old leader wrote first)` : ''}`],
      ],
      targets: [
        { target: `failover after kill -9 <= lease TTL + 1 s (${ms(killBound)})`, measured: `max ${ms(kill.max)} (n=${kill.n})`, met: kill.n > 0 && kill.max <= killBound },
        { target: 'failover after SIGTERM <= 1 s', measured: `max ${ms(term.max)} (n=${term.n})`, met: term.n > 0 && term.max <= 1000 },
      ],
      data: { leaseTtlSeconds: p.leaseTtlSeconds, samples, discarded: raced, killMs: kill, termMs: term },
      durationMs: performance.now() - started,
    };
  } finally {
    await env.stop();
  }
}

/** Writes an IAM-only record and waits for the first status write for it. */
async function probe(
  env: BenchEnv,
  firstWrite: Map<string, { identity: string; at: number }>,
  node: string,
): Promise<{ identity: string; at: number }> {
  await env.putDesired(env.recordOf(env.workerConfig(node, { iam: true })));
  return waitFor(`a status write for ${node}`, () => firstWrite.get(node), 60_000, 5);
}
