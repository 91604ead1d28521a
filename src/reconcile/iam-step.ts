import type { IamNodeRegistration } from '../schema/members.js';
import type { NodeMembership } from '../schema/node-membership.js';
import { draftsOf } from './conditions.js';
import { IAM_SETUP_POLL_MS, UNAVAILABLE_RETRY_MS, withActionFailure, type Observation, type StepResult } from './step.js';

export interface IAMStepInput {
  node: string;
  spec: NodeMembership['spec'];
  /** which earlier service (if any) the node still waits for */
  waitingFor: 'Chainfire' | 'FlareDB' | undefined;
  /** the cluster's initial IAM setup is recorded as done */
  iamBootstrapped: boolean;
  /** why the last try of that setup failed */
  setupProblem?: string;
  observed: Observation<IamNodeRegistration>;
  actionFailed?: string;
}

const cond = draftsOf('IAMRegistered');

export function registrationOf(node: string, spec: NodeMembership['spec']): IamNodeRegistration {
  return {
    id: node,
    role: spec.role,
    ...(spec.fqdn !== undefined ? { fqdn: spec.fqdn } : {}),
    ...(spec.nodeIp !== undefined ? { ip: spec.nodeIp } : {}),
  };
}

function sameRegistration(a: IamNodeRegistration, b: IamNodeRegistration): boolean {
  return a.id === b.id && a.role === b.role && a.fqdn === b.fqdn && a.ip === b.ip;
}

/**
 * IAM registration for one node: last, after Chainfire and FlareDB, and only
 * once the cluster's initial IAM setup is done. A registration whose data no
 * longer matches the record is registered again (the call is idempotent). Pure.
 */
export function decideIAM(input: IAMStepInput): StepResult | undefined {
  return withActionFailure(decide(input), input.actionFailed);
}

function decide(input: IAMStepInput): StepResult | undefined {
  const { node, spec, observed } = input;
  if (spec.iam === undefined) return undefined;
  if ('notConfigured' in observed) {
    return {
      condition: cond('False', 'NotConfigured', 'the controller has no IAM endpoints (iam.endpoints in its --config file)'),
      block: {},
      progressed: false,
    };
  }
  if ('unavailable' in observed) {
    return {
      condition: cond('Unknown', 'ServiceUnavailable', `cannot list IAM nodes: ${observed.unavailable}`),
      block: {},
      requeueAfterMs: UNAVAILABLE_RETRY_MS,
      progressed: false,
    };
  }
  const want = registrationOf(node, spec);
  const current = observed.find ? observed.find(node) : observed.members.find((n) => n.id === node);
  if (spec.state === 'Absent') {
    if (current === undefined) return { condition: cond('False', 'Removed', `${node} is not registered with IAM`), block: {}, progressed: true, settled: true };
    if (input.waitingFor !== undefined) {
      return { condition: cond('False', `WaitingFor${input.waitingFor}`, `IAM deregistration follows ${input.waitingFor} removal`), block: {}, progressed: true };
    }
    return {
      condition: cond('False', 'Removing', `deregistering ${node} from IAM`),
      block: {},
      action: { service: 'iam', kind: 'deregisterNode', id: node },
      progressed: true,
    };
  }
  if (current !== undefined && sameRegistration(current, want)) {
    return {
      condition: cond('True', 'Registered', `${node} is registered with IAM as ${spec.role}`),
      block: { registered: true },
      progressed: true,
      settled: true,
    };
  }
  if (input.waitingFor !== undefined) {
    return {
      condition: cond('False', `WaitingFor${input.waitingFor}`, `IAM registration follows ${input.waitingFor} membership`),
      block: {},
      progressed: false,
    };
  }
  if (!input.iamBootstrapped) {
    return {
      condition: cond(
        'False',
        'WaitingForIAMSetup',
        `the cluster's initial IAM setup has not completed yet${input.setupProblem !== undefined ? `: its last try failed: ${input.setupProblem}` : ''}`,
      ),
      block: {},
      requeueAfterMs: IAM_SETUP_POLL_MS,
      progressed: true,
    };
  }
  return {
    condition: cond('False', 'Registering', current === undefined ? `registering ${node} with IAM` : `updating ${node}'s IAM registration`),
    block: {},
    action: { service: 'iam', kind: 'registerNode', registration: want },
    progressed: true,
  };
}
