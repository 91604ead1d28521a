/**
 * One randomized schedule: a seed becomes a cluster (three bootstrap nodes and
 * one to three joiners), a policy, and a sequence of steps. Each step may bring
 * a fault, then the controller reconciles one node picked at random, as its
 * work queue would. After a bounded number of steps the faults stop, whatever
 * an operator would repair is repaired, and the schedule runs until nothing
 * changes any more; then it must have converged.
 */
import type { MembershipPolicy } from '../../src/schema/operation.js';
import { ControllerModel, MID_RECONCILE_FAULTS, type ControllerStats, type MidReconcileFault } from './controller.js';
import { Prng } from './prng.js';
import { ModelViolation, SERVICES, T0_MS, World, majority, peerUrlOf, readyReason, type KnownIssue, type ModelNode } from './world.js';

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
  | 'workerLag';

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

export async function runSchedule(seed: number, options: ScheduleOptions = {}): Promise<ScheduleResult> {
  const rng = new Prng(seed);
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
  };
  const world = new World(rng, policy);
  // A learner's etcd starts within the timeout, or (while faults happen) sometimes after it.
  world.learnerStartDelayMs = () => {
    const timeoutMs = world.policy.learnerStartTimeoutSeconds * 1000;
    return Math.round(timeoutMs * (faultPhase && rng.chance(0.2) ? 1.2 + rng.next() * 1.8 : 0.05 + rng.next() * 0.6));
  };
  const log = (line: string) => trace.push(`#${step} +${Math.round((world.nowMs - T0_MS) / 1000)}s ${line}`);
  const controller = new ControllerModel(world, rng, log);
  const faults = new Map<string, number>();

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
    };
    world.nodes.push(n);
    if (bootstrap) {
      world.members.push({
        id: world.newMemberId(),
        node: n.name,
        peerUrl: peerUrlOf(n),
        name: n.name,
        isLearner: false,
        healthy: true,
        addedAtMs: world.nowMs,
        startAtMs: world.nowMs,
        catchUpMs: 0,
      });
      world.flaredb.push({ id: n.name, raftAddr: `${n.ip}:2480` });
    }
  }
  world.elect();
  world.iamBootstrapped = rng.chance(0.5);
  const faultSteps = rng.int(40, 160);
  const iamSetupStep = rng.int(0, faultSteps - 1);
  log(
    `start: ${world.nodes.map((n) => `${n.name}(${SERVICES.filter((s) => n.wants[s]).join('+') || 'no services'}${n.agent ? ',agent' : ''})`).join(' ')}; ` +
      `minVoters=${policy.minVoters} maxVoters=${policy.maxVoters} learnerStart=${policy.learnerStartTimeoutSeconds}s paused=${policy.paused}; ${faultSteps} steps with faults`,
  );

  const result = (failure?: string, knownIssue?: ScheduleResult['knownIssue']): ScheduleResult => ({
    seed,
    faultSteps,
    steps: step,
    quietRounds,
    faults,
    stats: controller.stats,
    trace,
    world: world.describe(),
    ...(failure !== undefined ? { failure } : {}),
    ...(knownIssue !== undefined ? { knownIssue } : {}),
  });
  let quietRounds = 0;
  let current = 'setting up';

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
        const fault = rng.weighted(FAULT_WEIGHTS);
        const what = inject(fault, world, controller, rng, options);
        if (what !== undefined) {
          faults.set(fault, (faults.get(fault) ?? 0) + 1);
          log(`fault: ${what}`);
        }
      }
      const node = rng.pick(world.nodes);
      const mid: MidReconcileFault | undefined = rng.chance(0.06) ? rng.pick(MID_RECONCILE_FAULTS) : undefined;
      if (mid !== undefined) faults.set(mid, (faults.get(mid) ?? 0) + 1);
      current = `reconcile of ${node.name}${mid !== undefined ? ` (${mid})` : ''}`;
      await controller.reconcile(node.name, mid);
      world.check();
    }

    faultPhase = false;
    repair(world, controller, rng, options, log);

    // Run whole rounds over the nodes until one changes nothing and no learner is left joining.
    for (;;) {
      if (quietRounds >= MAX_QUIET_ROUNDS) {
        throw new ModelViolation(`not converged ${MAX_QUIET_ROUNDS} rounds after the faults stopped`);
      }
      quietRounds += 1;
      let busy = false;
      for (const n of rng.shuffle(world.nodes)) {
        step += 1;
        world.nowMs += rng.int(1, 5) * 1000;
        world.tick();
        current = `reconcile of ${n.name}`;
        const e = await controller.reconcile(n.name);
        world.check();
        busy = busy || e.acted || e.wroteStatus || e.operationsChanged;
      }
      if (!busy && world.learners().length === 0) break;
    }
    current = 'the convergence check';
    await checkConverged(world, controller);
    return result();
  } catch (err) {
    log(`FAILED in ${current}`);
    if (!(err instanceof ModelViolation)) {
      return result(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    if (err.knownIssue !== undefined && options.strict !== true) return result(undefined, { id: err.knownIssue, message: err.message });
    return result(err.message);
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
      const v = some(world.voters().filter((m) => !m.healthy));
      if (v === undefined) return undefined;
      v.healthy = true;
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
      const n = some(joining.filter((x) => !x.agent));
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
  }
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
  for (const m of world.members) if (!m.isLearner) m.healthy = true;
  for (const l of world.learners()) if (l.name === '') l.startAtMs = Math.min(l.startAtMs, world.nowMs + rng.int(1, 5) * 1000);
  for (const n of world.nodes) {
    n.etcdBroken = false;
    if (n.state !== 'Present' || n.bootstrap) continue;
    n.agent = n.agentSeen ? !(options.agentsMayStayAway === true && rng.chance(0.3)) : n.agent || rng.chance(0.7);
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
    n.agent = true;
    n.agentSeen = true;
    n.flaredbHealthy = true;
    log(`operator boots ${n.name} (Present, agent reporting) so that minVoters ${world.policy.minVoters} can be kept`);
  }
  log(`faults stop; agents: ${world.nodes.filter((n) => n.agent).map((n) => n.name).join(' ') || 'none'}`);
}

/** What a converged cluster looks like, node by node, and that deciding again changes nothing. */
async function checkConverged(world: World, controller: ControllerModel): Promise<void> {
  const fail = (why: string): never => {
    throw new ModelViolation(`converged wrongly: ${why}`);
  };
  if (world.learners().length > 0) fail('a learner is left');
  for (const s of SERVICES) {
    const rec = world.operations[s];
    if (rec !== undefined) fail(`operations/${s} is left: ${rec.op.node}'s ${rec.op.change} since ${rec.op.startedAt}`);
  }
  const voters = world.voters().length;
  for (const n of world.nodes) {
    const phase = n.status?.phase;
    const member = world.memberOf(n);
    const inFlareDB = world.flaredb.some((m) => m.id === n.name);
    const inIAM = world.iam.some((r) => r.id === n.name);
    if (n.state === 'Absent') {
      if (phase !== 'Removed') fail(`${n.name} is Absent but ${phase}/${readyReason(n.status)}`);
      if (member !== undefined || inFlareDB || inIAM) fail(`${n.name} is Removed but still a member somewhere`);
      continue;
    }
    const mustBeReady = n.bootstrap || n.agent;
    if (mustBeReady && phase !== 'Ready') fail(`${n.name} is Present${n.agent ? ' with its agent' : ''} but ${phase}/${readyReason(n.status)}`);
    if (phase !== 'Ready') continue;
    if (n.wants.chainfire && member?.isLearner !== false) {
      const reason = n.status?.conditions.find((c) => c.type === 'ChainfireMember')?.reason;
      if (reason !== 'VoterLimitReached') fail(`${n.name} is Ready but not a Chainfire voter (${reason})`);
      if (voters < world.policy.maxVoters) fail(`${n.name} says VoterLimitReached with ${voters} voters, maxVoters ${world.policy.maxVoters}`);
    }
    if (n.wants.flaredb && !inFlareDB) fail(`${n.name} is Ready but not a FlareDB member`);
    if (n.wants.iam && !inIAM) fail(`${n.name} is Ready but not registered with IAM`);
  }
  for (const n of world.nodes) {
    const problem = await controller.idleProblem(n.name);
    if (problem !== undefined) fail(problem);
  }
}
