/**
 * `first-boot-agent reset chainfire|flaredb`: the seed's manual "Reset and
 * Re-join" made safe. It refuses while the local service still answers (it
 * must be stopped first); it moves the data directory aside to a dated
 * sibling instead of deleting anything; it removes that service's markers, so
 * that the join unit runs again; and it says what to run next.
 */
import { chmod, chown, lstat, mkdir, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MembershipError, errorMessage } from '../errors.js';
import { healthTarget } from '../net/health.js';
import type { HttpClient } from '../net/http-client.js';
import { localUrlOf, runs, type AgentContext } from './context.js';
import { type DataService, MEMBER_ID_FILE } from './local-data.js';
import { syncDir } from './markers.js';

const NAMES: Record<DataService, string> = { chainfire: 'Chainfire', flaredb: 'FlareDB' };

/** The state dir's files of a service: its markers, the member it was started as, the join's environment file. */
export const RESET_FILES: Readonly<Record<DataService, readonly string[]>> = {
  chainfire: ['.chainfire-joined', '.chainfire-initialized', MEMBER_ID_FILE, 'chainfire-join.env'],
  flaredb: ['.flaredb-joined', '.flaredb-initialized', '.flaredb-member', 'flaredb-join.env'],
};

/** The unit that runs the service, and what to run once it is reset. */
const UNITS: Record<DataService, { service: string; next: string }> = {
  chainfire: {
    service: 'chainfire',
    next: 'systemctl restart chainfire-cluster-join.service (the agent starts chainfire.service itself once the controller has added this node as a learner)',
  },
  flaredb: {
    service: 'flaredb',
    next: 'systemctl start flaredb.service && systemctl restart flaredb-cluster-join.service',
  },
};

export interface ResetOptions {
  dataDir: string;
  stateDir: string;
  now?: Date;
}

export interface ResetResult {
  /** where the data directory went; undefined when there was nothing to move */
  movedTo?: string;
  /** the state dir's files removed */
  removed: string[];
  /** the command to run next */
  next: string;
}

/** Errors that mean nothing listens at the address: the service is stopped. */
const NOT_LISTENING = /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL/;

/**
 * Whether the local service answers at `url`: any answer of its health
 * endpoint (healthy or not), or a connection that is accepted but not
 * answered, counts as running; only a refused connection counts as stopped.
 * Returns what was seen when it runs.
 */
export async function serviceAnswers(url: string, http: HttpClient, timeoutMs = 2000): Promise<string | undefined> {
  const target = healthTarget(url);
  try {
    const res = await http.request({ method: 'GET', url: target, signal: AbortSignal.timeout(timeoutMs) });
    res.body.resume();
    return `${target} answered HTTP ${res.status}`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (NOT_LISTENING.test(`${code} ${errorMessage(err)}`)) return undefined;
    return `${target}: ${errorMessage(err)}`;
  }
}

/** Resets a service on this node: refuses while it answers, then moves its data aside and removes its markers. */
export async function resetService(ctx: AgentContext, service: DataService, opts: ResetOptions): Promise<ResetResult> {
  const { log, node } = ctx;
  if (!runs(ctx, service)) {
    throw new MembershipError('CONFIG_INVALID', `${ctx.flags.config}: ${node} does not run ${NAMES[service]} (see services.${service}.enabled and node_role)`);
  }
  const unit = UNITS[service];
  const answer = await serviceAnswers(localUrlOf(ctx, service), ctx.http);
  if (answer !== undefined) {
    throw new MembershipError(
      'UNAVAILABLE',
      `${NAMES[service]} still runs on ${node} (${answer}): stop it first (systemctl stop ${unit.service}), then run the reset again; nothing was changed`,
    );
  }
  const movedTo = await moveAside(opts.dataDir, opts.now ?? new Date());
  if (movedTo === undefined) log.info({ node, dataDir: opts.dataDir }, `${opts.dataDir} is missing or empty: no data to move aside`);
  else log.info({ node, dataDir: opts.dataDir, movedTo }, `moved ${NAMES[service]}'s data ${opts.dataDir} aside to ${movedTo} (nothing was deleted)`);
  let removed: string[];
  try {
    removed = await removeStateFiles(opts.stateDir, RESET_FILES[service]);
  } catch (err) {
    const moved = movedTo !== undefined ? `${opts.dataDir} was moved to ${movedTo}` : 'no data was moved';
    throw new MembershipError('COMMAND_FAILED', `cannot remove ${service}'s markers in ${opts.stateDir}: ${errorMessage(err)} (${moved}); run the reset again once fixed`, { cause: err });
  }
  log.info({ node, stateDir: opts.stateDir, removed }, removed.length > 0 ? `removed ${removed.join(', ')} from ${opts.stateDir}` : `no ${service} marker in ${opts.stateDir}`);
  return { ...(movedTo !== undefined ? { movedTo } : {}), removed, next: unit.next };
}

/** `2026-11-24T103045Z`: an ISO time without colons (nor milliseconds), for a file name. */
export function resetStamp(now: Date): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '');
}

/**
 * Moves a non-empty data directory to `<dir>.reset-<time>` (a sibling, so a
 * rename on the same file system), and leaves an empty directory with the same
 * mode and owner where it was, as the seed's `rm -rf <dir>/*` did. Returns
 * undefined when the directory is missing or empty.
 */
export async function moveAside(dataDir: string, now: Date): Promise<string | undefined> {
  const dir = dataDir.length > 1 ? dataDir.replace(/\/+$/, '') : dataDir;
  let info;
  try {
    info = await lstat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MembershipError('CONFIG_UNREADABLE', `--data-dir: cannot read ${dir}: ${errorMessage(err)}`);
  }
  if (info.isDirectory() && (await readdir(dir)).length === 0) return undefined;
  const base = `${dir}.reset-${resetStamp(now)}`;
  let target = base;
  for (let n = 2; await present(target); n++) target = `${base}-${n}`;
  try {
    await rename(dir, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EBUSY' || code === 'EXDEV' ? ' (a mount point? move its contents aside by hand)' : '';
    throw new MembershipError('COMMAND_FAILED', `cannot move ${dir} aside to ${basename(target)}: ${errorMessage(err)}${why}; nothing was changed`, { cause: err });
  }
  if (info.isDirectory()) {
    await mkdir(dir);
    await chmod(dir, info.mode & 0o7777);
    // Only root may give a directory away; anyone else made it their own, as they own the one moved.
    await chown(dir, info.uid, info.gid).catch(() => undefined);
  }
  await syncDir(dirname(dir));
  return target;
}

/** Removes the files of `names` that exist in `stateDir`; returns those removed. */
async function removeStateFiles(stateDir: string, names: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const name of names) {
    try {
      await unlink(join(stateDir, name));
      removed.push(name);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
  }
  if (removed.length > 0) await syncDir(stateDir);
  return removed;
}

async function present(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
