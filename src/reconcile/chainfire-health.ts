/**
 * Day two for a node's Chainfire member: a member that does not answer, a
 * member of an earlier incarnation of the node (its data was wiped), a member
 * that was removed while the record still wants the node, and a cluster with a
 * voter down (etcd adds no member then). Pure.
 */
import type { LocalData } from '../schema/agent-report.js';
import type { ChainfireMember } from '../schema/members.js';
import { DEFAULT_POLICY } from '../schema/operation.js';
import type { StatusBody } from '../schema/status.js';
import type { ChainfireStepInput, StepResult } from './chainfire-step.js';
import { draftsOf } from './conditions.js';
import { checkVoterRemoval } from './quorum.js';

const cond = draftsOf('ChainfireMember');

/** The command that re-admits a node whose member was removed, as the status names it. */
export const RESET_COMMAND = 'first-boot-agent reset chainfire --config /etc/nixos/secrets/cluster-config.json';

function healthIntervalMs(input: ChainfireStepInput): number {
  return (input.policy ?? DEFAULT_POLICY).healthIntervalSeconds * 1000;
}

/**
 * The listed member under the node's peer URL is of an earlier incarnation:
 * it has started (it has a name), yet the node's agent reports no local data
 * and does not name it as the member it started its etcd as.
 */
export function ofEarlierIncarnation(mine: ChainfireMember, data: LocalData | undefined): boolean {
  return mine.name !== '' && data !== undefined && !data.present && data.memberId !== mine.id;
}

/**
 * Replaces the member of an earlier incarnation: it is removed once it does
 * not answer (a wiped node's etcd cannot run as it) and the healthy voters
 * left keep a quorum; the node then joins again as a new learner.
 */
export function replaceEarlierIncarnation(input: ChainfireStepInput, members: ChainfireMember[], mine: ChainfireMember, peerUrl: string): StepResult {
  const { node } = input;
  const block: StatusBody['chainfire'] = { memberId: mine.id, role: mine.isLearner ? 'learner' : 'voter', peerUrl };
  if (input.health?.[mine.id] === true) {
    return {
      condition: cond(
        'False',
        'Reprovisioned',
        `${node}'s agent reports no Chainfire data, but member ${mine.id} under its peer URL still answers its health check: ` +
          `check the agent's --data-dir on ${node}; nothing is removed while the member answers`,
      ),
      block,
      requeueAfterMs: healthIntervalMs(input),
      progressed: true,
    };
  }
  const check = mine.isLearner ? { safe: true } : voterRemoval(input, members, mine.id);
  if (!check.safe) {
    return {
      condition: cond('False', 'QuorumProtection', `member ${mine.id} is of an earlier incarnation of ${node} but cannot be removed yet: ${check.reason}`),
      block,
      requeueAfterMs: healthIntervalMs(input),
      progressed: true,
    };
  }
  return {
    condition: cond(
      'False',
      'Reprovisioned',
      `member ${mine.id} is of an earlier incarnation of ${node} (its data is gone): removing it, then ${node} joins again as a new learner`,
    ),
    block,
    action: { service: 'chainfire', kind: 'removeMember', memberId: mine.id },
    progressed: true,
  };
}

/** Stricter than a removal by the operator: the healthy voters left must also be at least minVoters. */
function cleanupCheck(input: ChainfireStepInput, members: ChainfireMember[], id: string): { safe: boolean; reason?: string } {
  const minVoters = (input.policy ?? DEFAULT_POLICY).minVoters;
  const healthyLeft = members.filter((m) => !m.isLearner && m.id !== id && input.health?.[m.id] === true).length;
  if (healthyLeft < minVoters) {
    return { safe: false, reason: `${healthyLeft} healthy voter(s) would be left, fewer than minVoters ${minVoters}: replace the node (membershipctl delete --now, then a new one)` };
  }
  return voterRemoval(input, members, id);
}

function voterRemoval(input: ChainfireStepInput, members: ChainfireMember[], id: string) {
  return checkVoterRemoval({
    voterIds: members.filter((m) => !m.isLearner).map((m) => m.id),
    removing: id,
    healthy: (v) => input.health?.[v] === true,
    minVoters: (input.policy ?? DEFAULT_POLICY).minVoters,
  });
}

/** A member of the node that does not answer its health check: the node is Degraded, its other services stay as they are. */
export function memberUnhealthy(
  input: ChainfireStepInput,
  mine: ChainfireMember,
  block: StatusBody['chainfire'],
  members: ChainfireMember[] = [],
): StepResult | undefined {
  if (input.health === undefined || input.health[mine.id] !== false) return undefined;
  const planned = input.disruption;
  if (planned !== undefined) {
    return {
      condition: cond(
        'False',
        'PlannedDisruption',
        `member ${mine.id} of ${input.node} is down for a planned disruption (${JSON.stringify(planned.reason)}, held by ${planned.holder} until ${planned.expiresAt}); ` +
          'its health-check releases it once it is back',
      ),
      block,
      requeueAfterMs: healthIntervalMs(input),
      progressed: true,
      settled: true,
    };
  }
  const base = `member ${mine.id} of ${input.node} does not answer its health check (${mine.clientUrls[0] ?? 'no client URL'}/health)`;
  // The dead-member clock: kept from the last status while the member stays silent, started afresh otherwise.
  const previous = input.previous?.chainfire;
  const since = previous?.memberId === mine.id && previous.unhealthySince !== undefined ? previous.unhealthySince : input.now?.toISOString();
  if (since !== undefined) block = { ...block, unhealthySince: since };
  const cleanup = deadMemberCleanup(input, mine, members, block, base);
  if (cleanup?.action !== undefined) return cleanup;
  return {
    condition: cond('False', 'MemberUnhealthy', cleanup?.condition.message ?? base),
    block,
    requeueAfterMs: healthIntervalMs(input),
    progressed: true,
    // Its membership itself stands: FlareDB and IAM are not held back by it.
    settled: true,
  };
}

/**
 * Opt-in dead-member clean-up (cluster/config deadMemberCleanup): a member
 * unhealthy since longer than the threshold (status.chainfire.unhealthySince,
 * set when the controller first saw it silent) is removed, when the healthy voters left
 * keep quorum and minVoters. Returns the removal, or only a message (when it
 * is not due, or not safe) for the unhealthy status.
 */
function deadMemberCleanup(
  input: ChainfireStepInput,
  mine: ChainfireMember,
  members: ChainfireMember[],
  block: StatusBody['chainfire'],
  base: string,
): StepResult | undefined {
  const policy = (input.policy ?? DEFAULT_POLICY).deadMemberCleanup;
  if (!policy.enabled || input.now === undefined) return undefined;
  const since = block.unhealthySince !== undefined ? Date.parse(block.unhealthySince) : Number.NaN;
  if (!Number.isFinite(since)) return { condition: cond('False', 'MemberUnhealthy', base), block, progressed: true };
  const dueAt = new Date(since + policy.thresholdSeconds * 1000);
  if (input.now < dueAt) {
    return { condition: cond('False', 'MemberUnhealthy', `${base}; dead-member clean-up removes it at ${dueAt.toISOString()}`), block, progressed: true };
  }
  const check = mine.isLearner ? { safe: true, reason: '' } : cleanupCheck(input, members, mine.id);
  if (!check.safe) {
    return { condition: cond('False', 'MemberUnhealthy', `${base}; dead-member clean-up is due but cannot remove it: ${check.reason}`), block, progressed: true };
  }
  return {
    condition: cond(
      'False',
      'DeadMemberCleanup',
      `member ${mine.id} of ${input.node} has not answered since ${new Date(since).toISOString()} (more than deadMemberCleanup.thresholdSeconds ` +
        `${policy.thresholdSeconds}): removing it; if ${input.node} comes back it must rejoin (${RESET_COMMAND})`,
    ),
    block,
    action: { service: 'chainfire', kind: 'removeMember', memberId: mine.id },
    progressed: true,
  };
}

/**
 * The node was a member (its last status names a member id no longer listed)
 * and its agent does not report data that could join afresh: its etcd cannot
 * come back with its old data. The status names the one command that re-admits it.
 */
export function rejoinRequired(input: ChainfireStepInput, members: ChainfireMember[]): StepResult | undefined {
  const was = input.previous?.chainfire.memberId;
  if (was === undefined || members.some((m) => m.id === was)) return undefined;
  if (input.agentPresent && input.agentData?.present !== true) return undefined;
  const { node } = input;
  return {
    condition: cond(
      'False',
      'RejoinRequired',
      `${node}'s Chainfire member ${was} was removed while its record wants it Present, and its etcd cannot come back with that data: ` +
        `on ${node}, stop chainfire, run \`${RESET_COMMAND}\`, then \`systemctl restart chainfire-cluster-join.service\``,
    ),
    block: { memberId: was },
    progressed: false,
  };
}

/** etcd adds no member while a voter is down: a join waits, holding nothing, and says what unblocks it. */
export function waitingForHealthyVoters(input: ChainfireStepInput, members: ChainfireMember[]): StepResult | undefined {
  if (input.health === undefined) return undefined;
  const down = members.filter((m) => !m.isLearner && input.health![m.id] === false);
  if (down.length === 0) return undefined;
  const names = down.map((m) => `${m.id}${m.name ? ` (${m.name})` : ''}`).join(', ');
  return {
    condition: cond(
      'False',
      'WaitingForHealthyVoters',
      `voter ${names} does not answer its health check, and etcd adds no member while a voter is down: ` +
        `bring it back, or remove it (membershipctl delete ${down[0]!.name || '<node>'} --now)`,
    ),
    block: {},
    requeueAfterMs: healthIntervalMs(input),
    progressed: true,
  };
}
