/**
 * The seed's first-boot join loop, as its README describes it, as the baseline
 * the controller is compared with. Join mode, step by step:
 *
 *   1. A marker in the state dir means done: exit at once.
 *   2. Wait for the local service to be healthy: GET /health, then every 5 s,
 *      for at most 120 s ("Health check timeout after 120s").
 *   3. POST {"id","raft_addr"} to the leader's /admin/member/add; 2xx is
 *      joined, 409 is "Already member of cluster" (normal on reboots).
 *   4. Otherwise retry: 5 attempts in all, 10 s apart
 *      ("Failed to join cluster after 5 attempts").
 *   5. Write the marker (an ISO-8601 timestamp).
 *
 * The delays are the seed's real ones unless a caller overrides them.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';

export const SEED_DEFAULTS = {
  healthIntervalMs: 5_000,
  healthTimeoutMs: 120_000,
  maxAttempts: 5,
  retryDelayMs: 10_000,
  /** curl's connect and transfer bound in the seed's scripts is not stated; 10 s is generous */
  requestTimeoutMs: 10_000,
} as const;

export interface SeedJoinOptions {
  nodeId: string;
  raftAddr: string;
  /** the node's own service, polled for health */
  localUrl: string;
  /** cluster-config.json's leader_url (here: the FlareDB simulator's leader) */
  leaderUrl: string;
  stateDir: string;
  marker?: string;
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  maxAttempts?: number;
  retryDelayMs?: number;
  requestTimeoutMs?: number;
}

export type SeedOutcome = 'already-done' | 'joined' | 'already-member' | 'health-timeout' | 'join-failed';

export interface SeedJoinResult {
  ok: boolean;
  outcome: SeedOutcome;
  /** join attempts made */
  attempts: number;
  /** performance.now() at the start and at the end (marker written, or given up) */
  startedAt: number;
  finishedAt: number;
  /** performance.now() of each join attempt */
  attemptTimes: number[];
  lastError?: string;
}

async function healthy(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await request(new URL('/health', url), { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    await res.body.text();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

async function postJoin(opts: SeedJoinOptions, timeoutMs: number): Promise<{ status?: number; error?: string }> {
  try {
    const res = await request(new URL('/admin/member/add', opts.leaderUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: opts.nodeId, raft_addr: opts.raftAddr }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await res.body.text();
    return { status: res.statusCode };
  } catch (err) {
    return { error: err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err) };
  }
}

export async function seedJoin(opts: SeedJoinOptions): Promise<SeedJoinResult> {
  const o = { ...SEED_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as Required<SeedJoinOptions>;
  const marker = join(o.stateDir, o.marker ?? '.flaredb-joined');
  const startedAt = performance.now();
  const attemptTimes: number[] = [];
  const result = (ok: boolean, outcome: SeedOutcome, lastError?: string): SeedJoinResult => ({
    ok,
    outcome,
    attempts: attemptTimes.length,
    startedAt,
    finishedAt: performance.now(),
    attemptTimes,
    ...(lastError !== undefined ? { lastError } : {}),
  });

  if (existsSync(marker)) return result(true, 'already-done');

  // Health: checked at once, then every interval, until the bound.
  let elapsed = 0;
  while (!(await healthy(o.localUrl, o.requestTimeoutMs))) {
    if (elapsed >= o.healthTimeoutMs) return result(false, 'health-timeout', `Health check timeout after ${o.healthTimeoutMs / 1000}s`);
    await sleep(o.healthIntervalMs);
    elapsed += o.healthIntervalMs;
  }

  let lastError = '';
  for (let attempt = 1; attempt <= o.maxAttempts; attempt++) {
    attemptTimes.push(performance.now());
    const r = await postJoin(o, o.requestTimeoutMs);
    if (r.status !== undefined && r.status >= 200 && r.status < 300) {
      await writeMarker(marker);
      return result(true, 'joined');
    }
    if (r.status === 409) {
      await writeMarker(marker);
      return result(true, 'already-member');
    }
    lastError = r.error ?? `HTTP ${r.status}`;
    if (attempt < o.maxAttempts) await sleep(o.retryDelayMs);
  }
  return result(false, 'join-failed', `Failed to join cluster after ${o.maxAttempts} attempts: ${lastError}`);
}

async function writeMarker(path: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, `${new Date().toISOString()}\n`);
}
