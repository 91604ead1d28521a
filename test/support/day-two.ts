// Helpers for the day-two scenario tests (test/integration/day2-*.test.ts): a joiner whose agent's
// --start-command starts its real etcd member, the member list with ids, the history of a node's
// status, etcd logs searched for panics, and polls that say what they saw last.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import type { NodeMembershipStatus, StatusBody } from '../../src/schema/status.js';
import { KeyLayout } from '../../src/store/keys.js';
import { checkHealth, type EtcdCluster, type PlannedMember } from './etcd-cluster.js';
import { bootstrapRecords, ctl, joinerClusterConfig, membershipFor, writeJson } from './fixtures.js';
import type { NodeMembershipInput } from '../../src/schema/node-membership.js';
import { binPath, runProcess, startProcess, type ProcessHandle, type RunResult } from './processes.js';

const keys = new KeyLayout();

// ---------------------------------------------------------------------------
// What the programs offer (flags that are being added while these tests are written)

const helpCache = new Map<string, Promise<string>>();

/** The --help text of `<bin> <args...>`, read once per process. */
export function helpOf(bin: 'first-boot-agent' | 'membershipctl', args: string[]): Promise<string> {
  const key = [bin, ...args].join(' ');
  let text = helpCache.get(key);
  if (text === undefined) {
    text = runProcess(process.execPath, [binPath(bin), ...args, '--help'], { timeoutMs: 30_000 }).then((r) => r.stdout + r.stderr);
    helpCache.set(key, text);
  }
  return text;
}

/** Whether `first-boot-agent join` takes `--data-dir` (the node's etcd data dir, reported as report.data.chainfire). */
export async function agentHasDataDir(): Promise<boolean> {
  return /--data-dir\b/.test(await helpOf('first-boot-agent', ['join']));
}

/** Whether `membershipctl delete` takes `--now` (skip the removal grace). */
export async function deleteHasNow(): Promise<boolean> {
  return /--now\b/.test(await helpOf('membershipctl', ['delete']));
}

// ---------------------------------------------------------------------------
// A joining node: its cluster-config.json, state dir, and the agent run on it

export interface Joiner {
  plan: PlannedMember;
  /** the node's cluster-config.json */
  config: string;
  /** the agent's --state-dir (markers) */
  stateDir: string;
}

/** Writes the node's cluster-config.json (node_role as given) into `dir`. */
export async function makeJoiner(cluster: EtcdCluster, plan: PlannedMember, dir: string, nodeRole = 'worker'): Promise<Joiner> {
  const config = await writeJson(dir, `${plan.name}-cluster-config.json`, { ...joinerClusterConfig(cluster, plan), node_role: nodeRole });
  return { plan, config, stateDir: join(dir, `${plan.name}-state`) };
}

/**
 * argv of `first-boot-agent join chainfire` for the joiner, its start command starting its real etcd member;
 * `--data-dir` (the member's data dir) is passed when the agent has that flag.
 */
export async function joinArgs(j: Joiner, endpoints: string[], timeout = '90s'): Promise<string[]> {
  return [
    binPath('first-boot-agent'), 'join', 'chainfire',
    '--config', j.config,
    '--state-dir', j.stateDir,
    '--endpoints', endpoints.join(','),
    '--start-command', j.plan.startCommand,
    '--local-url', j.plan.clientUrl,
    '--timeout', timeout,
    ...((await agentHasDataDir()) ? ['--data-dir', j.plan.dataDir] : []),
  ];
}

/** Runs the joiner's agent to its end (killed after `timeoutMs`). */
export async function runJoin(j: Joiner, endpoints: string[], timeoutMs = 120_000): Promise<RunResult> {
  return runProcess(process.execPath, await joinArgs(j, endpoints, `${Math.round((timeoutMs - 10_000) / 1000)}s`), { timeoutMs });
}

/** Starts the joiner's agent in the background; the caller kills it (stopAgent) when done. */
export async function startJoin(j: Joiner, endpoints: string[], timeout = '90s'): Promise<ProcessHandle> {
  return startProcess(process.execPath, await joinArgs(j, endpoints, timeout));
}

/** Kills an agent started with startJoin if it still runs, and waits for it to be gone. */
export async function stopAgent(agent: ProcessHandle | undefined): Promise<void> {
  if (agent === undefined) return;
  agent.kill('SIGKILL');
  await agent.exited;
}

export function agentOutput(r: { stdout: string; stderr: string } | ProcessHandle): string {
  const text = 'lines' in r ? r.lines.join('\n') : `${r.stdout}\n${r.stderr}`;
  return text.trim().split('\n').slice(-40).join('\n');
}

/** The seed's "Reset and Re-join" on the node: rm -rf <data dir>/* and rm <state dir>/.chainfire-*. */
export async function wipeLikeTheSeed(j: Joiner): Promise<void> {
  for (const entry of await readdir(j.plan.dataDir).catch(() => [] as string[])) {
    await rm(join(j.plan.dataDir, entry), { recursive: true, force: true });
  }
  for (const entry of await readdir(j.stateDir).catch(() => [] as string[])) {
    if (entry.startsWith('.chainfire-')) await rm(join(j.stateDir, entry), { force: true });
  }
}

// ---------------------------------------------------------------------------
// Chainfire as etcd itself reports it

export interface MemberRow {
  /** hex, as status records hold it */
  id: string;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

export async function memberRows(client: Etcd3): Promise<MemberRow[]> {
  const res = await client.cluster.memberList({});
  return res.members
    .map((m) => ({
      id: BigInt(String(m.ID)).toString(16),
      name: m.name,
      peerUrls: m.peerURLs,
      clientUrls: m.clientURLs,
      isLearner: m.isLearner,
    }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}

export function describeMembers(rows: MemberRow[]): string {
  return rows.map((m) => `${m.name || '(unstarted)'}/${m.id}/${m.isLearner ? 'learner' : 'voter'}`).join(', ') || '(none)';
}

/** Voters of the member list that answer GET /health with health "true", by name; and what the others said. */
export async function healthyVoters(client: Etcd3): Promise<{ healthy: string[]; rows: MemberRow[]; problems: string[] }> {
  const rows = await memberRows(client);
  const healthy: string[] = [];
  const problems: string[] = [];
  for (const m of rows) {
    if (m.isLearner) continue;
    const url = m.clientUrls[0];
    const h = url === undefined ? 'no client URL (not started)' : await checkHealth(url);
    if (h === true) healthy.push(m.name);
    else problems.push(`${m.name || m.id}: ${h}`);
  }
  return { healthy: healthy.sort(), rows, problems };
}

/** Every line of every member's etcd log that mentions a panic, prefixed with the member's name. */
export async function panicLines(cluster: EtcdCluster): Promise<string[]> {
  const found: string[] = [];
  for (const m of cluster.members) {
    const text = await readFile(m.logFile, 'utf8').catch(() => '');
    for (const line of text.split('\n')) if (/panic/i.test(line)) found.push(`${m.name}: ${line}`);
  }
  return found;
}

export async function logTail(file: string, lines = 15): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '(no log)');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

// ---------------------------------------------------------------------------
// Records

export async function readStatusBody(client: Etcd3, node: string): Promise<StatusBody | undefined> {
  const raw = await client.get(keys.status(node)).string();
  return raw === null ? undefined : (JSON.parse(raw) as NodeMembershipStatus).status;
}

/** One line: phase, the Chainfire member and role, each condition as type=status/reason: message. */
export function describeStatus(st: StatusBody | undefined): string {
  if (st === undefined) return 'no status';
  const cf = st.chainfire;
  const member = cf.memberId !== undefined ? ` member ${cf.memberId}${cf.role ? ` (${cf.role})` : ''}` : '';
  return `phase ${st.phase}${member}; ${st.conditions.map((c) => `${c.type}=${c.status}/${c.reason}: ${c.message}`).join('; ')}`;
}

export function conditionOf(st: StatusBody | undefined, type: string) {
  return st?.conditions.find((c) => c.type === type);
}

/** Merges `spec` into cluster/config (an operator's write). */
export async function setClusterConfig(client: Etcd3, spec: Record<string, unknown>): Promise<void> {
  const raw = await client.get(keys.clusterConfig()).string();
  const current = raw === null ? {} : (JSON.parse(raw) as { spec?: Record<string, unknown> });
  await client.put(keys.clusterConfig()).value(JSON.stringify({ ...current, spec: { ...(current.spec ?? {}), ...spec } }));
}

/** The desired record as stored, with its state set (an automation's write, straight to etcd). */
export async function putDesiredState(client: Etcd3, node: string, state: 'Present' | 'Absent'): Promise<void> {
  const raw = await client.get(keys.desired(node)).string();
  if (raw === null) throw new Error(`no desired record for ${node}`);
  const record = JSON.parse(raw) as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
  delete record.metadata.generation;
  record.spec.state = state;
  await client.put(keys.desired(node)).value(JSON.stringify(record));
}

/**
 * Waits until the node's agent report is gone (its agent exited) and its status has not been written for
 * `quietMs`: what the controller writes on an agent's exit is then behind us.
 */
export async function settle(client: Etcd3, node: string, quietMs = 1_500, timeoutMs = 30_000): Promise<void> {
  let lastRev = '';
  let since = Date.now();
  await until(`${node}'s agent report gone and its status unchanged for ${quietMs} ms`, async () => {
    const agent = await client.get(keys.agent(node)).string();
    const rev = String((await client.get(keys.status(node)).exec()).kvs[0]?.mod_revision ?? '');
    if (rev !== lastRev) {
      lastRev = rev;
      since = Date.now();
    }
    return agent === null && Date.now() - since >= quietMs
      ? { done: true }
      : { seen: agent !== null ? 'the agent report is still there' : `status written ${Date.now() - since} ms ago` };
  }, timeoutMs, 100);
}

export interface StatusEntry {
  /** ms since the epoch when the test saw it */
  at: number;
  status: StatusBody | undefined;
}

/** Every write of status/<node> from now on, as the watch delivers it. */
export class StatusHistory {
  readonly entries: StatusEntry[] = [];
  private constructor(private readonly watcher: { cancel(): Promise<void>; removeAllListeners(): unknown }) {}

  static async start(client: Etcd3, node: string): Promise<StatusHistory> {
    const watcher = await client.watch().key(keys.status(node)).create();
    const history = new StatusHistory(watcher);
    watcher.on('put', (kv) => {
      history.entries.push({ at: Date.now(), status: (JSON.parse(kv.value.toString()) as NodeMembershipStatus).status });
    });
    watcher.on('delete', () => history.entries.push({ at: Date.now(), status: undefined }));
    return history;
  }

  /** The phases in order, repeated ones once. */
  phases(): string[] {
    const out: string[] = [];
    for (const e of this.entries) {
      const p = e.status?.phase ?? '(deleted)';
      if (out[out.length - 1] !== p) out.push(p);
    }
    return out;
  }

  describe(since = 0): string {
    return this.entries.map((e) => `  +${((e.at - since) / 1000).toFixed(1)}s ${describeStatus(e.status)}`).join('\n') || '  (no status written)';
  }

  async close(): Promise<void> {
    this.watcher.removeAllListeners();
    await this.watcher.cancel().catch(() => undefined);
  }
}

/**
 * Polls `probe` every `everyMs` until it returns `{ done }`; on timeout fails with `what` and the last
 * thing it saw (`{ seen }`), or the last error.
 */
export async function until<T>(
  what: string,
  probe: () => Promise<{ done: T } | { seen: string }>,
  timeoutMs: number,
  everyMs = 250,
): Promise<T> {
  const started = Date.now();
  let seen = 'nothing yet';
  for (;;) {
    try {
      const r = await probe();
      if ('done' in r) return r.done;
      seen = r.seen;
    } catch (err) {
      seen = `error: ${(err as Error).message}`;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`expected ${what} within ${Math.round(timeoutMs / 1000)} s; last seen: ${seen}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A new control-plane node joined for real: its record applied, its agent (starting its etcd) run to exit 0, its status Ready. */
export async function joinControlPlane(cluster: EtcdCluster, client: Etcd3, name: string, dir: string): Promise<PlannedMember> {
  const plan = await cluster.planMember(name);
  const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(membershipFor(plan, false, { role: 'control-plane' })));
  if (applied.code !== 0) throw new Error(`membershipctl apply ${name}: exit ${applied.code}\n${applied.stdout}${applied.stderr}`);
  let agent: ProcessHandle | undefined = await startJoin(await makeJoiner(cluster, plan, dir, 'control-plane'), cluster.endpoints, '120s');
  try {
    await until(`${name} Ready`, async () => {
      const st = await readStatusBody(client, name);
      return st?.phase === 'Ready' ? { done: true } : { seen: describeStatus(st) };
    }, 120_000);
    const exited = await agent.exited;
    if (exited.code !== 0) throw new Error(`${name}'s agent exited ${exited.code}:\n${agentOutput(agent)}`);
    agent = undefined;
  } finally {
    await stopAgent(agent);
  }
  return plan;
}

/**
 * withRunningController's afterStart: the three members' bootstrap records (and `extra`) applied with
 * membershipctl, then every one of them Ready.
 */
export function bootstrapReady(extra: NodeMembershipInput[] = []) {
  return async ({ cluster, client }: { cluster: EtcdCluster; client: Etcd3 }): Promise<void> => {
    const records = [...bootstrapRecords(cluster), ...extra];
    const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(records));
    if (applied.code !== 0) throw new Error(`membershipctl apply: exit ${applied.code}\n${applied.stdout}${applied.stderr}`);
    for (const n of records.map((r) => r.metadata.name)) {
      await until(`${n} Ready`, async () => {
        const st = await readStatusBody(client, n);
        return st?.phase === 'Ready' ? { done: true } : { seen: describeStatus(st) };
      }, 60_000);
    }
  };
}

/** A worker's record, no Chainfire member: data beside the voters. */
export function workerRecord(name: string): NodeMembershipInput {
  return membershipFor({ name, peerUrl: 'http://127.0.0.1:1', clientUrl: 'http://127.0.0.1:2' }, false, { role: 'worker', chainfire: undefined });
}
