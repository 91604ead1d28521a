/**
 * Scenario 2, recovery: the FlareDB cluster's admin API (the simulator, every
 * replica) is down; nodes that want to join FlareDB appear during the outage,
 * each node's own FlareDB stays healthy. When the API is back: how long until
 * each node is a member, through the controller (agent's wait logic in-process)
 * and through the seed's loop (5 attempts, 10 s apart, with its real delays).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlareDBSimulator } from '../../support/flaredb-simulator.js';
import { startInProcessAgent } from '../agent-inprocess.js';
import { BenchEnv } from '../env.js';
import { SEED_DEFAULTS, seedJoin, type SeedJoinResult } from '../seed-baseline.js';
import { ms, round, summarize } from '../stats.js';
import type { BenchParams, ScenarioResult } from '../types.js';

interface OutageResult {
  outageMs: number;
  /** per node: offset into the outage at which the record was written / the seed started */
  offsetsMs: number[];
  /** up -> agent sees FlareDBMember=True */
  controllerMs: number[];
  /** up -> the controller's first request to FlareDB (it lists members first): the retry wait */
  firstControllerRequestMs: number;
  seed: Array<{ ok: boolean; outcome: string; attempts: number; afterUpMs?: number; gaveUpAfterMs?: number }>;
}

export async function recoveryScenario(params: BenchParams, log: (s: string) => void): Promise<ScenarioResult> {
  const started = performance.now();
  const p = params.recovery;
  const env = await BenchEnv.start({ name: 'recovery', flaredb: true });
  // Each joining node's own FlareDB, healthy throughout (what the agent and the seed poll locally).
  const local = await FlareDBSimulator.start({ replicas: 1 });
  let nodeCounter = 0;
  try {
    const controller = await env.startController('bench-recovery', { leaseTtlSeconds: 10, resyncPeriod: '30s' });
    await controller.waitForLog(/became leader/, 30_000);

    const outage = async (outageMs: number, nodes: number): Promise<OutageResult> => {
      // Seeds start spread over one 10 s retry period, so their attempts fall at different phases of the outage.
      const offsetsMs = Array.from({ length: nodes }, (_, i) => 500 + Math.round((i * SEED_DEFAULTS.retryDelayMs) / nodes));
      const names = offsetsMs.map(() => `fdb-${String(nodeCounter++).padStart(2, '0')}`);
      const agents = await Promise.all(
        names.map(async (name, i) => {
          const config = env.workerConfig(name, { flaredb: { raftAddr: `127.0.0.1:${26000 + nodeCounter * 10 + i}`, apiUrl: local.urls[0]! } });
          const configPath = await env.writeConfig(name, config);
          const agent = startInProcessAgent({
            configPath, service: 'flaredb', endpoints: env.endpoints, prefix: env.keys.prefix,
            stateDir: join(env.dir, `${name}-state`), timeoutMs: outageMs + 120_000,
          });
          await agent.waiting;
          return { agent, record: env.recordOf(config) };
        }),
      );
      await env.flaredb!.down();
      const downAt = performance.now();
      const seeds: Array<Promise<SeedJoinResult>> = [];
      const writes: Array<Promise<void>> = [];
      offsetsMs.forEach((offset, i) => {
        writes.push(sleep(offset).then(() => env.putDesired(agents[i]!.record)));
        seeds.push(
          sleep(offset).then(() =>
            seedJoin({
              nodeId: `seed-${names[i]}`,
              raftAddr: `127.0.0.1:${27000 + nodeCounter * 10 + i}`,
              localUrl: local.urls[0]!,
              leaderUrl: env.flaredb!.leaderUrl,
              stateDir: join(env.dir, `seed-${names[i]}`),
            }),
          ),
        );
      });
      await Promise.all(writes);
      await sleep(Math.max(0, outageMs - (performance.now() - downAt)));
      const firstList = new Promise<number>((resolve) => {
        // The simulator records each request on arrival; only the controller lists members.
        const calls = env.flaredb!.calls;
        const push = calls.push.bind(calls);
        calls.push = (...items) => {
          if (items.some((c) => c.method === 'GET' && c.path === '/admin/cluster/members')) {
            resolve(performance.now());
            calls.push = push;
          }
          return push(...items);
        };
      });
      await env.flaredb!.up();
      const upAt = performance.now();
      log(`    FlareDB back after ${ms(upAt - downAt)}`);
      const ready = await Promise.all(agents.map((a) => a.agent.sawTrue));
      const firstRequestAt = await firstList;
      await Promise.all(agents.map((a) => a.agent.done));
      const seedResults = await Promise.all(seeds);
      return {
        outageMs: round(upAt - downAt),
        offsetsMs,
        controllerMs: ready.map((t) => round(t - upAt)),
        firstControllerRequestMs: round(firstRequestAt - upAt),
        seed: seedResults.map((r) => ({
          ok: r.ok,
          outcome: r.outcome,
          attempts: r.attempts,
          ...(r.ok ? { afterUpMs: round(r.finishedAt - upAt) } : { gaveUpAfterMs: round(r.finishedAt - r.startedAt) }),
        })),
      };
    };

    log(`  FlareDB down for ${p.outageMs / 1000} s; ${p.nodes} node(s) through the controller, ${p.nodes} through the seed's loop`);
    const main = await outage(p.outageMs, p.nodes);
    let long: OutageResult | undefined;
    if (p.longOutageMs > 0) {
      log(`  FlareDB down for ${p.longOutageMs / 1000} s (longer than the seed's 5 attempts cover)`);
      long = await outage(p.longOutageMs, 1);
    }

    const c = summarize(main.controllerMs);
    const seedOk = main.seed.filter((s) => s.ok).map((s) => s.afterUpMs!);
    const seedS = summarize(seedOk);
    const rows: Array<[string, string]> = [
      [`controller, ${p.outageMs / 1000} s outage`, `up -> Ready: ${main.controllerMs.map(ms).join(', ')}  (max ${ms(c.max)})`],
      ['  of which waiting to retry', `up -> controller's first FlareDB request ${ms(main.firstControllerRequestMs)}`],
      [
        `seed loop, ${p.outageMs / 1000} s outage`,
        `up -> joined: ${main.seed.map((s) => (s.ok ? ms(s.afterUpMs!) : `gave up (${s.attempts} attempts)`)).join(', ')}  (max ${ms(seedS.max)})`,
      ],
    ];
    if (long) {
      const s = long.seed[0]!;
      rows.push([`controller, ${p.longOutageMs / 1000} s outage`, `up -> Ready: ${long.controllerMs.map(ms).join(', ')}`]);
      rows.push([
        `seed loop, ${p.longOutageMs / 1000} s outage`,
        s.ok ? `joined ${ms(s.afterUpMs!)} after up` : `gave up after ${s.attempts} attempts, ${ms(s.gaveUpAfterMs!)} after it started (${s.outcome}); never joins`,
      ]);
    }
    return {
      name: 'recovery',
      title: '2. Recovery (FlareDB admin API down, then up -> node Ready)',
      rows,
      targets: [
        {
          target: 'Ready <= 1 s after the service returns',
          measured: `max ${ms(c.max)} over ${c.n} node(s) after a ${p.outageMs / 1000} s outage${long ? `; ${ms(long.controllerMs[0]!)} after ${p.longOutageMs / 1000} s` : ''}`,
          met: c.max <= 1000 && (long === undefined || long.controllerMs.every((v) => v <= 1000)),
        },
      ],
      data: { outage: main, ...(long ? { longOutage: long } : {}) },
      durationMs: performance.now() - started,
    };
  } finally {
    await local.stop();
    await env.stop();
  }
}
