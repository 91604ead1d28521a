/**
 * Scenario 6, day two: how long after the operator's action the cluster is
 * healthy again, for the two day-two cases that need one.
 *
 * A. A dead voter replaced. Three bootstrap voters, Ready; one member's etcd
 *    gets SIGKILL (for good). Measured: the kill until its status says phase
 *    Degraded (MemberUnhealthy). Then the operator's actions: `membershipctl
 *    delete <dead> --now --no-wait`, `membershipctl apply` of a new
 *    control-plane node, and that node's `first-boot-agent join chainfire`
 *    whose --start-command starts a real etcd member. Measured from the first
 *    action until Chainfire has exactly 3 voters, no learner, the dead member
 *    gone, every voter answering GET /health, and the new node's status Ready.
 * B. The node joined in A reprovisioned as the seed's "Reset and Re-join"
 *    does: its etcd SIGKILLed, its data dir emptied (rm -rf <dataDir>/*), its
 *    `.chainfire-*` files removed from the agent's state dir, once its status
 *    says Degraded (the controller has seen it down, as it would during a
 *    reinstall). Then its agent runs again (same config and start command,
 *    `--data-dir <dataDir>`). Measured from the agent's start until the node is a voter under a new
 *    member id (the old one gone), every voter answers, and its status is
 *    Ready under that new id.
 *
 * The full run does A then B several rounds, each killing another voter
 * (never node01, the one the bench's own client and watch use); the rounds
 * alternate the order of the operator's two actions (delete first, then the
 * new node; the new node first, then delete).
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import type { NodeMembershipStatus } from '../../../src/schema/status.js';
import { checkHealth, type PlannedMember } from '../../support/etcd-cluster.js';
import { bootstrapRecords, ctl, joinerClusterConfig, membershipFor, writeJson } from '../../support/fixtures.js';
import { binPath, runProcess, startProcess, type ExitStatus, type ProcessHandle } from '../../support/processes.js';
import { BenchEnv, waitFor } from '../env.js';
import { ms, round, roundSummary, summarize } from '../stats.js';
import type { BenchParams, ScenarioResult } from '../types.js';

/** The issue's bound for the dead-voter replacement, from the operator's actions. */
const REPLACE_BOUND_MS = 30_000;
/** How long a reprovisioned node may take to be healthy again, from its agent's new start. */
const REPROVISION_BOUND_MS = 60_000;
/** How long the bench waits for either before it gives up on the round. */
const GIVE_UP_MS = 120_000;
const POLL_MS = 100;
const DEFAULT_HEALTH_INTERVAL_S = 10;

interface Member {
  /** hex, as statuses hold it */
  id: string;
  name: string;
  peerUrl: string;
  clientUrl: string | undefined;
  isLearner: boolean;
}

interface Seen {
  members: Member[];
  /** ids of the members that answered GET /health with "true" */
  healthy: Set<string>;
}

/** A status write of the node the bench follows, relative to the phase's start. */
interface TrailEntry {
  atMs: number;
  phase: string;
  chainfireMember: string;
  memberId?: string;
}

type Order = 'delete first' | 'apply first';

interface Replacement {
  /** the operator's two actions: `membershipctl delete <dead> --now` and the new node (apply + its agent) */
  order: Order;
  victim: string;
  victimWasLeader: boolean;
  /** SIGKILL -> the victim's status says Degraded (MemberUnhealthy); NaN when not seen */
  degradedMs: number;
  newNode: string;
  /** from the first action (t0): membershipctl delete returned; the apply returned and the agent was started */
  deleteDoneMs: number;
  actionsDoneMs: number;
  /** the dead member no longer listed (polled); its status phase Removed (watched) */
  deadRemovedMs: number;
  deadStatusRemovedMs: number;
  learnerAddedMs: number;
  promotedMs: number;
  newNodeReadyMs: number;
  /** t0 -> 3 healthy voters, the dead one gone, the new node Ready; NaN when not reached */
  totalMs: number;
  /** the same, from the last action (the agent started) */
  fromLastActionMs: number;
  agentExit: ExitStatus | undefined;
  trail: TrailEntry[];
  /** what the bench saw last when it gave up */
  gaveUp?: string;
}

interface Reprovision {
  node: string;
  oldMemberId: string;
  /** its etcd killed -> its status Degraded (before the wipe and the agent's new start); NaN when not seen */
  degradedMs: number;
  newMemberId?: string;
  oldRemovedMs: number;
  learnerAddedMs: number;
  promotedMs: number;
  readyMs: number;
  /** the agent's start -> healthy voter under a new id, 3 healthy voters, status Ready; NaN when not reached */
  totalMs: number;
  agentExit: ExitStatus | undefined;
  /** lines mentioning a panic in the node's etcd log */
  panicLines: number;
  trail: TrailEntry[];
  gaveUp?: string;
}

interface Round {
  replacement: Replacement;
  reprovision?: Reprovision;
}

export async function day2Scenario(params: BenchParams, log: (s: string) => void): Promise<ScenarioResult> {
  const started = performance.now();
  const p = params.day2;
  const env = await BenchEnv.start({ name: 'day2' });
  // node01 is never killed: the bench reads and watches through it alone, so a dead member's
  // connection never delays what the bench sees.
  const node01 = env.cluster.member('node01');
  const client = new Etcd3({ hosts: [node01.clientUrl] });
  const statuses = new Map<string, { status: NodeMembershipStatus['status']; at: number }[]>();
  const agents: ProcessHandle[] = [];
  const dataDirFlag = await agentHasDataDir();
  try {
    const watcher = await client.watch().prefix(env.keys.dir('status')).create();
    watcher.on('put', (kv) => {
      const at = performance.now();
      const node = kv.key.toString().slice(env.keys.dir('status').length);
      const list = statuses.get(node) ?? [];
      list.push({ status: (JSON.parse(kv.value.toString()) as NodeMembershipStatus).status, at });
      statuses.set(node, list);
    });

    if (p.healthIntervalSeconds !== DEFAULT_HEALTH_INTERVAL_S) {
      await client.put(env.keys.clusterConfig()).value(JSON.stringify({ spec: { healthIntervalSeconds: p.healthIntervalSeconds } }));
    }
    for (const r of bootstrapRecords(env.cluster)) await env.putDesired(r);
    const controller = await env.startController('bench-day2', { leaseTtlSeconds: 10, resyncPeriod: '30s' });
    await controller.waitForLog(/became leader/, 30_000);
    await waitFor('node01..node03 Ready', () => (['node01', 'node02', 'node03'].every((n) => lastStatus(statuses, n)?.phase === 'Ready') ? true : undefined), 60_000, 50);

    const rounds: Round[] = [];
    const joined: Array<{ plan: PlannedMember; configPath: string; stateDir: string }> = [];
    const victims = ['node03', 'node02'];
    for (let i = 0; i < p.rounds; i++) {
      const victim = victims[i] ?? joined[i - victims.length]?.plan.name;
      if (victim === undefined) break;
      const name = `node${String(4 + i).padStart(2, '0')}`;
      // The issue allows the operator's two actions in either order: the rounds alternate.
      const order: Order = i % 2 === 0 ? 'delete first' : 'apply first';
      log(`  round ${i + 1}: ${victim}'s etcd killed, replaced by ${name} (${order})`);
      const r = await replaceDeadVoter(env, client, statuses, agents, victim, name, order, dataDirFlag, p.healthIntervalSeconds);
      log(`    ${victim} Degraded ${ms(r.replacement.degradedMs)} after the kill; 3 healthy voters with ${name} Ready ${ms(r.replacement.totalMs)} after the first action`);
      const round: Round = { replacement: r.replacement };
      rounds.push(round);
      if (r.joiner === undefined) break;
      joined.push(r.joiner);
      if (!dataDirFlag) {
        log('    reprovision skipped: first-boot-agent join has no --data-dir');
        continue;
      }
      log(`  round ${i + 1}: ${name} reprovisioned (etcd killed, data dir and markers wiped), its agent run again`);
      round.reprovision = await reprovision(env, client, statuses, agents, r.joiner, p.healthIntervalSeconds);
      log(`    ${name} a healthy voter under a new member id, Ready, ${ms(round.reprovision.totalMs)} after its agent started`);
      if (Number.isNaN(round.reprovision.totalMs)) break;
    }
    watcher.removeAllListeners();
    await watcher.cancel();
    return result(p, rounds, dataDirFlag, performance.now() - started);
  } finally {
    for (const a of agents) a.kill('SIGKILL');
    client.close();
    await env.stop();
  }
}

async function replaceDeadVoter(
  env: BenchEnv,
  client: Etcd3,
  statuses: Map<string, { status: NodeMembershipStatus['status']; at: number }[]>,
  agents: ProcessHandle[],
  victim: string,
  name: string,
  order: Order,
  dataDirFlag: boolean,
  healthIntervalSeconds: number,
): Promise<{ replacement: Replacement; joiner?: { plan: PlannedMember; configPath: string; stateDir: string } }> {
  const before = await observe(client);
  const victimMember = before.members.find((m) => m.name === victim);
  if (victimMember === undefined) throw new Error(`${victim} is not a member: ${describe(before)}`);
  const status = await client.maintenance.status();
  const victimWasLeader = BigInt(String(status.leader)).toString(16) === victimMember.id;

  const killAt = performance.now();
  await env.cluster.kill(victim, 'SIGKILL');
  const degradedAt = await waitFor(
    `${victim} Degraded`,
    () => statuses.get(victim)?.find((s) => s.at >= killAt && s.status.phase === 'Degraded' && reasonOf(s.status) === 'MemberUnhealthy')?.at,
    healthIntervalSeconds * 3_000 + 30_000,
    20,
  ).catch(() => Number.NaN);

  const plan = await env.cluster.planMember(name);
  const config = { ...joinerClusterConfig(env.cluster, plan), node_role: 'control-plane', cluster_name: 'bench' };
  const configPath = await writeJson(env.dir, `${name}-cluster-config.json`, config);
  const stateDir = join(env.dir, `${name}-state`);
  const live = env.cluster.endpoints;

  // The operator's actions, with the bench looking from the first on.
  const marks = { deadRemoved: Number.NaN, learnerAdded: Number.NaN, promoted: Number.NaN, ready: Number.NaN };
  let last = '';
  const t0 = performance.now();
  const polling = pollUntil(async () => {
    const seen = await observe(client);
    const now = performance.now();
    const mine = seen.members.find((m) => m.peerUrl === plan.peerUrl);
    if (Number.isNaN(marks.deadRemoved) && !seen.members.some((m) => m.id === victimMember.id)) marks.deadRemoved = now;
    if (Number.isNaN(marks.learnerAdded) && mine?.isLearner) marks.learnerAdded = now;
    if (Number.isNaN(marks.promoted) && mine !== undefined && !mine.isLearner) marks.promoted = now;
    const st = lastStatus(statuses, name);
    if (Number.isNaN(marks.ready) && st?.phase === 'Ready') marks.ready = statuses.get(name)!.findLast((s) => s.status.phase === 'Ready')!.at;
    last = `${describe(seen)}; ${name}: ${describeStatus(st)}`;
    return threeHealthyVoters(seen) && !seen.members.some((m) => m.id === victimMember.id) && mine !== undefined && !mine.isLearner && st?.phase === 'Ready'
      ? now
      : undefined;
  });
  let deleted = Number.NaN;
  const deleteDead = async () => {
    const del = await ctl(live, ['delete', victim, '--now', '--no-wait']);
    if (del.code !== 0) throw new Error(`membershipctl delete ${victim} --now --no-wait: exit ${del.code}\n${del.stdout}${del.stderr}`);
    deleted = performance.now();
  };
  let agent: ProcessHandle | undefined;
  const applyNew = async () => {
    const apply = await ctl(live, ['apply', '-f', '-'], JSON.stringify(membershipFor(plan, false, { role: 'control-plane' })));
    if (apply.code !== 0) throw new Error(`membershipctl apply ${name}: exit ${apply.code}\n${apply.stdout}${apply.stderr}`);
    agent = startAgent(env, plan, configPath, stateDir, live, dataDirFlag);
    agents.push(agent);
  };
  if (order === 'delete first') {
    await deleteDead();
    await applyNew();
  } else {
    await applyNew();
    await deleteDead();
  }
  const actionsDone = performance.now();
  const done = await polling;
  const agentExit = await exitWithin(agent!, 30_000);
  const victimRemovedAt = statuses.get(victim)?.find((s) => s.at >= t0 && s.status.phase === 'Removed')?.at ?? Number.NaN;
  const rel = (t: number) => round(t - t0);
  const replacement: Replacement = {
    order,
    victim,
    victimWasLeader,
    degradedMs: round(degradedAt - killAt),
    newNode: name,
    deleteDoneMs: rel(deleted),
    actionsDoneMs: rel(actionsDone),
    deadRemovedMs: rel(marks.deadRemoved),
    deadStatusRemovedMs: rel(victimRemovedAt),
    learnerAddedMs: rel(marks.learnerAdded),
    promotedMs: rel(marks.promoted),
    newNodeReadyMs: rel(marks.ready),
    totalMs: done === undefined ? Number.NaN : rel(done),
    fromLastActionMs: done === undefined ? Number.NaN : round(done - actionsDone),
    agentExit,
    trail: trailOf(statuses, name, t0),
    ...(done === undefined ? { gaveUp: last } : {}),
  };
  if (done === undefined || agentExit?.code !== 0) return { replacement };
  return { replacement, joiner: { plan, configPath, stateDir } };
}

async function reprovision(
  env: BenchEnv,
  client: Etcd3,
  statuses: Map<string, { status: NodeMembershipStatus['status']; at: number }[]>,
  agents: ProcessHandle[],
  joiner: { plan: PlannedMember; configPath: string; stateDir: string },
  healthIntervalSeconds: number,
): Promise<Reprovision> {
  const { plan, stateDir } = joiner;
  const name = plan.name;
  const before = await observe(client);
  const old = before.members.find((m) => m.peerUrl === plan.peerUrl);
  if (old === undefined || old.isLearner) throw new Error(`${name} is not a voter before its reprovisioning: ${describe(before)}`);
  const marker = await readFile(join(stateDir, '.chainfire-joined'), 'utf8').catch(() => undefined);
  if (marker === undefined) throw new Error(`${name}'s agent wrote no .chainfire-joined in ${stateDir}`);

  // The seed's Reset and Re-join on the node: Chainfire stopped hard, data and markers gone. A real
  // reinstall takes minutes; the bench waits until the controller has seen the member down (Degraded).
  const killAt = performance.now();
  await env.cluster.kill(name, 'SIGKILL');
  const degradedAt = await waitFor(
    `${name} Degraded`,
    () => statuses.get(name)?.find((s) => s.at >= killAt && s.status.phase === 'Degraded')?.at,
    healthIntervalSeconds * 3_000 + 30_000,
    20,
  ).catch(() => Number.NaN);
  for (const entry of await readdir(plan.dataDir).catch(() => [] as string[])) await rm(join(plan.dataDir, entry), { recursive: true, force: true });
  for (const entry of await readdir(stateDir).catch(() => [] as string[])) {
    if (entry.startsWith('.chainfire-')) await rm(join(stateDir, entry), { force: true });
  }

  const live = env.cluster.endpoints;
  const marks = { oldRemoved: Number.NaN, learnerAdded: Number.NaN, promoted: Number.NaN, ready: Number.NaN };
  let newId: string | undefined;
  let last = '';
  const t0 = performance.now();
  const polling = pollUntil(async () => {
    const seen = await observe(client);
    const now = performance.now();
    const mine = seen.members.find((m) => m.peerUrl === plan.peerUrl);
    if (Number.isNaN(marks.oldRemoved) && !seen.members.some((m) => m.id === old.id)) marks.oldRemoved = now;
    const fresh = mine !== undefined && mine.id !== old.id ? mine : undefined;
    if (fresh !== undefined) newId = fresh.id;
    if (Number.isNaN(marks.learnerAdded) && fresh?.isLearner) marks.learnerAdded = now;
    if (Number.isNaN(marks.promoted) && fresh !== undefined && !fresh.isLearner) marks.promoted = now;
    const st = lastStatus(statuses, name);
    const readyNew = st?.phase === 'Ready' && fresh !== undefined && st.chainfire.memberId === fresh.id;
    if (Number.isNaN(marks.ready) && readyNew) marks.ready = statuses.get(name)!.findLast((s) => s.status.phase === 'Ready')!.at;
    last = `${describe(seen)}; ${name}: ${describeStatus(st)}`;
    return threeHealthyVoters(seen) && fresh !== undefined && !fresh.isLearner && seen.healthy.has(fresh.id) && readyNew ? now : undefined;
  });
  const agent = startAgent(env, plan, joiner.configPath, stateDir, live, true);
  agents.push(agent);
  const done = await polling;
  const agentExit = await exitWithin(agent, 30_000);
  const etcdLog = await readFile(plan.logFile, 'utf8').catch(() => '');
  const rel = (t: number) => round(t - t0);
  return {
    node: name,
    oldMemberId: old.id,
    degradedMs: round(degradedAt - killAt),
    ...(newId !== undefined ? { newMemberId: newId } : {}),
    oldRemovedMs: rel(marks.oldRemoved),
    learnerAddedMs: rel(marks.learnerAdded),
    promotedMs: rel(marks.promoted),
    readyMs: rel(marks.ready),
    totalMs: done === undefined ? Number.NaN : rel(done),
    agentExit,
    panicLines: etcdLog.split('\n').filter((l) => /panic/i.test(l)).length,
    trail: trailOf(statuses, name, t0),
    ...(done === undefined ? { gaveUp: last } : {}),
  };
}

function startAgent(env: BenchEnv, plan: PlannedMember, configPath: string, stateDir: string, endpoints: string[], dataDir: boolean): ProcessHandle {
  return startProcess(process.execPath, [
    binPath('first-boot-agent'), 'join', 'chainfire',
    '--config', configPath,
    '--state-dir', stateDir,
    '--endpoints', endpoints.join(','),
    '--prefix', env.keys.prefix,
    '--start-command', plan.startCommand,
    '--local-url', plan.clientUrl,
    '--timeout', `${GIVE_UP_MS / 1000}s`,
    ...(dataDir ? ['--data-dir', plan.dataDir] : []),
  ]);
}

/** Whether this build's `first-boot-agent join` takes --data-dir (its report of the local data). */
async function agentHasDataDir(): Promise<boolean> {
  const r = await runProcess(process.execPath, [binPath('first-boot-agent'), 'join', '--help'], { timeoutMs: 30_000 });
  return /--data-dir\b/.test(r.stdout + r.stderr);
}

async function observe(client: Etcd3): Promise<Seen> {
  const res = await client.cluster.memberList({});
  const members: Member[] = res.members.map((m) => ({
    id: BigInt(String(m.ID)).toString(16),
    name: m.name,
    peerUrl: m.peerURLs[0] ?? '',
    clientUrl: m.clientURLs[0],
    isLearner: m.isLearner,
  }));
  const answers = await Promise.all(members.map(async (m) => (m.clientUrl === undefined ? false : (await checkHealth(m.clientUrl)) === true)));
  return { members, healthy: new Set(members.filter((_, i) => answers[i]).map((m) => m.id)) };
}

/** Exactly 3 members, all voters, all answering. */
function threeHealthyVoters(seen: Seen): boolean {
  return seen.members.length === 3 && seen.members.every((m) => !m.isLearner && seen.healthy.has(m.id));
}

function describe(seen: Seen): string {
  return seen.members.map((m) => `${m.name || '(unstarted)'}/${m.id}/${m.isLearner ? 'learner' : 'voter'}/${seen.healthy.has(m.id) ? 'healthy' : 'not answering'}`).join(', ');
}

function reasonOf(st: NodeMembershipStatus['status']): string {
  const c = st.conditions.find((x) => x.type === 'ChainfireMember');
  return c === undefined ? '-' : `${c.reason}`;
}

function describeStatus(st: NodeMembershipStatus['status'] | undefined): string {
  if (st === undefined) return 'no status';
  const c = st.conditions.find((x) => x.type === 'ChainfireMember');
  return `phase ${st.phase}, member ${st.chainfire.memberId ?? '-'}, ChainfireMember=${c ? `${c.status} ${c.reason}` : '-'}`;
}

function lastStatus(statuses: Map<string, { status: NodeMembershipStatus['status'] }[]>, node: string): NodeMembershipStatus['status'] | undefined {
  return statuses.get(node)?.at(-1)?.status;
}

/** The node's status writes since t0, consecutive repeats of phase, reason and member once. */
function trailOf(statuses: Map<string, { status: NodeMembershipStatus['status']; at: number }[]>, node: string, t0: number): TrailEntry[] {
  const out: TrailEntry[] = [];
  for (const s of statuses.get(node) ?? []) {
    if (s.at < t0) continue;
    const c = s.status.conditions.find((x) => x.type === 'ChainfireMember');
    const e: TrailEntry = {
      atMs: round(s.at - t0),
      phase: s.status.phase,
      chainfireMember: c ? `${c.status} ${c.reason}` : '-',
      ...(s.status.chainfire.memberId !== undefined ? { memberId: s.status.chainfire.memberId } : {}),
    };
    const prev = out.at(-1);
    if (prev && prev.phase === e.phase && prev.chainfireMember === e.chainfireMember && prev.memberId === e.memberId) continue;
    out.push(e);
  }
  return out;
}

/** Polls every POLL_MS until `check` returns a time; undefined after GIVE_UP_MS. A failed observation is tried again. */
async function pollUntil(check: () => Promise<number | undefined>): Promise<number | undefined> {
  const deadline = performance.now() + GIVE_UP_MS;
  while (performance.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch {
      // a member list during an election; look again
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return undefined;
}

async function exitWithin(agent: ProcessHandle, timeoutMs: number): Promise<ExitStatus | undefined> {
  return Promise.race([agent.exited, new Promise<undefined>((r) => setTimeout(r, timeoutMs, undefined).unref())]);
}

function result(p: BenchParams['day2'], rounds: Round[], dataDirFlag: boolean, durationMs: number): ScenarioResult {
  const reps = rounds.map((r) => r.replacement);
  const reprovs = rounds.flatMap((r) => (r.reprovision ? [r.reprovision] : []));
  const interval = p.healthIntervalSeconds;
  const intervalNote = interval === DEFAULT_HEALTH_INTERVAL_S ? `healthIntervalSeconds ${interval}, the default` : `healthIntervalSeconds ${interval} written to cluster/config`;
  const degraded = summarize(reps.map((r) => r.degradedMs).filter(Number.isFinite));
  const total = summarize(reps.map((r) => r.totalMs).filter(Number.isFinite));
  const fromLast = summarize(reps.map((r) => r.fromLastActionMs).filter(Number.isFinite));
  const p50 = (xs: number[]) => summarize(xs.filter(Number.isFinite)).p50;
  const repTotal = summarize(reprovs.map((r) => r.totalMs).filter(Number.isFinite));
  const degradedBound = interval * 1000 + 1000;
  const allReplaced = reps.length > 0 && reps.every((r) => Number.isFinite(r.totalMs));
  const allReprovisioned = reprovs.length > 0 && reprovs.every((r) => Number.isFinite(r.totalMs));
  const killedLeaders = reps.filter((r) => r.victimWasLeader).length;

  const rows: Array<[string, string]> = [
    [`killed voter -> Degraded (${intervalNote})`, `p50 ${ms(degraded.p50)}  max ${ms(degraded.max)}  (n=${degraded.n} of ${reps.length})`],
    [
      'dead voter replaced (first action -> 3 healthy voters, new node Ready)',
      `p50 ${ms(total.p50)}  max ${ms(total.max)}  (n=${total.n} of ${reps.length}; ${killedLeaders} of the killed voters led Raft)`,
    ],
    ['  from the last action', `p50 ${ms(fromLast.p50)}  max ${ms(fromLast.max)}`],
    ...(['delete first', 'apply first'] as const).flatMap((order): Array<[string, string]> => {
      const of = reps.filter((r) => r.order === order);
      if (of.length === 0 || of.length === reps.length) return [];
      const s = summarize(of.map((r) => r.totalMs).filter(Number.isFinite));
      return [[`  ${order}`, `p50 ${ms(s.p50)}  max ${ms(s.max)}  (n=${s.n} of ${of.length})`]];
    }),
    [
      '  its steps (p50, from the first action)',
      `delete returned ${ms(p50(reps.map((r) => r.deleteDoneMs)))}, actions done ${ms(p50(reps.map((r) => r.actionsDoneMs)))}, ` +
        `dead member removed ${ms(p50(reps.map((r) => r.deadRemovedMs)))} (its status Removed ${ms(p50(reps.map((r) => r.deadStatusRemovedMs)))}), ` +
        `learner added ${ms(p50(reps.map((r) => r.learnerAddedMs)))}, promoted ${ms(p50(reps.map((r) => r.promotedMs)))}, ` +
        `new node Ready ${ms(p50(reps.map((r) => r.newNodeReadyMs)))}`,
    ],
  ];
  if (!dataDirFlag) {
    rows.push(['reprovisioned node', 'not run: this build\'s first-boot-agent join has no --data-dir (the agent cannot report its empty data)']);
  } else {
    rows.push(
      ['reprovisioned node (agent start -> voter under a new id, Ready)', `p50 ${ms(repTotal.p50)}  max ${ms(repTotal.max)}  (n=${repTotal.n} of ${reprovs.length})`],
      [
        '  its steps (p50, from the agent\'s start)',
        `(before it: Degraded ${ms(p50(reprovs.map((r) => r.degradedMs)))} after the kill) old member removed ${ms(p50(reprovs.map((r) => r.oldRemovedMs)))}, new learner ${ms(p50(reprovs.map((r) => r.learnerAddedMs)))}, ` +
          `promoted ${ms(p50(reprovs.map((r) => r.promotedMs)))}, Ready ${ms(p50(reprovs.map((r) => r.readyMs)))}`,
      ],
      ['  etcd log lines with "panic"', String(reprovs.reduce((a, r) => a + r.panicLines, 0))],
    );
  }
  for (const r of reps) if (r.gaveUp) rows.push([`gave up replacing ${r.victim}`, r.gaveUp]);
  for (const r of reprovs) if (r.gaveUp) rows.push([`gave up on reprovisioned ${r.node}`, r.gaveUp]);

  return {
    name: 'day2',
    title: `6. Day two (operator's action -> healthy; real etcd members, real agents, ${intervalNote})`,
    rows,
    targets: [
      {
        target: `killed voter shown Degraded <= health interval + 1 s (${ms(degradedBound)})`,
        measured: `max ${ms(degraded.max)} (n=${degraded.n} of ${reps.length})`,
        met: degraded.n > 0 && degraded.n === reps.length && degraded.max <= degradedBound,
      },
      {
        target: `dead voter replaced <= ${REPLACE_BOUND_MS / 1000} s after the operator's actions (from the first)`,
        measured: allReplaced ? `max ${ms(total.max)} (n=${total.n})` : `${total.n} of ${reps.length} replaced within ${GIVE_UP_MS / 1000} s`,
        met: allReplaced && total.max <= REPLACE_BOUND_MS,
      },
      {
        target: `reprovisioned node healthy <= ${REPROVISION_BOUND_MS / 1000} s after its agent runs again`,
        measured: !dataDirFlag
          ? 'not run: first-boot-agent join has no --data-dir yet'
          : allReprovisioned ? `max ${ms(repTotal.max)} (n=${repTotal.n})` : `${repTotal.n} of ${reprovs.length} healthy within ${GIVE_UP_MS / 1000} s`,
        met: !dataDirFlag ? undefined : allReprovisioned && repTotal.max <= REPROVISION_BOUND_MS,
      },
    ],
    data: {
      healthIntervalSeconds: interval,
      agentHasDataDir: dataDirFlag,
      degradedMs: roundSummary(degraded),
      replacementMs: roundSummary(total),
      replacementFromLastActionMs: roundSummary(fromLast),
      reprovisionMs: roundSummary(repTotal),
      rounds,
    },
    durationMs,
  };
}
