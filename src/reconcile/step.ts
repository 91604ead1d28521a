import type { IamNodeRegistration } from '../schema/members.js';
import type { ConditionDraft } from './conditions.js';

/** One membership change the reconciler may carry out; at most one per reconcile. */
export type NodeAction =
  | { service: 'chainfire'; kind: 'addLearner'; peerUrl: string }
  | { service: 'chainfire'; kind: 'promote'; memberId: string }
  | { service: 'chainfire'; kind: 'removeMember'; memberId: string }
  | { service: 'chainfire'; kind: 'moveLeader'; fromMemberId: string; toMemberId: string }
  | { service: 'flaredb'; kind: 'addMember'; id: string; raftAddr: string }
  | { service: 'flaredb'; kind: 'removeFlareDBMember'; id: string }
  | { service: 'iam'; kind: 'registerNode'; registration: IamNodeRegistration }
  | { service: 'iam'; kind: 'deregisterNode'; id: string };

/** Which kind of membership change an action belongs to (recorded in operations/<service>). */
export function changeOf(action: NodeAction): 'join' | 'remove' {
  switch (action.kind) {
    case 'addLearner':
    case 'promote':
    case 'addMember':
    case 'registerNode':
      return 'join';
    default:
      return 'remove';
  }
}

/** What one service's decision says about a node. */
export interface StepResult<B = Record<string, unknown>> {
  condition: ConditionDraft;
  /** the service's block in the status record */
  block: B;
  action?: NodeAction;
  requeueAfterMs?: number;
  /** true once the step has started doing something for the node (phase Joining rather than Pending) */
  progressed: boolean;
  /** a reason the agent stops waiting on: only a new spec generation retries */
  terminal?: boolean;
  /** the service is as the record wants it (joined, or removed): a change in flight for this node is over */
  settled?: boolean;
  /** end this node's change in flight after the action (a rolled-back join starts afresh) */
  finishOperation?: boolean;
}

/** An observation of a service that may have failed, or not be configured at all. */
export type Observation<T> =
  /** `find`, when given, looks an id up without scanning `members` */
  | { members: T[]; find?: (id: string) => T | undefined }
  | { unavailable: string }
  | { notConfigured: true };

/**
 * How soon a node is looked at again when a service could not be seen: only a
 * safety net. The controller probes each unavailable service for all the
 * nodes that wait for it and wakes them as soon as it answers
 * (ServiceRecovery), so nodes neither poll the service nor wait this long.
 */
export const UNAVAILABLE_RETRY_MS = 10_000;

/**
 * How often a node waiting for another node's change looks again on its own:
 * only a safety net, since the longest-waiting nodes are woken when a change
 * ends (ChangeWaiters).
 */
export const OTHER_CHANGE_POLL_MS = 10_000;

/** How often a node waiting for the cluster's initial IAM setup looks again (it is also woken when the setup is done). */
export const IAM_SETUP_POLL_MS = 2000;

/**
 * The step's own answer when its action failed earlier in this reconcile: the
 * work queue backs off and retries; meanwhile the status says why nothing moves.
 * With a reason of its own (SnapshotFailed) the action was held back, not tried.
 */
export function withActionFailure<B>(result: StepResult<B> | undefined, failure: string | undefined, reason?: string): StepResult<B> | undefined {
  if (result?.action === undefined || failure === undefined) return result;
  const { action: _failed, ...rest } = result;
  return {
    ...rest,
    condition: {
      ...result.condition,
      status: 'False',
      reason: reason ?? 'ServiceUnavailable',
      message: reason === undefined ? `${result.condition.message} failed: ${failure}; retrying` : `${result.condition.message}: held back, ${failure}; retrying`,
    },
  };
}

/** The step as it stands when its action must wait. */
export function withoutAction<B>(step: StepResult<B>): StepResult<B> {
  const { action: _dropped, finishOperation: _f, ...rest } = step;
  return rest;
}
