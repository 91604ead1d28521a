/**
 * One change at a time: of the node's steps, in the order of its change, the
 * first with an action acts; the others wait. Nothing moves while paused;
 * Chainfire and FlareDB changes wait for another node's change of the same
 * service; IAM registrations, which change no quorum, run side by side.
 */
import type { Service } from '../schema/agent-report.js';
import { DEFAULT_POLICY } from '../schema/operation.js';
import type { NodeInputs, OperationChange, ServiceSteps } from './decide.js';
import { OTHER_CHANGE_POLL_MS, changeOf, withoutAction, type NodeAction, type StepResult } from './step.js';

export interface Gated {
  /** the steps as gated: a step held back has no action and says why */
  steps: ServiceSteps;
  action?: NodeAction;
  operations: OperationChange[];
}

const NAMES: Record<Service, string> = { chainfire: 'Chainfire', flaredb: 'FlareDB', iam: 'IAM' };

export function gateChanges(input: NodeInputs, steps: ServiceSteps): Gated {
  const removing = input.desired.spec.state === 'Absent';
  const order: Service[] = removing ? ['flaredb', 'iam', 'chainfire'] : ['chainfire', 'flaredb', 'iam'];
  const gated: Gated = { steps: { ...steps }, operations: [] };
  for (const service of order) {
    const step = steps[service];
    if (step === undefined) continue;
    if (step.action === undefined) {
      if (changeOver(input, service, step)) gated.operations.push({ service, finish: true });
      continue;
    }
    const held = holdBack(input, service, step, gated.action !== undefined);
    if (held !== undefined) {
      gated.steps[service] = held;
      continue;
    }
    gated.action = step.action;
    // IAM registrations are not Raft membership: each is one idempotent call and is not recorded in operations/iam.
    if (service !== 'iam') gated.operations.push(...recordChange(input, service, step, step.action));
  }
  return gated;
}

/**
 * The node's own change ends when its goal is reached, and also when nothing
 * of it is under way (the service is seen, and no learner of this node is
 * joining): a record left by a crash or a vanished agent must not block every
 * other node.
 */
function changeOver(input: NodeInputs, service: Service, step: StepResult<object>): boolean {
  if (input.operations?.[service]?.node !== input.node) return false;
  const observed = service === 'chainfire' ? input.chainfire : service === 'flaredb' ? input.flaredb : input.iam;
  const seen = observed !== undefined && 'members' in observed;
  const learnerJoining = service === 'chainfire' && (step.block as { role?: string }).role === 'learner';
  return step.settled === true || (seen && !learnerJoining);
}

/** The step without its action when it must wait: another action comes first, changes are paused, or another node's change is in flight. */
function holdBack(input: NodeInputs, service: Service, step: StepResult<object>, acting: boolean): StepResult<object> | undefined {
  if (acting) return withoutAction(step);
  const policy = input.policy ?? DEFAULT_POLICY;
  if (policy.paused || input.policyProblem !== undefined) {
    const why = input.policyProblem !== undefined
      ? `cluster/config is invalid (${input.policyProblem}), so no membership change is made until it is fixed (etcdctl get <prefix>/cluster/config; membershipctl pause and resume write a valid one)`
      : 'membership changes are paused (membershipctl resume)';
    return {
      ...withoutAction(step),
      condition: {
        ...step.condition,
        status: step.condition.status === 'True' ? 'True' : 'False',
        reason: 'Paused',
        message: `${why}; next: ${step.condition.message}`,
      },
    };
  }
  const op = input.operations?.[service];
  const disrupted = disruptionHold(input, service, step);
  if (disrupted !== undefined) return disrupted;
  if (service === 'iam' || op === undefined || op.node === input.node) return undefined;
  return {
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
}

/**
 * While a node holds a planned disruption, no Chainfire or FlareDB change
 * starts for another node (a change in flight goes on), and none for the
 * node itself that would take a member away: it is down on purpose.
 */
function disruptionHold(input: NodeInputs, service: Service, step: StepResult<object>): StepResult<object> | undefined {
  if (service === 'iam' || input.disruptions === undefined || input.disruptions.length === 0) return undefined;
  if (input.operations?.[service]?.node === input.node) return undefined;
  const others = input.disruptions.filter((d) => d.node !== input.node).map((d) => d.node).sort();
  const ownRemoval = input.disruptions.some((d) => d.node === input.node) && input.desired.spec.state === 'Absent';
  if (others.length === 0 && !ownRemoval) return undefined;
  const who = others.length > 0 ? others.join(', ') : input.node;
  return {
    ...withoutAction(step),
    condition: {
      ...step.condition,
      reason: 'WaitingForDisruption',
      message: `${who} ${others.length > 1 ? 'hold' : 'holds'} a planned disruption (membershipctl disruption list): no ${NAMES[service]} change starts until it is released; next: ${step.condition.message}`,
    },
    requeueAfterMs: OTHER_CHANGE_POLL_MS,
  };
}

/**
 * Every action first (re)records its change with a compare-and-swap on the
 * record as read: a stale read of the node's own record cannot act unguarded.
 * Adding a learner starts its clock afresh (the start timeout counts from it).
 */
function recordChange(input: NodeInputs, service: Service, step: StepResult<object>, action: NodeAction): OperationChange[] {
  const op = input.operations?.[service];
  const mine = op?.node === input.node;
  const change = changeOf(action);
  const start: OperationChange = { service, start: change, fresh: !mine || op?.change !== change || action.kind === 'addLearner' };
  return step.finishOperation ? [start, { service, finish: true }] : [start];
}
