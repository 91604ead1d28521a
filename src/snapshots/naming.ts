/**
 * The names of the controller's Chainfire snapshots: when, before which node's
 * change, which change, at which revision, so that an operator picks the one
 * to restore from a listing alone:
 *
 *   2026-12-03T06-10-00Z_node04_addLearner_rev1234.db
 *
 * The time comes first and has a fixed width, so names sort in time order.
 * Node names are DNS-1123 labels (no `_`), so `_` separates the parts.
 */

/** The Chainfire membership changes the controller takes a snapshot before. */
export const SNAPSHOT_CHANGES = ['addLearner', 'promote', 'removeMember'] as const;
export type SnapshotChange = (typeof SNAPSHOT_CHANGES)[number];

export interface SnapshotName {
  /** when the snapshot was started, to the second */
  at: Date;
  node: string;
  change: SnapshotChange;
  /** Chainfire's revision when the snapshot was started (the file holds at least this revision) */
  revision: number;
}

const NAME = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})Z_([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)_([A-Za-z]+)_rev(\d+)\.db$/;

/** `2026-12-03T06-10-00Z_node04_addLearner_rev1234.db` */
export function snapshotFileName(s: SnapshotName): string {
  const time = s.at.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-');
  return `${time}_${s.node}_${s.change}_rev${s.revision}.db`;
}

/** The parts of a snapshot's file name; undefined for any other file (it is neither listed nor pruned). */
export function parseSnapshotFileName(name: string): SnapshotName | undefined {
  const m = NAME.exec(name);
  if (m === null) return undefined;
  const [, day, h, min, sec, node, change, rev] = m;
  if (!(SNAPSHOT_CHANGES as readonly string[]).includes(change!)) return undefined;
  const at = new Date(`${day}T${h}:${min}:${sec}Z`);
  const revision = Number(rev);
  if (Number.isNaN(at.getTime()) || !Number.isSafeInteger(revision)) return undefined;
  return { at, node: node!, change: change as SnapshotChange, revision };
}

/**
 * The temporary file a snapshot is streamed into, in the same directory (so
 * that the rename is atomic), hidden, and named after the writing process so
 * that one left by a crash can be told from one being written.
 */
export function temporaryFileName(pid: number, nonce: string): string {
  return `.snapshot.${pid}-${nonce}.tmp`;
}

/** The pid of the process that writes (or wrote) a temporary snapshot file; undefined for any other file. */
export function temporaryFileWriter(name: string): number | undefined {
  const m = /^\.snapshot\.(\d+)-[0-9a-f]+\.tmp$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}
