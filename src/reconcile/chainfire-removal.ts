import { chainfirePeerUrl } from '../schema/node-membership.js';
import { draftsOf } from './conditions.js';
import type { ChainfireMember } from '../schema/members.js';
import type { ChainfireStepInput, StepResult } from './chainfire-step.js';
import { checkVoterRemoval } from './quorum.js';
import { DEFAULT_POLICY } from '../schema/operation.js';

const cond = draftsOf('ChainfireMember');

export const QUORUM_RETRY_MS = 5000;

/**
 * Takes a node out of Chainfire (state Absent): a learner directly; a voter
 * only while the quorum guard allows it, and, if it leads Raft, only after
 * leadership was moved to another healthy voter. Pure.
 */
export function decideChainfireRemoval(input: ChainfireStepInput, members: ChainfireMember[]): StepResult {
  const { node, spec } = input;
  const peerUrl = chainfirePeerUrl(spec.chainfire!);
  const mine = members.find((m) => m.peerUrls.includes(peerUrl));
  if (mine === undefined) {
    // The member it was stays named: a node wanted Present again after it is told to reset (RejoinRequired).
    const was = input.previous?.chainfire.memberId;
    return { condition: cond('False', 'Removed', `${node} is not a Chainfire member`), block: was ? { memberId: was } : {}, progressed: true, settled: true };
  }
  const block = { memberId: mine.id, role: mine.isLearner ? ('learner' as const) : ('voter' as const), peerUrl };
  if (mine.isLearner) {
    return {
      condition: cond('False', 'Removing', `removing learner ${mine.id}`),
      block,
      action: { service: 'chainfire', kind: 'removeMember', memberId: mine.id },
      progressed: true,
    };
  }
  const policy = input.policy ?? DEFAULT_POLICY;
  const healthy = (id: string) => input.health?.[id] === true;
  const voterIds = members.filter((m) => !m.isLearner).map((m) => m.id);
  const check = checkVoterRemoval({ voterIds, removing: mine.id, healthy, minVoters: policy.minVoters });
  if (!check.safe) {
    return {
      condition: cond('False', 'QuorumProtection', `not removing voter ${mine.id}: ${check.reason}`),
      block,
      requeueAfterMs: QUORUM_RETRY_MS,
      progressed: true,
    };
  }
  if (input.leaderId === mine.id) {
    const successor = voterIds.filter((id) => id !== mine.id && healthy(id)).sort()[0];
    if (successor === undefined) {
      return {
        condition: cond('False', 'QuorumProtection', `voter ${mine.id} leads Raft and no healthy voter can take over`),
        block,
        requeueAfterMs: QUORUM_RETRY_MS,
        progressed: true,
      };
    }
    return {
      condition: cond('False', 'Removing', `moving Raft leadership from ${mine.id} to ${successor} before removing it`),
      block,
      action: { service: 'chainfire', kind: 'moveLeader', fromMemberId: mine.id, toMemberId: successor },
      progressed: true,
    };
  }
  return {
    condition: cond('False', 'Removing', `removing voter ${mine.id}`),
    block,
    action: { service: 'chainfire', kind: 'removeMember', memberId: mine.id },
    progressed: true,
  };
}
