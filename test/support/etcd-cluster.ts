// Starts real etcd processes on 127.0.0.1 for integration tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request, type Dispatcher } from 'undici';
import { isProcessAlive, registerExitCleanup } from './processes.js';

const HOST = '127.0.0.1';
const HEALTH_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

export interface EtcdTlsOptions {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Makes etcd require client certificates signed by caFile. */
  clientCertAuth?: boolean;
}

export interface EtcdClusterOptions {
  size: number;
  /** Members are named `${namePrefix}01`, `${namePrefix}02`, ...; default 'node'. */
  namePrefix?: string;
  /** Appended to every member's command line. */
  extraArgs?: string[];
  /** Serve the client port over TLS (peers stay plain http). */
  tls?: EtcdTlsOptions;
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly logFile: string;
  /** Pid of the running etcd process, undefined while it is not running. */
  readonly pid: number | undefined;
}

export interface PlannedMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** host:port of the peer listener, the form some APIs expect for a raft address. */
  readonly raftAddr: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly logFile: string;
  readonly pidFile: string;
  /**
   * /bin/sh command line that starts this member in the background, joining an
   * existing cluster given by $CHAINFIRE_INITIAL_CLUSTER, writes its pid to
   * pidFile and returns at once.
   */
  readonly startCommand: string;
}

/** Where the etcd binary is: $ETCD_BIN, then `etcd` on PATH, then /usr/bin/etcd. */
export function etcdBinary(): string {
  const fromEnv = process.env.ETCD_BIN;
  if (fromEnv) return fromEnv;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'etcd');
    if (isExecutable(candidate)) return candidate;
  }
  if (isExecutable('/usr/bin/etcd')) return '/usr/bin/etcd';
  throw new Error(
    'etcd binary not found: install it (Debian/Ubuntu: `apt-get install -y etcd-server`) ' +
      'or set ETCD_BIN to the path of an etcd 3.4+ binary',
  );
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// The OS may hand the same ephemeral port to two consecutive bind(0) calls once
// the first socket is closed, so remember what this process already gave out.
const handedOutPorts = new Set<number>();

/** A currently free TCP port on 127.0.0.1, never the same one twice per process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, HOST, () => {
        const address = server.address();
        const found = typeof address === 'object' && address ? address.port : 0;
        server.close(() => resolve(found));
      });
    });
    if (port > 0 && !handedOutPorts.has(port)) {
      handedOutPorts.add(port);
      return port;
    }
  }
  throw new Error('could not find a free port on 127.0.0.1');
}

/** Single-quotes a word for /bin/sh. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

async function logTail(logFile: string, lineCount = 40): Promise<string> {
  try {
    const text = await readFile(logFile, 'utf8');
    const lines = text.trimEnd().split('\n').slice(-lineCount).join('\n');
    return `${lines}\n(stop() deletes the log; set KEEP_TEST_DIRS=1 to keep it)`;
  } catch {
    return '(no log written)';
  }
}

function readPidFile(pidFile: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Environment for etcd without ETCD_* variables, which etcd would read as configuration. */
function etcdEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('ETCD_')));
}

/** Everything known about a member, whether or not its process runs right now. */
interface MemberSlot {
  name: string;
  clientUrl: string;
  peerUrl: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  logFile: string;
  /** Set for members planned to join later; processes started by startCommand record their pid here. */
  pidFile?: string;
  /** The process when the harness spawned it. */
  child?: ChildProcess;
  /** Why the last spawn failed (for example a missing binary). */
  spawnError?: Error;
}

/** Planned members count as members once something has started them. */
function hasBeenStarted(slot: MemberSlot): boolean {
  return slot.pidFile === undefined || slot.child !== undefined || existsSync(slot.pidFile);
}

export class EtcdCluster {
  readonly dir: string;
  readonly initialCluster: string;
  private readonly token: string;
  private readonly options: EtcdClusterOptions;
  private readonly slots = new Map<string, MemberSlot>();
  private readonly healthAgent: Agent | undefined;
  private unregisterExitCleanup: () => void;
  private stopped: Promise<void> | undefined;

  private constructor(dir: string, options: EtcdClusterOptions, initial: MemberSlot[]) {
    this.dir = dir;
    this.options = options;
    this.token = `etcd-cluster-${randomBytes(6).toString('hex')}`;
    for (const slot of initial) this.slots.set(slot.name, slot);
    this.initialCluster = initial.map((slot) => `${slot.name}=${slot.peerUrl}`).join(',');
    const tls = options.tls;
    this.healthAgent = tls
      ? new Agent({
          connect: {
            ca: readFileSync(tls.caFile),
            cert: readFileSync(tls.certFile),
            key: readFileSync(tls.keyFile),
          },
        })
      : undefined;
    this.unregisterExitCleanup = registerExitCleanup(() => this.killAllNow());
  }

  static async start(options: EtcdClusterOptions): Promise<EtcdCluster> {
    if (!Number.isInteger(options.size) || options.size < 1) {
      throw new Error(`cluster size must be a positive integer, got ${options.size}`);
    }
    const dir = await mkdtemp(path.join(os.tmpdir(), 'etcd-cluster-'));
    const prefix = options.namePrefix ?? 'node';
    const slots: MemberSlot[] = [];
    for (let i = 1; i <= options.size; i++) {
      slots.push(await makeSlot(dir, `${prefix}${String(i).padStart(2, '0')}`, options.tls !== undefined));
    }
    const cluster = new EtcdCluster(dir, options, slots);
    try {
      for (const slot of slots) {
        cluster.spawnMember(slot, [
          '--initial-cluster',
          cluster.initialCluster,
          '--initial-cluster-state',
          'new',
          '--initial-cluster-token',
          cluster.token,
        ]);
      }
      // A new cluster only becomes healthy once a quorum is up, so wait after starting them all.
      await Promise.all(slots.map((slot) => cluster.waitHealthy(slot)));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /**
   * The initial members plus planned members that have been started (by the
   * harness or through their startCommand). `pid` is read live on each access.
   */
  get members(): EtcdMember[] {
    return [...this.slots.values()].filter(hasBeenStarted).map((slot) => this.describe(slot));
  }

  /** Client URLs of the members whose process is running. */
  get endpoints(): string[] {
    return this.members.filter((member) => member.pid !== undefined).map((member) => member.clientUrl);
  }

  member(name: string): EtcdMember {
    return this.describe(this.slot(name));
  }

  /** Reserves ports and paths for a member that will be added to the cluster later. */
  async planMember(name: string): Promise<PlannedMember> {
    if (this.slots.has(name)) throw new Error(`member ${name} already exists in this cluster`);
    const slot = await makeSlot(this.dir, name, this.options.tls !== undefined);
    slot.pidFile = path.join(this.dir, `${name}.pid`);
    this.slots.set(name, slot);

    // Its start command is the one a node's chainfire.service has (asNode): run by the agent once the
    // controller has added it, with CHAINFIRE_INITIAL_CLUSTER from the agent.
    return this.asNode(name);
  }

  /**
   * A member (initial or planned) as its node's units see it: the start command
   * of its chainfire.service, which takes CHAINFIRE_INITIAL_CLUSTER,
   * CHAINFIRE_INITIAL_CLUSTER_STATE and CHAINFIRE_EXTRA_ARGS (e.g.
   * --force-new-cluster) from the agent, and a stop command that waits until
   * the process is gone. From now on a process started by the command is the
   * member; one the harness runs is handed over through the pid file.
   */
  asNode(name: string): PlannedMember & { stopCommand: string } {
    const slot = this.slot(name);
    const pidFile = (slot.pidFile ??= path.join(this.dir, `${name}.pid`));
    const running = this.pidOf(slot);
    if (running !== undefined) writeFileSync(pidFile, `${running}\n`);
    const etcdCommand = [etcdBinary(), ...this.memberArgs(slot)].map(shellQuote).join(' ');
    // setsid puts etcd in its own session so killing the caller's process group
    // leaves it running; redirecting all three streams lets the caller return at once.
    const startCommand =
      `setsid ${etcdCommand} $CHAINFIRE_EXTRA_ARGS --initial-cluster "$CHAINFIRE_INITIAL_CLUSTER"` +
      ` --initial-cluster-state "\${CHAINFIRE_INITIAL_CLUSTER_STATE:-existing}"` +
      ` </dev/null >>${shellQuote(slot.logFile)} 2>&1 & echo $! >${shellQuote(pidFile)}`;
    const pf = shellQuote(pidFile);
    const stopCommand = `pid=$(cat ${pf} 2>/dev/null); [ -n "$pid" ] || exit 0; kill "$pid" 2>/dev/null; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done`;
    return {
      name,
      clientUrl: slot.clientUrl,
      peerUrl: slot.peerUrl,
      raftAddr: `${HOST}:${slot.peerPort}`,
      clientPort: slot.clientPort,
      peerPort: slot.peerPort,
      dataDir: slot.dataDir,
      logFile: slot.logFile,
      pidFile,
      startCommand,
      stopCommand,
    };
  }

  /** Starts a planned member (already added through the Cluster API) and waits until it is healthy. */
  async startPlanned(plan: PlannedMember, initialCluster: string): Promise<EtcdMember> {
    const slot = this.slot(plan.name);
    if (this.pidOf(slot) !== undefined) throw new Error(`member ${plan.name} is already running`);
    this.spawnMember(slot, ['--initial-cluster', initialCluster, '--initial-cluster-state', 'existing']);
    await this.waitHealthy(slot);
    return this.describe(slot);
  }

  /**
   * Sends `signal` to a member (including one started through its startCommand).
   * For terminating signals, resolves once the process is gone.
   */
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const slot = this.slot(name);
    const pid = this.pidOf(slot);
    if (pid === undefined) return;
    process.kill(pid, signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') {
      await waitForExit(pid, signal === 'SIGKILL' ? STOP_GRACE_MS : 30_000);
    }
  }

  /**
   * Starts a member again on its existing data dir (stopping it first if it
   * still runs) and waits until it is healthy. etcd ignores the initial-cluster
   * settings once a data dir exists, so none are passed.
   */
  async restart(name: string): Promise<EtcdMember> {
    const slot = this.slot(name);
    if (this.pidOf(slot) !== undefined) await this.kill(name, 'SIGTERM');
    // From now on the harness owns the process; a stale pid could later name an unrelated one.
    if (slot.pidFile) writeFileSync(slot.pidFile, '');
    this.spawnMember(slot, []);
    await this.waitHealthy(slot);
    return this.describe(slot);
  }

  /** SIGTERM everything, SIGKILL what is left after 5 s, remove the temp dir. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= this.stopOnce();
    return this.stopped;
  }

  private async stopOnce(): Promise<void> {
    // Followers first, the leader last. A leader that gets SIGTERM hands its
    // leadership to a connected peer and waits for that to finish; if the peers
    // are shutting down at the same moment nobody takes over and the leader
    // hangs for etcd's request timeout (about 7 s). With the followers gone it
    // has nobody to hand over to and exits at once.
    const running = [...this.slots.values()].filter((slot) => this.pidOf(slot) !== undefined);
    const leaderFlags = await Promise.all(running.map((slot) => this.isLeader(slot)));
    const leaders = running.filter((_, i) => leaderFlags[i]);
    const followers = running.filter((_, i) => !leaderFlags[i]);
    for (const group of [followers, leaders]) {
      await Promise.all(group.map((slot) => terminate(this.pidOf(slot))));
    }
    this.unregisterExitCleanup();
    await this.healthAgent?.close();
    if (!process.env.KEEP_TEST_DIRS) {
      await rm(this.dir, { recursive: true, force: true });
    }
  }

  /** Reads etcd's own leader gauge; any failure counts as "not the leader". */
  private async isLeader(slot: MemberSlot): Promise<boolean> {
    try {
      const response = await request(`${slot.clientUrl}/metrics`, {
        dispatcher: this.healthAgent,
        headersTimeout: 2_000,
        bodyTimeout: 2_000,
      });
      return /^etcd_server_is_leader 1$/m.test(await response.body.text());
    } catch {
      return false;
    }
  }

  /** Synchronous last resort when the test process exits without stop(). */
  private killAllNow(): void {
    for (const slot of this.slots.values()) {
      const pid = this.pidOf(slot);
      if (pid !== undefined) signalQuietly(pid, 'SIGKILL');
    }
    if (!process.env.KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }

  private slot(name: string): MemberSlot {
    const slot = this.slots.get(name);
    if (!slot) throw new Error(`no member named ${name} in this cluster`);
    return slot;
  }

  private pidOf(slot: MemberSlot): number | undefined {
    const child = slot.child;
    // Node learns about a child's exit a little after the kernel does, so ask the kernel too.
    const childRuns = child?.pid !== undefined && child.exitCode === null && child.signalCode === null;
    if (childRuns && isProcessAlive(child.pid)) return child.pid;
    if (slot.pidFile) {
      const pid = readPidFile(slot.pidFile);
      if (pid !== undefined && isProcessAlive(pid)) return pid;
    }
    return undefined;
  }

  private describe(slot: MemberSlot): EtcdMember {
    const pidOf = () => this.pidOf(slot);
    return {
      name: slot.name,
      clientUrl: slot.clientUrl,
      peerUrl: slot.peerUrl,
      clientPort: slot.clientPort,
      peerPort: slot.peerPort,
      dataDir: slot.dataDir,
      logFile: slot.logFile,
      get pid() {
        return pidOf();
      },
    };
  }

  /** Flags every member gets regardless of how it is started. */
  private memberArgs(slot: MemberSlot): string[] {
    const args = [
      '--name',
      slot.name,
      '--data-dir',
      slot.dataDir,
      '--listen-client-urls',
      slot.clientUrl,
      '--advertise-client-urls',
      slot.clientUrl,
      '--listen-peer-urls',
      slot.peerUrl,
      '--initial-advertise-peer-urls',
      slot.peerUrl,
      // Short timings so elections and failure detection happen within test timeouts.
      '--heartbeat-interval',
      '100',
      '--election-timeout',
      '1000',
      // etcd 3.4 warns on every start that its default logger is deprecated.
      '--logger',
      'zap',
      '--log-outputs',
      'stderr',
    ];
    const tls = this.options.tls;
    if (tls) {
      args.push('--cert-file', tls.certFile, '--key-file', tls.keyFile, '--trusted-ca-file', tls.caFile);
      if (tls.clientCertAuth) args.push('--client-cert-auth');
    }
    return [...args, ...(this.options.extraArgs ?? [])];
  }

  private spawnMember(slot: MemberSlot, clusterArgs: string[]): void {
    const log = openSync(slot.logFile, 'a');
    try {
      const child = spawn(etcdBinary(), [...this.memberArgs(slot), ...clusterArgs], {
        env: etcdEnv(),
        stdio: ['ignore', log, log],
      });
      slot.spawnError = undefined;
      child.on('error', (err) => {
        slot.spawnError = err;
      });
      // A test that forgets stop() must not hang its process; the exit cleanup kills etcd then.
      child.unref();
      slot.child = child;
    } finally {
      // The child holds its own copy of the descriptor.
      closeSync(log);
    }
  }

  /** Polls GET /health until it reports true; fails early if the process dies. */
  private async waitHealthy(slot: MemberSlot, timeoutMs = HEALTH_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastProblem = 'no answer yet';
    while (Date.now() < deadline) {
      if (slot.spawnError) {
        throw new Error(`could not start etcd member ${slot.name}: ${slot.spawnError.message}`);
      }
      const child = slot.child;
      if (child && (child.exitCode !== null || child.signalCode !== null)) {
        throw new Error(
          `etcd member ${slot.name} exited (code ${child.exitCode}, signal ${child.signalCode}) ` +
            `before becoming healthy; log ${slot.logFile}:\n${await logTail(slot.logFile)}`,
        );
      }
      const result = await checkHealth(slot.clientUrl, this.healthAgent);
      if (result === true) return;
      lastProblem = result;
      await sleep(200);
    }
    throw new Error(
      `etcd member ${slot.name} not healthy at ${slot.clientUrl} after ${timeoutMs} ms (${lastProblem}); ` +
        `log ${slot.logFile}:\n${await logTail(slot.logFile)}`,
    );
  }
}

/**
 * GET <clientUrl>/health. Returns true when etcd reports health "true",
 * otherwise a short description of what came back instead.
 */
export async function checkHealth(clientUrl: string, dispatcher?: Dispatcher): Promise<true | string> {
  try {
    const response = await request(`${clientUrl}/health`, {
      dispatcher,
      headersTimeout: 3_000,
      bodyTimeout: 3_000,
    });
    const body = await response.body.text();
    try {
      if ((JSON.parse(body) as { health?: unknown }).health === 'true') return true;
    } catch {
      // Not JSON; reported below.
    }
    return `HTTP ${response.statusCode}: ${body.trim()}`;
  } catch (err) {
    return (err as Error).message;
  }
}

async function makeSlot(dir: string, name: string, tls: boolean): Promise<MemberSlot> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  return {
    name,
    clientUrl: `${tls ? 'https' : 'http'}://${HOST}:${clientPort}`,
    peerUrl: `http://${HOST}:${peerPort}`,
    clientPort,
    peerPort,
    // etcd creates the data dir itself, with the 0700 mode it insists on.
    dataDir: path.join(dir, `${name}.etcd`),
    logFile: path.join(dir, `${name}.log`),
  };
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** SIGTERM, then SIGKILL if the process is still there after the grace period. */
async function terminate(pid: number | undefined): Promise<void> {
  if (pid === undefined) return;
  signalQuietly(pid, 'SIGTERM');
  try {
    await waitForExit(pid, STOP_GRACE_MS);
  } catch {
    signalQuietly(pid, 'SIGKILL');
    await waitForExit(pid, STOP_GRACE_MS);
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() >= deadline) throw new Error(`process ${pid} still alive after ${timeoutMs} ms`);
    await sleep(50);
  }
}
