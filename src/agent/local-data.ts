/**
 * What a service's local data directory holds, for the agent's report
 * (`report.data`, src/schema/agent-report.ts): whether it holds data of a
 * membership, and for Chainfire the member the agent started the local etcd
 * as. The controller tells a reprovisioned node (no data, or another member's)
 * from a restarted one by it.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MembershipError, errorMessage } from '../errors.js';
import { readChecked } from '../files.js';
import type { Logger } from '../log.js';
import type { LocalData } from '../schema/agent-report.js';
import { writeStateFile } from './markers.js';

export type DataService = 'chainfire' | 'flaredb';

/** The seed's data directories. */
export const DEFAULT_DATA_DIRS: Readonly<Record<DataService, string>> = {
  chainfire: '/var/lib/chainfire',
  flaredb: '/var/lib/flaredb',
};

/**
 * In the state dir: the Chainfire member id (hex) the agent started the local
 * etcd as, written before the start command runs.
 */
export const MEMBER_ID_FILE = '.chainfire-member';

const HEX_ID = /^[0-9a-f]{1,16}$/;

/**
 * The local data of `service`: for Chainfire, `<dataDir>/member` exists (etcd's
 * layout: its WAL and snapshots live there) and the member id of
 * `<stateDir>/.chainfire-member` when that file exists; for FlareDB, the
 * directory exists and is not empty. Undefined when the agent cannot tell (the
 * directory cannot be read): the report then says nothing rather than "no data",
 * which would have the controller replace the member.
 */
export async function readLocalData(service: DataService, dataDir: string, stateDir: string, log?: Logger): Promise<LocalData | undefined> {
  const checkedAt = new Date().toISOString();
  try {
    if (service === 'flaredb') return { present: (await entries(dataDir)) > 0, checkedAt };
    const present = await exists(join(dataDir, 'member'));
    const memberId = await readMemberId(stateDir);
    return { present, ...(memberId !== undefined ? { memberId } : {}), checkedAt };
  } catch (err) {
    log?.warn({ dataDir }, `cannot tell what the ${service} data directory ${dataDir} holds (${errorMessage(err)}); the report leaves it out`);
    return undefined;
  }
}

/** The member id of `<stateDir>/.chainfire-member`, lowercase hex; undefined when there is none (or it is not an id). */
export async function readMemberId(stateDir: string): Promise<string | undefined> {
  let text: string | undefined;
  try {
    // Through the one reader of files: a FIFO or a device there must not block or flood the agent.
    text = readChecked('--state-dir', join(stateDir, MEMBER_ID_FILE), { optional: true, allowEmpty: true, maxBytes: 4096 })?.toString('utf8');
  } catch (err) {
    if (err instanceof MembershipError && isAbsent(err.cause)) return undefined;
    throw err;
  }
  if (text === undefined) return undefined;
  const id = text.trim().toLowerCase();
  return HEX_ID.test(id) ? id : undefined;
}

/** Remembers the member id the local etcd is started as, atomically (temp file, fsync, rename). */
export async function rememberMemberId(stateDir: string, memberId: string): Promise<void> {
  const id = memberId.trim().toLowerCase();
  if (!HEX_ID.test(id)) throw new Error(`not a Chainfire member id (hex): ${JSON.stringify(memberId)}`);
  await writeStateFile(stateDir, MEMBER_ID_FILE, `${id}\n`);
}

/** Whether two hex member ids name the same member (leading zeros aside). */
export function sameMember(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined || !HEX_ID.test(a.toLowerCase()) || !HEX_ID.test(b.toLowerCase())) return false;
  return BigInt(`0x${a}`) === BigInt(`0x${b}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isAbsent(err)) return false;
    throw err;
  }
}

/** How many entries a directory has; 0 when it does not exist. */
async function entries(dir: string): Promise<number> {
  try {
    return (await readdir(dir)).length;
  } catch (err) {
    if (isAbsent(err)) return 0;
    throw err;
  }
}

function isAbsent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
