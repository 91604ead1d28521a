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
      })
      .strict(),
  })
  .strict();

export type AgentReport = z.infer<typeof agentReport>;
