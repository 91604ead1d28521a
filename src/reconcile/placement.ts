import type { ChainfireMember, Place, VoterPlacement } from '../schema/members.js';
import { chainfirePeerUrl, type NodeMembership } from '../schema/node-membership.js';

/**
 * Where the voters are, and which nodes wait for a voter seat: Present
 * records that want Chainfire, whose peer URL is a voter, or is no member yet
 * of a (non-bootstrap) node whose agent is reporting.
 */
export function placementOf(
  records: Iterable<NodeMembership>,
  members: ChainfireMember[],
  agentReporting: (node: string) => boolean,
): VoterPlacement {
  const byUrl = new Map<string, ChainfireMember>();
  for (const m of members) for (const url of m.peerUrls) byUrl.set(url, m);
  const voters: Place[] = [];
  const candidates: Place[] = [];
  for (const r of records) {
    if (r.spec.chainfire === undefined || r.spec.state !== 'Present') continue;
    const place = { node: r.metadata.name, datacenter: r.spec.datacenter, rack: r.spec.rack };
    const member = byUrl.get(chainfirePeerUrl(r.spec.chainfire));
    if (member !== undefined && !member.isLearner) voters.push(place);
    else if (member === undefined && !r.spec.bootstrap && agentReporting(r.metadata.name)) candidates.push(place);
  }
  return { voters, candidates };
}

/** The Chainfire peer URLs that records claim, Present or Absent (an Absent node's own removal takes its member out). */
export function claimedPeerUrls(records: Iterable<NodeMembership>): Set<string> {
  const out = new Set<string>();
  for (const r of records) if (r.spec.chainfire !== undefined) out.add(chainfirePeerUrl(r.spec.chainfire));
  return out;
}

/**
 * Candidates in the order they get voter seats: first those whose datacenter,
 * then rack, has the fewest voters; ties by name, so every replica ranks alike.
 */
export function rankCandidates(placement: VoterPlacement): string[] {
  const inDc = (p: Place) => placement.voters.filter((v) => v.datacenter === p.datacenter).length;
  const inRack = (p: Place) => placement.voters.filter((v) => v.datacenter === p.datacenter && v.rack === p.rack).length;
  return [...placement.candidates]
    .sort((a, b) => inDc(a) - inDc(b) || inRack(a) - inRack(b) || a.node.localeCompare(b.node))
    .map((p) => p.node);
}
