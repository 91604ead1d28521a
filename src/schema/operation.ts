import { z } from 'zod';
import { serviceEnum } from './agent-report.js';
import { API_VERSION, nodeName } from './common.js';

/**
 * `operations/<service>`: the one membership change in flight for a service,
 * written (fenced) before the change starts and deleted once it is done. A
 * leader that finds one finishes it or rolls it back.
 */
export const membershipOperation = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('MembershipOperation'),
    service: serviceEnum,
    node: nodeName,
    /** join: add (a learner, then promote, for Chainfire); remove: take the node out */
    change: z.enum(['join', 'remove']),
    startedAt: z.string(),
    /** controller identity and term that started it */
    startedBy: z.string(),
  })
  .strict();

export type MembershipOperation = z.infer<typeof membershipOperation>;

/** `cluster/config`: written by operators. */
export const clusterConfigRecord = z
  .object({
    apiVersion: z.literal(API_VERSION).default(API_VERSION),
    kind: z.literal('ClusterConfig').default('ClusterConfig'),
    spec: z
      .object({
        /** no membership change is made while paused */
        paused: z.boolean().default(false),
        /** Chainfire voters at most; further control-plane nodes are not made members */
        maxVoters: z.number().int().min(1).max(9).default(5),
        /** never remove a voter below this many (once there are this many) */
        minVoters: z.number().int().min(1).max(9).default(3),
        /** a learner whose etcd has not started after this long is removed and the join retried */
        learnerStartTimeoutSeconds: z.number().int().min(10).default(300),
        /** after this long catching up, a learner's status says it is not catching up */
        learnerCatchUpTimeoutSeconds: z.number().int().min(10).default(600),
        /**
         * a record set Absent is acted on only once it has stayed Absent this long: a Present -> Absent ->
         * Present flip shorter than this removes nothing (membershipctl delete --now skips it)
         */
        removalGraceSeconds: z.number().int().min(0).max(3600).default(5),
        /** how often a member of a Ready node is asked for its health; one that does not answer makes the node Degraded */
        healthIntervalSeconds: z.number().int().min(1).max(3600).default(10),
        /** Chainfire voters that may hold a planned disruption (membershipctl disruption acquire) at once */
        maxDisruptedVoters: z.number().int().min(0).max(4).default(1),
        /**
         * opt-in: a Chainfire member that has not answered its health check for longer than thresholdSeconds is
         * removed (one at a time, never below minVoters healthy voters, never while its node holds a disruption)
         */
        deadMemberCleanup: z
          .object({
            enabled: z.boolean().default(false),
            thresholdSeconds: z.number().int().min(10).max(30 * 86400).default(86400),
          })
          .strict()
          .default({ enabled: false, thresholdSeconds: 86400 }),
      })
      .strict()
      .refine((spec) => spec.minVoters <= spec.maxVoters, {
        message: 'minVoters must not exceed maxVoters (the floor would forbid every removal)',
        path: ['minVoters'],
      })
      .default({
        paused: false,
        maxVoters: 5,
        minVoters: 3,
        learnerStartTimeoutSeconds: 300,
        learnerCatchUpTimeoutSeconds: 600,
        removalGraceSeconds: 5,
        healthIntervalSeconds: 10,
        maxDisruptedVoters: 1,
        deadMemberCleanup: { enabled: false, thresholdSeconds: 86400 },
      }),
  })
  .strict();

export type ClusterConfigRecord = z.infer<typeof clusterConfigRecord>;
export type MembershipPolicy = ClusterConfigRecord['spec'];

export const DEFAULT_POLICY: MembershipPolicy = clusterConfigRecord.parse({}).spec;
