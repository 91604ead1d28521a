import { z } from 'zod';
import { MembershipError } from '../errors.js';
import { hostPort } from '../schema/common.js';
import { ServiceClient, type ServiceCall, type ServiceResponse } from './service-client.js';
import type { FlareDBMember } from '../schema/members.js';
import type { FlareDBDriver, HttpServiceOptions } from './types.js';

/**
 * FlareDB membership through its HTTP admin API (docs/flaredb-api.md). The
 * transport (endpoints, leader following, retries, deadlines) is ServiceClient's;
 * this file only says what each answer means.
 */

const memberSchema = z.object({
  id: z.string().min(1),
  raft_addr: hostPort,
  status: z.string().optional(),
});

const memberListSchema = z.object({
  members: z.array(memberSchema).superRefine((members, ctx) => {
    const seen = new Set<string>();
    for (const [i, m] of members.entries()) {
      if (seen.has(m.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `member ${m.id} is listed twice` });
      seen.add(m.id);
    }
  }),
  /** not in the seed's examples; used as a hint when present */
  leader: z.string().optional(),
});
const MEMBER_LIST = '{"members": [{"id", "raft_addr": "host:port", "status"?}], "leader"?}';

/** The answer to a successful add: the member as added. */
const addedSchema = z.object({ id: z.string(), raft_addr: z.string() });

const healthSchema = z.object({ status: z.string() });

const errorBodySchema = z.object({
  error: z.string().optional(),
  raft_addr: z.string().optional(),
});

export type FlareDBConflictKind = 'id-has-other-raft-addr' | 'raft-addr-has-other-id';

/**
 * The node cannot be added as asked because FlareDB already holds a different
 * member under its id or its raft_addr. Retrying does not help; the controller
 * reports it as a Conflict condition.
 */
export class FlareDBConflictError extends MembershipError {
  readonly kind: FlareDBConflictKind;
  readonly id: string;
  readonly raftAddr: string;
  readonly existingRaftAddr: string | undefined;
  readonly existingId: string | undefined;

  constructor(args: { kind: FlareDBConflictKind; id: string; raftAddr: string; existingRaftAddr?: string; existingId?: string }) {
    super(
      'SERVICE_ERROR',
      args.kind === 'id-has-other-raft-addr'
        ? `FlareDB already has member ${args.id} with raft_addr ${args.existingRaftAddr ?? '(unknown)'}, not the requested ${args.raftAddr}: ` +
            `correct spec.flaredb.raftAddr, or remove the old member (DELETE /admin/member/${args.id}) if the node really moved`
        : `FlareDB raft_addr ${args.raftAddr} already belongs to member ${args.existingId ?? '(unknown)'}, so ${args.id} cannot be added with it: ` +
            `correct spec.flaredb.raftAddr, or remove member ${args.existingId ?? '(unknown)'} if that node is gone`,
    );
    this.name = 'FlareDBConflictError';
    this.kind = args.kind;
    this.id = args.id;
    this.raftAddr = args.raftAddr;
    this.existingRaftAddr = args.existingRaftAddr;
    this.existingId = args.existingId;
  }
}

export function isFlareDBConflict(err: unknown): err is FlareDBConflictError {
  return err instanceof FlareDBConflictError;
}

export interface FlareDBDriverTuning {
  /** backoff between retries; defaults 100 ms .. 2 s */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** told of each transient failure that will be retried, e.g. to log it */
  onRetry?: (err: Error, attempt: number) => void;
  /** told of a leader hint or redirect that is not followed, e.g. to log it */
  onRefusedLeader?: (message: string) => void;
}

export class HttpFlareDBDriver implements FlareDBDriver {
  private readonly client: ServiceClient;

  constructor(options: HttpServiceOptions, tuning: FlareDBDriverTuning = {}) {
    this.client = new ServiceClient({ ...options, ...tuning, service: 'FlareDB' });
  }

  /** Unreachable or unhealthy is an answer here, not an error; only an abort throws. */
  async health(signal?: AbortSignal): Promise<{ healthy: boolean; detail: string }> {
    const c: ServiceCall = { method: 'GET', path: '/health', what: 'health check', ...(signal ? { signal } : {}) };
    let res: ServiceResponse;
    try {
      res = await this.client.call(c);
    } catch (err) {
      if (signal?.aborted) throw err;
      return { healthy: false, detail: err instanceof Error ? err.message : String(err) };
    }
    if (res.status !== 200) return { healthy: false, detail: this.client.unexpected(c, res).message };
    let status: string;
    try {
      status = this.client.expectBody(c, res, healthSchema, '{"status": "ok"}').status;
    } catch (err) {
      return { healthy: false, detail: (err as Error).message };
    }
    if (status !== 'ok') return { healthy: false, detail: `${res.url} answered HTTP 200 with status ${JSON.stringify(status)}` };
    return { healthy: true, detail: `${res.url} answered HTTP 200` };
  }

  async listMembers(signal?: AbortSignal): Promise<FlareDBMember[]> {
    const c: ServiceCall = { method: 'GET', path: '/admin/cluster/members', what: 'list members', ...(signal ? { signal } : {}) };
    const res = await this.client.call(c);
    if (res.status !== 200) throw this.client.unexpected(c, res);
    const list = this.client.expectBody(c, res, memberListSchema, MEMBER_LIST);
    if (list.leader !== undefined) this.client.noteLeader(list.leader, res.endpoint, 'in its member list');
    return list.members.map((m) => ({ id: m.id, raftAddr: m.raft_addr, ...(m.status !== undefined ? { status: m.status } : {}) }));
  }

  async addMember(id: string, raftAddr: string, signal?: AbortSignal): Promise<'added' | 'already-member'> {
    const c: ServiceCall = {
      method: 'POST',
      path: '/admin/member/add',
      body: { id, raft_addr: raftAddr },
      what: `add member ${id} (raft_addr ${raftAddr})`,
      ...(signal ? { signal } : {}),
    };
    const res = await this.client.call(c);
    if (res.status === 200 || res.status === 201) {
      // An add that did not happen must not pass for one: the answer names the member added.
      const added = this.client.expectBody(c, res, addedSchema, `{"id": "${id}", "raft_addr": "${raftAddr}"}, the member added`);
      if (added.id !== id || added.raft_addr !== raftAddr) {
        throw this.client.badAnswer(c, res, `it names member ${JSON.stringify(added.id)} with raft_addr ${JSON.stringify(added.raft_addr)}, not the requested ${id} with ${raftAddr}`);
      }
      return 'added';
    }
    if (res.status === 409) return this.confirmAlreadyMember(c, res, id, raftAddr, signal);
    throw this.client.unexpected(c, res, res.status >= 400 && res.status < 500 ? 'FlareDB refused the request; not retried' : undefined);
  }

  async removeMember(id: string, signal?: AbortSignal): Promise<'removed' | 'not-member'> {
    const c: ServiceCall = {
      method: 'DELETE',
      path: `/admin/member/${encodeURIComponent(id)}`,
      what: `remove member ${id}`,
      ...(signal ? { signal } : {}),
    };
    const res = await this.client.call(c);
    if (res.status === 200 || res.status === 202 || res.status === 204) {
      this.client.expectNoneOrObject(c, res, id);
      return 'removed';
    }
    if (res.status === 404) return 'not-member';
    throw this.client.unexpected(c, res, res.status >= 400 && res.status < 500 ? 'FlareDB refused the request; not retried' : undefined);
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /**
   * A 409 says "id or raft_addr taken", not by whom: a retried add that landed
   * and a different node holding the address look the same. The member list
   * tells them apart, so 'already-member' is only returned for the exact pair.
   */
  private async confirmAlreadyMember(
    c: ServiceCall,
    res: ServiceResponse,
    id: string,
    raftAddr: string,
    signal?: AbortSignal,
  ): Promise<'already-member'> {
    const body = errorBodySchema.safeParse(res.body);
    const named = body.success ? body.data.raft_addr : undefined;
    if (named !== undefined && named !== raftAddr) {
      throw new FlareDBConflictError({ kind: 'id-has-other-raft-addr', id, raftAddr, existingRaftAddr: named });
    }
    const members = await this.listMembers(signal);
    const byId = members.find((m) => m.id === id);
    if (byId !== undefined && byId.raftAddr === raftAddr) return 'already-member';
    if (byId !== undefined) throw new FlareDBConflictError({ kind: 'id-has-other-raft-addr', id, raftAddr, existingRaftAddr: byId.raftAddr });
    const byAddr = members.find((m) => m.raftAddr === raftAddr);
    if (byAddr !== undefined) throw new FlareDBConflictError({ kind: 'raft-addr-has-other-id', id, raftAddr, existingId: byAddr.id });
    // Neither: the membership changed between the two calls. The next reconcile asks again.
    throw new MembershipError(
      'UNAVAILABLE',
      `FlareDB: ${c.what}: ${res.url} answered HTTP 409 (already a member) but the member list holds neither ${id} nor ${raftAddr}; ` +
        'the membership is changing, try again',
    );
  }
}

