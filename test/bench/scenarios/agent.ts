/**
 * Scenario 5, the agent: `first-boot-agent iam-setup` started as systemd would
 * start it, for a node with no desired record yet. Measured from the spawn
 * (wall clock) to the timestamp of its log line saying its watches are listed
 * and it is waiting; its RSS once waiting. Beside it, the floors: a bare
 * `node -e ""` start and exit, the agent started where its marker already
 * exists (it loads what that path needs, logs one line and exits), and what
 * importing each of its dependencies alone costs in a fresh process.
 */

/**
 * What the agent imports besides its own code (src/agent, src/store, src/schema, src/cli, src/log, src/net),
 * then, for comparison, what it no longer loads: the controller's etcd client and HTTP client.
 */
const DEPENDENCIES = ['zod', 'pino', 'commander', 'p-retry', 'node:http2', 'etcd3', 'undici'];

/** A fresh node imports `dep` and reports how long that took and its RSS after it. */
async function importCost(dep: string): Promise<{ importMs: number; rssMiB: number; peakMiB: number }> {
  const script = `
    const t = performance.now();
    await import(${JSON.stringify(dep)});
    const importMs = performance.now() - t;
    const s = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8');
    const kb = (f) => parseInt(s.split(String.fromCharCode(10)).find((l) => l.startsWith(f + ':')).slice(f.length + 1), 10);
    console.log(JSON.stringify({ importMs, rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 }));`;
  const r = await runProcess(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`importing ${dep} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { importMs: number; rssMiB: number; peakMiB: number };
}
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { binPath, runProcess, startProcess } from '../../support/processes.js';
import { BenchEnv } from '../env.js';
import { memory } from '../proc.js';
import { ms, roundSummary, summarize } from '../stats.js';
import type { BenchParams, ScenarioResult } from '../types.js';

export async function agentScenario(params: BenchParams, log: (s: string) => void): Promise<ScenarioResult> {
  const started = performance.now();
  const env = await BenchEnv.start({ name: 'agent', iam: true });
  try {
    const toWaiting: number[] = [];
    const toFirstLine: number[] = [];
    const rss: number[] = [];
    const peak: number[] = [];
    const bareNode: number[] = [];
    const markerExit: number[] = [];
    const doneDir = join(env.dir, 'done-state');
    await mkdir(doneDir, { recursive: true });
    await writeFile(join(doneDir, '.iam-initialized'), `${new Date().toISOString()}\n`);
    for (let i = 0; i < params.agent.samples + 1; i++) {
      const name = `agent-${i}`;
      const configPath = await env.writeConfig(name, env.workerConfig(name, { iam: true }));
      const spawnedAt = Date.now();
      const agent = startProcess(process.execPath, [
        binPath('first-boot-agent'), 'iam-setup',
        '--config', configPath,
        '--state-dir', join(env.dir, `${name}-state`),
        '--endpoints', env.endpoints.join(','),
        '--prefix', env.keys.prefix,
        '--timeout', '60s',
      ]);
      try {
        const line = await agent.waitForLine(/no desired record/, 30_000);
        const waitingAt = Date.parse((JSON.parse(line) as { timestamp: string }).timestamp);
        const firstAt = Date.parse((JSON.parse(agent.stdout[0]!) as { timestamp: string }).timestamp);
        await sleep(500);
        const m = memory(agent.pid);
        // The first start warms the page cache; it is not counted.
        if (i > 0) {
          toWaiting.push(waitingAt - spawnedAt);
          toFirstLine.push(firstAt - spawnedAt);
          if (m) {
            rss.push(m.rssMiB);
            peak.push(m.peakMiB);
          }
        }
      } finally {
        agent.kill('SIGTERM');
        await agent.exited;
      }
      const t = performance.now();
      await runProcess(process.execPath, ['-e', ''], { timeoutMs: 10_000 });
      if (i > 0) bareNode.push(performance.now() - t);
      const configPath2 = await env.writeConfig(`${name}-done`, env.workerConfig(`${name}-done`, { iam: true }));
      const t2 = performance.now();
      const done = await runProcess(process.execPath, [binPath('first-boot-agent'), 'iam-setup', '--config', configPath2, '--state-dir', doneDir], { timeoutMs: 30_000 });
      if (done.code !== 0) throw new Error(`agent with its marker present exited with ${done.code}: ${done.stdout}${done.stderr}`);
      if (i > 0) markerExit.push(performance.now() - t2);
    }
    log(`  agent start -> waiting: ${toWaiting.map((v) => ms(v)).join(', ')}`);
    const imports: Record<string, { importMs: number; rssMiB: number; peakMiB: number }> = {};
    for (const dep of params.agent.imports ? ['node:fs', ...DEPENDENCIES] : []) {
      // Twice, keeping the second: the first read of the files warms the page cache.
      await importCost(dep);
      imports[dep] = await importCost(dep);
    }
    const w = summarize(toWaiting);
    const f = summarize(toFirstLine);
    const r = summarize(rss);
    const pk = summarize(peak);
    const bare = summarize(bareNode);
    const loaded = summarize(markerExit);
    return {
      name: 'agent',
      title: '5. Agent (process start -> watch established, waiting)',
      rows: [
        ['start -> waiting', `p50 ${ms(w.p50)}  max ${ms(w.max)}  (n=${w.n})`],
        ['start -> first log line', `p50 ${ms(f.p50)}  max ${ms(f.max)}`],
        ['bare `node -e ""` start+exit', `p50 ${ms(bare.p50)}`],
        ['agent start+exit, marker present', `p50 ${ms(loaded.p50)} (loads what that path needs, exits at once)`],
        ['RSS while waiting', `p50 ${r.p50.toFixed(1)} MiB, peak (VmHWM) max ${pk.max.toFixed(1)} MiB`],
        [
          'one import alone (fresh node)',
          Object.keys(imports).length === 0 ? 'not measured in --quick' :
          Object.entries(imports)
            .map(([dep, c]) => `${dep === 'node:fs' ? 'nothing' : dep} ${c.importMs.toFixed(0)} ms/${c.rssMiB.toFixed(0)} MiB`)
            .join(', '),
        ],
      ],
      targets: [
        { target: 'agent waiting within 300 ms of start', measured: `p50 ${ms(w.p50)}, max ${ms(w.max)} (n=${w.n})`, met: w.max <= 300 },
        { target: 'agent RSS <= 80 MB', measured: `peak ${pk.max.toFixed(1)} MiB (${((pk.max * 2 ** 20) / 1e6).toFixed(1)} MB)`, met: (pk.max * 2 ** 20) / 1e6 <= 80 },
      ],
      data: {
        startToWaitingMs: roundSummary(w),
        startToFirstLineMs: roundSummary(f),
        bareNodeMs: roundSummary(bare),
        markerPresentStartExitMs: roundSummary(loaded),
        importAlone: imports,
        rssMiB: roundSummary(r),
        peakRssMiB: roundSummary(pk),
        samples: toWaiting,
      },
      durationMs: performance.now() - started,
    };
  } finally {
    await env.stop();
  }
}
