import type { NodeMembership } from '../schema/node-membership.js';

/** Other Present records that claim one of `node`'s raft addresses (Chainfire or FlareDB). */
export function addressConflicts(node: string, records: NodeMembership[]): string[] {
  const mine = records.find((r) => r.metadata.name === node);
  if (mine === undefined || mine.spec.state === 'Absent') return [];
  const addrs = [mine.spec.chainfire?.raftAddr, mine.spec.flaredb?.raftAddr].filter((a): a is string => a !== undefined);
  return records
    .filter((r) => r.metadata.name !== node && r.spec.state !== 'Absent')
    .filter((r) => [r.spec.chainfire?.raftAddr, r.spec.flaredb?.raftAddr].some((a) => a !== undefined && addrs.includes(a)))
    .map((r) => r.metadata.name)
    .sort();
}
