import { z } from 'zod';
import { API_VERSION, nodeName } from './common.js';

/** Degraded: the node was Ready, and a member of it does not answer its health check now (or is of an earlier incarnation). */
export const PHASES = ['Pending', 'Joining', 'Ready', 'Degraded', 'Removing', 'Removed', 'Failed'] as const;
export const phaseEnum = z.enum(PHASES);
export type Phase = z.infer<typeof phaseEnum>;

export const CONDITION_TYPES = ['AgentReady', 'ChainfireMember', 'FlareDBMember', 'IAMRegistered', 'Ready'] as const;
export const conditionTypeEnum = z.enum(CONDITION_TYPES);
export type ConditionType = z.infer<typeof conditionTypeEnum>;

/** Reasons after which the agent stops waiting: a new spec generation is needed. */
export const TERMINAL_REASONS = ['InvalidSpec', 'Conflict'] as const;

/** A moment as the controller writes it (RFC 3339, `Date.toISOString()`); an offset is accepted. */
const timestamp = z.iso.datetime({ offset: true });

export const condition = z
  .object({
    type: conditionTypeEnum,
    status: z.enum(['True', 'False', 'Unknown']),
    reason: z.string().regex(/^[A-Z][A-Za-z0-9]*$/, { message: 'reason must be a CamelCase word' }),
    message: z.string(),
    lastTransitionTime: timestamp,
    observedGeneration: z.number().int().nonnegative(),
  })
  .strict();
export type Condition = z.infer<typeof condition>;

export const chainfireStatus = z
  .object({
    memberId: z.string().optional(),
    role: z.enum(['learner', 'voter']).optional(),
    peerUrl: z.string().optional(),
    initialCluster: z.string().optional(),
    /** learners of this generation rolled back because their etcd never started (bounded: MAX_START_ATTEMPTS) */
    startAttempts: z.number().int().nonnegative().optional(),
    /** since when the member has not answered its health check (as the controller first saw it): the dead-member clock */
    unhealthySince: timestamp.optional(),
  })
  .strict();

export const nodeMembershipStatus = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('NodeMembershipStatus'),
    metadata: z.object({ name: nodeName }).strict(),
    status: z
      .object({
        observedGeneration: z.number().int().nonnegative(),
        phase: phaseEnum,
        conditions: z.array(condition).superRefine((conds, ctx) => {
          const seen = new Set<string>();
          for (const c of conds) {
            if (seen.has(c.type)) ctx.addIssue({ code: 'custom', message: `condition ${c.type} appears more than once` });
            seen.add(c.type);
          }
        }),
        chainfire: chainfireStatus.default({}),
        flaredb: z.record(z.string(), z.unknown()).default({}),
        iam: z.record(z.string(), z.unknown()).default({}),
        controller: z.object({ identity: z.string(), term: z.number().int().positive() }).strict().optional(),
      })
      .strict(),
  })
  .strict();

export type NodeMembershipStatus = z.infer<typeof nodeMembershipStatus>;
export type StatusBody = NodeMembershipStatus['status'];
