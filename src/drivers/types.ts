/**
 * The membership drivers: one interface per service, so that reconciling
 * depends on what a service does, not on how its API is called. Each
 * service's API lives in one driver, so that a change of the API changes one
 * file. Errors that mean "already as wanted" are success; a refusal for now is
 * a MembershipError BUSY; the rest UNAVAILABLE or SERVICE_ERROR.
 */
import type { ChainfireMember, FlareDBMember, IamNodeRegistration } from '../schema/members.js';

export interface HttpServiceOptions {
  /** admin API endpoints, tried in order (then the leader an answer points to) */
  endpoints: string[];
  tls?: { caFile: string; certFile?: string; keyFile?: string };
  /** deadline of one HTTP request */
  requestTimeoutMs: number;
  /** retries of transient failures (connection errors, 5xx, 429) within one call */
  retries: number;
  /**
   * hosts (`host` or `host:port`) besides the endpoints' own that a leader
   * hint or a redirect may send a call to; any other host is refused
   */
  allowedLeaderHosts?: string[];
}

export interface FlareDBDriver {
  health(signal?: AbortSignal): Promise<{ healthy: boolean; detail: string }>;
  listMembers(signal?: AbortSignal): Promise<FlareDBMember[]>;
  /** `409 Conflict` (already a member) counts as success: 'already-member' */
  addMember(id: string, raftAddr: string, signal?: AbortSignal): Promise<'added' | 'already-member'>;
  /** `404` (not a member) counts as success: 'not-member' */
  removeMember(id: string, signal?: AbortSignal): Promise<'removed' | 'not-member'>;
  close(): Promise<void>;
}

export interface IAMDriver {
  health(signal?: AbortSignal): Promise<{ healthy: boolean; detail: string }>;
  bootstrapStatus(signal?: AbortSignal): Promise<{ initialized: boolean }>;
  /** the cluster's initial admin setup; `409` (already initialized) is 'already-initialized' */
  bootstrap(admin: { user: string; password: string }, signal?: AbortSignal): Promise<'initialized' | 'already-initialized'>;
  listNodes(signal?: AbortSignal): Promise<IamNodeRegistration[]>;
  /** idempotent: registering an already registered node with the same data succeeds */
  registerNode(node: IamNodeRegistration, signal?: AbortSignal): Promise<void>;
  /** `404` (not registered) counts as success: 'not-registered' */
  deregisterNode(id: string, signal?: AbortSignal): Promise<'removed' | 'not-registered'>;
  close(): Promise<void>;
}

export type PromoteOutcome = { promoted: true } | { promoted: false; detail: string };

/** Chainfire's own Raft membership (etcd's Cluster API). */
export interface ChainfireDriver {
  /** member list, shared by reconciles that run close together; `fresh` bypasses the cache */
  listMembers(fresh?: boolean): Promise<ChainfireMember[]>;
  /** each member's /health; unknown counts as unhealthy */
  health(members: ChainfireMember[]): Promise<Record<string, boolean>>;
  /** the Raft leader's member id (hex), as the member that answers sees it */
  leaderId(): Promise<string | undefined>;
  /** how many Raft entries a started learner is behind; undefined when it cannot be read */
  learnerLag(learner: ChainfireMember): Promise<number | undefined>;
  /** a peer URL that is already a member counts as done */
  addLearner(peerUrl: string): Promise<void>;
  /** etcd refuses while the learner is behind: `{ promoted: false }`, not an error */
  promote(memberId: string): Promise<PromoteOutcome>;
  /** a member that is gone already counts as done */
  removeMember(memberId: string): Promise<void>;
  moveLeader(from: ChainfireMember, toMemberId: string): Promise<void>;
  /** drops the cached member list */
  invalidate(): void;
}
