/**
 * The ports of a node reconcile: everything reconcileNode touches, and
 * nothing else. The controller implements them on Chainfire (its record
 * caches, the fenced writer of its term) and the real drivers
 * (src/controller/node-ports.ts); the model test implements them on its model
 * world (test/model/); `membershipctl plan` implements only the read port, so
 * it observes and decides and cannot record, act or write.
 */
import type { EventDraft } from './events.js';
import type { HeldDisruption } from '../schema/disruption.js';
import type { RecoverySummary } from '../schema/cluster.js';
import type { Logger } from '../log.js';
import type { AgentReport, Service } from '../schema/agent-report.js';
import type { ChainfireMember, FlareDBMember, IamNodeRegistration } from '../schema/members.js';
import type { NodeMembership } from '../schema/node-membership.js';
import type { MembershipOperation, MembershipPolicy } from '../schema/operation.js';
import type { StatusBody } from '../schema/status.js';
import type { PromoteRefused } from './chainfire-step.js';
import type { NodeDecision } from './decide.js';
import type { NodeAction } from './step.js';

/** A record as read, with the problem that kept it from being decoded. */
export interface ReadRecord<T> {
  value?: T | undefined;
  problem?: string | undefined;
}

/** The desired record of a node; its mod revision is the generation a status describes. */
export interface DesiredRead extends ReadRecord<NodeMembership> {
  modRevision: number;
}

/** The change in flight per service (operations/<service>), with the mod revision it was read at. */
export type OperationsInFlight = Partial<Record<Service, { op: MembershipOperation; modRevision: number }>>;

/** A member list of a service. Throws when the service cannot be seen. */
export interface MemberLister<T> {
  /** `fresh` asks the service again; otherwise a list shared by reconciles close together may do */
  list(fresh: boolean): Promise<T[]>;
  /** looks an id up in a list this lister returned, without a scan (keyed lists) */
  find?: (members: T[], id: string) => T | undefined;
}

/** What the decisions read of Chainfire itself. */
export interface ChainfireReader {
  /** throws when Chainfire cannot be seen */
  members(fresh: boolean): Promise<ChainfireMember[]>;
  /** member id → its /health answered; unknown counts as unhealthy */
  health(members: ChainfireMember[]): Promise<Record<string, boolean>>;
  leaderId(): Promise<string | undefined>;
}

/** What a reconcile reads: the records (as the reader's caches hold them) and the services. */
export interface ReadPort {
  now(): Date;
  log: Logger;
  desired(node: string): DesiredRead | undefined;
  /** the node's status as last written (by this controller or another) */
  status(node: string): StatusBody | undefined;
  agent(node: string): ReadRecord<AgentReport> | undefined;
  /** every decodable desired record: where voters are and who waits for a seat */
  desiredRecords(): Iterable<NodeMembership>;
  /** other Present records that claim one of this node's raft addresses */
  addressConflicts(node: string): string[];
  operations(): OperationsInFlight;
  policy(): MembershipPolicy;
  /** why cluster/config cannot be read, if it cannot: then no membership change is made (fail closed) */
  policyProblem(): string | undefined;
  /** the last quorum-loss recovery (cluster/recovery), if any: the members it dropped join again */
  recovery?(): RecoverySummary | undefined;
  /** the planned disruptions held now (disruptions/) */
  disruptions?(): HeldDisruption[];
  /** the cluster's initial IAM setup is recorded as done */
  iamBootstrapped(): boolean;
  /** why the last try of the initial IAM setup failed, while it is not done */
  iamSetupProblem?(): string | undefined;
  chainfire: ChainfireReader;
  /** undefined: the controller has no FlareDB configured */
  flaredb?: MemberLister<FlareDBMember> | undefined;
  /** undefined: the controller has no IAM configured */
  iam?: MemberLister<IamNodeRegistration> | undefined;
}

/**
 * What a reconcile changes. Every write is fenced to the writer's term, and
 * the compare-and-swaps fail with a MembershipError CONFLICT when the record
 * changed since it was read.
 */
export interface WritePort {
  /** who writes: the startedBy of a recorded change */
  identity: string;
  term: number;
  /** throws MembershipError NOT_LEADER once the term has ended */
  assertLeader(): void;
  /** records operations/<service> if it still has `expectedModRevision` (0: absent); returns the new mod revision */
  putOperation(service: Service, op: MembershipOperation, expectedModRevision: number): Promise<number>;
  /** deletes operations/<service> only while it still has `modRevision` */
  deleteOperation(service: Service, modRevision: number): Promise<void>;
  /** writes status/<node> only while desired/<node> still has `generation` */
  putStatus(node: string, status: StatusBody, generation: number): Promise<void>;
  /**
   * Carries out one action through the service's driver. A promote etcd
   * refuses because the learner is behind comes back as PromoteRefused; a
   * refusal for now throws BUSY; a failure UNAVAILABLE or SERVICE_ERROR; a
   * Chainfire change held back for want of a snapshot SNAPSHOT_FAILED.
   * `operation` is the change record the action belongs to (recorded just before it).
   */
  act(node: string, action: NodeAction, operation?: MembershipOperation): Promise<PromoteRefused | undefined>;
  /** crash tests: the named point of the reconcile is reached */
  failpoint(name: string): void;
  /** a membership action was carried out: the cluster-wide view is out of date */
  onMembershipChange?: (service: Service) => void;
  /**
   * Appends to the node's event history (events/<node>), fenced to the term.
   * Never throws and need not be awaited: a lost event must not stop a reconcile.
   */
  recordEvents?: (node: string, events: EventDraft[], generation: number) => void;
}

export interface ReconcilePorts {
  read: ReadPort;
  write: WritePort;
  /** every decision the reconcile makes, for tracing: the first, the one after its action, the one after a failed action */
  onDecision?: (node: string, decision: NodeDecision, when: 'first' | 'after-action' | 'after-failure') => void;
}
