import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { API_VERSION } from '../../src/schema/common.js';
import type { NodeMembershipInput } from '../../src/schema/node-membership.js';
import type { NodeMembershipStatus } from '../../src/schema/status.js';
import { KeyLayout } from '../../src/store/keys.js';
import { EtcdCluster, type PlannedMember } from './etcd-cluster.js';
import { binPath, registerExitCleanup, runProcess, startProcess, type ProcessHandle, type RunResult } from './processes.js';

/** A NodeMembership for a member of the test cluster (bootstrap) or a planned joiner. */
export function membershipFor(
  m: { name: string; raftAddr?: string; peerUrl: string; clientUrl: string },
  bootstrap: boolean,
  extra: Partial<NodeMembershipInput['spec']> = {},
): NodeMembershipInput {
  const raftAddr = m.raftAddr ?? new URL(m.peerUrl).host;
  return {
    apiVersion: API_VERSION,
    kind: 'NodeMembership',
    metadata: { name: m.name },
    spec: {
      role: 'control-plane',
      bootstrap,
      state: 'Present',
      nodeIp: '127.0.0.1',
      chainfire: { raftAddr, clientUrl: m.clientUrl },
      ...extra,
    },
  };
}

export function bootstrapRecords(cluster: EtcdCluster): NodeMembershipInput[] {
  return cluster.members.map((m) => membershipFor(m, true));
}

/** The seed's cluster-config.json for a planned joiner of the test cluster. */
export function joinerClusterConfig(cluster: EtcdCluster, plan: PlannedMember): Record<string, unknown> {
  return {
    node_id: plan.name,
    node_role: 'worker',
    bootstrap: false,
    cluster_name: 'test-cluster',
    leader_url: cluster.endpoints[0],
    raft_addr: plan.raftAddr,
    initial_peers: cluster.members.map((m) => new URL(m.peerUrl).host),
    flaredb_peers: [],
    node_ip: '127.0.0.1',
    services: { chainfire: { client_url: plan.clientUrl }, flaredb: { enabled: false }, iam: { enabled: false } },
  };
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function writeJson(dir: string, name: string, value: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(value, null, 2));
  return path;
}

/**
 * A state directory of its own for a controller started by a test, removed when the test process exits
 * (KEEP_TEST_DIRS=1 keeps it): the snapshots it takes before Chainfire changes go to <dir>/snapshots.
 */
export function controllerStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'controller-state-'));
  if (process.env.KEEP_TEST_DIRS !== '1') registerExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A controller process; its snapshots go to a temporary state directory unless `extraArgs` names one (--state-dir). */
export function startController(endpoints: string[], identity: string, extraArgs: string[] = []): ProcessHandle {
  const stateDir = extraArgs.includes('--state-dir') ? [] : ['--state-dir', controllerStateDir()];
  return startProcess(process.execPath, [
    binPath('membership-controller'),
    '--endpoints', endpoints.join(','),
    '--identity', identity,
    ...stateDir,
    '--lease-ttl', '3',
    '--resync-period', '5s',
    '--metrics-addr', '127.0.0.1:0',
    '--log-level', 'debug',
    ...extraArgs,
  ]);
}

/**
 * Runs `body`; when it fails, the error carries the controller's last non-debug lines, and its whole log
 * (debug lines too) is written to a file the message names, so a failure in CI shows where it stalled.
 */
export async function withControllerLog(controller: { lines: string[] }, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const last = controller.lines.filter((l) => !/"level":"DEBUG"/.test(l)).slice(-60).join('\n');
    const file = join(tmpdir(), `controller-${process.pid}-${Date.now()}.log`);
    await writeFile(file, controller.lines.join('\n') + '\n').catch(() => undefined);
    throw new Error(`${(err as Error).message}\ncontroller's whole log: ${file}\ncontroller's last lines:\n${last}`, { cause: err });
  }
}

export function ctl(endpoints: string[], args: string[], stdin?: string): Promise<RunResult> {
  return runProcess(process.execPath, [binPath('membershipctl'), ...args, '--endpoints', endpoints.join(',')], {
    timeoutMs: 30_000,
    ...(stdin !== undefined ? { stdin } : {}),
  });
}

/** Reads a node's status record straight from etcd. */
export async function readStatus(client: Etcd3, node: string): Promise<NodeMembershipStatus | undefined> {
  const raw = await client.get(new KeyLayout().status(node)).string();
  return raw === null ? undefined : (JSON.parse(raw) as NodeMembershipStatus);
}

/** Polls (tests only) until `check` returns a value, with a generous bound and a message saying what was awaited. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const started = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function voters(client: Etcd3): Promise<{ voters: string[]; learners: string[] }> {
  const res = await client.cluster.memberList({});
  return {
    voters: res.members.filter((m) => !m.isLearner).map((m) => m.name).sort(),
    learners: res.members.filter((m) => m.isLearner).map((m) => m.name).sort(),
  };
}

export interface RunningController {
  cluster: EtcdCluster;
  /** a client on every member, for the test's own reads and writes */
  client: Etcd3;
  /** the one controller, leading */
  controller: ProcessHandle;
}

/**
 * For the describe block it is called in: a real 3-member etcd, a client and
 * one controller that has become leader (before), all stopped after. The
 * returned object is filled in by the time the tests run.
 */
export function withRunningController(
  opts: { identity?: string; args?: string[]; afterStart?: (env: RunningController) => Promise<void> } = {},
): RunningController {
  const env = {} as RunningController;
  before(async () => {
    env.cluster = await EtcdCluster.start({ size: 3 });
    env.client = new Etcd3({ hosts: env.cluster.endpoints });
    env.controller = startController(env.cluster.endpoints, opts.identity ?? 'c1', opts.args ?? []);
    await env.controller.waitForLine(/became leader/, 30_000);
    await opts.afterStart?.(env);
  });
  after(async () => {
    env.controller?.kill('SIGKILL');
    await env.controller?.exited;
    env.client?.close();
    await env.cluster?.stop();
  });
  return env;
}
