import { z } from 'zod';
import { API_VERSION, nodeName } from './common.js';

export const SERVICES = ['chainfire', 'flaredb', 'iam'] as const;
export const serviceEnum = z.enum(SERVICES);
export type Service = z.infer<typeof serviceEnum>;

export const serviceHealth = z
  .object({
    healthy: z.boolean(),
    checkedAt: z.string(),
    detail: z.string().optional(),
  })
  .strict();

/**
 * What a service's local data directory holds, as the agent found it: data
 * from a membership (`present`), and the member it belongs to where the agent
 * knows it (the Chainfire member id, hex, that it started the local etcd as).
 * The controller tells a reprovisioned node (no data, or data of another
 * member) from a restarted one by it.
 */
export const localData = z
  .object({
    present: z.boolean(),
    memberId: z.string().regex(/^[0-9a-f]{1,16}$/, 'a member id in hex').optional(),
    checkedAt: z.string(),
  })
  .strict();
export type LocalData = z.infer<typeof localData>;

/**
 * What a node's first-boot agent publishes under `agents/<node>`, bound to a
 * lease so that it vanishes when the agent stops.
 */
export const agentReport = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('AgentReport'),
    metadata: z.object({ name: nodeName }).strict(),
    report: z
      .object({
        agentVersion: z.string(),
        pid: z.number().int().positive(),
        hostname: z.string(),
        startedAt: z.string(),
        mode: z.enum(['join', 'bootstrap']),
        /** the service whose membership the agent is waiting for */
        waitingFor: serviceEnum,
        services: z
          .object({ chainfire: serviceHealth.optional(), flaredb: serviceHealth.optional(), iam: serviceHealth.optional() })
          .strict(),
        /** the local data of the services the agent knows the data directory of (--data-dir) */
        data: z.object({ chainfire: localData.optional(), flaredb: localData.optional() }).strict().optional(),
      })
      .strict(),
  })
  .strict();

export type AgentReport = z.infer<typeof agentReport>;
