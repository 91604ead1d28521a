import type { HeldDisruption } from '../schema/disruption.js';
import type { RecoverySummary } from '../schema/cluster.js';
import type { ChainfireMember, VoterPlacement } from '../schema/members.js';
import { chainfirePeerUrl, type NodeMembership } from '../schema/node-membership.js';
import { rankCandidates } from './placement.js';
import type { LocalData } from '../schema/agent-report.js';
import { memberUnhealthy, ofEarlierIncarnation, rejoinRequired, replaceEarlierIncarnation, waitingForHealthyVoters } from './chainfire-health.js';
import type { StatusBody } from '../schema/status.js';
import { draftsOf } from './conditions.js';
import { DEFAULT_POLICY, type MembershipOperation, type MembershipPolicy } from '../schema/operation.js';
import { decideChainfireRemoval } from './chainfire-removal.js';
import { UNAVAILABLE_RETRY_MS, withActionFailure, type NodeAction, type StepResult as GenericStepResult } from './step.js';

export type ChainfireObservation = { members: ChainfireMember[] } | { unavailable: string };

export type ChainfireAction = Extract<NodeAction, { service: 'chainfire' }>;

/** What came of a promote tried earlier in this reconcile: etcd refuses until the learner is in sync. */
export interface PromoteRefused {
  memberId: string;
  detail: string;
}

export interface ChainfireStepInput {
  node: string;
  /** the desired record's generation (its mod revision) */
  generation?: number;
  spec: NodeMembership['spec'];
  previous: StatusBody | undefined;
  agentPresent: boolean;
  /** what the agent reports of the node's local Chainfire data (undefined: it does not say) */
  agentData?: LocalData | undefined;
  observed: ChainfireObservation;
  promoteRefused?: PromoteRefused;
  /** the action this step asked for failed earlier in this reconcile: report it, do not retry at once */
  actionFailed?: string;
  /** the reason the condition gives that failure (default ServiceUnavailable) */
  actionFailedReason?: string;
  /** the Chainfire change in flight, if any (for any node) */
  operation?: MembershipOperation;
  policy?: MembershipPolicy;
  /** member id → its /health answered true; unknown counts as unhealthy */
  health?: Record<string, boolean>;
  /** the Raft leader's member id, as etcd reports it */
  leaderId?: string;
  now?: Date;
  /** where current voters are, and the other nodes waiting to join, for spreading voters */
  placement?: VoterPlacement;
  /** the Chainfire peer URLs Present records claim: a learner no record claims is an orphan */
  claimedPeerUrls?: ReadonlySet<string> | undefined;
  /** the last quorum-loss recovery, if any */
  recovery?: RecoverySummary;
  /** a planned disruption this node holds: down on purpose, never replaced meanwhile */
  disruption?: HeldDisruption;
}

export type StepResult = GenericStepResult<StatusBody['chainfire']>;

/** Seconds between looks at a learner whose etcd has not started yet. */
export const LEARNER_START_POLL_MS = 1000;
export const CATCH_UP_POLL_MS = 1000;
export { UNAVAILABLE_RETRY_MS };

const cond = draftsOf('ChainfireMember');

/**
 * Decides Chainfire membership for one node (join path): adopt a member that
 * already has the node's peer URL, otherwise add a learner once the agent is
 * there, wait for its etcd to start, promote it. Pure: no I/O, no clock.
 */
export function decideChainfire(input: ChainfireStepInput): StepResult | undefined {
  return withActionFailure(decideChainfireStep(input), input.actionFailed, input.actionFailedReason);
}

function decideChainfireStep(given: ChainfireStepInput): StepResult | undefined {
  const input = droppedByRecovery(given) ? { ...given, spec: { ...given.spec, bootstrap: false } } : given;
  const { spec, previous, observed } = input;
  if (spec.chainfire === undefined) return undefined;
  if ('unavailable' in observed) {
    return {
      condition: cond('Unknown', 'ServiceUnavailable', `cannot list Chainfire members: ${observed.unavailable}`),
      block: previous?.chainfire ?? {},
      requeueAfterMs: UNAVAILABLE_RETRY_MS,
      progressed: previous?.phase === 'Joining',
    };
  }
  if (spec.state === 'Absent') return decideChainfireRemoval(input, observed.members);
  const peerUrl = chainfirePeerUrl(spec.chainfire);
  const members = observed.members;
  const namesake = members.find((m) => m.name === input.node && !m.peerUrls.includes(peerUrl));
  if (namesake !== undefined) return namesakeConflict(input.node, namesake, peerUrl);
  const mine = members.find((m) => m.peerUrls.includes(peerUrl));
  if (mine === undefined) return rejoinRequired(input, members) ?? decideNewMember(input, members, peerUrl);
  if (!spec.bootstrap && input.disruption === undefined && ofEarlierIncarnation(mine, input.agentData)) return replaceEarlierIncarnation(input, members, mine, peerUrl);
  if (!mine.isLearner) return decideVoter(input, members, mine, peerUrl);
  return decideLearner(input, members, mine, peerUrl);
}

/**
 * A bootstrap node that a quorum-loss recovery dropped from Chainfire is no
 * longer a member of the initial cluster (the recovered cluster began with the
 * survivor alone): it joins again like any node, learner first.
 */
function droppedByRecovery(input: ChainfireStepInput): boolean {
  return input.spec.bootstrap === true && input.recovery?.dropped.includes(input.node) === true;
}

/** What the status says of a node the recovery dropped, while it has not come back. */
function recoveryNote(input: ChainfireStepInput): string {
  const r = input.recovery;
  if (r === undefined || !r.dropped.includes(input.node)) return '';
  return ` (its member was dropped by the quorum-loss recovery on ${r.node} at ${r.at}: reprovision ${input.node}, or run ` +
    '`first-boot-agent reset chainfire` on it, then its join unit)';
}

/** Learners rolled back (never started) for one generation before the join gives up: only a new generation retries. */
export const MAX_START_ATTEMPTS = 3;

/**
 * How many learners of this generation were rolled back because their etcd
 * never started: as the last status counts them, plus one when that status
 * names a learner that never started and is gone now (the rollback this
 * reconcile made; its own decision is not the one written).
 */
function startAttemptsOf(input: ChainfireStepInput, members?: ChainfireMember[]): number {
  const previous = input.previous;
  if (previous === undefined || input.generation === undefined || previous.observedGeneration !== input.generation) return 0;
  const counted = previous.chainfire.startAttempts ?? 0;
  const learner = previous.chainfire.role === 'learner' ? previous.chainfire.memberId : undefined;
  const neverStarted = previous.conditions.find((c) => c.type === 'ChainfireMember')?.reason === 'LearnerAdded';
  const rolledBack = learner !== undefined && neverStarted && members !== undefined && !members.some((m) => m.id === learner);
  return counted + (rolledBack ? 1 : 0);
}

function carriedAttempts(input: ChainfireStepInput, members?: ChainfireMember[]): StatusBody['chainfire'] {
  const n = startAttemptsOf(input, members);
  return n > 0 ? { startAttempts: n } : {};
}

/**
 * A learner was added and rolled back MAX_START_ATTEMPTS times: its etcd never
 * started, whatever the agent reported. Adding it again without end helps no
 * one; the join stops for this generation and says what to look at.
 */
function startGivenUp(input: ChainfireStepInput, members: ChainfireMember[]): StepResult {
  const policy = input.policy ?? DEFAULT_POLICY;
  return {
    condition: cond(
      'False',
      'LearnerNotStarted',
      `${input.node}'s etcd did not start as a learner in ${MAX_START_ATTEMPTS} attempts of ${policy.learnerStartTimeoutSeconds}s for this generation, ` +
        `though its agent reported: check its chainfire service and the agent's --start-command, then apply the record again to retry`,
    ),
    block: carriedAttempts(input, members),
    progressed: true,
    terminal: true,
  };
}

function namesakeConflict(node: string, namesake: ChainfireMember, peerUrl: string): StepResult {
  return {
    condition: cond(
      'False',
      'Conflict',
      `etcd member ${namesake.id} is named ${node} but has peer URL ${namesake.peerUrls.join(',')}, not ${peerUrl}; ` +
        `if ${node} was replaced, remove the old member (etcdctl member remove ${namesake.id}) and apply the record again`,
    ),
    block: {},
    progressed: false,
    terminal: true,
  };
}

/** No member has the node's peer URL: a bootstrap node is missing; a joining node gets a learner, a seat and the one-learner rule allowing. */
function decideNewMember(input: ChainfireStepInput, members: ChainfireMember[], peerUrl: string): StepResult {
  const { node, spec } = input;
  if (spec.bootstrap) {
    return {
      condition: cond(
        'False',
        'NotAMember',
        `bootstrap node ${node} (peer URL ${peerUrl}) is not a Chainfire member; bootstrap marks a member of the ` +
          `initial cluster, which is adopted and never added: check its peer URL, or set bootstrap: false to have it joined`,
      ),
      block: {},
      requeueAfterMs: 10_000,
      progressed: false,
    };
  }
  // A node kept out by policy stays so whether or not its agent still runs (its agent exits 0 on it).
  const noSeat = voterSeat(input, members);
  if (noSeat !== undefined) return noSeat;
  if (!input.agentPresent) {
    return {
      condition: cond('False', 'WaitingForAgent', `waiting for ${node}'s first-boot agent to report before adding it as a learner${recoveryNote(input)}`),
      block: {},
      progressed: false,
    };
  }
  const votersDown = waitingForHealthyVoters(input, members);
  if (votersDown !== undefined) return votersDown;
  if (startAttemptsOf(input, members) >= MAX_START_ATTEMPTS) return startGivenUp(input, members);
  const otherLearner = members.find((m) => m.isLearner);
  if (otherLearner !== undefined && otherLearner.name === '' && input.claimedPeerUrls !== undefined && !otherLearner.peerUrls.some((u) => input.claimedPeerUrls!.has(u))) {
    // A learner whose etcd never started and that no record claims (its record was deleted mid-join)
    // would block every join for good (etcd keeps one learner): this join clears it first.
    return {
      condition: cond(
        'False',
        'WaitingForOtherChange',
        `removing learner ${otherLearner.id} (${otherLearner.peerUrls.join(',')}), which never started and which no record claims, before adding ${node}`,
      ),
      block: carriedAttempts(input),
      action: { service: 'chainfire', kind: 'removeMember', memberId: otherLearner.id },
      finishOperation: true,
      progressed: true,
    };
  }
  if (otherLearner !== undefined) {
    return {
      condition: cond(
        'False',
        'WaitingForOtherChange',
        `learner ${otherLearner.id} (${otherLearner.peerUrls.join(',')}) is still joining; one Chainfire change at a time`,
      ),
      block: {},
      requeueAfterMs: CATCH_UP_POLL_MS,
      progressed: true,
    };
  }
  return {
    condition: cond('False', 'AddingLearner', `adding ${node} as a Chainfire learner with peer URL ${peerUrl}`),
    block: carriedAttempts(input, members),
    action: { service: 'chainfire', kind: 'addLearner', peerUrl },
    progressed: true,
  };
}

/** VoterLimitReached when no voter seat is left for the node (by maxVoters, then by placement); undefined when it has one. */
function voterSeat(input: ChainfireStepInput, members: ChainfireMember[]): StepResult | undefined {
  const { node } = input;
  const policy = input.policy ?? DEFAULT_POLICY;
  const voters = members.filter((m) => !m.isLearner).length;
  const seats = policy.maxVoters - voters;
  const rank = input.placement ? rankCandidates(input.placement).indexOf(node) : -1;
  if (voters < policy.maxVoters && (rank < 0 || rank < seats)) return undefined;
  return {
    condition: cond(
      'False',
      'VoterLimitReached',
      voters >= policy.maxVoters
        ? `Chainfire has ${voters} voters, the most cluster/config allows (maxVoters ${policy.maxVoters}); ${node} stays a client of Chainfire`
        : `${seats} voter seat(s) left (maxVoters ${policy.maxVoters}) go to candidates in datacenters and racks with fewer voters; ${node} stays a client of Chainfire`,
    ),
    block: {},
    progressed: true,
    settled: true,
  };
}

function decideVoter(input: ChainfireStepInput, members: ChainfireMember[], mine: ChainfireMember, peerUrl: string): StepResult {
  const { node, spec, previous } = input;
  const wasJoinedHere = previous?.chainfire.memberId === mine.id && previous.chainfire.role === 'learner';
  const keptPromoted = previous?.conditions.find((c) => c.type === 'ChainfireMember')?.reason === 'Promoted';
  const reason = spec.bootstrap ? 'Adopted' : wasJoinedHere || keptPromoted ? 'Promoted' : 'Joined';
  const message = spec.bootstrap ? `member ${mine.id} of the initial cluster, voter` : `voting member ${mine.id} of Chainfire`;
  const block: StatusBody['chainfire'] = { memberId: mine.id, role: 'voter', peerUrl };
  if (!spec.bootstrap) block.initialCluster = stickyInitialCluster(previous, mine.id) ?? initialClusterOf(members, mine.id, node);
  const unhealthy = memberUnhealthy(input, mine, block, members);
  if (unhealthy !== undefined) return unhealthy;
  const policy = input.policy ?? DEFAULT_POLICY;
  return { condition: cond('True', reason, message), block, progressed: true, settled: true, requeueAfterMs: policy.healthIntervalSeconds * 1000 };
}

/** The node's learner: wait for its etcd to start (or roll it back after the start timeout), then promote once in sync. */
function decideLearner(input: ChainfireStepInput, members: ChainfireMember[], mine: ChainfireMember, peerUrl: string): StepResult {
  const { node, previous } = input;
  const policy = input.policy ?? DEFAULT_POLICY;
  const initialCluster = stickyInitialCluster(previous, mine.id) ?? initialClusterOf(members, mine.id, node);
  const block: StatusBody['chainfire'] = { memberId: mine.id, role: 'learner', peerUrl, initialCluster, ...carriedAttempts(input) };
  const opAge = (input.operation?.node === node && input.now ? input.now.getTime() - Date.parse(input.operation.startedAt) : 0) / 1000;
  if (mine.name === '' && opAge > policy.learnerStartTimeoutSeconds) {
    // Its etcd never started: take the learner out so that it blocks no other
    // change, and let the join start afresh.
    return {
      condition: cond(
        'False',
        'LearnerNotStarted',
        `learner ${mine.id} did not start within ${policy.learnerStartTimeoutSeconds}s; removing it, the join will be retried (check ${node}'s chainfire service and first-boot agent)`,
      ),
      block: { startAttempts: startAttemptsOf(input) + 1 },
      action: { service: 'chainfire', kind: 'removeMember', memberId: mine.id },
      finishOperation: true,
      progressed: true,
    };
  }
  if (mine.name === '') {
    return {
      condition: cond('False', 'LearnerAdded', `learner added as ${mine.id}; waiting for ${node}'s etcd to start with the initialCluster in this status`),
      block,
      requeueAfterMs: LEARNER_START_POLL_MS,
      progressed: true,
    };
  }
  if (input.promoteRefused?.memberId === mine.id) return catchingUp(input, mine, block, opAge);
  return {
    condition: cond('False', 'LearnerCatchingUp', `learner ${mine.id} has started; promoting it to voter`),
    block,
    action: { service: 'chainfire', kind: 'promote', memberId: mine.id },
    progressed: true,
  };
}

/** etcd refused the promote: the learner is still behind (past learnerCatchUpTimeoutSeconds, it says so). */
function catchingUp(input: ChainfireStepInput, mine: ChainfireMember, block: StatusBody['chainfire'], opAge: number): StepResult {
  const policy = input.policy ?? DEFAULT_POLICY;
  const detail = input.promoteRefused!.detail;
  const slow = opAge > policy.learnerCatchUpTimeoutSeconds;
  return {
    condition: cond(
      'False',
      slow ? 'LearnerNotCatchingUp' : 'LearnerCatchingUp',
      slow
        ? `learner ${mine.id} has not caught up after ${Math.round(opAge)}s (bound ${policy.learnerCatchUpTimeoutSeconds}s); check ${input.node}'s network and disk, and etcd's logs (etcd: ${detail})`
        : `learner ${mine.id} has started; waiting for it to catch up before promotion (etcd: ${detail})`,
    ),
    block,
    requeueAfterMs: CATCH_UP_POLL_MS,
    progressed: true,
  };
}

function stickyInitialCluster(previous: StatusBody | undefined, memberId: string): string | undefined {
  return previous?.chainfire.memberId === memberId ? previous.chainfire.initialCluster : undefined;
}

/**
 * The `--initial-cluster` value a joining member needs: every member's
 * name=peerURL, the new member under its node name (etcd reports it with an
 * empty name until it starts). Sorted, so it reads the same whatever order
 * etcd lists members in.
 */
export function initialClusterOf(members: ChainfireMember[], newMemberId: string, node: string): string {
  const parts: string[] = [];
  for (const m of members) {
    const name = m.id === newMemberId ? node : m.name;
    if (name === '') continue;
    for (const url of m.peerUrls) parts.push(`${name}=${url}`);
  }
  return parts.sort().join(',');
}
