/**
 * A membership-controller process for the bench: its log goes to a file (as
 * to journald in production, and so that 10,000 nodes' worth of log lines do
 * not pile up in the bench's memory), its /metrics is scraped over HTTP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { freePort } from '../support/etcd-cluster.js';
import { binPath, controllerNodeOptions, isProcessAlive, registerExitCleanup } from '../support/processes.js';

export interface ControllerProcessOptions {
  endpoints: string[];
  prefix: string;
  identity: string;
  logFile: string;
  /** --state-dir: its snapshots of Chainfire go to <stateDir>/snapshots */
  stateDir: string;
  configPath?: string;
  leaseTtlSeconds: number;
  resyncPeriod: string;
  workers?: number;
  logLevel?: string;
}

export class ControllerProcess {
  readonly pid: number;
  readonly identity: string;
  readonly logFile: string;
  readonly metricsPort: number;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  private readonly child: ChildProcess;
  private readonly unregister: () => void;
  private readOffset = 0;
  private partial = '';
  private readonly seen: string[] = [];

  private constructor(child: ChildProcess, opts: ControllerProcessOptions, metricsPort: number) {
    this.child = child;
    this.pid = child.pid!;
    this.identity = opts.identity;
    this.logFile = opts.logFile;
    this.metricsPort = metricsPort;
    const pid = this.pid;
    this.unregister = registerExitCleanup(() => signalGroup(pid, 'SIGKILL'));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.unregister();
        resolve({ code, signal });
      });
    });
  }

  static async start(opts: ControllerProcessOptions): Promise<ControllerProcess> {
    const metricsPort = await freePort();
    // As deployed: the node options of deploy/systemd/membership-controller.service (its heap limit).
    // BENCH_CONTROLLER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" adds to them (profiles the controllers of a run).
    const nodeArgs = (process.env.BENCH_CONTROLLER_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const args = [
      ...controllerNodeOptions(),
      ...nodeArgs,
      binPath('membership-controller'),
      '--endpoints', opts.endpoints.join(','),
      '--prefix', opts.prefix,
      '--identity', opts.identity,
      '--lease-ttl', String(opts.leaseTtlSeconds),
      '--resync-period', opts.resyncPeriod,
      ...(opts.workers !== undefined ? ['--workers', String(opts.workers)] : []),
      '--metrics-addr', `127.0.0.1:${metricsPort}`,
      '--log-level', opts.logLevel ?? 'info',
      '--state-dir', opts.stateDir,
      ...(opts.configPath ? ['--config', opts.configPath] : []),
    ];
    const log = openSync(opts.logFile, 'a');
    try {
      const child = spawn(process.execPath, args, { stdio: ['ignore', log, log], detached: true });
      if (child.pid === undefined) throw new Error(`could not start membership-controller ${opts.identity}`);
      return new ControllerProcess(child, opts, metricsPort);
    } finally {
      closeSync(log);
    }
  }

  get alive(): boolean {
    return isProcessAlive(this.pid);
  }

  kill(signal: NodeJS.Signals): void {
    signalGroup(this.pid, signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Waits for a log line matching `re` (anywhere in the log so far or still to come). */
  async waitForLog(re: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let checked = 0;
    for (;;) {
      this.readNew();
      for (; checked < this.seen.length; checked++) {
        if (re.test(this.seen[checked]!)) return this.seen[checked]!;
      }
      if (!this.alive) throw new Error(`controller ${this.identity} exited before logging ${re}; log ${this.logFile}`);
      if (Date.now() > deadline) throw new Error(`controller ${this.identity} did not log ${re} within ${timeoutMs} ms; log ${this.logFile}`);
      await sleep(20);
    }
  }

  /** Prometheus text from /metrics. */
  async metricsText(): Promise<string> {
    const res = await request(`http://127.0.0.1:${this.metricsPort}/metrics`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
    return res.body.text();
  }

  /** One sample's value, e.g. `workqueue_depth{name="nodemembership"}`; NaN when absent. */
  async metric(series: string): Promise<number> {
    return metricValue(await this.metricsText(), series);
  }

  private readNew(): void {
    let size: number;
    try {
      size = statSync(this.logFile).size;
    } catch {
      return;
    }
    if (size <= this.readOffset) return;
    const fd = openSync(this.logFile, 'r');
    try {
      // Only the first megabytes matter for the start-up lines this is used for.
      const length = Math.min(size - this.readOffset, 4 << 20);
      const buf = Buffer.alloc(length);
      readSync(fd, buf, 0, length, this.readOffset);
      this.readOffset += length;
      const text = this.partial + buf.toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      this.seen.push(...lines);
    } finally {
      closeSync(fd);
    }
  }
}

export function metricValue(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(series) && line.charAt(series.length) === ' ') return Number(line.slice(series.length + 1));
  }
  return Number.NaN;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
