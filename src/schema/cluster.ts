import { z } from 'zod';
import { API_VERSION } from './common.js';

/** `cluster/status`: cluster-wide observations, written by the leader only (fenced). */
export const clusterStatus = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('ClusterStatus'),
    status: z
      .object({
        iam: z
          .object({
            bootstrapped: z.boolean(),
            /** when the controller recorded the initial setup as done */
            at: z.string(),
            /** controller identity and term that recorded it */
            by: z.string(),
            /** whether this controller made the setup call, or found it done already */
            outcome: z.enum(['initialized', 'already-initialized']),
          })
          .strict()
          .optional(),
      })
      .strict(),
  })
  .strict();

export type ClusterStatus = z.infer<typeof clusterStatus>;
