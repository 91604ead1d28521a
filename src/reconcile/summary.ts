/**
 * What a node's status says once its steps are decided and gated: the
 * AgentReady, per-service and Ready conditions, and the phase.
 */
import type { Service } from '../schema/agent-report.js';
import type { Phase } from '../schema/status.js';
import { stampConditions, type ConditionDraft } from './conditions.js';
import type { NodeDecision, NodeInputs } from './decide.js';
import type { Gated } from './gate.js';
import type { StepResult } from './step.js';

/** Reasons that leave a node Ready: it stays a client of Chainfire by policy. */
const NON_BLOCKING_REASONS = new Set(['VoterLimitReached']);

/** Reasons that make a node that was Ready Degraded: a member of it is dead or of an earlier incarnation. */
const DEGRADING_REASONS = new Set(['MemberUnhealthy', 'Reprovisioned', 'PlannedDisruption', 'DeadMemberCleanup']);

export function summarize(input: NodeInputs, gated: Gated): NodeDecision {
  const { desired, previous, now } = input;
  const generation = desired.metadata.generation ?? 0;
  const spec = desired.spec;
  const removing = spec.state === 'Absent';
  const named = (['chainfire', 'flaredb', 'iam'] as const).map((s): [Service, StepResult<object> | undefined] => [s, gated.steps[s]]);
  const final = named.flatMap(([, s]) => (s === undefined ? [] : [s]));
  const serviceConditions = final.map((s) => s.condition);
  const blocking = serviceConditions.find((c) => c.status !== 'True' && !NON_BLOCKING_REASONS.has(c.reason));
  const allSettled = final.every((s) => s.settled);
  const drafts: ConditionDraft[] = [];
  if (!spec.bootstrap && !removing) drafts.push(agentCondition(input.agent !== undefined, blocking === undefined, input.node));
  drafts.push(...serviceConditions, readyCondition(input.node, removing, allSettled, blocking, named, final));
  const terminal = final.some((s) => s.terminal);
  const phase: Phase = removing
    ? allSettled ? 'Removed' : 'Removing'
    : terminal ? 'Failed'
      : blocking === undefined ? 'Ready'
        : DEGRADING_REASONS.has(blocking.reason) && (previous?.phase === 'Ready' || previous?.phase === 'Degraded') ? 'Degraded'
          : final.some((s) => s.progressed) || previous?.phase === 'Joining' ? 'Joining' : 'Pending';
  const decision: NodeDecision = {
    status: {
      observedGeneration: generation,
      phase,
      conditions: stampConditions(drafts, previous?.conditions, generation, now),
      chainfire: (gated.steps.chainfire?.block as NodeDecision['status']['chainfire'] | undefined) ?? {},
      flaredb: (gated.steps.flaredb?.block as Record<string, unknown> | undefined) ?? {},
      iam: (gated.steps.iam?.block as Record<string, unknown> | undefined) ?? {},
    },
  };
  if (gated.action && !terminal) decision.action = gated.action;
  if (gated.operations.length > 0 && !terminal) decision.operations = gated.operations;
  const waits = final.map((s) => s.requeueAfterMs).filter((n): n is number => n !== undefined);
  if (waits.length > 0) decision.requeueAfterMs = Math.min(...waits);
  return decision;
}

function readyCondition(
  node: string,
  removing: boolean,
  allSettled: boolean,
  blocking: ConditionDraft | undefined,
  named: Array<[Service, StepResult<object> | undefined]>,
  final: StepResult<object>[],
): ConditionDraft {
  if (removing) {
    return allSettled
      ? { type: 'Ready', status: 'False', reason: 'Removed', message: `${node} is no longer a member of any service` }
      : { type: 'Ready', status: 'False', reason: 'Removing', message: removalProgress(named) };
  }
  return blocking === undefined
    ? { type: 'Ready', status: 'True', reason: 'Joined', message: readyMessage(final) }
    : { type: 'Ready', status: 'False', reason: blocking.reason, message: `${blocking.type}: ${blocking.message}` };
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

function readyMessage(steps: StepResult<object>[]): string {
  if (steps.length === 0) return 'no service membership requested';
  return `member of ${steps.map((s) => s.condition.type.replace(/Member$|Registered$/, '')).join(', ')}`;
}
