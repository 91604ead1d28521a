import { z } from 'zod';
import { API_VERSION } from './common.js';

/**
 * `disruptions/<node>`: "this node is about to go down" (a reboot, an
 * upgrade), granted by `membershipctl disruption acquire` only when the
 * services keep a quorum of healthy voters without it. Bound to a lease of
 * twice the TTL: a node that never comes back does not hold it forever; past
 * `expiresAt` it is overdue (metric and alert) until it is released or lapses.
 */
export const disruptionRecord = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('Disruption'),
    metadata: z.object({ name: z.string() }).strict(),
    spec: z
      .object({
        /** why, as the operator or the automation said */
        reason: z.string().min(1).max(1024),
        /** who asked (user@host, or the automation's name) */
        holder: z.string().max(256),
        acquiredAt: z.string(),
        /** the holder expects to be back (and to release it) by then */
        expiresAt: z.string(),
        ttlSeconds: z.number().int().positive(),
      })
      .strict(),
  })
  .strict();

export type DisruptionRecord = z.infer<typeof disruptionRecord>;

/** A held disruption as the controller and the budget use it. */
export interface HeldDisruption {
  node: string;
  reason: string;
  holder: string;
  acquiredAt: string;
  expiresAt: string;
}

