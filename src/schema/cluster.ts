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
        /** what each service reports, as last observed */
        services: z
          .record(
            z.string(),
            z
              .object({
                voters: z.number().int().nonnegative(),
                learners: z.number().int().nonnegative(),
                /** healthy voters minus quorum (Chainfire only) */
                failureTolerance: z.number().int().optional(),
                /** members no desired record claims: reported, never removed */
                orphans: z.array(z.string()),
              })
              .strict(),
          )
          .optional(),
      })
      .strict(),
  })
  .strict();

export type ClusterStatus = z.infer<typeof clusterStatus>;
