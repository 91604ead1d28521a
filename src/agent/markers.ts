import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readChecked } from '../files.js';
import { isoWithOffset } from '../log.js';

export type MarkerName =
  | '.chainfire-joined'
  | '.chainfire-initialized'
  | '.flaredb-joined'
  | '.flaredb-initialized'
  | '.iam-initialized';

export const DEFAULT_STATE_DIR = '/var/lib/first-boot-automation';

/** The markers that mean a service's step is done, the joined one first. */
export function markersOf(service: 'chainfire' | 'flaredb' | 'iam'): MarkerName[] {
  return service === 'iam' ? ['.iam-initialized'] : [`.${service}-joined`, `.${service}-initialized`];
}

/** The marker of a service that exists, if any: then there is nothing to do. */
export function findDone(stateDir: string, service: 'chainfire' | 'flaredb' | 'iam'): Promise<{ name: MarkerName; content: string } | undefined> {
  return findMarker(stateDir, markersOf(service));
}

/** The marker that exists, if any, with its content (a timestamp). */
export async function findMarker(stateDir: string, names: MarkerName[]): Promise<{ name: MarkerName; content: string } | undefined> {
  for (const name of names) {
    const content = readChecked('--state-dir', join(stateDir, name), { optional: true, allowEmpty: true });
    if (content !== undefined) return { name, content: content.toString('utf8').trim() };
  }
  return undefined;
}

/**
 * Writes a marker holding an ISO-8601 timestamp so that it is either absent or
 * complete, even if the process is killed half-way: temp file, fsync, rename,
 * fsync of the directory.
 */
export function writeMarker(stateDir: string, name: MarkerName, now = new Date()): Promise<string> {
  return writeStateFile(stateDir, name, `${isoWithOffset(now)}\n`);
}

/** Writes a file of the state dir as markers are written: absent or complete. */
export async function writeStateFile(stateDir: string, name: string, content: string): Promise<string> {
  await mkdir(stateDir, { recursive: true, mode: 0o755 });
  const path = join(stateDir, name);
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(stateDir);
  return path;
}

/** fsync of a directory, so that a rename or unlink in it lasts. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
