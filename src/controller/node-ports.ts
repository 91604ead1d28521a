/**
 * The reconcile's ports on Chainfire and the real drivers: reads from the
 * controller's record caches and the services (member lists shared by
 * reconciles close together), writes fenced to the leader's term, actions
 * through the drivers.
 */
import type { EventRecorder } from './event-recorder.js';
import type { HeldDisruption } from '../schema/disruption.js';
import type { RecoverySummary } from '../schema/cluster.js';
import type { RecordCache } from '../cache/record-cache.js';
import { ListCache } from '../drivers/list-cache.js';
import type { ChainfireDriver, FlareDBDriver, IAMDriver } from '../drivers/types.js';
import type { Leadership } from '../election/leader-election.js';
import { MembershipError } from '../errors.js';
import { failpoint } from '../failpoints.js';
import type { Logger } from '../log.js';
import type { PromoteRefused } from '../reconcile/chainfire-step.js';
import type { OperationsInFlight, ReadPort, ReconcilePorts, WritePort } from '../reconcile/ports.js';
import type { NodeAction } from '../reconcile/step.js';
import type { AgentReport, Service } from '../schema/agent-report.js';
import { API_VERSION } from '../schema/common.js';
import type { FlareDBMember, IamNodeRegistration } from '../schema/members.js';
import type { NodeMembership } from '../schema/node-membership.js';
import type { MembershipOperation, MembershipPolicy } from '../schema/operation.js';
import type { NodeMembershipStatus, StatusBody } from '../schema/status.js';
import type { ChainfireChange } from '../snapshots/chainfire-snapshots.js';
import type { KeyLayout } from '../store/keys.js';
import { encodeRecord, type StoredRecord } from '../store/records.js';

/** How long a listing of IAM's registrations is reused. */
export const IAM_LIST_MAX_AGE_MS = 2000;

export interface NodePortsDeps {
  /** the nodes' event histories; none: no events are kept */
  events?: EventRecorder;
  keys: KeyLayout;
  desired: RecordCache<StoredRecord<NodeMembership>>;
  statuses: RecordCache<StoredRecord<NodeMembershipStatus>>;
  agents: RecordCache<StoredRecord<AgentReport>>;
  chainfire: ChainfireDriver;
  flaredb?: FlareDBDriver | undefined;
  iam?: IAMDriver | undefined;
  iamBootstrapped: () => boolean;
  iamSetupProblem?: () => string | undefined;
  operations: () => OperationsInFlight;
  policy: () => MembershipPolicy;
  policyProblem: () => string | undefined;
  recovery?: () => RecoverySummary | undefined;
  disruptions?: () => HeldDisruption[];
  addressConflicts: (node: string) => string[];
  /** a snapshot of Chainfire before each of its membership changes; throws SNAPSHOT_FAILED to hold the change back */
  snapshots?: { beforeChange(change: ChainfireChange): Promise<unknown>; changeMade(): void } | undefined;
  log: Logger;
  now?: () => Date;
}

export class ControllerNodePorts {
  private readonly deps: NodePortsDeps;
  private readonly flaredbMembers: ListCache<FlareDBMember> | undefined;
  private readonly iamNodes: ListCache<IamNodeRegistration> | undefined;

  constructor(deps: NodePortsDeps) {
    this.deps = deps;
    const { flaredb, iam } = deps;
    if (flaredb) this.flaredbMembers = new ListCache((signal) => flaredb.listMembers(signal));
    // IAM's list only tells which registrations to (re)make, each idempotent, and
    // the controller's own registrations are applied to it in place: it may be
    // older than FlareDB's, and a mass join does not list 10,000 nodes 4 times a second.
    if (iam) this.iamNodes = new ListCache((signal) => iam.listNodes(signal), IAM_LIST_MAX_AGE_MS, (n) => n.id);
  }

  /** The ports of one term: reads, and writes fenced to `leadership`. */
  forTerm(leadership: Leadership, onMembershipChange?: (service: Service) => void): ReconcilePorts {
    return { read: this.reader(leadership.signal), write: this.writer(leadership, onMembershipChange) };
  }

  /** Reads only. */
  reader(signal?: AbortSignal): ReadPort {
    const { deps, flaredbMembers, iamNodes } = this;
    const { keys } = deps;
    return {
      now: () => deps.now?.() ?? new Date(),
      log: deps.log,
      desired: (node) => deps.desired.get(keys.desired(node)),
      status: (node) => deps.statuses.get(keys.status(node))?.value?.status,
      agent: (node) => deps.agents.get(keys.agent(node)),
      desiredRecords: () => deps.desired.values().flatMap((r) => (r.value ? [r.value] : [])),
      addressConflicts: deps.addressConflicts,
      operations: deps.operations,
      policy: deps.policy,
      policyProblem: deps.policyProblem,
      ...(deps.recovery ? { recovery: deps.recovery } : {}),
      ...(deps.disruptions ? { disruptions: deps.disruptions } : {}),
      iamBootstrapped: deps.iamBootstrapped,
      ...(deps.iamSetupProblem ? { iamSetupProblem: deps.iamSetupProblem } : {}),
      chainfire: {
        members: (fresh) => deps.chainfire.listMembers(fresh),
        health: (members) => deps.chainfire.health(members),
        leaderId: () => deps.chainfire.leaderId(),
      },
      flaredb: flaredbMembers && { list: (fresh) => flaredbMembers.get(fresh, signal) },
      iam: iamNodes && { list: (fresh) => iamNodes.get(fresh, signal), find: (list, id) => iamNodes.lookup(list, id) },
    };
  }

  private writer(leadership: Leadership, onMembershipChange?: (service: Service) => void): WritePort {
    const { keys } = this.deps;
    return {
      identity: leadership.identity,
      term: leadership.term,
      assertLeader: () => {
        if (!leadership.isLeader()) throw new MembershipError('NOT_LEADER', `term ${leadership.term} has ended; not acting`);
      },
      putOperation: (service, op, expected) => leadership.writer.putIfUnchanged(keys.operation(service), encodeRecord(op), expected),
      deleteOperation: (service, modRevision) => leadership.writer.deleteIfUnchanged(keys.operation(service), modRevision),
      putStatus: (node, status, generation) => this.putStatus(node, status, generation, leadership),
      act: (node, action, operation) => this.act(node, action, leadership.signal, operation),
      recordEvents: (node, events, generation) => this.deps.events?.record(node, events, generation, leadership),
      failpoint,
      ...(onMembershipChange ? { onMembershipChange } : {}),
    };
  }

  /** Only while the desired record is the one this status describes: a status must not reappear after `membershipctl delete`. */
  private async putStatus(node: string, status: StatusBody, generation: number, leadership: Leadership): Promise<void> {
    const { keys, statuses } = this.deps;
    const record: NodeMembershipStatus = { apiVersion: API_VERSION, kind: 'NodeMembershipStatus', metadata: { name: node }, status };
    const key = keys.status(node);
    const revision = await leadership.writer.putIfUnchangedGrouped(key, encodeRecord(record), generation, keys.desired(node));
    // Read-your-writes: the next reconcile compares with this status even before the watch delivers it.
    const createRevision = statuses.get(key)?.createRevision ?? revision;
    statuses.assume(key, { key, node, modRevision: revision, createRevision, value: record }, revision);
  }

  private async act(node: string, action: NodeAction, signal: AbortSignal, operation?: MembershipOperation): Promise<PromoteRefused | undefined> {
    const { log } = this.deps;
    switch (action.kind) {
      case 'addMember': {
        const outcome = await invalidatingAround(this.flaredbMembers, () => this.deps.flaredb!.addMember(action.id, action.raftAddr, signal));
        log.info({ node, service: 'flaredb', raftAddr: action.raftAddr, outcome }, 'added FlareDB member');
        return undefined;
      }
      case 'removeFlareDBMember': {
        const outcome = await invalidatingAround(this.flaredbMembers, () => this.deps.flaredb!.removeMember(action.id, signal));
        log.info({ node, service: 'flaredb', outcome }, 'removed FlareDB member');
        return undefined;
      }
      case 'registerNode':
        await this.deps.iam!.registerNode(action.registration, signal);
        this.iamNodes?.upsert(action.registration);
        log.info({ node, service: 'iam' }, 'registered node with IAM');
        return undefined;
      case 'deregisterNode': {
        const outcome = await invalidatingAround(this.iamNodes, () => this.deps.iam!.deregisterNode(action.id, signal));
        log.info({ node, service: 'iam', outcome }, 'deregistered node from IAM');
        return undefined;
      }
      default:
        return this.actOnChainfire(node, action, operation);
    }
  }

  private async actOnChainfire(
    node: string,
    action: Extract<NodeAction, { service: 'chainfire' }>,
    operation: MembershipOperation | undefined,
  ): Promise<PromoteRefused | undefined> {
    const { snapshots } = this.deps;
    // Raft membership changes only (moving leadership is none): the change is made only once its snapshot is written.
    if (action.kind === 'moveLeader') return this.changeChainfire(node, action);
    await snapshots?.beforeChange({ node, kind: action.kind, operation });
    const refused = await this.changeChainfire(node, action);
    if (refused === undefined) snapshots?.changeMade();
    return refused;
  }

  private async changeChainfire(node: string, action: Extract<NodeAction, { service: 'chainfire' }>): Promise<PromoteRefused | undefined> {
    const { chainfire, log } = this.deps;
    switch (action.kind) {
      case 'addLearner':
        log.info({ node, service: 'chainfire', peerUrl: action.peerUrl }, 'adding learner');
        await chainfire.addLearner(action.peerUrl);
        return undefined;
      case 'removeMember':
        log.info({ node, service: 'chainfire', memberId: action.memberId }, 'removing Chainfire member');
        await chainfire.removeMember(action.memberId);
        return undefined;
      case 'moveLeader': {
        const from = (await chainfire.listMembers(true)).find((m) => m.id === action.fromMemberId);
        if (from === undefined) return undefined; // gone already
        log.info({ node, service: 'chainfire', from: action.fromMemberId, to: action.toMemberId }, 'moving Raft leadership');
        await chainfire.moveLeader(from, action.toMemberId);
        return undefined;
      }
      case 'promote': {
        const outcome = await chainfire.promote(action.memberId);
        if (outcome.promoted) {
          log.info({ node, service: 'chainfire', memberId: action.memberId }, 'promoted learner to voter');
          return undefined;
        }
        const learner = (await chainfire.listMembers()).find((m) => m.id === action.memberId);
        const lag = learner ? await chainfire.learnerLag(learner) : undefined;
        const detail = lag === undefined ? outcome.detail : `${lag} Raft entries behind; ${outcome.detail}`;
        log.debug({ node, memberId: action.memberId, lag, detail: outcome.detail }, 'learner not yet in sync');
        return { memberId: action.memberId, detail };
      }
    }
  }

  /** Asks a service for its members afresh (filling the shared list): the probe of ServiceRecovery. */
  async probe(service: Service, signal?: AbortSignal): Promise<void> {
    if (service === 'chainfire') await this.deps.chainfire.listMembers(true);
    else if (service === 'flaredb') await this.flaredbMembers?.get(true, signal);
    else await this.iamNodes?.get(true, signal);
  }

  /** Drops cached service lists, e.g. when a new term starts. */
  invalidateLists(): void {
    this.flaredbMembers?.invalidate();
    this.iamNodes?.invalidate();
    this.deps.chainfire.invalidate();
  }
}

/** A change of the service's members: its shared list is dropped before and after, whatever the outcome. */
async function invalidatingAround<T>(list: { invalidate(): void } | undefined, call: () => Promise<T>): Promise<T> {
  list?.invalidate();
  try {
    return await call();
  } finally {
    list?.invalidate();
  }
}
