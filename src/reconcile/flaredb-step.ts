import type { FlareDBMember } from '../schema/members.js';
import type { AgentReport } from '../schema/agent-report.js';
import type { NodeMembership } from '../schema/node-membership.js';
import { draftsOf } from './conditions.js';
import { UNAVAILABLE_RETRY_MS, withActionFailure, type Observation, type StepResult } from './step.js';

export interface FlareDBStepInput {
  node: string;
  spec: NodeMembership['spec'];
  agent: AgentReport | undefined;
  /** ChainfireMember=True, or the node has no Chainfire block */
  chainfireReady: boolean;
  observed: Observation<FlareDBMember>;
  actionFailed?: string;
}

const cond = draftsOf('FlareDBMember');

/**
 * FlareDB membership for one node: after Chainfire, and once the node's agent
 * reports its local FlareDB healthy, add it through the admin API. A member
 * with the node's id is adopted; an id or raft address held by another member
 * is a Conflict. Pure.
 */
export function decideFlareDB(input: FlareDBStepInput): StepResult | undefined {
  return withActionFailure(decide(input), input.actionFailed);
}

function decide(input: FlareDBStepInput): StepResult | undefined {
  const { node, spec, observed } = input;
  const want = spec.flaredb;
  if (want === undefined) return undefined;
  if ('notConfigured' in observed) {
    return {
      condition: cond('False', 'NotConfigured', 'the controller has no FlareDB endpoints (flaredb.endpoints in its --config file)'),
      block: {},
      progressed: false,
    };
  }
  if ('unavailable' in observed) {
    return {
      condition: cond('Unknown', 'ServiceUnavailable', `cannot list FlareDB members: ${observed.unavailable}`),
      block: {},
      requeueAfterMs: UNAVAILABLE_RETRY_MS,
      progressed: false,
    };
  }
  const byId = observed.members.find((m) => m.id === node);
  if (spec.state === 'Absent') return decideRemoval(node, byId);
  const byAddr = observed.members.find((m) => m.raftAddr === want.raftAddr && m.id !== node);
  if (byAddr !== undefined) {
    return conflict(
      `FlareDB member ${byAddr.id} already has raft address ${want.raftAddr}; two nodes cannot share it: ` +
        `fix spec.flaredb.raftAddr of ${node} or ${byAddr.id}, or remove ${byAddr.id} if it is gone`,
    );
  }
  if (byId !== undefined && byId.raftAddr !== want.raftAddr) {
    return conflict(
      `FlareDB member ${node} has raft address ${byId.raftAddr}, but the record says ${want.raftAddr}; if ${node} was ` +
        `replaced, remove the old member (DELETE /admin/member/${node}) and apply the record again`,
    );
  }
  if (byId !== undefined) {
    return {
      condition: cond('True', spec.bootstrap ? 'Adopted' : 'Joined', `member ${node} of FlareDB at ${byId.raftAddr}`),
      block: { memberId: node, raftAddr: byId.raftAddr },
      progressed: true,
      settled: true,
    };
  }
  if (spec.bootstrap) {
    return {
      condition: cond(
        'False',
        'NotAMember',
        `bootstrap node ${node} is not a FlareDB member; bootstrap marks a member of the initial cluster, which is adopted, never added`,
      ),
      block: {},
      requeueAfterMs: 10_000,
      progressed: false,
    };
  }
  if (!input.chainfireReady) {
    return { condition: cond('False', 'WaitingForChainfire', 'FlareDB joins after Chainfire'), block: {}, progressed: false };
  }
  const health = input.agent?.report.services.flaredb;
  if (health?.healthy !== true) {
    const why = input.agent === undefined ? 'no agent is reporting' : health === undefined ? 'the agent has not checked it yet' : `unhealthy: ${health.detail ?? 'no detail'}`;
    return {
      condition: cond('False', 'WaitingForAgent', `waiting for ${node}'s agent to report its local FlareDB healthy (${why})`),
      block: {},
      progressed: true,
    };
  }
  return {
    condition: cond('False', 'AddingMember', `adding ${node} to FlareDB with raft address ${want.raftAddr}`),
    block: {},
    action: { service: 'flaredb', kind: 'addMember', id: node, raftAddr: want.raftAddr },
    progressed: true,
  };
}

function decideRemoval(node: string, byId: FlareDBMember | undefined): StepResult {
  if (byId === undefined) return { condition: cond('False', 'Removed', `${node} is not a FlareDB member`), block: {}, progressed: true, settled: true };
  return {
    condition: cond('False', 'Removing', `removing ${node} from FlareDB`),
    block: { memberId: node, raftAddr: byId.raftAddr },
    action: { service: 'flaredb', kind: 'removeFlareDBMember', id: node },
    progressed: true,
  };
}

function conflict(message: string): StepResult {
  return { condition: cond('False', 'Conflict', message), block: {}, progressed: false, terminal: true };
}
