/**
 * Scenario 4, scale: N IAM-only worker records applied at once (transactions
 * of 100 puts); time until every status says Ready; the status writes per
 * second next to what etcd does with the same kind of write (a fenced
 * transaction: compare the leader key's create revision, put a status-sized
 * value) from the same number of concurrent callers, measured in the same run
 * on the same cluster (see rawFencedTxns); the controller's peak RSS and its CPU time
 * (utime + stime) per node while converging; then one periodic resync
 * with nothing to do: etcd revisions it added and the controller's CPU time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { metricValue, type ControllerProcess } from '../controller-process.js';
import { BenchEnv, waitFor } from '../env.js';
import { cpuSeconds, MemorySampler } from '../proc.js';
import { ms, round } from '../stats.js';
import type { BenchParams, ScenarioResult, TargetVerdict } from '../types.js';

const QUEUE = 'name="nodemembership"';

/** The controller's own V8 numbers (its /metrics), to tell live heap from the rest of RSS. */
export interface HeapPeak {
  maxHeapUsedMiB: number;
  maxHeapTotalMiB: number;
  maxExternalMiB: number;
  /** at the sample with the highest process_resident_memory_bytes */
  atMaxRss: { rssMiB: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number };
}

function heapSampler(c: ControllerProcess, everyMs: number): { stop: () => Promise<HeapPeak> } {
  const peak: HeapPeak = { maxHeapUsedMiB: 0, maxHeapTotalMiB: 0, maxExternalMiB: 0, atMaxRss: { rssMiB: 0, heapUsedMiB: 0, heapTotalMiB: 0, externalMiB: 0 } };
  const mib = (text: string, series: string) => metricValue(text, series) / 2 ** 20;
  const sample = () =>
    c.metricsText().then((text) => {
      const rssMiB = mib(text, 'process_resident_memory_bytes');
      const heapUsedMiB = mib(text, 'nodejs_heap_size_used_bytes');
      const heapTotalMiB = mib(text, 'nodejs_heap_size_total_bytes');
      const externalMiB = mib(text, 'nodejs_external_memory_bytes');
      peak.maxHeapUsedMiB = Math.max(peak.maxHeapUsedMiB, heapUsedMiB);
      peak.maxHeapTotalMiB = Math.max(peak.maxHeapTotalMiB, heapTotalMiB);
      peak.maxExternalMiB = Math.max(peak.maxExternalMiB, externalMiB);
      if (rssMiB > peak.atMaxRss.rssMiB) peak.atMaxRss = { rssMiB, heapUsedMiB, heapTotalMiB, externalMiB };
    }, () => undefined);
  // Also sampled at the start and at the end: a run shorter than the interval still has figures.
  void sample();
  const timer = setInterval(() => void sample(), everyMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await sample();
      return peak;
    },
  };
}

export interface ScaleRun {
  nodes: number;
  allReady: boolean;
  readyAtEnd: number;
  /** apply start -> last node Ready */
  convergenceMs: number;
  applyMs: number;
  statusWrites: number;
  statusWritesPerSecond: number;
  readyPerSecond: number;
  /** every etcd revision the controller added while converging (status, operations, cluster/status) */
  controllerEtcdWrites: number;
  controllerEtcdWritesPerSecond: number;
  /** before and after the controller's run, combined: total txns / total seconds */
  raw: { txns: number; concurrency: number; seconds: number; perSecond: number; valueBytes: number; before: number; after: number };
  /** statusWritesPerSecond / raw.perSecond */
  statusToRawRatio: number;
  readyToRawRatio: number;
  controller: {
    peakRssMiB: number;
    maxSampledRssMiB: number;
    /** user + system CPU of the controller process from just before the apply to the last node Ready */
    cpuSeconds: number;
    /** cpuSeconds in milliseconds per node of the run */
    cpuMsPerNode: number;
    heap: HeapPeak;
  };
  etcdCpuSeconds: number;
  benchCpuSeconds: number;
  resync?: { etcdWrites: number; controllerCpuSeconds: number; wallMs: number; reconciles: number };
}

export async function scaleScenario(params: BenchParams, log: (s: string) => void): Promise<ScenarioResult> {
  const started = performance.now();
  const runs: ScaleRun[] = [];
  for (const size of params.scale.sizes) {
    log(`  ${size} IAM-only NodeMemberships`);
    runs.push(await scaleRun(size, params, log));
  }
  const rows: Array<[string, string]> = [];
  for (const r of runs) {
    const n = r.nodes.toLocaleString('en');
    rows.push([`${n} nodes: all Ready`, r.allReady ? `${ms(r.convergenceMs)} (apply took ${ms(r.applyMs)})` : `NO: ${r.readyAtEnd} Ready after ${ms(r.convergenceMs)}`]);
    rows.push([`${n} nodes: status writes`, `${r.statusWrites} = ${r.statusWritesPerSecond.toFixed(0)}/s; nodes Ready ${r.readyPerSecond.toFixed(0)}/s`]);
    rows.push([
      `${n} nodes: raw fenced txns`,
      `${r.raw.perSecond.toFixed(0)}/s (${r.raw.txns} txns, ${r.raw.concurrency} concurrent; ${r.raw.before.toFixed(0)}/s before the run, ${r.raw.after.toFixed(0)}/s after) -> ratio ${pct(r.statusToRawRatio)} (Ready/s ${pct(r.readyToRawRatio)})`,
    ]);
    rows.push([`${n} nodes: all controller writes`, `${r.controllerEtcdWrites} etcd revisions (${(r.controllerEtcdWrites / r.nodes).toFixed(2)} per node), ${r.controllerEtcdWritesPerSecond.toFixed(0)}/s`]);
    rows.push([`${n} nodes: CPU while converging`, `controller ${r.controller.cpuSeconds.toFixed(1)} s, 3 etcd ${r.etcdCpuSeconds.toFixed(1)} s, bench ${r.benchCpuSeconds.toFixed(1)} s`]);
    rows.push([`${n} nodes: controller CPU per node`, `${r.controller.cpuMsPerNode.toFixed(2)} ms (user + system, apply -> all Ready)`]);
    const h = r.controller.heap;
    rows.push([
      `${n} nodes: controller peak RSS`,
      `${r.controller.peakRssMiB.toFixed(1)} MiB (VmHWM); V8 heap used max ${h.maxHeapUsedMiB.toFixed(1)} MiB of ${h.maxHeapTotalMiB.toFixed(1)} MiB, external ${h.maxExternalMiB.toFixed(1)} MiB`,
    ]);
    if (r.resync) rows.push([`${n} nodes: idle resync`, `${r.resync.etcdWrites} etcd writes, controller CPU ${r.resync.controllerCpuSeconds.toFixed(2)} s over ${ms(r.resync.wallMs)} (${r.resync.reconciles} reconciles)`]);
  }
  const big = runs.find((r) => r.nodes >= 10_000);
  const largest = runs[runs.length - 1];
  const targets: TargetVerdict[] = [
    big
      ? {
          target: '10,000 nodes: status-write throughput >= 80 % of raw etcd',
          measured: `${pct(big.statusToRawRatio)} status writes/s of raw (${pct(big.readyToRawRatio)} counting only the writes that made a node Ready)${big.allReady ? '' : `; only ${big.readyAtEnd} Ready within the bound`}`,
          met: big.allReady && big.statusToRawRatio >= 0.8 && big.readyToRawRatio >= 0.8,
        }
      : { target: '10,000 nodes: status-write throughput >= 80 % of raw etcd', measured: `not run (sizes ${params.scale.sizes.join(', ')}); at ${largest?.nodes}: ${pct(largest?.statusToRawRatio ?? Number.NaN)}`, met: undefined },
    {
      target: '0 etcd writes on an idle resync',
      measured: runs.map((r) => `${r.resync ? r.resync.etcdWrites : 'n/a'} at ${r.nodes}`).join(', '),
      met: runs.every((r) => r.resync !== undefined) ? runs.every((r) => r.resync!.etcdWrites === 0) : false,
    },
    big
      ? { target: 'controller RSS <= 200 MB at 10,000 nodes', measured: `peak ${big.controller.peakRssMiB.toFixed(1)} MiB (${((big.controller.peakRssMiB * 2 ** 20) / 1e6).toFixed(1)} MB)`, met: (big.controller.peakRssMiB * 2 ** 20) / 1e6 <= 200 }
      : { target: 'controller RSS <= 200 MB at 10,000 nodes', measured: `not run; peak ${largest?.controller.peakRssMiB.toFixed(1)} MiB at ${largest?.nodes}`, met: undefined },
  ];
  return {
    name: 'scale',
    title: '4. Scale (IAM-only NodeMemberships applied at once)',
    rows,
    targets,
    data: { runs },
    durationMs: performance.now() - started,
  };
}

function pct(ratio: number): string {
  return Number.isFinite(ratio) ? `${(ratio * 100).toFixed(0)} %` : 'n/a';
}

async function scaleRun(size: number, params: BenchParams, log: (s: string) => void): Promise<ScaleRun> {
  const p = params.scale;
  const env = await BenchEnv.start({ name: `scale-${size}`, iam: true });
  try {
    const controller = await env.startController('bench-scale', {
      leaseTtlSeconds: 10,
      resyncPeriod: `${p.resyncPeriodMs}ms`,
      workers: p.workers,
    });
    await controller.waitForLog(/became leader/, 30_000);

    const phase = new Map<string, string>();
    let ready = 0;
    let statusWrites = 0;
    let target = Number.POSITIVE_INFINITY;
    let allReadyAt: number | undefined;
    let writesAtReady = 0;
    const watcher = await env.watchStatuses((node, st, at) => {
      statusWrites++;
      const before = phase.get(node);
      const now = st.status.phase;
      if (before === now) return;
      phase.set(node, now);
      if (now === 'Ready') ready++;
      else if (before === 'Ready') ready--;
      if (ready >= target && allReadyAt === undefined) {
        allReadyAt = at;
        writesAtReady = statusWrites;
      }
    });

    // Warm-up (not counted): IAM's initial setup; its status is the payload of the raw writes.
    await env.putDesired(env.recordOf(env.workerConfig('warmup', { iam: true })));
    await waitFor('warm-up node Ready', () => (phase.get('warmup') === 'Ready' ? true : undefined), 60_000);
    const payload = (await env.client.get(env.keys.status('warmup')).string()) ?? '';

    const rawBefore = await rawFencedTxns(env, Math.min(p.rawTxns, size), p.workers, payload);
    log(`    raw fenced txns: ${rawBefore.perSecond.toFixed(0)}/s (${rawBefore.txns} with ${rawBefore.concurrency} concurrent, ${rawBefore.valueBytes} B values)`);
    await quiesce(controller, 1000, 60_000);

    const records = Array.from({ length: size }, (_, i) => env.recordOf(env.workerConfig(`w${String(i).padStart(5, '0')}`, { iam: true })));
    ready = phase.get('warmup') === 'Ready' ? 1 : 0;
    statusWrites = 0;
    target = size + 1;
    const etcdPids = env.cluster.members.map((m) => m.pid).filter((x): x is number => x !== undefined);
    const etcdCpu = () => etcdPids.reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);
    const benchCpu = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    };
    const rev0 = await env.revision();
    const cpu0 = { controller: cpuSeconds(controller.pid) ?? 0, etcd: etcdCpu(), bench: benchCpu() };
    const memory = new MemorySampler(controller.pid, 500);
    const heap = heapSampler(controller, 2000);
    const t0 = performance.now();
    await env.putDesiredMany(records);
    const applyMs = performance.now() - t0;
    const batches = Math.ceil(size / 100);

    const progress = setInterval(() => {
      const m = memory.sample();
      log(`    ${((performance.now() - t0) / 1000).toFixed(0)} s: ${ready - 1}/${size} Ready, ${statusWrites} status writes, controller RSS ${m?.rssMiB.toFixed(0) ?? '?'} MiB`);
    }, 10_000);
    let allReady = true;
    try {
      await waitFor('every node Ready', () => allReadyAt, p.timeoutMs, 50);
    } catch {
      allReady = false;
    } finally {
      clearInterval(progress);
    }
    const convergenceMs = (allReadyAt ?? performance.now()) - t0;
    if (allReadyAt === undefined) writesAtReady = statusWrites;
    const rev1 = await env.revision();
    const cpu1 = { controller: cpuSeconds(controller.pid) ?? 0, etcd: etcdCpu(), bench: benchCpu() };
    const mem = memory.stop();
    const heapPeak = await heap.stop();
    const seconds = convergenceMs / 1000;
    const controllerEtcdWrites = rev1 - rev0 - batches;
    const controllerCpu = cpu1.controller - cpu0.controller;
    log(
      `    ${allReady ? 'all Ready' : `${ready - 1} Ready (bound reached)`} after ${ms(convergenceMs)}; ${writesAtReady} status writes; ` +
        `peak RSS ${mem.peakRssMiB.toFixed(1)} MiB; controller CPU ${((controllerCpu * 1000) / size).toFixed(2)} ms per node`,
    );

    // Raw etcd again, on the same cluster now holding the records: the ratio uses both measurements.
    const rawAfter = await rawFencedTxns(env, Math.min(p.rawTxns, size), p.workers, payload);
    log(`    raw fenced txns after the run: ${rawAfter.perSecond.toFixed(0)}/s`);
    const rawSeconds = rawBefore.seconds + rawAfter.seconds;
    const raw: ScaleRun['raw'] = {
      txns: rawBefore.txns + rawAfter.txns,
      concurrency: p.workers,
      seconds: round(rawSeconds, 3),
      perSecond: (rawBefore.txns + rawAfter.txns) / rawSeconds,
      valueBytes: rawBefore.valueBytes,
      before: rawBefore.perSecond,
      after: rawAfter.perSecond,
    };
    const run: ScaleRun = {
      nodes: size,
      allReady,
      readyAtEnd: ready - 1,
      convergenceMs: round(convergenceMs),
      applyMs: round(applyMs),
      statusWrites: writesAtReady,
      statusWritesPerSecond: writesAtReady / seconds,
      readyPerSecond: (ready - 1) / seconds,
      controllerEtcdWrites,
      controllerEtcdWritesPerSecond: controllerEtcdWrites / seconds,
      raw,
      statusToRawRatio: writesAtReady / seconds / raw.perSecond,
      readyToRawRatio: (ready - 1) / seconds / raw.perSecond,
      controller: {
        peakRssMiB: mem.peakRssMiB,
        maxSampledRssMiB: mem.maxSampledRssMiB,
        cpuSeconds: round(controllerCpu, 3),
        cpuMsPerNode: round((controllerCpu * 1000) / size, 3),
        heap: heapPeak,
      },
      etcdCpuSeconds: cpu1.etcd - cpu0.etcd,
      benchCpuSeconds: cpu1.bench - cpu0.bench,
    };
    if (allReady) {
      log(`    waiting for the next periodic resync (every ${p.resyncPeriodMs / 1000} s)`);
      run.resync = await idleResync(env, controller, size, p.resyncPeriodMs);
      log(`    idle resync: ${run.resync.etcdWrites} etcd writes, controller CPU ${run.resync.controllerCpuSeconds.toFixed(2)} s`);
    }
    await watcher.cancel();
    return run;
  } finally {
    await env.stop();
  }
}

/**
 * `count` fenced puts of `payload` to distinct keys, `concurrency` at a time,
 * shaped as the controller's status writes: compare the leader key's create
 * revision (the term) and the desired record's mod revision, then put.
 */
async function rawFencedTxns(
  env: BenchEnv,
  count: number,
  concurrency: number,
  payload: string,
): Promise<{ txns: number; concurrency: number; seconds: number; perSecond: number; valueBytes: number }> {
  const base = `${env.keys.prefix}/bench/raw/`;
  const leaderKey = `${env.keys.prefix}/bench/raw-leader`;
  const guardKey = `${env.keys.prefix}/bench/raw-desired`;
  const term = Number((await env.client.put(leaderKey).value('bench').exec()).header.revision);
  const guard = Number((await env.client.put(guardKey).value('bench').exec()).header.revision);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) {
        const r = await env.client
          .if(leaderKey, 'Create', '==', term)
          .and(guardKey, 'Mod', '==', guard)
          .then(env.client.put(`${base}${i}`).value(payload))
          .else(env.client.get(leaderKey))
          .commit();
        if (!r.succeeded) throw new Error('raw fenced txn did not succeed');
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await env.client.delete().prefix(base);
  await env.client.delete().key(leaderKey);
  await env.client.delete().key(guardKey);
  return { txns: count, concurrency, seconds: round(seconds, 3), perSecond: count / seconds, valueBytes: Buffer.byteLength(payload) };
}

async function reconcileCount(c: ControllerProcess): Promise<{ total: number; depth: number; adds: number }> {
  const text = await c.metricsText();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith('membership_reconcile_total{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  const value = (series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  };
  return { total, depth: value(`workqueue_depth{${QUEUE}}`), adds: value(`workqueue_adds_total{${QUEUE}}`) };
}

/** Waits until the work queue is empty and no reconcile finished for `stableMs`. */
async function quiesce(c: ControllerProcess, stableMs: number, timeoutMs: number, everyMs = 250): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = await reconcileCount(c);
  let since = performance.now();
  while (performance.now() < deadline) {
    await sleep(everyMs);
    const now = await reconcileCount(c);
    if (now.total !== last.total || now.depth > 0) since = performance.now();
    last = now;
    if (performance.now() - since >= stableMs) return;
  }
  throw new Error(`controller did not quiesce within ${timeoutMs} ms`);
}

/** One periodic resync of `size` Ready nodes: the revisions it added and the controller's CPU time. */
async function idleResync(env: BenchEnv, c: ControllerProcess, size: number, periodMs: number): Promise<NonNullable<ScaleRun['resync']>> {
  await quiesce(c, 1000, 10 * 60_000);
  const start = await reconcileCount(c);
  let before = { rev: await env.revision(), cpu: cpuSeconds(c.pid) ?? 0, at: performance.now(), reconciles: start.total };
  // The resync adds every key at once; the sample taken just before the jump is the start.
  const deadline = performance.now() + 2 * periodMs + 60_000;
  for (;;) {
    const cpu = cpuSeconds(c.pid) ?? 0;
    const at = performance.now();
    const rev = await env.revision();
    const m = await reconcileCount(c);
    if (m.adds >= start.adds + size) break;
    before = { rev, cpu, at, reconciles: m.total };
    if (performance.now() > deadline) throw new Error('no periodic resync seen');
    await sleep(50);
  }
  await quiesce(c, 1000, 10 * 60_000);
  const after = await reconcileCount(c);
  return {
    etcdWrites: (await env.revision()) - before.rev,
    controllerCpuSeconds: round((cpuSeconds(c.pid) ?? 0) - before.cpu, 3),
    wallMs: round(performance.now() - before.at - 1000),
    reconciles: after.total - before.reconciles,
  };
}
