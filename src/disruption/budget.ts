/**
 * The disruption budget: may this node go down now? Granted only when
 * Chainfire (and FlareDB) keep a quorum of healthy voters with it down,
 * counting the members already unhealthy and the disruptions already held,
 * and at most `maxDisruptedVoters` voters (default 1) held at once. Pure: the
 * caller observes, this decides.
 */
import type { HeldDisruption } from '../schema/disruption.js';
import type { ChainfireMember } from '../schema/members.js';
import { chainfirePeerUrl, type NodeMembership } from '../schema/node-membership.js';
import { quorumOf } from '../reconcile/quorum.js';

export interface BudgetInput {
  node: string;
  /** every decodable desired record (the node's among them) */
  records: NodeMembership[];
  chainfire: { members: ChainfireMember[]; health: Record<string, boolean> };
  /** FlareDB's member count as the controller last observed it (cluster/status), undefined when unknown */
  flaredbMembers?: number;
  /** the disruptions held now */
  held: HeldDisruption[];
  maxDisruptedVoters: number;
}

export type BudgetDecision =
  | { granted: true; why: string }
  /** HELD: the node holds one already; BUDGET: too many voters held; QUORUM: a quorum would be lost; CHANGE: a membership change is in flight */
  | { granted: false; code: 'HELD' | 'BUDGET' | 'QUORUM' | 'CHANGE'; why: string };

/** The Chainfire voter the record's peer URL names, if it is one. */
export function voterOf(record: NodeMembership | undefined, members: ChainfireMember[]): ChainfireMember | undefined {
  const spec = record?.spec.chainfire;
  if (spec === undefined) return undefined;
  const peerUrl = chainfirePeerUrl(spec);
  return members.find((m) => !m.isLearner && m.peerUrls.includes(peerUrl));
}

function describeHeld(d: HeldDisruption): string {
  return `${d.node} (${JSON.stringify(d.reason)}, held by ${d.holder || 'unknown'} until ${d.expiresAt})`;
}

export function decideDisruption(input: BudgetInput): BudgetDecision {
  const { node, records, chainfire, held } = input;
  const mine = held.find((d) => d.node === node);
  if (mine !== undefined) {
    return { granted: false, code: 'HELD', why: `${node} already holds a planned disruption: ${describeHeld(mine)}; release it first (membershipctl disruption release ${node})` };
  }
  const byName = new Map(records.map((r) => [r.metadata.name, r]));
  const record = byName.get(node);
  const voter = voterOf(record, chainfire.members);
  const notes: string[] = [];
  if (voter !== undefined) {
    const heldVoters = held.filter((d) => voterOf(byName.get(d.node), chainfire.members) !== undefined);
    if (heldVoters.length >= input.maxDisruptedVoters) {
      return {
        granted: false,
        code: 'BUDGET',
        why: `${heldVoters.map(describeHeld).join('; ')} already ${heldVoters.length === 1 ? 'holds' : 'hold'} a planned disruption of a Chainfire voter; ` +
          `${input.maxDisruptedVoters} at a time (cluster/config maxDisruptedVoters)`,
      };
    }
    const voters = chainfire.members.filter((m) => !m.isLearner);
    const heldIds = new Set(heldVoters.map((d) => voterOf(byName.get(d.node), chainfire.members)!.id));
    const up = voters.filter((m) => m.id !== voter.id && chainfire.health[m.id] === true && !heldIds.has(m.id));
    const quorum = quorumOf(voters.length);
    if (up.length < quorum) {
      const down = voters
        .filter((m) => m.id !== voter.id && !up.includes(m))
        .map((m) => `${m.name || m.id} (${heldIds.has(m.id) ? 'held for a disruption' : 'unhealthy'})`);
      return {
        granted: false,
        code: 'QUORUM',
        why: `with ${node} down, Chainfire would have ${up.length} healthy voter${up.length === 1 ? '' : 's'} of ${voters.length} (quorum ${quorum})` +
          `${down.length > 0 ? `: ${down.join(', ')}` : ''}`,
      };
    }
    notes.push(`Chainfire keeps ${up.length} healthy voters of ${voters.length} (quorum ${quorum})`);
  } else {
    notes.push(`${node} is not a Chainfire voter`);
  }
  if (record?.spec.flaredb !== undefined && input.flaredbMembers !== undefined && input.flaredbMembers > 0) {
    const heldFlare = held.filter((d) => byName.get(d.node)?.spec.flaredb !== undefined).length;
    const left = input.flaredbMembers - heldFlare - 1;
    const quorum = quorumOf(input.flaredbMembers);
    if (left < quorum) {
      return {
        granted: false,
        code: 'QUORUM',
        why: `with ${node} down, FlareDB would have ${left} of ${input.flaredbMembers} members up (quorum ${quorum}; ${heldFlare} held for disruptions)`,
      };
    }
    notes.push(`FlareDB keeps ${left} of ${input.flaredbMembers} (quorum ${quorum})`);
  }
  return { granted: true, why: notes.join('; ') };
}
