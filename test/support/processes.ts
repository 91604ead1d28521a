// Helpers for running the project's executables (and any other command) as
// real child processes from tests, with line-by-line output capture.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export type BinName = 'membership-controller' | 'first-boot-agent' | 'membershipctl';

export interface ProcessOptions {
  /** Merged over process.env; a key set to undefined removes that variable. */
  env?: Record<string, string | undefined>;
  /** Default: the repository root. */
  cwd?: string;
  /** Written to the child's stdin, which is then closed. stdin is always closed. */
  stdin?: string;
}

export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

export interface ProcessHandle {
  readonly pid: number;
  /** stdout and stderr lines interleaved in arrival order. */
  readonly lines: string[];
  readonly stdout: string[];
  readonly stderr: string[];
  /**
   * Resolves with the first line (already collected or still to come) that
   * matches. Rejects on timeout or when the process ends without a match.
   */
  waitForLine(match: RegExp | ((line: string) => boolean), timeoutMs: number): Promise<string>;
  /** Resolves once the process has exited and all of its output was read. */
  readonly exited: Promise<ExitStatus>;
  /** Sends `signal` (default SIGTERM) to the child and everything in its process group. */
  kill(signal?: NodeJS.Signals): void;
}

export interface RunResult extends ExitStatus {
  stdout: string;
  stderr: string;
}

// The compiled file lives at dist/test/support/processes.js; the repo root is three levels up.
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function binPath(name: BinName): string {
  return path.join(repoRoot, 'dist', 'src', 'bin', `${name}.js`);
}

// ---------------------------------------------------------------------------
// Cleanup on exit. Test files must never leave daemons behind, even when a
// test fails before its own cleanup runs or the runner interrupts the file.

const exitCleanups = new Set<() => void>();
let exitHooksInstalled = false;

function runExitCleanups(): void {
  for (const cleanup of exitCleanups) {
    try {
      cleanup();
    } catch {
      // Best effort: one failing cleanup must not prevent the others.
    }
  }
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', runExitCleanups);
  // Default SIGINT/SIGTERM handling kills node without emitting 'exit', so
  // clean up first and then re-raise the signal to keep its usual outcome.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      runExitCleanups();
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/**
 * Runs `cleanup` (synchronously) if the process exits or is interrupted.
 * Returns a function that unregisters it.
 */
export function registerExitCleanup(cleanup: () => void): () => void {
  installExitHooks();
  exitCleanups.add(cleanup);
  return () => {
    exitCleanups.delete(cleanup);
  };
}

/**
 * True if `pid` names a live process. Zombies count as dead: processes that
 * were started detached get reparented to PID 1, which may never reap them.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM means it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state letter follows the parenthesised command name, which may itself contain spaces.
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state !== 'Z' && state !== 'X';
  } catch {
    // Without /proc (not Linux) zombies cannot be told apart, so trust kill(0);
    // with /proc, a missing entry means the process vanished meanwhile.
    return !existsSync('/proc/self');
  }
}

// ---------------------------------------------------------------------------

/** `.js` files are run with the current node binary so tests need no PATH setup. */
function commandLine(cmd: string, args: string[]): [string, string[]] {
  return /\.[cm]?js$/.test(cmd) ? [process.execPath, [cmd, ...args]] : [cmd, args];
}

function spawnChild(cmd: string, args: string[], opts: ProcessOptions): ChildProcess {
  const [file, argv] = commandLine(cmd, args);
  const child = spawn(file, argv, {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    // Its own process group, so that kill() also reaches anything it started (a shell's children, say).
    detached: true,
  });
  // A child that exits before reading stdin makes the write fail with EPIPE; that is not our error.
  child.stdin?.on('error', () => {});
  child.stdin?.end(opts.stdin ?? '');
  return child;
}

function describe(cmd: string, args: string[]): string {
  return [cmd, ...args].join(' ');
}

function tail(lines: string[], count: number): string {
  return lines.slice(-count).join('\n');
}

export function startProcess(cmd: string, args: string[], opts: ProcessOptions = {}): ProcessHandle {
  return startCapturing(cmd, args, opts).handle;
}

interface CapturingProcess {
  handle: ProcessHandle;
  /** Exact bytes written to stdout / stderr, for callers that parse whole outputs. */
  rawStdout(): string;
  rawStderr(): string;
}

function startCapturing(cmd: string, args: string[], opts: ProcessOptions): CapturingProcess {
  const child = spawnChild(cmd, args, opts);
  if (child.pid === undefined) {
    // spawn reports ENOENT and friends through a later 'error' event; fail now instead.
    child.once('error', () => {});
    throw new Error(`could not start ${describe(cmd, args)}`);
  }
  const pid = child.pid;
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch {
      // The whole group is gone already.
    }
  };
  const unregister = registerExitCleanup(() => signalGroup('SIGKILL'));

  const lines: string[] = [];
  const stdout: string[] = [];
  const stderr: string[] = [];
  const lineListeners = new Set<(line: string) => void>();

  const rawChunks: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
  const collect = (stream: NodeJS.ReadableStream | null, sink: string[], raw: Buffer[]): void => {
    if (!stream) return;
    stream.on('data', (chunk: Buffer) => raw.push(chunk));
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      sink.push(line);
      lines.push(line);
      for (const listener of lineListeners) listener(line);
    });
  };
  collect(child.stdout, stdout, rawChunks.stdout);
  collect(child.stderr, stderr, rawChunks.stderr);

  // 'close' (not 'exit') fires after stdout/stderr are drained, so every line is in `lines` by then.
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('close', (code, signal) => {
      unregister();
      resolve({ code, signal });
    });
    child.once('error', (err) => {
      lines.push(`[spawn error] ${err.message}`);
    });
  });

  const waitForLine = (match: RegExp | ((line: string) => boolean), timeoutMs: number): Promise<string> => {
    const matches = typeof match === 'function' ? match : (line: string) => match.test(line);
    const found = lines.find(matches);
    if (found !== undefined) return Promise.resolve(found);

    return new Promise<string>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        lineListeners.delete(onLine);
      };
      const onLine = (line: string): void => {
        if (!matches(line)) return;
        finish();
        resolve(line);
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for a line matching ${String(match)} ` +
              `from ${describe(cmd, args)} (pid ${pid}); last lines:\n${tail(lines, 30)}`,
          ),
        );
      }, timeoutMs);
      lineListeners.add(onLine);
      void exited.then(({ code, signal }) => {
        if (!lineListeners.has(onLine)) return;
        finish();
        reject(
          new Error(
            `${describe(cmd, args)} (pid ${pid}) exited (code ${code}, signal ${signal}) ` +
              `without printing a line matching ${String(match)}; last lines:\n${tail(lines, 30)}`,
          ),
        );
      });
    });
  };

  const handle: ProcessHandle = {
    pid,
    lines,
    stdout,
    stderr,
    waitForLine,
    exited,
    /** Signals the child's whole process group. */
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      signalGroup(signal);
    },
  };
  return {
    handle,
    rawStdout: () => Buffer.concat(rawChunks.stdout).toString('utf8'),
    rawStderr: () => Buffer.concat(rawChunks.stderr).toString('utf8'),
  };
}

/** Runs a command to completion; kills it and rejects if it outlives `timeoutMs`. */
export async function runProcess(
  cmd: string,
  args: string[],
  opts: ProcessOptions & { timeoutMs: number },
): Promise<RunResult> {
  const { handle, rawStdout, rawStderr } = startCapturing(cmd, args, opts);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      handle.kill('SIGKILL');
      reject(
        new Error(
          `${describe(cmd, args)} (pid ${handle.pid}) still running after ${opts.timeoutMs} ms, killed; ` +
            `last lines:\n${tail(handle.lines, 30)}`,
        ),
      );
    }, opts.timeoutMs);
  });
  try {
    const status = await Promise.race([handle.exited, timedOut]);
    return {
      ...status,
      stdout: rawStdout(),
      stderr: rawStderr(),
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The NODE_OPTIONS deploy/systemd/membership-controller.service runs the
 * controller with (its V8 heap limit), so that benchmarks run it as deployed.
 */
export function controllerNodeOptions(): string[] {
  const unit = readFileSync(path.join(repoRoot, 'deploy', 'systemd', 'membership-controller.service'), 'utf8');
  const line = unit.split('\n').find((l) => l.startsWith('Environment=NODE_OPTIONS='));
  if (line === undefined) throw new Error('membership-controller.service sets no NODE_OPTIONS');
  return line.slice('Environment=NODE_OPTIONS='.length).split(' ').filter(Boolean);
}
