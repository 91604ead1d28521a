import { z } from 'zod';
import { MembershipError } from '../errors.js';
import { readConfigFile } from '../files.js';
import { formatIssues, httpUrl } from '../schema/common.js';
import { nestingError } from '../schema/json.js';
import type { HttpServiceOptions } from '../drivers/types.js';
import { DEFAULT_SNAPSHOT_LIMITS } from '../snapshots/retention.js';
import { DEFAULT_SNAPSHOT_TIMEOUT_MS } from '../snapshots/settings.js';
import { leaderHostProblem } from '../drivers/leader-hosts.js';
import { readAdminSecret } from '../drivers/iam.js';

const absolutePath = z.string().regex(/^\//, { message: 'must be an absolute path' });

const tls = z
  .object({
    caFile: absolutePath.describe('CA that signed the service\'s server certificate'),
    certFile: absolutePath.optional(),
    keyFile: absolutePath.optional(),
  })
  .strict()
  .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
    message: 'certFile and keyFile must be given together',
  });

/** `host` or `host:port` that a leader hint may name besides the endpoints' own hosts */
const leaderHost = z.string().superRefine((s, ctx) => {
  const problem = leaderHostProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s.slice(0, 100))} ${problem}` });
});

/** Two entries for one endpoint: a typo for another replica, most likely. */
const distinctEndpoints = z.array(httpUrl).superRefine((endpoints, ctx) => {
  const seen = new Map<string, number>();
  for (const [i, e] of endpoints.entries()) {
    let key: string;
    try {
      key = new URL(e.trim()).origin;
    } catch {
      continue; // httpUrl reports it
    }
    const first = seen.get(key);
    if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i], message: `${e} is endpoints.${first} again; list each replica once` });
    else seen.set(key, i);
  }
});

const httpService = z
  .object({
    endpoints: distinctEndpoints.min(1, { message: 'needs at least one endpoint' }),
    tls: tls.optional(),
    requestTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
    retries: z.number().int().min(0).max(20).default(3),
    allowedLeaderHosts: z.array(leaderHost).max(100).optional(),
  })
  .strict();

/** Snapshots of Chainfire before each of its membership changes (src/snapshots/). */
const snapshots = z
  .object({
    /** default: snapshots/ under the controller's state directory (--state-dir) */
    dir: absolutePath.optional(),
    onFailure: z.enum(['refuse', 'warn']).default('refuse'),
    maxCount: z.number().int().min(1).max(100_000).default(DEFAULT_SNAPSHOT_LIMITS.maxCount),
    maxBytes: z.number().int().positive().default(DEFAULT_SNAPSHOT_LIMITS.maxBytes),
    minFreeBytes: z.number().int().min(0).default(DEFAULT_SNAPSHOT_LIMITS.minFreeBytes),
    timeoutSeconds: z.number().int().min(1).max(3600).default(DEFAULT_SNAPSHOT_TIMEOUT_MS / 1000),
  })
  .strict();

/**
 * The controller's configuration file (JSON): where FlareDB and IAM are, TLS
 * files, timeouts, where Chainfire's snapshots go. Chainfire's connection
 * comes from the common flags.
 */
export const controllerConfig = z
  .object({
    flaredb: httpService.optional(),
    iam: httpService
      .extend({
        /** file with the initial admin user and password: `{"user": "...", "password": "..."}` */
        adminSecretFile: absolutePath,
      })
      .strict()
      .optional(),
    chainfire: z
      .object({ callTimeoutMs: z.number().int().min(100).max(600_000).default(5000) })
      .strict()
      .default({ callTimeoutMs: 5000 }),
    snapshots: snapshots.optional(),
  })
  .strict();

export type ControllerConfig = z.infer<typeof controllerConfig>;

export function parseControllerConfig(text: string, source: string): ControllerConfig {
  const tooDeep = nestingError(text, source);
  if (tooDeep !== undefined) throw tooDeep;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new MembershipError('CONFIG_INVALID', `${source}: not valid JSON: ${(err as Error).message}`);
  }
  const parsed = controllerConfig.safeParse(json);
  if (!parsed.success) throw new MembershipError('CONFIG_INVALID', `${source}: ${formatIssues(parsed.error)}`);
  for (const service of ['flaredb', 'iam'] as const) {
    const s = parsed.data[service];
    if (s === undefined) continue;
    if (s.endpoints.some((e) => new URL(e.trim()).protocol === 'https:') && s.tls === undefined) {
      throw new MembershipError('CONFIG_INVALID', `${source}: ${service}.tls: required for https endpoints (at least caFile)`);
    }
    // A tls block says the service is to be reached over TLS: an http endpoint beside it would be sent plaintext.
    const plain = s.tls === undefined ? -1 : s.endpoints.findIndex((e) => new URL(e.trim()).protocol !== 'https:');
    if (plain >= 0) {
      throw new MembershipError(
        'CONFIG_INVALID',
        `${source}: ${service}.endpoints.${plain}: ${s.endpoints[plain]} is plain http beside ${service}.tls: ` +
          `requests to it would go unencrypted; use https:// for every endpoint, or remove ${service}.tls`,
      );
    }
  }
  return parsed.data;
}

export async function loadControllerConfig(path: string): Promise<ControllerConfig> {
  return parseControllerConfig(readConfigFile('--config', path), path);
}

/**
 * The files the config names that the controller reads only later, read
 * once now: a missing, open or broken IAM admin secret stops the controller
 * at start (exit 78) instead of failing IAM's initial setup at every try.
 * (The TLS files are read when the drivers are made, also at start.)
 */
export async function checkControllerConfigFiles(config: ControllerConfig): Promise<void> {
  if (config.iam !== undefined) await readAdminSecret(config.iam.adminSecretFile);
}

export function httpOptions(s: z.infer<typeof httpService>): HttpServiceOptions {
  return {
    endpoints: s.endpoints,
    requestTimeoutMs: s.requestTimeoutMs,
    retries: s.retries,
    ...(s.tls ? { tls: s.tls as HttpServiceOptions['tls'] & object } : {}),
    ...(s.allowedLeaderHosts !== undefined && s.allowedLeaderHosts.length > 0 ? { allowedLeaderHosts: s.allowedLeaderHosts } : {}),
  };
}
