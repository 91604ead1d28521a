/**
 * `npm run bench [-- --quick] [-- --json FILE] [-- --only join,scale]`: every
 * scenario against its own real 3-member etcd on 127.0.0.1, a table on
 * stdout, and everything measured as JSON when asked.
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { etcdBinary } from '../support/etcd-cluster.js';
import { loadAverage } from './proc.js';
import { agentScenario } from './scenarios/agent.js';
import { day2Scenario } from './scenarios/day2.js';
import { quorumScenario } from './scenarios/quorum.js';
import { failoverScenario } from './scenarios/failover.js';
import { joinScenario } from './scenarios/join.js';
import { recoveryScenario } from './scenarios/recovery.js';
import { DEFAULT_WORKERS } from '../../src/controller/controller.js';
import { scaleScenario } from './scenarios/scale.js';
import { FULL, QUICK, type BenchParams, type ScenarioResult } from './types.js';

const SCENARIOS: Record<string, (p: BenchParams, log: (s: string) => void) => Promise<ScenarioResult>> = {
  join: joinScenario,
  recovery: recoveryScenario,
  failover: failoverScenario,
  scale: scaleScenario,
  agent: agentScenario,
  day2: day2Scenario,
  quorum: quorumScenario,
};

function machine(): Record<string, unknown> {
  let etcdVersion = 'unknown';
  try {
    etcdVersion = /etcd Version: (\S+)/.exec(execFileSync(etcdBinary(), ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    // reported as unknown
  }
  return {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    etcd: etcdVersion,
    kernel: os.release(),
  };
}

function printTable(results: ScenarioResult[], loads: Record<string, { before: number[]; after: number[] }>): void {
  const width = Math.max(...results.flatMap((r) => r.rows.map(([label]) => label.length)), 10);
  for (const r of results) {
    const load = loads[r.name];
    console.log(`\n${r.title}  [${(r.durationMs / 1000).toFixed(1)} s; load average ${load?.before[0] ?? '?'} -> ${load?.after[0] ?? '?'}]`);
    for (const [label, value] of r.rows) console.log(`  ${label.padEnd(width)}  ${value}`);
  }
  console.log('\nTargets');
  for (const r of results) {
    for (const t of r.targets) {
      const verdict = t.met === undefined ? 'NOT RUN' : t.met ? 'met' : 'NOT MET';
      console.log(`  [${verdict.padEnd(7)}] ${t.target}: ${t.measured}`);
    }
  }
}

const USAGE = `Usage: npm run bench -- [options]

Runs the benchmark scenarios against a real 3-member etcd on 127.0.0.1 and prints a table and the targets.

Options:
  --quick            every scenario at small scale (under 2 minutes)
  --only LIST        comma-separated scenarios: ${Object.keys(SCENARIOS).join(', ')}
  --sizes LIST       NodeMembership counts of the scale scenario (default 1000,10000; --quick 150)
  --workers N        the controller's --workers in the scale scenario (default ${DEFAULT_WORKERS}, as deployed)
  --json FILE        also write every figure as JSON to FILE
  -h, --help         this text

Environment:
  BENCH_CONTROLLER_NODE_ARGS   extra node flags for the controllers, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  KEEP_TEST_DIRS=1             keep the etcd data and log directories
`;

class UsageError extends Error {}

function positiveIntegers(flag: string, text: string): number[] {
  const out = text.split(',').map((v) => Number(v.trim()));
  if (out.length === 0 || out.some((n) => !Number.isSafeInteger(n) || n <= 0)) {
    throw new UsageError(`${flag} takes positive whole numbers separated by commas, got "${text}"`);
  }
  return out;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        json: { type: 'string' },
        only: { type: 'string' },
        sizes: { type: 'string' },
        workers: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const params: BenchParams = structuredClone(values.quick ? QUICK : FULL);
  if (values.sizes !== undefined) params.scale.sizes = positiveIntegers('--sizes', values.sizes);
  if (values.workers !== undefined) {
    const [workers, ...rest] = positiveIntegers('--workers', values.workers);
    if (rest.length > 0) throw new UsageError(`--workers takes one number, got "${values.workers}"`);
    params.scale.workers = workers!;
  }
  const names = values.only ? values.only.split(',').map((n) => n.trim()) : Object.keys(SCENARIOS);
  for (const n of names) if (!SCENARIOS[n]) throw new UsageError(`unknown scenario "${n}"; known: ${Object.keys(SCENARIOS).join(', ')}`);

  const info = machine();
  const loadBefore = loadAverage();
  const log = (s: string) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${s}\n`);
  const t0 = performance.now();
  log(`${values.quick ? 'quick' : 'full'} run: ${names.join(', ')}; load average ${loadBefore.join(' ')}`);
  const results: ScenarioResult[] = [];
  const loadPerScenario: Record<string, { before: number[]; after: number[] }> = {};
  for (const name of names) {
    const before = loadAverage();
    log(`scenario ${name} (load average ${before.join(' ')})`);
    results.push(await SCENARIOS[name]!(params, log));
    loadPerScenario[name] = { before, after: loadAverage() };
  }
  const loadAfter = loadAverage();
  console.log(
    `\nmachine: ${info.nproc} CPUs (${String(info.cpu)}), ${String(info.memoryGiB)} GiB, node ${String(info.node)}, etcd ${String(info.etcd)}; ` +
      `load average before ${loadBefore.join(' ')}, after ${loadAfter.join(' ')}; ${values.quick ? '--quick' : 'full'} run in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  printTable(results, loadPerScenario);
  if (values.json) {
    const out = {
      at: new Date().toISOString(),
      mode: values.quick ? 'quick' : 'full',
      machine: { ...info, loadAverageBefore: loadBefore, loadAverageAfter: loadAfter },
      params,
      totalSeconds: Math.round((performance.now() - t0) / 100) / 10,
      scenarios: Object.fromEntries(
        results.map((r) => [
          r.name,
          { title: r.title, durationSeconds: Math.round(r.durationMs / 100) / 10, loadAverage: loadPerScenario[r.name], targets: r.targets, ...r.data },
        ]),
      ),
    };
    await writeFile(values.json, `${JSON.stringify(out, null, 2)}\n`);
    log(`wrote ${values.json}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`bench: ${err.message}\n\n${USAGE}`);
      process.exit(64);
    }
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
