/**
 * One randomized schedule: a seed becomes a cluster (three bootstrap nodes and
 * one to three joiners), a policy, and a sequence of steps. Each step may bring
 * a fault, then the controller reconciles one node picked at random, as its
 * work queue would. After a bounded number of steps the faults stop, whatever
 * an operator would repair is repaired, and the schedule runs until nothing
 * changes any more; then it must have converged.
 *
 * The day-two families (ScheduleOptions.day2) add etcd's rules for an
 * unhealthy cluster and removed members, and the faults of a fleet on its
 * second day: reprovisioned nodes, dead voters, flapping records.
 */
import type { MembershipPolicy } from '../../src/schema/operation.js';
import { ControllerModel, MID_RECONCILE_FAULTS, type ControllerStats, type MidReconcileFault } from './controller.js';
import { Prng } from './prng.js';
import { ModelViolation, SERVICES, T0_MS, World, majority, peerUrlOf, readyReason, type KnownIssue, type ModelNode, type Rule } from './world.js';

/**
 * Day-two families, each off unless asked for (MODEL_DAY2=1 in model.test.ts
 * turns all on; MODEL_DAY2=reprovision,flap some). Until the controller
 * handles day two, schedules with them fail: that is what they are for.
 */
export interface Day2Options {
  /** world rule: etcd refuses a member add (BUSY, "unhealthy cluster") while a voter is unhealthy, and for 5 s after one comes back */
  busy?: boolean;
  /** world rule: a member removed while its etcd runs stops that etcd for good; its node starts nothing until its data is reset */
  removedStaysDown?: boolean;
  /** fault: a joined node is reprovisioned (data and markers wiped); its old member stays listed, and panics, until removed */
  reprovision?: boolean;
  /** fault: a voter stops answering for good, until repaired after the faults stop or its node is reprovisioned */
  voterDies?: boolean;
  /** fault: a record flips Present -> Absent -> Present within removalGraceSeconds (0, 5 or 30 s per schedule); check S6 */
  flap?: boolean;
  /** check H1: Ready with ChainfireMember=True only for a healthy member of the node's current incarnation (healthIntervalSeconds 5, 10 or 30) */
  readyMeansHealthy?: boolean;
}
export const DAY2_FAMILIES = ['busy', 'removedStaysDown', 'reprovision', 'voterDies', 'flap', 'readyMeansHealthy'] as const satisfies ReadonlyArray<keyof Day2Options>;
export type Day2Family = (typeof DAY2_FAMILIES)[number];

export interface ScheduleOptions {
  /**
   * Let each reconcile read operations/ up to a few writes behind, independently
   * of the others, as one of several workers can when it read the cache just
   * before another worker's write reached it. (By default the cache only
   * stalls as a whole and catches up in order.)
   */
  workerLag?: boolean;
  /** Let an agent that went away stay away after the faults stop (a joiner that died mid-join). */
  agentsMayStayAway?: boolean;
  /** Fail on a known issue too (see KnownIssue), instead of ending the schedule and counting it. */
  strict?: boolean;
  /** day-two rules, faults and checks (all off by default) */
  day2?: Day2Options;
}

export interface ScheduleResult {
  seed: number;
  /** reconciles run, in the fault phase and in all */
  faultSteps: number;
  steps: number;
  /** rounds over all nodes the schedule needed to become quiet after the faults stopped */
  quietRounds: number;
  faults: Map<string, number>;
  stats: ControllerStats;
  /** the known issue the schedule ended on (only when not strict) */
  knownIssue?: { id: KnownIssue; message: string };
  trace: string[];
  /** the world at the end (or where the schedule failed) */
  world: string;
  failure?: string;
  /** the rule the failure broke (undefined for an unexpected error) */
  rule?: Rule;
}

/** Rounds over every node allowed after the faults stop; a schedule still changing then has not converged. */
export const MAX_QUIET_ROUNDS = 40;

type Fault =
  | 'crash'
  | 'etcdBroken'
  | 'etcdRepaired'
  | 'learnerLate'
  | 'voterUnhealthy'
  | 'voterRecovers'
  | 'leaderChange'
  | 'agentAppears'
  | 'agentGone'
  | 'flaredbHealth'
  | 'setAbsent'
  | 'setPresent'
  | 'reapply'
  | 'pause'
  | 'resume'
  | 'serviceDown'
  | 'serviceUp'
  | 'watchStall'
  | 'workerLag'
  | 'reprovision'
  | 'voterDies'
  | 'flap'
  | 'nodeReset';

const FAULT_WEIGHTS: ReadonlyArray<readonly [Fault, number]> = [
  ['crash', 5],
  ['etcdBroken', 2],
  ['etcdRepaired', 2],
  ['learnerLate', 3],
  ['voterUnhealthy', 4],
  ['voterRecovers', 4],
  ['leaderChange', 4],
  ['agentAppears', 8],
  ['agentGone', 3],
  ['flaredbHealth', 2],
  ['setAbsent', 3],
  ['setPresent', 3],
  ['reapply', 2],
  ['pause', 2],
  ['resume', 3],
  ['serviceDown', 2],
  ['serviceUp', 3],
  ['watchStall', 4],
  ['workerLag', 3],
];

/** The day-two faults, drawn as often as these weights say when their family is on. */
const DAY2_FAULTS: ReadonlyArray<readonly [Fault, Day2Family, number]> = [
  ['reprovision', 'reprovision', 2],
  ['voterDies', 'voterDies', 2],
  ['flap', 'flap', 3],
  ['nodeReset', 'removedStaysDown', 2],
];

export async function runSchedule(seed: number, options: ScheduleOptions = {}): Promise<ScheduleResult> {
  const rng = new Prng(seed);
  const day2 = options.day2 ?? {};
  const trace: string[] = [];
  let step = 0;
  let faultPhase = true;

  // Policy: minVoters 3 or lower; maxVoters above minVoters (with maxVoters equal
  // to minVoters a node at the limit can be neither replaced nor removed).
  const minVoters = rng.weighted([
    [3, 3],
    [2, 2],
    [1, 1],
  ] as const);
  const policy: MembershipPolicy = {
    paused: rng.chance(0.1),
    minVoters,
    maxVoters: rng.int(Math.max(3, minVoters + 1), 5),
    learnerStartTimeoutSeconds: rng.pick([10, 30, 60, 120]),
    learnerCatchUpTimeoutSeconds: rng.pick([10, 60, 600]),
    removalGraceSeconds: 0,
    healthIntervalSeconds: 10,
    maxDisruptedVoters: 1,
    deadMemberCleanup: { enabled: false, thresholdSeconds: 86400 },
  };
  // Day-two draws come after every draw of a default schedule, so that those replay as they always did.
  if (day2.flap === true) policy.removalGraceSeconds = rng.pick([0, 5, 30]);
  if (day2.readyMeansHealthy === true) policy.healthIntervalSeconds = rng.pick([5, 10, 30]);
  const world = new World(rng, policy);
  world.rules = { busyWhenUnhealthy: day2.busy === true, removedStaysDown: day2.removedStaysDown === true };
  // A learner's etcd starts within the timeout, or (while faults happen) sometimes after it.
  world.learnerStartDelayMs = () => {
    const timeoutMs = world.policy.learnerStartTimeoutSeconds * 1000;
    return Math.round(timeoutMs * (faultPhase && rng.chance(0.2) ? 1.2 + rng.next() * 1.8 : 0.05 + rng.next() * 0.6));
  };
  const log = (line: string) => trace.push(`#${step} +${Math.round((world.nowMs - T0_MS) / 1000)}s ${line}`);
  const controller = new ControllerModel(world, rng, log);
  const faults = new Map<string, number>();
  const weights = [...FAULT_WEIGHTS, ...DAY2_FAULTS.filter(([, family]) => day2[family] === true).map(([f, , w]) => [f, w] as const)];
  const readyWatch = new ReadyWatch(world, day2.readyMeansHealthy === true);

  const joiners = rng.int(1, 3);
  for (let i = 1; i <= 3 + joiners; i++) {
    const bootstrap = i <= 3;
    const agent = !bootstrap && rng.chance(0.5);
    const n: ModelNode = {
      name: `node${String(i).padStart(2, '0')}`,
      ip: `10.0.1.${9 + i}`,
      // Bootstrap nodes in dc1 and dc2, joiners anywhere: the voter seats left go to emptier places first.
      datacenter: bootstrap ? `dc${1 + (i % 2)}` : rng.pick(['dc1', 'dc2', 'dc3']),
      rack: `r${rng.int(1, 2)}`,
      bootstrap,
      wants: bootstrap
        ? { chainfire: true, flaredb: true, iam: true }
        : { chainfire: rng.chance(0.85), flaredb: rng.chance(0.85), iam: rng.chance(0.85) },
      state: 'Present',
      generation: world.bumpRevision(),
      agent,
      agentSeen: agent,
      flaredbHealthy: rng.chance(0.85),
      etcdBroken: false,
      dataCheckedAtMs: world.nowMs,
      etcdRemoved: false,
    };
    world.nodes.push(n);
    if (bootstrap) {
      const id = world.newMemberId();
      world.members.push({
        id,
        node: n.name,
        peerUrl: peerUrlOf(n),
        name: n.name,
        isLearner: false,
        healthy: true,
        addedAtMs: world.nowMs,
        startAtMs: world.nowMs,
        catchUpMs: 0,
      });
      world.setData(n, id);
      world.flaredb.push({ id: n.name, raftAddr: `${n.ip}:2480` });
    }
  }
  world.elect();
  world.iamBootstrapped = rng.chance(0.5);
  const faultSteps = rng.int(40, 160);
  const iamSetupStep = rng.int(0, faultSteps - 1);
  const on = DAY2_FAMILIES.filter((f) => day2[f] === true);
  log(
    `start: ${world.nodes.map((n) => `${n.name}(${SERVICES.filter((s) => n.wants[s]).join('+') || 'no services'}${n.agent ? ',agent' : ''})`).join(' ')}; ` +
      `minVoters=${policy.minVoters} maxVoters=${policy.maxVoters} learnerStart=${policy.learnerStartTimeoutSeconds}s paused=${policy.paused}` +
      (on.length > 0 ? ` removalGrace=${policy.removalGraceSeconds}s healthInterval=${policy.healthIntervalSeconds}s; day two: ${on.join(' ')}` : '') +
      `; ${faultSteps} steps with faults`,
  );

  const result = (failure?: string, rule?: Rule, knownIssue?: ScheduleResult['knownIssue']): ScheduleResult => ({
    seed,
    faultSteps,
    steps: step,
    quietRounds,
    faults,
    stats: controller.stats,
    trace,
    world: world.describe(),
    ...(failure !== undefined ? { failure } : {}),
    ...(rule !== undefined ? { rule } : {}),
    ...(knownIssue !== undefined ? { knownIssue } : {}),
  });
  let quietRounds = 0;
  let current = 'setting up';

  /** One reconcile of one node, then the checks of every step. */
  const reconcile = async (name: string, mid?: MidReconcileFault) => {
    current = `reconcile of ${name}${mid !== undefined ? ` (${mid})` : ''}`;
    const e = await controller.reconcile(name, mid);
    world.check();
    // While Chainfire cannot be reached, neither can status/<node>: such a reconcile could not have said anything.
    readyWatch.after(name, e.statusDecided && !world.down.chainfire);
    return e;
  };

  /**
   * A record flips Present -> Absent -> Present within removalGraceSeconds (an
   * automation glitch); the controller may look at it, or at other nodes, meanwhile.
   */
  const flap = async (): Promise<string | undefined> => {
    const grace = world.policy.removalGraceSeconds;
    const present = world.nodes.filter((n) => n.state === 'Present');
    if (grace <= 0 || present.length === 0) return undefined;
    const n = rng.pick(present);
    const absentAt = world.nowMs;
    const spanMs = rng.int(100, grace * 1000 - 1);
    n.state = 'Absent';
    n.absentSinceMs = absentAt;
    n.generation = world.bumpRevision();
    log(`fault: ${n.name}'s record flips to Absent, and back to Present ${spanMs} ms later (removalGraceSeconds ${grace})`);
    const looks = rng.int(0, 2);
    for (let k = 1; k <= looks; k++) {
      world.nowMs = absentAt + Math.floor((spanMs * k) / (looks + 1));
      world.tick();
      await reconcile(rng.chance(0.6) ? n.name : rng.pick(world.nodes).name);
    }
    world.nowMs = absentAt + spanMs;
    world.tick();
    n.state = 'Present';
    n.generation = world.bumpRevision();
    return `${n.name}'s record is Present again, ${spanMs} ms after it was set Absent (generation ${n.generation})`;
  };

  try {
    for (let i = 0; i < faultSteps; i++) {
      step += 1;
      world.nowMs += rng.int(1, 15) * 1000;
      world.tick();
      if (!world.iamBootstrapped && i >= iamSetupStep) {
        world.iamBootstrapped = true;
        log('the initial IAM setup is done');
      }
      if (controller.cacheAt !== undefined && rng.chance(0.2)) {
        controller.cacheAt = undefined; // a stalled watch is noticed and restarted within a few steps
        log('the operations/ watch resumes: the cache catches up');
      }
      if (rng.chance(0.3)) {
        const fault = rng.weighted(weights);
        const what = fault === 'flap' ? await flap() : inject(fault, world, controller, rng, options);
        if (what !== undefined) {
          faults.set(fault, (faults.get(fault) ?? 0) + 1);
          log(`fault: ${what}`);
        }
      }
      const node = rng.pick(world.nodes);
      const mid: MidReconcileFault | undefined = rng.chance(0.06) ? rng.pick(MID_RECONCILE_FAULTS) : undefined;
      if (mid !== undefined) faults.set(mid, (faults.get(mid) ?? 0) + 1);
      await reconcile(node.name, mid);
    }

    faultPhase = false;
    repair(world, controller, rng, options, log);

    // Run whole rounds over the nodes until one changes nothing and no learner is left joining.
    for (;;) {
      if (quietRounds >= MAX_QUIET_ROUNDS) {
        throw new ModelViolation('L2', `not converged ${MAX_QUIET_ROUNDS} rounds after the faults stopped`);
      }
      quietRounds += 1;
      let busy = false;
      for (const n of rng.shuffle(world.nodes)) {
        step += 1;
        world.nowMs += rng.int(1, 5) * 1000;
        world.tick();
        const e = await reconcile(n.name);
        busy = busy || e.acted || e.wroteStatus || e.operationsChanged;
      }
      // A join that gave up (its learner never started MAX_START_ATTEMPTS times) says to apply the record
      // again; the operator does, now that etcd starts.
      for (const n of world.nodes) {
        if (n.status?.phase !== 'Failed' || readyReason(n.status) !== 'LearnerNotStarted' || n.status.observedGeneration !== n.generation) continue;
        n.generation = world.bumpRevision();
        busy = true;
        log(`operator applies ${n.name} again, as its status says (generation ${n.generation})`);
      }
      // A removal waiting out its grace is work the controller has scheduled (its requeue): not quiet yet.
      const scheduled = world.nodes.some((n) => readyReason(n.status) === 'RemovalScheduled');
      if (!busy && !scheduled && world.learners().length === 0) break;
    }
    current = 'the convergence check';
    await checkConverged(world, controller);
    return result();
  } catch (err) {
    log(`FAILED in ${current}`);
    if (!(err instanceof ModelViolation)) {
      return result(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    if (err.knownIssue !== undefined && options.strict !== true) return result(undefined, undefined, { id: err.knownIssue, message: err.message });
    return result(err.message, err.rule);
  }
}

/**
 * H1, checked after every step: a status that says Ready with
 * ChainfireMember=True for a member that is gone, unhealthy or of an earlier
 * incarnation is allowed to stand for the controller's health interval and
 * one reconcile of the node after it, no longer: a reconcile of the node that
 * reached its status decision at least healthIntervalSeconds after the status
 * went wrong must have changed it. A reconcile while Chainfire's API is down
 * does not count (status/<node> is in Chainfire: it could not be written).
 */
class ReadyWatch {
  /** node -> since when its status has said Ready for that unwell member */
  private readonly since = new Map<string, { memberId: string; atMs: number }>();

  constructor(
    private readonly world: World,
    private readonly enabled: boolean,
  ) {}

  after(reconciled: string, statusDecided: boolean): void {
    if (!this.enabled) return;
    const w = this.world;
    for (const n of w.nodes) {
      const unwell = w.readyButUnwell(n);
      if (unwell === undefined) {
        this.since.delete(n.name);
        continue;
      }
      const seen = this.since.get(n.name);
      if (seen === undefined || seen.memberId !== unwell.memberId) {
        this.since.set(n.name, { memberId: unwell.memberId, atMs: w.nowMs });
        continue;
      }
      const forMs = w.nowMs - seen.atMs;
      if (n.name === reconciled && statusDecided && forMs >= w.policy.healthIntervalSeconds * 1000) {
        throw new ModelViolation(
          'H1',
          `${n.name}'s status still says Ready with ChainfireMember=True after a reconcile of ${n.name} ${forMs / 1000}s after it went wrong ` +
            `(healthIntervalSeconds ${w.policy.healthIntervalSeconds}): ${unwell.why}`,
        );
      }
    }
  }
}

/** Applies one fault; returns what happened, or undefined when it does not apply now. */
function inject(fault: Fault, world: World, controller: ControllerModel, rng: Prng, options: ScheduleOptions): string | undefined {
  const present = world.nodes.filter((n) => n.state === 'Present');
  const joining = present.filter((n) => !n.bootstrap);
  const some = <T>(items: T[]): T | undefined => (items.length === 0 ? undefined : rng.pick(items));
  switch (fault) {
    case 'crash':
      controller.crash();
      return 'the controller leader crashes; a new one starts from the stored records';
    case 'etcdBroken': {
      const n = some(present.filter((x) => x.wants.chainfire && !x.etcdBroken && world.memberOf(x)?.isLearner !== false));
      if (n === undefined) return undefined;
      n.etcdBroken = true;
      return `${n.name}'s etcd fails to start (until repaired)`;
    }
    case 'etcdRepaired': {
      const n = some(world.nodes.filter((x) => x.etcdBroken));
      if (n === undefined) return undefined;
      n.etcdBroken = false;
      return `${n.name}'s etcd is repaired`;
    }
    case 'learnerLate': {
      const l = some(world.learners().filter((m) => m.name === ''));
      if (l === undefined) return undefined;
      l.startAtMs = world.nowMs + Math.round(world.policy.learnerStartTimeoutSeconds * 1000 * (1.2 + rng.next() * 1.8));
      return `learner ${l.id} (${l.node}) will start late, ${Math.round((l.startAtMs - world.nowMs) / 1000)}s from now`;
    }
    case 'voterUnhealthy': {
      const v = some(world.voters().filter((m) => m.healthy));
      if (v === undefined) return undefined;
      v.healthy = false;
      world.elect();
      return `voter ${v.id} (${v.node}) stops answering /health; leader ${world.leaderId ?? 'none'}`;
    }
    case 'voterRecovers': {
      // A dead voter and one of a wiped node do not come back by themselves.
      const v = some(world.voters().filter((m) => !m.healthy && m.dead !== true && m.wiped !== true));
      if (v === undefined) return undefined;
      world.recover(v);
      world.elect();
      return `voter ${v.id} (${v.node}) is healthy again; leader ${world.leaderId ?? 'none'}`;
    }
    case 'leaderChange': {
      const voters = world.voters();
      const healthy = voters.filter((v) => world.isHealthy(v));
      const next = some(healthy.filter((v) => v.id !== world.leaderId));
      if (next === undefined || healthy.length < majority(voters.length)) return undefined;
      world.leaderId = next.id;
      return `Raft leadership moves to ${next.id} (${next.node})`;
    }
    case 'agentAppears': {
      const n = some(joining.filter((x) => !x.agent && world.memberOf(x)?.dead !== true));
      if (n === undefined) return undefined;
      n.agent = true;
      n.agentSeen = true;
      n.flaredbHealthy = rng.chance(0.8);
      return `${n.name}'s agent reports${n.flaredbHealthy ? '' : ' (its FlareDB not healthy yet)'}`;
    }
    case 'agentGone': {
      const n = some(world.nodes.filter((x) => x.agent));
      if (n === undefined) return undefined;
      n.agent = false;
      return `${n.name}'s agent stops (its lease expires)`;
    }
    case 'flaredbHealth': {
      const n = some(world.nodes.filter((x) => x.agent));
      if (n === undefined) return undefined;
      n.flaredbHealthy = !n.flaredbHealthy;
      return `${n.name}'s agent reports its FlareDB ${n.flaredbHealthy ? 'healthy' : 'unhealthy'}`;
    }
    case 'setAbsent': {
      const n = some(present);
      if (n === undefined) return undefined;
      n.state = 'Absent';
      n.absentSinceMs = world.nowMs;
      n.generation = world.bumpRevision();
      return `operator sets ${n.name} Absent`;
    }
    case 'setPresent': {
      const n = some(world.nodes.filter((x) => x.state === 'Absent'));
      if (n === undefined) return undefined;
      n.state = 'Present';
      // A node taken out is joined again, not adopted: bootstrap marks only the initial cluster.
      // A bootstrap machine has booted, so its agent comes back once the faults stop.
      if (n.bootstrap) n.agentSeen = true;
      n.bootstrap = false;
      n.generation = world.bumpRevision();
      return `operator applies ${n.name} Present again (bootstrap: false)`;
    }
    case 'reapply': {
      const n = rng.pick(world.nodes);
      n.generation = world.bumpRevision();
      return `operator applies ${n.name} again unchanged (generation ${n.generation})`;
    }
    case 'pause':
      if (world.policy.paused) return undefined;
      world.policy = { ...world.policy, paused: true };
      return 'operator pauses membership changes';
    case 'resume':
      if (!world.policy.paused) return undefined;
      world.policy = { ...world.policy, paused: false };
      return 'operator resumes membership changes';
    case 'serviceDown': {
      const s = some(SERVICES.filter((x) => !world.down[x]));
      if (s === undefined) return undefined;
      world.down[s] = true;
      return `${s} API unavailable`;
    }
    case 'serviceUp': {
      const s = some(SERVICES.filter((x) => world.down[x]));
      if (s === undefined) return undefined;
      world.down[s] = false;
      return `${s} API available again`;
    }
    case 'watchStall':
      if (controller.cacheAt !== undefined) return undefined;
      controller.cacheAt = world.operationsHistory.length - 1;
      return 'the operations/ watch stalls: the cache stops receiving writes';
    case 'workerLag':
      if (options.workerLag !== true) return undefined;
      controller.workerLag = controller.workerLag > 0 ? 0 : rng.int(1, 4);
      return controller.workerLag > 0 ? `workers read operations/ up to ${controller.workerLag} writes behind` : 'workers read operations/ up to date again';
    case 'reprovision':
      return reprovision(world, rng);
    case 'voterDies':
      return voterDies(world, rng);
    case 'flap':
      return undefined; // run by the schedule itself: the controller looks in the middle of it
    case 'nodeReset': {
      // The operator does what RejoinRequired asks: `first-boot-agent reset chainfire` on the node.
      const n = some(present.filter((x) => x.etcdRemoved && world.memberOf(x) === undefined));
      if (n === undefined) return undefined;
      world.resetData(n);
      n.agent = true;
      n.agentSeen = true;
      return `operator runs first-boot-agent reset chainfire on ${n.name} (its member was removed): its agent reports no data`;
    }
  }
}

/** Voters that are down for good unless something is done: dead ones and those of wiped nodes. */
function lostVoters(world: World): number {
  return world.voters().filter((m) => m.dead === true || m.wiped === true).length;
}

/**
 * The seed's "Reset and Re-join" on a joined node: Chainfire stopped, its data
 * dir and the markers wiped, the units restarted with the same node_id and
 * raft_addr. The agent comes back reporting no data; the old member stays
 * listed and, started again with its old id, panics: it never answers until
 * removed. Only while the voters not lost for good keep a quorum (an operator
 * reprovisions one node at a time).
 */
function reprovision(world: World, rng: Prng): string | undefined {
  const candidates = world.nodes.filter((n) => {
    const m = world.memberOf(n);
    return n.state === 'Present' && !n.bootstrap && m !== undefined && !m.isLearner && m.wiped !== true && n.data?.memberId === m.id;
  });
  const voters = world.voters().length;
  const fits = candidates.filter((n) => voters - lostVoters(world) - (world.memberOf(n)!.dead === true ? 0 : 1) >= majority(voters));
  if (fits.length === 0) return undefined;
  const n = rng.pick(fits);
  const m = world.memberOf(n)!;
  m.wiped = true;
  m.healthy = false;
  delete m.dead;
  world.resetData(n);
  n.etcdBroken = false;
  n.agent = true;
  n.agentSeen = true;
  world.elect();
  return `${n.name} is reprovisioned (data and markers wiped, same node_id and raft_addr): its agent reports no data; member ${m.id} stays listed and, started with its old id, panics; leader ${world.leaderId ?? 'none'}`;
}

/** A voter stops answering for good (its machine died); its agent is gone with it. Only while the voters not lost keep a quorum. */
function voterDies(world: World, rng: Prng): string | undefined {
  const voters = world.voters().length;
  if (voters - lostVoters(world) - 1 < majority(voters)) return undefined;
  const v = rng.pick(world.voters().filter((m) => m.dead !== true && m.wiped !== true));
  v.dead = true;
  v.healthy = false;
  world.node(v.node).agent = false;
  world.elect();
  return `voter ${v.id} (${v.node}) dies: it answers nothing until repaired; leader ${world.leaderId ?? 'none'}`;
}

/**
 * The faults stop: voters recover, etcds start, services answer, pause is
 * lifted, agents of booted joiners come back, the IAM setup is done. If the
 * records ask for fewer voters than minVoters allows, the operator adds one
 * (as QuorumProtection's message tells them to), so that removal can finish.
 */
function repair(world: World, controller: ControllerModel, rng: Prng, options: ScheduleOptions, log: (line: string) => void): void {
  controller.cacheAt = undefined;
  controller.workerLag = 0;
  world.policy = { ...world.policy, paused: false };
  for (const s of SERVICES) world.down[s] = false;
  // Voters come back, dead ones too; a wiped node's member cannot (it panics until removed).
  for (const m of world.voters()) if (!m.healthy) world.recover(m);
  for (const l of world.learners()) if (l.name === '') l.startAtMs = Math.min(l.startAtMs, world.nowMs + rng.int(1, 5) * 1000);
  for (const n of world.nodes) {
    n.etcdBroken = false;
    if (n.state !== 'Present') continue;
    const rejoin = rejoinAfterReset(world, n);
    if (rejoin !== undefined) log(rejoin);
    if (n.bootstrap) continue;
    n.agent = rejoin !== undefined || (n.agentSeen ? !(options.agentsMayStayAway === true && rng.chance(0.3)) : n.agent || rng.chance(0.7));
    n.agentSeen = n.agentSeen || n.agent;
    n.flaredbHealthy = true;
  }
  world.iamBootstrapped = true;
  world.elect();
  const canVote = (n: ModelNode) =>
    n.state === 'Present' && n.wants.chainfire && (world.memberOf(n)?.isLearner === false || (n.agent && !n.bootstrap));
  for (;;) {
    if (world.nodes.filter(canVote).length >= world.policy.minVoters) break;
    const idle = world.nodes.find((n) => n.state === 'Present' && n.wants.chainfire && !canVote(n));
    const absent = world.nodes.find((n) => n.state === 'Absent' && n.wants.chainfire);
    const n = idle ?? absent;
    if (n === undefined) break;
    if (n.state === 'Absent') {
      n.state = 'Present';
      n.bootstrap = false;
      n.generation = world.bumpRevision();
    }
    // A node brought back to vote starts its etcd afresh (without removedStaysDown its data is empty already).
    if (n.etcdRemoved) world.resetData(n);
    n.agent = true;
    n.agentSeen = true;
    n.flaredbHealthy = true;
    log(`operator boots ${n.name} (Present, agent reporting) so that minVoters ${world.policy.minVoters} can be kept`);
  }
  log(`faults stop; agents: ${world.nodes.filter((n) => n.agent).map((n) => n.name).join(' ') || 'none'}`);
}

/**
 * What an operator does for a Present node whose etcd cannot come back as it
 * is (its member was removed, so its etcd stopped for good; its data was wiped
 * under a listed member; a bootstrap node whose member is gone): the node's
 * Chainfire data is reset (`first-boot-agent reset chainfire`), its agent runs
 * again, and a bootstrap record is applied again with bootstrap: false, since
 * bootstrap nodes are only adopted. What was done, or undefined.
 */
function rejoinAfterReset(world: World, n: ModelNode): string | undefined {
  const member = world.memberOf(n);
  const wiped = member?.wiped === true;
  const bootstrapGone = n.bootstrap && n.wants.chainfire && member === undefined;
  if (!n.etcdRemoved && !wiped && !bootstrapGone) return undefined;
  world.resetData(n);
  if (n.bootstrap) {
    n.bootstrap = false;
    n.generation = world.bumpRevision();
  }
  n.agent = true;
  n.agentSeen = true;
  n.flaredbHealthy = true;
  if (wiped) return `${n.name}, reprovisioned under member ${member!.id}, has its agent running (with no data) to rejoin`;
  const why = n.etcdRemoved ? 'its member was removed: its etcd stopped for good' : 'its member is gone';
  return `operator runs first-boot-agent reset chainfire on ${n.name} (${why}) and has its agent rejoin${bootstrapGone ? ' (record applied again with bootstrap: false)' : ''}`;
}

/** What a converged cluster looks like, node by node, and that deciding again changes nothing. */
async function checkConverged(world: World, controller: ControllerModel): Promise<void> {
  const fail = (rule: Rule, why: string): never => {
    throw new ModelViolation(rule, `converged wrongly: ${why}`);
  };
  if (world.learners().length > 0) fail('L2', 'a learner is left');
  for (const s of SERVICES) {
    const rec = world.operations[s];
    if (rec !== undefined) fail('L2', `operations/${s} is left: ${rec.op.node}'s ${rec.op.change} since ${rec.op.startedAt}`);
  }
  const voters = world.voters().length;
  for (const v of world.voters()) {
    if (!world.isHealthy(v)) fail('L1', `voter ${v.id} (${v.node}) is left unhealthy${v.wiped === true ? ': its node was reprovisioned, and it panics until removed' : ''}`);
  }
  for (const n of world.nodes) {
    const phase = n.status?.phase;
    const member = world.memberOf(n);
    const inFlareDB = world.flaredb.some((m) => m.id === n.name);
    const inIAM = world.iam.some((r) => r.id === n.name);
    if (n.state === 'Absent') {
      if (phase !== 'Removed') fail('L1', `${n.name} is Absent but ${phase}/${readyReason(n.status)}`);
      if (member !== undefined || inFlareDB || inIAM) fail('L1', `${n.name} is Removed but still a member somewhere`);
      continue;
    }
    const mustBeReady = n.bootstrap || n.agent;
    if (mustBeReady && phase !== 'Ready') fail('L1', `${n.name} is Present${n.agent ? ' with its agent' : ''} but ${phase}/${readyReason(n.status)}`);
    if (phase !== 'Ready') continue;
    if (n.wants.chainfire && member?.isLearner !== false) {
      const reason = n.status?.conditions.find((c) => c.type === 'ChainfireMember')?.reason;
      if (reason !== 'VoterLimitReached') fail('L1', `${n.name} is Ready but not a Chainfire voter (${reason})`);
      if (voters < world.policy.maxVoters) fail('L1', `${n.name} says VoterLimitReached with ${voters} voters, maxVoters ${world.policy.maxVoters}`);
    }
    if (n.wants.chainfire && member !== undefined && !member.isLearner) {
      if (!world.isHealthy(member)) fail('L1', `${n.name} is Ready but its voter ${member.id} is unhealthy`);
      if (n.data?.memberId !== member.id) {
        fail('L1', `${n.name} is Ready with voter ${member.id}, but its etcd data is ${n.data === undefined ? 'empty' : `member ${n.data.memberId}'s`}: an earlier incarnation`);
      }
      if (n.status?.chainfire.memberId !== member.id) fail('L1', `${n.name} is Ready naming member ${n.status?.chainfire.memberId ?? 'none'}, not its voter ${member.id}`);
    }
    if (n.wants.flaredb && !inFlareDB) fail('L1', `${n.name} is Ready but not a FlareDB member`);
    if (n.wants.iam && !inIAM) fail('L1', `${n.name} is Ready but not registered with IAM`);
  }
  for (const n of world.nodes) {
    const problem = await controller.idleProblem(n.name);
    if (problem !== undefined) fail('L2', problem);
  }
}
