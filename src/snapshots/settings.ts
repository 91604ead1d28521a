/**
 * Where the controller's snapshots go and how many it keeps. The directory is
 * `snapshots.dir` of the controller's configuration file, else `snapshots/`
 * under the controller's state directory: `--state-dir`, else systemd's
 * $STATE_DIRECTORY (StateDirectory=membership-controller), else
 * /var/lib/membership-controller. `membershipctl snapshots` looks in the same
 * default place.
 */
import { join } from 'node:path';
import { DEFAULT_SNAPSHOT_LIMITS, type SnapshotLimits } from './retention.js';

export const DEFAULT_STATE_DIR = '/var/lib/membership-controller';

export interface SnapshotSettings extends SnapshotLimits {
  dir: string;
  /** refuse: a change waits until its snapshot is written; warn: it goes on without one, logged at WARN */
  onFailure: 'refuse' | 'warn';
  /** bound on streaming one snapshot from Chainfire */
  timeoutMs: number;
}

export const DEFAULT_SNAPSHOT_TIMEOUT_MS = 300_000;

/** The controller's state directory when no --state-dir is given. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  // systemd sets STATE_DIRECTORY to the StateDirectory= paths, colon-separated.
  const fromSystemd = env.STATE_DIRECTORY?.split(':')[0];
  return fromSystemd !== undefined && fromSystemd.startsWith('/') ? fromSystemd : DEFAULT_STATE_DIR;
}

/** Where the snapshots are when the configuration names no directory. */
export function defaultSnapshotDir(stateDir: string = defaultStateDir()): string {
  return join(stateDir, 'snapshots');
}

/** The settings from the configuration file's `snapshots` block (all optional) and the state directory. */
export function snapshotSettings(
  block: Partial<Omit<SnapshotSettings, 'timeoutMs'>> & { timeoutSeconds?: number } | undefined,
  stateDir: string,
): SnapshotSettings {
  return {
    dir: block?.dir ?? defaultSnapshotDir(stateDir),
    onFailure: block?.onFailure ?? 'refuse',
    maxCount: block?.maxCount ?? DEFAULT_SNAPSHOT_LIMITS.maxCount,
    maxBytes: block?.maxBytes ?? DEFAULT_SNAPSHOT_LIMITS.maxBytes,
    minFreeBytes: block?.minFreeBytes ?? DEFAULT_SNAPSHOT_LIMITS.minFreeBytes,
    timeoutMs: block?.timeoutSeconds !== undefined ? block.timeoutSeconds * 1000 : DEFAULT_SNAPSHOT_TIMEOUT_MS,
  };
}
