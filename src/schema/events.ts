import { z } from 'zod';
import { API_VERSION } from './common.js';

/** Normal: something the controller did or saw as planned. Warning: a refusal, a failure, a member lost. */
export const eventType = z.enum(['Normal', 'Warning']);

export const nodeEvent = z
  .object({
    time: z.string(),
    type: eventType,
    /** a condition reason (LearnerAdded, QuorumProtection, ...) or an action's (MemberRemoved, ...) */
    reason: z.string(),
    message: z.string(),
    /** the desired record's generation it was about */
    generation: z.number().int().nonnegative(),
    /** which controller, in which term */
    controller: z.object({ identity: z.string(), term: z.number().int().nonnegative() }).strict(),
    /** the same event this many times in a row (the time is the last one's); absent: once */
    count: z.number().int().positive().optional(),
  })
  .strict();

export type NodeEvent = z.infer<typeof nodeEvent>;

/** `events/<node>`: the last MAX_EVENTS events of the node, oldest first; written by the leader only (fenced). */
export const nodeEvents = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('NodeEvents'),
    metadata: z.object({ name: z.string() }).strict(),
    events: z.array(nodeEvent),
  })
  .strict();

export type NodeEvents = z.infer<typeof nodeEvents>;

/** How many events a node's history keeps. */
export const MAX_EVENTS = 50;
