import type { AgentReport } from '../schema/agent-report.js';
import type { NodeMembership } from '../schema/node-membership.js';
import type { Phase, StatusBody } from '../schema/status.js';
import type { FlareDBMember, IamNodeRegistration } from '../drivers/types.js';
import { decideChainfire, type ChainfireObservation, type PromoteRefused } from './chainfire-step.js';
import { stampConditions, type ConditionDraft } from './conditions.js';
import { decideFlareDB } from './flaredb-step.js';
import { decideIAM } from './iam-step.js';
import { UNAVAILABLE_RETRY_MS, type NodeAction, type Observation, type StepResult } from './step.js';

export type { NodeAction };

/** Everything the decision for one node depends on; plain data. */
export interface NodeInputs {
  node: string;
  desired: NodeMembership;
  /** the status record as last written (controller stamp excluded from comparisons) */
  previous?: StatusBody;
  agent?: AgentReport;
  chainfire: ChainfireObservation;
  /** FlareDB members; absent means the controller has no FlareDB configured */
  flaredb?: Observation<FlareDBMember>;
  /** IAM registrations; absent means the controller has no IAM configured */
  iam?: Observation<IamNodeRegistration>;
  /** the cluster's initial IAM setup is recorded as done */
  iamBootstrapped?: boolean;
  promoteRefused?: PromoteRefused;
  /** the decided action failed in this reconcile, with this message */
  actionFailed?: string;
  failedService?: NodeAction['service'];
  now: Date;
}

export interface NodeDecision {
  status: Omit<StatusBody, 'controller'>;
  action?: NodeAction;
  requeueAfterMs?: number;
}

/**
 * What should happen to one node now, and what its status says: a pure
 * function of desired record, observed members, agent report and the outcome
 * of an action tried earlier in the same reconcile.
 */
export function decideNode(input: NodeInputs): NodeDecision {
  const { desired, previous, now } = input;
  const generation = desired.metadata.generation ?? 0;
  const spec = desired.spec;

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

  const steps: StepResult<object>[] = [];
  const chainfire = decideChainfire({
    node: input.node,
    spec,
    previous,
    agentPresent: input.agent !== undefined,
    observed: input.chainfire,
    ...(input.promoteRefused ? { promoteRefused: input.promoteRefused } : {}),
    ...(input.actionFailed !== undefined && input.failedService === 'chainfire' ? { actionFailed: input.actionFailed } : {}),
  });
  if (chainfire) steps.push(chainfire);
  const chainfireReady = chainfire === undefined || chainfire.condition.status === 'True';
  const flaredb = decideFlareDB({
    node: input.node,
    spec,
    agent: input.agent,
    chainfireReady,
    observed: flaredbObs,
    ...(input.actionFailed !== undefined && input.failedService === 'flaredb' ? { actionFailed: input.actionFailed } : {}),
  });
  if (flaredb) steps.push(flaredb);
  const iam = decideIAM({
    node: input.node,
    spec,
    waitingFor: !chainfireReady ? 'Chainfire' : flaredb !== undefined && flaredb.condition.status !== 'True' ? 'FlareDB' : undefined,
    iamBootstrapped: input.iamBootstrapped ?? false,
    observed: iamObs,
    ...(input.actionFailed !== undefined && input.failedService === 'iam' ? { actionFailed: input.actionFailed } : {}),
  });
  if (iam) steps.push(iam);

  const serviceConditions = steps.map((s) => s.condition);
  const allMember = serviceConditions.every((c) => c.status === 'True');
  const drafts: ConditionDraft[] = [];
  if (!spec.bootstrap) drafts.push(agentCondition(input.agent !== undefined, allMember, input.node));
  drafts.push(...serviceConditions);
  const blocking = serviceConditions.find((c) => c.status !== 'True');
  drafts.push(
    blocking === undefined
      ? { type: 'Ready', status: 'True', reason: 'Joined', message: readyMessage(steps) }
      : { type: 'Ready', status: 'False', reason: blocking.reason, message: `${blocking.type}: ${blocking.message}` },
  );

  const terminal = steps.some((s) => s.terminal);
  const phase: Phase = terminal
    ? 'Failed'
    : blocking === undefined
      ? 'Ready'
      : steps.some((s) => s.progressed) || previous?.phase === 'Joining'
        ? 'Joining'
        : 'Pending';

  const status: NodeDecision['status'] = {
    observedGeneration: generation,
    phase,
    conditions: stampConditions(drafts, previous?.conditions, generation, now),
    chainfire: chainfire?.block ?? {},
    flaredb: flaredb?.block ?? {},
    iam: iam?.block ?? {},
  };
  const decision: NodeDecision = { status };
  const action = steps.find((s) => s.action)?.action;
  if (action && !terminal) decision.action = action;
  const waits = steps.map((s) => s.requeueAfterMs).filter((n): n is number => n !== undefined);
  if (waits.length > 0) decision.requeueAfterMs = Math.min(...waits);
  return decision;
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
