/**
 * Whether the store a read came from is not the one watched so far: another
 * cluster id (a recovery or a restore from a snapshot makes a new cluster), or
 * a revision below the one seen (a restore). A revision alone misses a
 * restore once writes after it have caught up with the revision seen; the
 * cluster id does not. Shared by the controller's record caches and the
 * agent's watched keys.
 */
export function storeWentBack(
  seen: { clusterId: string | undefined; revision: number },
  now: { clusterId: string | undefined; revision: number },
): string | undefined {
  if (seen.clusterId !== undefined && now.clusterId !== undefined && now.clusterId !== seen.clusterId) {
    return `Chainfire's cluster id changed from ${hex(seen.clusterId)} to ${hex(now.clusterId)} (recovered or restored)`;
  }
  if (now.revision < seen.revision) return `Chainfire's revision went back from ${seen.revision} to ${now.revision} (restored from a snapshot)`;
  return undefined;
}

/** A cluster id as etcdctl prints it (hex); as given when it is not a number. */
function hex(id: string): string {
  try {
    return BigInt(id).toString(16);
  } catch {
    return id;
  }
}
