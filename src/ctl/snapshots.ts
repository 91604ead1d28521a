/**
 * `membershipctl snapshots`: the controller's snapshots of Chainfire in a
 * directory on the node the command runs on (the controller's node), newest
 * first. Reads the directory only; Chainfire is not asked.
 */
import { fileProblem, unreadable } from '../files.js';
import { SnapshotDirectory, type SnapshotFile } from '../snapshots/directory.js';
import { formatBytes } from '../snapshots/retention.js';
import { age, formatColumns } from './view.js';

export interface SnapshotRow {
  name: string;
  path: string;
  node: string;
  /** the Chainfire membership change it was taken before: addLearner, promote or removeMember */
  change: string;
  bytes: number;
  /** Chainfire's revision when it was taken (the file holds at least this one) */
  revision: number;
  takenAt: string;
  ageSeconds: number;
}

/** The snapshots in `dir`, newest first. A directory that cannot be read is a CONFIG_UNREADABLE error naming it. */
export async function readSnapshots(dir: string, now = Date.now()): Promise<SnapshotRow[]> {
  let files: SnapshotFile[];
  try {
    files = await new SnapshotDirectory(dir).list();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? ' (the controller makes it at its first snapshot; --dir names another directory)' : '';
    throw unreadable('--dir', dir, `${fileProblem(err)}${hint}`, err);
  }
  return files.map((f) => ({
    name: f.name,
    path: f.path,
    node: f.node,
    change: f.change,
    bytes: f.bytes,
    revision: f.revision,
    takenAt: f.at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ageSeconds: Math.max(0, Math.floor((now - f.at.getTime()) / 1000)),
  }));
}

export function renderSnapshots(rows: SnapshotRow[], dir: string, now = Date.now()): string {
  if (rows.length === 0) return `No snapshots in ${dir}.\n`;
  const table = [
    ['NAME', 'NODE', 'CHANGE', 'SIZE', 'REVISION', 'AGE'],
    ...rows.map((r) => [r.name, r.node, r.change, formatBytes(r.bytes), String(r.revision), age(r.takenAt, now)]),
  ];
  return formatColumns(table);
}
