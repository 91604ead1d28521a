/**
 * The membership drivers of the HTTP services. Each service's API lives in
 * one driver, so that a change of the API changes one file.
 */

export interface HttpServiceOptions {
  /** admin API endpoints, tried in order (then the leader an answer points to) */
  endpoints: string[];
  tls?: { caFile: string; certFile?: string; keyFile?: string };
  /** deadline of one HTTP request */
  requestTimeoutMs: number;
  /** retries of transient failures (connection errors, 5xx, 429) within one call */
  retries: number;
}

export interface FlareDBMember {
  id: string;
  raftAddr: string;
  status?: string;
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

export interface IamNodeRegistration {
  id: string;
  role: string;
  fqdn?: string;
  ip?: string;
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
