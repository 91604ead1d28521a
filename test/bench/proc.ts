/**
 * What the kernel says about a process: CPU time from /proc/<pid>/stat
 * (utime + stime) and memory from /proc/<pid>/status (VmRSS, VmHWM = peak RSS).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clockTicks: number | undefined;

/** USER_HZ, the unit of utime and stime (almost always 100). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User + system CPU seconds the process has used so far; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name, which may contain spaces: state is field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

export interface Memory {
  /** resident set size now, MiB */
  rssMiB: number;
  /** peak resident set size (VmHWM), MiB */
  peakMiB: number;
}

export function memory(pid: number): Memory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** Samples VmRSS every `everyMs` and keeps the highest value seen, next to VmHWM. */
export class MemorySampler {
  private timer: NodeJS.Timeout;
  private maxRss = 0;
  private lastPeak = 0;

  constructor(
    private readonly pid: number,
    everyMs = 500,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  sample(): Memory | undefined {
    const m = memory(this.pid);
    if (m) {
      this.maxRss = Math.max(this.maxRss, m.rssMiB);
      this.lastPeak = Math.max(this.lastPeak, m.peakMiB);
    }
    return m;
  }

  /** The highest VmRSS sampled and the last VmHWM read, MiB. */
  stop(): { maxSampledRssMiB: number; peakRssMiB: number } {
    this.sample();
    clearInterval(this.timer);
    return { maxSampledRssMiB: this.maxRss, peakRssMiB: this.lastPeak };
  }
}

/** 1, 5 and 15 minute load averages. */
export function loadAverage(): [number, number, number] {
  const parts = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  return [parts[0] ?? Number.NaN, parts[1] ?? Number.NaN, parts[2] ?? Number.NaN];
}
