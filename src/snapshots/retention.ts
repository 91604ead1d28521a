/**
 * Whether a snapshot may be written, and which older ones go once it is:
 * pure, so that the arithmetic is tested without a disk. A snapshot is
 * written only when the filesystem keeps `minFreeBytes` free with it written
 * in full, and only when it alone fits under `maxBytes`; older snapshots are
 * deleted only after the new one is safely on disk, so a failed write never
 * costs one.
 */

export interface SnapshotLimits {
  /** snapshots kept at most (the newest) */
  maxCount: number;
  /** bytes all snapshots together may take */
  maxBytes: number;
  /** bytes the filesystem must keep free with a new snapshot written */
  minFreeBytes: number;
}

export const DEFAULT_SNAPSHOT_LIMITS: SnapshotLimits = { maxCount: 10, maxBytes: 1024 ** 3, minFreeBytes: 1024 ** 3 };

/** Why a snapshot cannot be written: over the cap, or the disk would be (nearly) full. */
export interface RoomRefusal {
  cause: 'cap' | 'disk';
  message: string;
}

/**
 * Undefined when a snapshot of `expectedBytes` may be written to a
 * filesystem with `freeBytes` available; otherwise why not, in words.
 */
export function roomFor(expectedBytes: number, freeBytes: number, limits: SnapshotLimits): RoomRefusal | undefined {
  if (expectedBytes > limits.maxBytes) {
    return {
      cause: 'cap',
      message:
        `the snapshot would take ${formatBytes(expectedBytes)}, more than snapshots.maxBytes (${formatBytes(limits.maxBytes)}) allows for all ` +
        `snapshots together: raise snapshots.maxBytes in the controller's configuration (or compact and defragment Chainfire)`,
    };
  }
  if (freeBytes - expectedBytes < limits.minFreeBytes) {
    return {
      cause: 'disk',
      message:
        `disk full: ${formatBytes(freeBytes)} free, and a ${formatBytes(expectedBytes)} snapshot would leave less than ` +
        `snapshots.minFreeBytes (${formatBytes(limits.minFreeBytes)}) free: free space on that filesystem (older snapshots may go: ` +
        `they are never deleted before a new one is written)`,
    };
  }
  return undefined;
}

export interface KeptFile {
  name: string;
  bytes: number;
}

/**
 * The snapshots to delete, oldest first, so that at most `maxCount` remain and
 * they take at most `maxBytes` together. `files` are the directory's snapshots
 * including the one just written; names sort in time order (naming.ts), and
 * the newest is always kept.
 */
export function toPrune(files: readonly KeptFile[], limits: SnapshotLimits): KeptFile[] {
  const newestFirst = [...files].sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  let count = 0;
  let bytes = 0;
  // The newest that fit are kept; from the first that does not, every older one goes.
  for (const f of newestFirst) {
    if (count > 0 && (count + 1 > limits.maxCount || bytes + f.bytes > limits.maxBytes)) break;
    count += 1;
    bytes += f.bytes;
  }
  return newestFirst.slice(count).reverse();
}

/** `1.5 GiB`, `12 MiB`, `800 B`: sizes as an operator reads them. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  const digits = u === 0 || v >= 100 || Number.isInteger(v) ? 0 : 1;
  return `${v.toFixed(digits)} ${units[u]}`;
}
