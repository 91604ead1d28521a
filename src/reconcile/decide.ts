import type { HeldDisruption } from '../schema/disruption.js';
import type { RecoverySummary } from '../schema/cluster.js';
import type { AgentReport, Service } from '../schema/agent-report.js';
import { REMOVE_NOW_ANNOTATION, chainfirePeerUrl, type NodeMembership } from '../schema/node-membership.js';
import { DEFAULT_POLICY, type MembershipOperation, type MembershipPolicy } from '../schema/operation.js';
import type { StatusBody } from '../schema/status.js';
import type { FlareDBMember, IamNodeRegistration, VoterPlacement } from '../schema/members.js';
import { decideChainfire, type ChainfireObservation, type PromoteRefused } from './chainfire-step.js';
import { stampConditions, type ConditionDraft } from './conditions.js';
import { decideFlareDB } from './flaredb-step.js';
import { decideIAM } from './iam-step.js';
import { UNAVAILABLE_RETRY_MS, withoutAction, type NodeAction, type Observation, type StepResult } from './step.js';
import { gateChanges } from './gate.js';
import { summarize } from './summary.js';

export type { NodeAction };

/** Everything the decision for one node depends on; plain data. */
export interface NodeInputs {
  node: string;
  desired: NodeMembership;
  /** the status record as last written (controller stamp excluded from comparisons) */
  previous?: StatusBody;
  agent?: AgentReport;
  chainfire: ChainfireObservation;
  /** Chainfire member id → healthy; the Raft leader's id */
  chainfireHealth?: Record<string, boolean>;
  chainfireLeaderId?: string;
  /** voters' places and the nodes waiting to join Chainfire, for spreading voters */
  placement?: VoterPlacement;
  /** the Chainfire peer URLs records claim (observed for joining nodes) */
  claimedPeerUrls?: ReadonlySet<string>;
  /** FlareDB members; absent means the controller has no FlareDB configured */
  flaredb?: Observation<FlareDBMember>;
  /** IAM registrations; absent means the controller has no IAM configured */
  iam?: Observation<IamNodeRegistration>;
  /** the cluster's initial IAM setup is recorded as done */
  iamBootstrapped?: boolean;
  /** why the last try of that setup failed, while it is not done */
  iamSetupProblem?: string;
  /** the change in flight per service (operations/<service>), for any node */
  operations?: Partial<Record<Service, MembershipOperation>>;
  policy?: MembershipPolicy;
  /** cluster/config cannot be read: no change is made until it is fixed */
  /** the last quorum-loss recovery: a bootstrap node it dropped joins again like any other node */
  recovery?: RecoverySummary;
  /** planned disruptions held now: no new Chainfire or FlareDB change while another node holds one */
  disruptions?: HeldDisruption[];
  policyProblem?: string;
  /** other Present records that claim one of this node's raft addresses */
  addressConflicts?: string[];
  promoteRefused?: PromoteRefused;
  /** the decided action failed in this reconcile, with this message */
  actionFailed?: string;
  /** the condition's reason for that failure (default ServiceUnavailable): SnapshotFailed for a change held back */
  actionFailedReason?: string;
  failedService?: NodeAction['service'];
  now: Date;
}

/** What to do with `operations/<service>` around the action. */
export interface OperationChange {
  service: Service;
  /** record this change before the action */
  start?: 'join' | 'remove';
  /** a new start time; otherwise a change of the node's own that is re-recorded keeps its start time */
  fresh?: boolean;
  /** delete the record (after the action, if any) */
  finish?: boolean;
}

export interface NodeDecision {
  status: Omit<StatusBody, 'controller'>;
  action?: NodeAction;
  operations?: OperationChange[];
  requeueAfterMs?: number;
}

/** Each service's step for the node, in the contract's order; undefined where the record asks nothing of it. */
export type ServiceSteps = Record<Service, StepResult<object> | undefined>;

/**
 * What should happen to one node now, and what its status says: a pure
 * function of desired record, observed members, agent report, the changes in
 * flight and the policy. At most one action; a change is recorded before it
 * starts; nothing moves while paused or while another node's change of the
 * same service is in flight.
 */
export function decideNode(input: NodeInputs): NodeDecision {
  const held = heldStatus(input);
  if (held !== undefined) return held;
  const gated = gateChanges(input, serviceSteps(input));
  return summarize(input, gated);
}

/**
 * A status that stands as it is: Failed is terminal for a generation; while
 * Chainfire (which holds the status records too) cannot be listed, the status
 * is kept rather than flapped; two records claiming one raft address are a
 * Conflict; a record set Absent waits out the removal grace.
 */
function heldStatus(input: NodeInputs): NodeDecision | undefined {
  const { desired, previous } = input;
  const generation = desired.metadata.generation ?? 0;
  const spec = desired.spec;
  // An address conflict is not held: it ends when the other record goes or changes.
  if (previous?.phase === 'Failed' && previous.observedGeneration === generation && !isAddressConflict(previous)) {
    return { status: withoutStamp(previous) };
  }
  const unseen = (requested: unknown, obs: object | undefined) => requested !== undefined && obs !== undefined && 'unavailable' in obs;
  // (FlareDB or IAM unseen for a moment keep only their own True conditions, keepWhileUnseen: a Chainfire
  // member that stopped answering meanwhile still shows.)
  if (previous !== undefined && previous.observedGeneration === generation && unseen(spec.chainfire, input.chainfire)) {
    return { status: withoutStamp(previous), requeueAfterMs: UNAVAILABLE_RETRY_MS };
  }
  if (spec.state !== 'Absent' && input.addressConflicts !== undefined && input.addressConflicts.length > 0 && !isIncumbent(input)) {
    return conflictDecision(input, generation);
  }
  return scheduledRemoval(input, generation);
}

/**
 * A record set Absent is acted on only once it has stayed Absent for
 * removalGraceSeconds: a Present -> Absent -> Present flip (an automation
 * glitch) removes nothing. The wait counts from the first status that says so
 * (Ready=Unknown RemovalScheduled: its transition time); the remove-now
 * annotation (`membershipctl delete --now`) skips it. A removal that has
 * started is not held back again.
 */
function scheduledRemoval(input: NodeInputs, generation: number): NodeDecision | undefined {
  const { desired, previous, now } = input;
  const graceMs = (input.policy ?? DEFAULT_POLICY).removalGraceSeconds * 1000;
  const removeNow = desired.metadata.annotations?.[REMOVE_NOW_ANNOTATION];
  if (desired.spec.state !== 'Absent' || graceMs === 0 || (removeNow !== undefined && removeNow !== 'false')) return undefined;
  const ready = previous?.conditions.find((c) => c.type === 'Ready');
  const sameGeneration = previous?.observedGeneration === generation;
  if (sameGeneration && ready?.reason !== 'RemovalScheduled') return undefined;
  // Whole seconds, as the transition time is stamped: the time it names stays the same at every look.
  const since = sameGeneration && ready?.status === 'Unknown' ? Date.parse(ready.lastTransitionTime) : Math.floor(now.getTime() / 1000) * 1000;
  const at = since + graceMs;
  if (now.getTime() >= at) return undefined;
  const drafts: ConditionDraft[] = (previous?.conditions ?? [])
    .filter((c) => c.type !== 'Ready' && c.type !== 'AgentReady')
    .map(({ type, status, reason, message }) => ({ type, status, reason, message }));
  drafts.push({
    type: 'Ready',
    status: 'Unknown',
    reason: 'RemovalScheduled',
    message:
      `${input.node} is set Absent; its removal starts at ${new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z')} unless it is set Present again ` +
      `(membershipctl delete --now starts it at once)`,
  });
  return {
    status: {
      observedGeneration: generation,
      phase: 'Removing',
      // A new Absent generation starts its own wait: Ready's transition time is stamped afresh.
      conditions: stampConditions(drafts, sameGeneration ? previous?.conditions : previous?.conditions.filter((c) => c.type !== 'Ready'), generation, now),
      chainfire: previous?.chainfire ?? {},
      flaredb: previous?.flaredb ?? {},
      iam: previous?.iam ?? {},
    },
    requeueAfterMs: at - now.getTime(),
  };
}

/** Each service's own decision: joining Chainfire, FlareDB, then IAM; removing in the reverse order. */
function serviceSteps(input: NodeInputs): ServiceSteps {
  const { desired, previous, now } = input;
  const generation = desired.metadata.generation ?? 0;
  const spec = desired.spec;
  const removing = spec.state === 'Absent';
  const flaredbObs = input.flaredb ?? { notConfigured: true };
  const iamObs = input.iam ?? { notConfigured: true };
  const sameGeneration = previous?.observedGeneration === generation ? previous : undefined;
  const failedFor = (service: Service) =>
    input.actionFailed !== undefined && input.failedService === service
      ? { actionFailed: input.actionFailed, ...(input.actionFailedReason !== undefined ? { actionFailedReason: input.actionFailedReason } : {}) }
      : {};
  const chainfire = decideChainfire({
    node: input.node,
    generation,
    spec,
    previous,
    agentPresent: input.agent !== undefined,
    agentData: input.agent?.report.data?.chainfire,
    observed: input.chainfire,
    policy: input.policy ?? DEFAULT_POLICY,
    now,
    ...(input.operations?.chainfire ? { operation: input.operations.chainfire } : {}),
    ...(input.chainfireHealth ? { health: input.chainfireHealth } : {}),
    ...(input.chainfireLeaderId ? { leaderId: input.chainfireLeaderId } : {}),
    ...(input.placement ? { placement: input.placement } : {}),
    ...(input.claimedPeerUrls ? { claimedPeerUrls: input.claimedPeerUrls } : {}),
    ...(input.promoteRefused ? { promoteRefused: input.promoteRefused } : {}),
    ...(input.recovery ? { recovery: input.recovery } : {}),
    ...ownDisruption(input),
    ...failedFor('chainfire'),
  });
  const chainfireReady = chainfire === undefined || chainfire.condition.status === 'True' || chainfire.settled === true;
  const flaredbStep = decideFlareDB({ node: input.node, spec, agent: input.agent, chainfireReady, observed: flaredbObs, ...failedFor('flaredb') });
  const flaredb = keepWhileUnseen(flaredbStep, flaredbObs, sameGeneration, 'FlareDBMember', previous?.flaredb);
  const flaredbDone = flaredb === undefined || flaredb.settled === true;
  const waitingFor = removing ? (flaredbDone ? undefined : 'FlareDB') : !chainfireReady ? 'Chainfire' : flaredbDone ? undefined : 'FlareDB';
  const iamStep = decideIAM({
    node: input.node, spec, waitingFor, iamBootstrapped: input.iamBootstrapped ?? false, observed: iamObs, ...failedFor('iam'),
    ...(input.iamSetupProblem !== undefined ? { setupProblem: input.iamSetupProblem } : {}),
  });
  const iam = keepWhileUnseen(iamStep, iamObs, sameGeneration, 'IAMRegistered', previous?.iam);
  const iamDone = iam === undefined || iam.settled === true;
  // Removal runs in the reverse order: FlareDB, IAM, then Chainfire.
  if (removing && chainfire !== undefined && !chainfire.settled && !(flaredbDone && iamDone)) {
    const later: StepResult<object> = {
      ...withoutAction(chainfire),
      condition: { ...chainfire.condition, reason: 'WaitingForOtherServices', message: 'Chainfire removal follows FlareDB removal and IAM deregistration' },
    };
    return { chainfire: later, flaredb, iam };
  }
  return { chainfire, flaredb, iam };
}

/**
 * A service that cannot be seen for a moment keeps what the status said about
 * it for this same generation when that was True: progress is not thrown away (nor transition times
 * moved) by a blip of the service.
 */
function keepWhileUnseen(
  step: StepResult<object> | undefined,
  observed: object,
  previous: StatusBody | undefined,
  type: 'FlareDBMember' | 'IAMRegistered',
  block: Record<string, unknown> | undefined,
): StepResult<object> | undefined {
  if (step === undefined || !('unavailable' in observed)) return step;
  const before = previous?.conditions.find((c) => c.type === type);
  if (before?.status !== 'True') return step;
  return {
    condition: { type, status: 'True', reason: before.reason, message: before.message },
    block: block ?? {},
    progressed: true,
    settled: true,
    ...(step.requeueAfterMs !== undefined ? { requeueAfterMs: step.requeueAfterMs } : {}),
  };
}

/**
 * The node already holds its raft address: its Chainfire member has its peer
 * URL, or its FlareDB member its raft address. Another record that claims the
 * address is the newcomer and carries the conflict; the member goes on.
 */
function isIncumbent(input: NodeInputs): boolean {
  const spec = input.desired.spec;
  const peerUrl = spec.chainfire ? chainfirePeerUrl(spec.chainfire) : undefined;
  // Its own member: under its peer URL, and named after it (or not started yet); another node's member is not.
  const inChainfire = peerUrl !== undefined && 'members' in input.chainfire &&
    input.chainfire.members.some((m) => m.peerUrls.includes(peerUrl) && (m.name === input.node || m.name === ''));
  const flare = input.flaredb;
  const inFlareDB = spec.flaredb !== undefined && flare !== undefined && 'members' in flare &&
    flare.members.some((m) => m.id === input.node && m.raftAddr === spec.flaredb!.raftAddr);
  return inChainfire || inFlareDB;
}

/** A Failed status written for two records claiming one raft address (conflictDecision's shape). */
function isAddressConflict(status: StatusBody): boolean {
  const ready = status.conditions.find((c) => c.type === 'Ready');
  return ready?.reason === 'Conflict' && status.conditions.every((c) => c.type === 'Ready' || c.reason !== 'Conflict') && / claim the same raft address/.test(ready.message);
}

function conflictDecision(input: NodeInputs, generation: number): NodeDecision {
  const others = input.addressConflicts!.join(', ');
  const drafts: ConditionDraft[] = [
    {
      type: 'Ready',
      status: 'False',
      reason: 'Conflict',
      message: `${input.node} and ${others} claim the same raft address; give each node its own address in its record and apply it again`,
    },
  ];
  return {
    status: {
      observedGeneration: generation,
      phase: 'Failed',
      conditions: stampConditions(drafts, input.previous?.conditions, generation, input.now),
      chainfire: input.previous?.chainfire ?? {},
      flaredb: input.previous?.flaredb ?? {},
      iam: input.previous?.iam ?? {},
    },
  };
}

/** A status for a desired record that could not be read: nothing else is done for it. */
export function invalidSpecStatus(
  problem: string,
  generation: number,
  previous: StatusBody | undefined,
  now: Date,
): NodeDecision['status'] {
  const drafts: ConditionDraft[] = [
    { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: `${problem}; fix the desired record and apply it again` },
  ];
  return {
    observedGeneration: generation,
    phase: 'Failed',
    conditions: stampConditions(drafts, previous?.conditions, generation, now),
    chainfire: previous?.chainfire ?? {},
    flaredb: previous?.flaredb ?? {},
    iam: previous?.iam ?? {},
  };
}

function withoutStamp(status: StatusBody): NodeDecision['status'] {
  const { controller: _stamp, ...rest } = status;
  return rest;
}

function ownDisruption(input: NodeInputs): { disruption?: HeldDisruption } {
  const own = input.disruptions?.find((d) => d.node === input.node);
  return own !== undefined ? { disruption: own } : {};
}
