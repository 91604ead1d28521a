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

/**
 * addressConflicts kept up to date from record events: a lookup per reconcile
 * instead of a scan of every record, however many nodes there are.
 */
export class RaftAddressIndex {
  /** address -> the Present records that claim it */
  private readonly claims = new Map<string, Set<string>>();
  /** node -> the addresses it claims (Present records only) */
  private readonly byNode = new Map<string, string[]>();

  /** Records what `node`'s record now claims; undefined when it has no (valid) record. */
  set(node: string, record: NodeMembership | undefined): void {
    for (const addr of this.byNode.get(node) ?? []) {
      const set = this.claims.get(addr);
      set?.delete(node);
      if (set?.size === 0) this.claims.delete(addr);
    }
    this.byNode.delete(node);
    if (record === undefined || record.spec.state === 'Absent') return;
    const addrs = [...new Set([record.spec.chainfire?.raftAddr, record.spec.flaredb?.raftAddr].filter((a): a is string => a !== undefined))];
    if (addrs.length === 0) return;
    this.byNode.set(node, addrs);
    for (const addr of addrs) {
      let set = this.claims.get(addr);
      if (set === undefined) this.claims.set(addr, (set = new Set()));
      set.add(node);
    }
  }

  /** Other Present records that claim one of `node`'s raft addresses, sorted (as addressConflicts). */
  conflicts(node: string): string[] {
    const out = new Set<string>();
    for (const addr of this.byNode.get(node) ?? []) for (const other of this.claims.get(addr) ?? []) if (other !== node) out.add(other);
    return [...out].sort();
  }
}
