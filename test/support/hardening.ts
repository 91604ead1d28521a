// Helpers of the table-driven hardening tests (flags, files, terminals,
// credentials): run a real executable under a bound, capture all it wrote,
// and check the four things every case checks: no crash, a message naming
// the problem, the right exit code and (by the caller) no side effect.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { binPath, registerExitCleanup, repoRoot, type BinName } from './processes.js';

export interface Outcome {
  /** null when the process was killed (timed out, or by a signal) */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** the process outlived its bound and was killed */
  timedOut: boolean;
}

export interface RunOptions {
  /** merged over process.env; undefined removes a variable */
  env?: Record<string, string | undefined>;
  /** written to stdin, which is then closed (default: closed at once) */
  stdin?: string | Buffer;
  /** default 20 s */
  timeoutMs?: number;
  /** run as this user (the tests run as root: nobody, to find what root may read anyway) */
  uid?: number;
  gid?: number;
  /** a bound on the address space (KiB), so that a runaway read fails instead of eating the machine */
  memoryKiB?: number;
  /** stop reading stdout after this many bytes and close the pipe (a reader that goes away, as `| head -c N`) */
  closeStdoutAfter?: number;
  /** called with the pid once started (to look at /proc/<pid>) */
  onStart?: (pid: number) => void | Promise<void>;
  /** for a program that runs until stopped: SIGTERM once what it wrote matches (it must then exit on its own) */
  stopWhen?: RegExp;
}

/** nobody's uid and gid, for the cases that need a user root is not. */
export const NOBODY = { uid: 65534, gid: 65534 };

let nobodyProblem: string | null | undefined;
/**
 * Why the programs cannot run as nobody here, if they cannot: a checkout in a directory others may not
 * enter (mktemp -d makes 0700 ones) cannot be read by nobody. Asked once.
 */
export function nobodyCannotRun(): string | undefined {
  if (nobodyProblem === undefined) {
    const bin = binPath('first-boot-agent');
    const r = spawnSync('test', ['-r', bin], { ...NOBODY });
    nobodyProblem = r.status === 0 ? null : `user nobody cannot read ${bin} (a directory above the checkout is closed to others, as mktemp -d makes them): the programs cannot be run as nobody here`;
  }
  return nobodyProblem ?? undefined;
}

const CAPTURE_LIMIT = 8 * 1024 * 1024;

/** Runs `bin` (one of the three programs) or any command, to its end or its bound. */
export function run(bin: BinName | string, args: string[], opts: RunOptions = {}): Promise<Outcome> {
  const isBin = bin === 'membershipctl' || bin === 'first-boot-agent' || bin === 'membership-controller';
  let file = isBin ? process.execPath : bin;
  let argv = isBin ? [binPath(bin as BinName), ...args] : args;
  if (opts.memoryKiB !== undefined) {
    argv = ['-c', `ulimit -v ${opts.memoryKiB}; exec "$@"`, 'bounded', file, ...argv];
    file = '/bin/bash';
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...opts.env })) if (v !== undefined) env[k] = v;
  const child = spawn(file, argv, {
    cwd: repoRoot,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid ?? opts.uid } : {}),
  });
  const pid = child.pid!;
  const killGroup = () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone already
    }
  };
  const unregister = registerExitCleanup(killGroup);
  child.stdin.on('error', () => undefined);
  child.stdin.end(opts.stdin ?? '');
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let outBytes = 0;
  let errBytes = 0;
  let stopped = false;
  const stopIfDone = () => {
    if (opts.stopWhen === undefined || stopped) return;
    if (!opts.stopWhen.test(Buffer.concat([...out, ...err]).toString('utf8'))) return;
    stopped = true;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone already
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    if (outBytes < CAPTURE_LIMIT) out.push(chunk);
    outBytes += chunk.length;
    stopIfDone();
    if (opts.closeStdoutAfter !== undefined && outBytes >= opts.closeStdoutAfter) child.stdout.destroy();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    if (errBytes < CAPTURE_LIMIT) err.push(chunk);
    errBytes += chunk.length;
    stopIfDone();
  });
  if (opts.onStart) void Promise.resolve(opts.onStart(pid)).catch(() => undefined);
  return new Promise<Outcome>((resolve) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs ?? 20_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      unregister();
      // The process group may hold children (a start command's): end them too.
      killGroup();
      resolve({ code, signal, timedOut, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** What a crash looks like: a JavaScript stack, an unhandled error event, V8 running out of something. */
const CRASH = [
  /^\s+at .+(\(|file:\/\/|node:)[^\n]*$/m,
  /Unhandled 'error' event/,
  /node:internal\//,
  /\b(TypeError|RangeError|ReferenceError|SyntaxError): /,
  /Maximum call stack size exceeded/,
  /heap out of memory|JavaScript heap/,
  /UnhandledPromiseRejection|triggerUncaughtException/,
];

/** All a process wrote, for assertion messages. */
export function shown(o: Outcome): string {
  const cut = (s: string) => (s.length > 3000 ? `${s.slice(0, 1500)}\n[...]\n${s.slice(-1500)}` : s);
  return `exit ${o.code} signal ${o.signal}${o.timedOut ? ' (TIMED OUT, killed)' : ''}\n--- stdout\n${cut(o.stdout)}\n--- stderr\n${cut(o.stderr)}`;
}

/** No crash: it ended on its own, with no stack trace and not with 70 (internal error). */
export function assertNoCrash(o: Outcome): void {
  assert.equal(o.timedOut, false, `the process did not end within its bound\n${shown(o)}`);
  assert.notEqual(o.code, null, `the process was killed by ${o.signal}\n${shown(o)}`);
  assert.notEqual(o.code, 70, `exit 70 (internal error)\n${shown(o)}`);
  for (const re of CRASH) assert.doesNotMatch(`${o.stdout}\n${o.stderr}`, re, `a crash (${re})\n${shown(o)}`);
}

/**
 * The checks of one case: no crash, the exit code, and each of `messages`
 * found in what the process wrote (stderr and stdout: the agent logs to stdout).
 */
export function assertOutcome(o: Outcome, code: number, ...messages: RegExp[]): void {
  assertNoCrash(o);
  assert.equal(o.code, code, `exit code\n${shown(o)}`);
  for (const m of messages) assert.match(`${o.stderr}\n${o.stdout}`, m, `message ${m}\n${shown(o)}`);
}

/** A regular expression matching `text` literally. */
export function literal(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

/** Makes a FIFO (named pipe) at `path`. */
export function mkfifo(path: string): void {
  execFileSync('mkfifo', [path]);
}
