import { z } from 'zod';
import { API_VERSION } from './common.js';

/** Where a recovered Chainfire started from: its own data (forced new cluster) or a snapshot file. */
export const recoverySource = z.enum(['data', 'snapshot']);

const recoveryFields = {
  /** when Chainfire answered again as a one-member cluster */
  at: z.string(),
  /** the node the recovery ran on: the survivor */
  node: z.string(),
  source: recoverySource,
  /** with source "snapshot": the file and the revision it holds (the store's revision went back to it) */
  snapshot: z.object({ file: z.string(), revision: z.number().int().nonnegative() }).strict().optional(),
  /** the survivor's member id after the recovery (hex) */
  memberId: z.string(),
  /** the cluster id after the recovery (hex); a snapshot restore makes a new one */
  clusterId: z.string(),
  /** the members the survivor still listed before, by name, that the recovery dropped */
  dropped: z.array(z.string()),
};

/** `cluster/recovery`: written once by `first-boot-agent recover chainfire` after Chainfire answers again. */
export const chainfireRecovery = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('ChainfireRecovery'),
    recovery: z.object(recoveryFields).strict(),
  })
  .strict();

export type ChainfireRecovery = z.infer<typeof chainfireRecovery>;

const recoverySummary = z.object(recoveryFields).strict();
export type RecoverySummary = z.infer<typeof recoverySummary>;

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
        /** the last quorum-loss recovery (`first-boot-agent recover chainfire`), as the controller found it in cluster/recovery */
        recovery: recoverySummary.optional(),
      })
      .strict(),
  })
  .strict();

export type ClusterStatus = z.infer<typeof clusterStatus>;
