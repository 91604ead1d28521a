/**
 * Quorum arithmetic for a Raft voter set, kept apart so that the decision
 * code and its model tests share one definition.
 */

export function quorumOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

export interface RemovalCheck {
  safe: boolean;
  /** what a person on call reads when it is not safe: what would make it safe */
  reason?: string;
}

/**
 * Whether a voter may be removed: the healthy voters left must still make a
 * quorum of the smaller voter set, and, for a healthy voter, the voter count
 * must not drop below the floor. The floor keeps healthy voters in; it does
 * not keep a dead one: removing a voter that does not answer lowers no count
 * of voters that can vote (and etcd adds no replacement while it is listed).
 * Unknown health counts as unhealthy.
 */
export function checkVoterRemoval(opts: {
  voterIds: string[];
  removing: string;
  healthy: (id: string) => boolean;
  minVoters: number;
}): RemovalCheck {
  const { voterIds, removing, healthy, minVoters } = opts;
  const after = voterIds.filter((id) => id !== removing);
  const healthyAfter = after.filter(healthy);
  const need = quorumOf(after.length);
  if (healthy(removing) && after.length < minVoters) {
    return {
      safe: false,
      reason:
        `removing it would leave ${after.length} voter(s), below the floor of ${minVoters}: ` +
        `join another control-plane node first, or lower minVoters in cluster/config`,
    };
  }
  if (healthyAfter.length < need) {
    const unhealthy = after.filter((id) => !healthy(id));
    return {
      safe: false,
      reason:
        `removing it would leave ${healthyAfter.length} healthy of ${after.length} voters, and quorum needs ${need}: ` +
        `bring back the unhealthy voter(s) ${unhealthy.join(', ')} first`,
    };
  }
  return { safe: true };
}

/** Healthy voters minus quorum: how many more voters can fail. */
export function failureTolerance(voterIds: string[], healthy: (id: string) => boolean): number {
  if (voterIds.length === 0) return 0;
  return voterIds.filter(healthy).length - quorumOf(voterIds.length);
}
