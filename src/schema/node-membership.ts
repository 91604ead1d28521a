import { z } from 'zod';
import { API_VERSION, hostPort, httpUrl, nodeName, roleEnum } from './common.js';

export const chainfireSpec = z
  .object({
    raftAddr: hostPort.describe('Raft peer address host:port (etcd peer URL without scheme)'),
    clientUrl: httpUrl.describe('client URL of this node\'s Chainfire; its scheme is also used for the peer URL'),
  })
  .strict();

export const flaredbSpec = z
  .object({
    raftAddr: hostPort.describe('FlareDB Raft address host:port'),
    apiUrl: httpUrl.describe('FlareDB admin API URL of this node'),
  })
  .strict();

export const iamSpec = z.object({}).strict();

export const nodeMembershipSpec = z
  .object({
    role: roleEnum,
    bootstrap: z.boolean().default(false).describe('member of the initial cluster: adopted, never added'),
    state: z.enum(['Present', 'Absent']).default('Present'),
    nodeIp: z.string().min(1).optional(),
    fqdn: z.string().min(1).optional(),
    datacenter: z.string().min(1).optional(),
    rack: z.string().min(1).optional(),
    chainfire: chainfireSpec.optional(),
    flaredb: flaredbSpec.optional(),
    iam: iamSpec.optional(),
  })
  .strict();

export const nodeMembershipMetadata = z
  .object({
    name: nodeName,
    labels: z.record(z.string(), z.string()).default({}),
    annotations: z.record(z.string(), z.string()).default({}),
    generation: z.number().int().nonnegative().optional().describe('the desired key\'s mod revision; set by the store, not by operators'),
  })
  .strict();

export const nodeMembership = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('NodeMembership'),
    metadata: nodeMembershipMetadata,
    spec: nodeMembershipSpec,
  })
  .strict();

export type NodeMembership = z.infer<typeof nodeMembership>;
export type NodeMembershipInput = z.input<typeof nodeMembership>;
export type NodeMembershipSpec = z.infer<typeof nodeMembershipSpec>;

/** The etcd peer URL of a node: its Raft address with the scheme of its client URL. */
export function chainfirePeerUrl(spec: { raftAddr: string; clientUrl: string }): string {
  const scheme = new URL(spec.clientUrl).protocol; // 'http:' | 'https:'
  return `${scheme}//${spec.raftAddr}`;
}

/**
 * On a record set Absent: act on it at once, without the removal grace
 * (`membershipctl delete --now`). Any value but "false" counts.
 */
export const REMOVE_NOW_ANNOTATION = 'membership.photoncloud.io/remove-now';
