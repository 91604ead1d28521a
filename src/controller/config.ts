import { z } from 'zod';
import { MembershipError } from '../errors.js';
import { readConfigFile } from '../files.js';
import { formatIssues, httpUrl } from '../schema/common.js';
import { nestingError } from '../schema/json.js';
import type { HttpServiceOptions } from '../drivers/types.js';

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

const httpService = z
  .object({
    endpoints: z.array(httpUrl).min(1, { message: 'needs at least one endpoint' }),
    tls: tls.optional(),
    requestTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
    retries: z.number().int().min(0).max(20).default(3),
  })
  .strict();

/**
 * The controller's configuration file (JSON): where FlareDB and IAM are, TLS
 * files, timeouts. Chainfire's connection comes from the common flags.
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
    if (s?.endpoints.some((e) => new URL(e.trim()).protocol === 'https:') && s.tls === undefined) {
      throw new MembershipError('CONFIG_INVALID', `${source}: ${service}.tls: required for https endpoints (at least caFile)`);
    }
  }
  return parsed.data;
}

export async function loadControllerConfig(path: string): Promise<ControllerConfig> {
  return parseControllerConfig(readConfigFile('--config', path), path);
}

export function httpOptions(s: z.infer<typeof httpService>): HttpServiceOptions {
  return {
    endpoints: s.endpoints,
    requestTimeoutMs: s.requestTimeoutMs,
    retries: s.retries,
    ...(s.tls ? { tls: s.tls as HttpServiceOptions['tls'] & object } : {}),
  };
}
