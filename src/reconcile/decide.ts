import type { AgentReport, Service } from '../schema/agent-report.js';
import type { NodeMembership } from '../schema/node-membership.js';
import { DEFAULT_POLICY, type MembershipOperation, type MembershipPolicy } from '../schema/operation.js';
import type { Phase, StatusBody } from '../schema/status.js';
import type { FlareDBMember, IamNodeRegistration, VoterPlacement } from '../schema/members.js';
import { decideChainfire, type ChainfireObservation, type PromoteRefused } from './chainfire-step.js';
import { stampConditions, type ConditionDraft } from './conditions.js';
import { decideFlareDB } from './flaredb-step.js';
import { decideIAM } from './iam-step.js';
import { OTHER_CHANGE_POLL_MS, UNAVAILABLE_RETRY_MS, changeOf, type NodeAction, type Observation, type StepResult } from './step.js';

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
  /** FlareDB members; absent means the controller has no FlareDB configured */
  flaredb?: Observation<FlareDBMember>;
  /** IAM registrations; absent means the controller has no IAM configured */
  iam?: Observation<IamNodeRegistration>;
  /** the cluster's initial IAM setup is recorded as done */
  iamBootstrapped?: boolean;
  /** the change in flight per service (operations/<service>), for any node */
  operations?: Partial<Record<Service, MembershipOperation>>;
  policy?: MembershipPolicy;
  /** other Present records that claim one of this node's raft addresses */
  addressConflicts?: string[];
  promoteRefused?: PromoteRefused;
  /** the decided action failed in this reconcile, with this message */
  actionFailed?: string;
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

const NON_BLOCKING_REASONS = new Set(['VoterLimitReached']);

/**
 * What should happen to one node now, and what its status says: a pure
 * function of desired record, observed members, agent report, the changes in
 * flight and the policy. At most one action; a change is recorded before it
 * starts; nothing moves while paused or while another node's change of the
 * same service is in flight.
 */
export function decideNode(input: NodeInputs): NodeDecision {
  const { desired, previous, now } = input;
  const generation = desired.metadata.generation ?? 0;
  const spec = desired.spec;
  const policy = input.policy ?? DEFAULT_POLICY;
  const removing = spec.state === 'Absent';

  // Failed is terminal for a generation: only a new spec generation retries.
  if (previous?.phase === 'Failed' && previous.observedGeneration === generation) {
    return { status: withoutStamp(previous) };
  }
  const flaredbObs = input.flaredb ?? { notConfigured: true };
  const iamObs = input.iam ?? { notConfigured: true };
  // Chainfire holds the status records too: when its members cannot be listed,
  // keep what the status says rather than flap it, and look again soon. The same
  // for a Ready node whose other services cannot be seen for a moment.
  const unseen = (requested: unknown, obs: object) => requested !== undefined && 'unavailable' in obs;
  if (previous !== undefined && previous.observedGeneration === generation) {
    const chainfireUnseen = unseen(spec.chainfire, input.chainfire);
    const otherUnseen = unseen(spec.flaredb, flaredbObs) || unseen(spec.iam, iamObs);
    if (chainfireUnseen || (otherUnseen && previous.phase === 'Ready')) {
      return { status: withoutStamp(previous), requeueAfterMs: UNAVAILABLE_RETRY_MS };
    }
  }
  if (!removing && input.addressConflicts !== undefined && input.addressConflicts.length > 0) {
    return conflictDecision(input, generation);
  }

  const failedFor = (service: Service) =>
    input.actionFailed !== undefined && input.failedService === service ? { actionFailed: input.actionFailed } : {};
  const chainfireRaw = decideChainfire({
    node: input.node,
    spec,
    previous,
    agentPresent: input.agent !== undefined,
    observed: input.chainfire,
    policy,
    now,
    ...(input.operations?.chainfire ? { operation: input.operations.chainfire } : {}),
    ...(input.chainfireHealth ? { health: input.chainfireHealth } : {}),
    ...(input.chainfireLeaderId ? { leaderId: input.chainfireLeaderId } : {}),
    ...(input.placement ? { placement: input.placement } : {}),
    ...(input.promoteRefused ? { promoteRefused: input.promoteRefused } : {}),
    ...failedFor('chainfire'),
  });
  const chainfireReady = chainfireRaw === undefined || chainfireRaw.condition.status === 'True' || chainfireRaw.settled === true;
  const flaredbRaw = keepWhileUnseen(
    decideFlareDB({ node: input.node, spec, agent: input.agent, chainfireReady, observed: flaredbObs, ...failedFor('flaredb') }),
    flaredbObs,
    previous?.observedGeneration === generation ? previous : undefined,
    'FlareDBMember',
    previous?.flaredb,
  );
  const flaredbDone = flaredbRaw === undefined || flaredbRaw.settled === true;
  const iamRaw = keepWhileUnseen(decideIAM({
    node: input.node,
    spec,
    waitingFor: removing
      ? flaredbDone ? undefined : 'FlareDB'
      : !chainfireReady ? 'Chainfire' : flaredbDone ? undefined : 'FlareDB',
    iamBootstrapped: input.iamBootstrapped ?? false,
    observed: iamObs,
    ...failedFor('iam'),
  }), iamObs, previous?.observedGeneration === generation ? previous : undefined, 'IAMRegistered', previous?.iam);
  const iamDone = iamRaw === undefined || iamRaw.settled === true;

  // Removal runs in the reverse order: FlareDB, IAM, then Chainfire.
  let chainfire = chainfireRaw;
  if (removing && chainfire !== undefined && !chainfire.settled && !(flaredbDone && iamDone)) {
    const { action: _later, ...rest } = chainfire;
    chainfire = {
      ...rest,
      condition: { ...chainfire.condition, reason: 'WaitingForOtherServices', message: 'Chainfire removal follows FlareDB removal and IAM deregistration' },
    };
  }

  const named: Array<[Service, StepResult<object> | undefined]> = [
    ['chainfire', chainfire],
    ['flaredb', flaredbRaw],
    ['iam', iamRaw],
  ];
  const steps: Array<[Service, StepResult<object>]> = named.filter((e): e is [Service, StepResult<object>] => e[1] !== undefined);
  const order: Service[] = removing ? ['flaredb', 'iam', 'chainfire'] : ['chainfire', 'flaredb', 'iam'];

  // One action per reconcile, in the order of the change, gated on pause and on other nodes' changes.
  let action: NodeAction | undefined;
  const operations: OperationChange[] = [];
  for (const service of order) {
    const entry = steps.find(([s]) => s === service);
    if (entry === undefined) continue;
    const [, step] = entry;
    const op = input.operations?.[service];
    const mine = op?.node === input.node;
    if (step.action === undefined) {
      // The node's own change ends when its goal is reached, and also when
      // nothing of it is under way (the service is seen, and no learner of this
      // node is joining): a record left by a crash or a vanished agent must not
      // block every other node.
      const seen = service === 'chainfire' ? 'members' in input.chainfire : service === 'flaredb' ? 'members' in flaredbObs : 'members' in iamObs;
      const learnerJoining = service === 'chainfire' && (step.block as { role?: string }).role === 'learner';
      if (mine && (step.settled || (seen && !learnerJoining))) operations.push({ service, finish: true });
      continue;
    }
    if (action !== undefined) {
      entry[1] = withoutAction(step);
      continue;
    }
    if (policy.paused) {
      entry[1] = { ...withoutAction(step), condition: { ...step.condition, status: step.condition.status === 'True' ? 'True' : 'False', reason: 'Paused', message: `membership changes are paused (membershipctl resume); next: ${step.condition.message}` } };
      continue;
    }
    // IAM registrations are not Raft membership: each is one idempotent call that
    // changes no quorum, so they run side by side and are not recorded in
    // operations/iam. Chainfire and FlareDB changes stay one at a time.
    if (service === 'iam') {
      action = step.action;
      continue;
    }
    if (op !== undefined && !mine) {
      entry[1] = {
        ...withoutAction(step),
        condition: {
          ...step.condition,
          reason: 'WaitingForOtherChange',
          // Stable while it waits: naming the change in flight would rewrite every waiting
          // status each time a change ends. `membershipctl describe` shows which one it is.
          message: `waiting for the ${NAMES[service]} change in flight (operations/${service}); one change at a time`,
        },
        requeueAfterMs: OTHER_CHANGE_POLL_MS,
      };
      continue;
    }
    action = step.action;
    const change = changeOf(step.action);
    // Every action first (re)records its change with a compare-and-swap on the
    // record as read: a stale read of the node's own record cannot act unguarded.
    // Adding a learner starts its clock afresh (the start timeout counts from it).
    operations.push({ service, start: change, fresh: !mine || op?.change !== change || step.action.kind === 'addLearner' });
    if (step.finishOperation) operations.push({ service, finish: true });
  }

  const final = steps.map(([, s]) => s);
  const serviceConditions = final.map((s) => s.condition);
  const blocking = serviceConditions.find((c) => c.status !== 'True' && !NON_BLOCKING_REASONS.has(c.reason));
  const allSettled = final.every((s) => s.settled);
  const drafts: ConditionDraft[] = [];
  if (!spec.bootstrap && !removing) drafts.push(agentCondition(input.agent !== undefined, blocking === undefined, input.node));
  drafts.push(...serviceConditions);
  if (removing) {
    drafts.push(
      allSettled
        ? { type: 'Ready', status: 'False', reason: 'Removed', message: `${input.node} is no longer a member of any service` }
        : { type: 'Ready', status: 'False', reason: 'Removing', message: removalProgress(named) },
    );
  } else {
    drafts.push(
      blocking === undefined
        ? { type: 'Ready', status: 'True', reason: 'Joined', message: readyMessage(final) }
        : { type: 'Ready', status: 'False', reason: blocking.reason, message: `${blocking.type}: ${blocking.message}` },
    );
  }

  const terminal = final.some((s) => s.terminal);
  const phase: Phase = removing
    ? allSettled ? 'Removed' : 'Removing'
    : terminal
      ? 'Failed'
      : blocking === undefined
        ? 'Ready'
        : final.some((s) => s.progressed) || previous?.phase === 'Joining'
          ? 'Joining'
          : 'Pending';

  const status: NodeDecision['status'] = {
    observedGeneration: generation,
    phase,
    conditions: stampConditions(drafts, previous?.conditions, generation, now),
    chainfire: (chainfire?.block as StatusBody['chainfire'] | undefined) ?? {},
    flaredb: (flaredbRaw?.block as Record<string, unknown> | undefined) ?? {},
    iam: (iamRaw?.block as Record<string, unknown> | undefined) ?? {},
  };
  const decision: NodeDecision = { status };
  if (action && !terminal) decision.action = action;
  if (operations.length > 0 && !terminal) decision.operations = operations;
  const waits = final.map((s) => s.requeueAfterMs).filter((n): n is number => n !== undefined);
  if (waits.length > 0) decision.requeueAfterMs = Math.min(...waits);
  return decision;
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

function withoutAction<B>(step: StepResult<B>): StepResult<B> {
  const { action: _dropped, finishOperation: _f, ...rest } = step;
  return rest;
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

function removalProgress(named: Array<[Service, StepResult<object> | undefined]>): string {
  const left = named.filter(([, s]) => s !== undefined && !s.settled).map(([svc]) => svc);
  return left.length === 0 ? 'removed' : `still a member of ${left.join(', ')}`;
}

function agentCondition(present: boolean, allMember: boolean, node: string): ConditionDraft {
  if (present) return { type: 'AgentReady', status: 'True', reason: 'Reporting', message: `${node}'s first-boot agent is reporting` };
  if (allMember) {
    return {
      type: 'AgentReady',
      status: 'True',
      reason: 'NotRequired',
      message: 'the node is a member of every requested service; the agent is no longer needed',
    };
  }
  return { type: 'AgentReady', status: 'False', reason: 'WaitingForAgent', message: `waiting for ${node}'s first-boot agent to report` };
}

const NAMES: Record<Service, string> = { chainfire: 'Chainfire', flaredb: 'FlareDB', iam: 'IAM' };

function readyMessage(steps: StepResult<object>[]): string {
  if (steps.length === 0) return 'no service membership requested';
  return `member of ${steps.map((s) => s.condition.type.replace(/Member$|Registered$/, '')).join(', ')}`;
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
