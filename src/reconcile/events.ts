/**
 * What goes into a node's event history (events/<node>): each action the
 * controller makes or that fails, and each change of a condition's reason
 * (a refusal for quorum, a member that stopped answering, a join that
 * completed). Pure: the write port stamps and stores them.
 */
import type { StatusBody } from '../schema/status.js';
import type { NodeAction } from './step.js';

export interface EventDraft {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Reasons that say something went wrong or was refused. */
const WARNING_REASONS = new Set([
  'QuorumProtection', 'MemberUnhealthy', 'Reprovisioned', 'RejoinRequired', 'Conflict', 'InvalidSpec', 'LearnerNotStarted',
  'LearnerNotCatchingUp', 'ServiceUnavailable', 'SnapshotFailed', 'DeadMemberCleanup', 'WaitingForHealthyVoters', 'Paused',
  'WaitingForDisruption', 'PlannedDisruption', 'ActionFailed',
]);

const ACTION_REASONS: Record<NodeAction['kind'], string> = {
  addLearner: 'LearnerAdded',
  promote: 'Promoted',
  removeMember: 'MemberRemoved',
  moveLeader: 'LeaderMoved',
  addMember: 'FlareDBMemberAdded',
  removeFlareDBMember: 'FlareDBMemberRemoved',
  registerNode: 'IAMRegistered',
  deregisterNode: 'IAMDeregistered',
};

const ACTION_REASON_SET = new Set(Object.values(ACTION_REASONS));

function describeAction(action: NodeAction): string {
  switch (action.kind) {
    case 'addLearner':
      return `Chainfire learner added for peer URL ${action.peerUrl}`;
    case 'promote':
      return `Chainfire learner ${action.memberId} promoted to voter`;
    case 'removeMember':
      return `Chainfire member ${action.memberId} removed`;
    case 'moveLeader':
      return `Chainfire leadership moved from ${action.fromMemberId} to ${action.toMemberId}`;
    case 'addMember':
      return `FlareDB member ${action.id} added at ${action.raftAddr}`;
    case 'removeFlareDBMember':
      return `FlareDB member ${action.id} removed`;
    case 'registerNode':
      return 'registered with IAM';
    case 'deregisterNode':
      return `deregistered ${action.id} from IAM`;
  }
}

/** The action was carried out (a promote etcd refused for now is no event: the status says it). */
export function actionEvent(action: NodeAction): EventDraft {
  return { type: 'Normal', reason: ACTION_REASONS[action.kind], message: describeAction(action) };
}

export function actionFailedEvent(action: NodeAction, error: string): EventDraft {
  return { type: 'Warning', reason: 'ActionFailed', message: `${describeAction(action).replace(/ (added|removed|promoted|moved|registered|deregistered)\b.*/, '')}: ${action.kind} failed: ${error}` };
}

/** Each condition whose reason changed since the last status. */
export function statusEvents(previous: StatusBody | undefined, next: StatusBody): EventDraft[] {
  const before = new Map((previous?.conditions ?? []).map((c) => [c.type, c.reason]));
  const out: EventDraft[] = [];
  for (const c of next.conditions) {
    if (c.type === 'Ready' || c.type === 'AgentReady') continue;
    // The action that made it is an event already (LearnerAdded, Promoted, ...).
    if (before.get(c.type) === c.reason || ACTION_REASON_SET.has(c.reason)) continue;
    out.push({ type: WARNING_REASONS.has(c.reason) ? 'Warning' : 'Normal', reason: c.reason, message: `${c.type}=${c.status}: ${c.message}` });
  }
  if (previous?.phase !== next.phase) {
    out.push({ type: next.phase === 'Failed' || next.phase === 'Degraded' ? 'Warning' : 'Normal', reason: `Phase${next.phase}`, message: `phase ${previous?.phase ?? '(none)'} -> ${next.phase}` });
  }
  return out;
}
