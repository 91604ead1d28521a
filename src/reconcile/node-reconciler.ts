import type { RecordCache } from '../cache/record-cache.js';
import type { ChainfireDriver } from '../drivers/chainfire.js';
import { ListCache } from '../drivers/list-cache.js';
import type { FlareDBDriver, FlareDBMember, IAMDriver, IamNodeRegistration } from '../drivers/types.js';
import type { Leadership } from '../election/leader-election.js';
import { MembershipError, errorMessage, isMembershipError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AgentReport } from '../schema/agent-report.js';
import type { NodeMembership } from '../schema/node-membership.js';
import { API_VERSION } from '../schema/common.js';
import type { NodeMembershipStatus, StatusBody } from '../schema/status.js';
import type { KeyLayout } from '../store/keys.js';
import { canonicalJson, encodeRecord, type StoredRecord } from '../store/records.js';
import type { ChainfireMember, ChainfireObservation, PromoteRefused, VoterPlacement } from './chainfire-step.js';
import { decideNode, invalidSpecStatus, type NodeAction, type NodeDecision, type NodeInputs } from './decide.js';
import type { Observation } from './step.js';
import type { Service } from '../schema/agent-report.js';
import type { MembershipOperation, MembershipPolicy } from '../schema/operation.js';
import type { OperationChange } from './decide.js';
import { failpoint } from '../failpoints.js';

/** How soon a node whose decision still holds an action is looked at again. */
export const NEXT_ACTION_MS = 200;

/** How soon a change a service refused for now (BUSY) is tried again. */
export const BUSY_RETRY_MS = 1000;

/** How long a listing of IAM's registrations is reused. */
export const IAM_LIST_MAX_AGE_MS = 2000;

export type OperationsInFlight = Partial<Record<Service, { op: MembershipOperation; modRevision: number }>>;

export interface ReconcileResult {
  requeueAfterMs?: number;
  /** services the node could not see: it waits for them to answer again (ServiceRecovery) */
  waitingFor?: Service[];
}

export interface NodeReconcilerDeps {
  keys: KeyLayout;
  desired: RecordCache<StoredRecord<NodeMembership>>;
  statuses: RecordCache<StoredRecord<NodeMembershipStatus>>;
  agents: RecordCache<StoredRecord<AgentReport>>;
  chainfire: ChainfireDriver;
  flaredb?: FlareDBDriver;
  iam?: IAMDriver;
  /** the cluster's initial IAM setup is recorded as done */
  iamBootstrapped: () => boolean;
  /** the changes in flight (operations/<service>) with their mod revisions */
  operations: () => OperationsInFlight;
  policy: () => MembershipPolicy;
  /** other Present records that claim one of this node's raft addresses */
  addressConflicts: (node: string) => string[];
  /** voters' places and the nodes waiting to join Chainfire (optional: without it, first come first served) */
  placement?: (members: ChainfireMember[]) => VoterPlacement;
  log: Logger;
  now?: () => Date;
  onStatusWrite?: (node: string, status: StatusBody) => void;
  /** a membership action was carried out (the cluster-wide view is now out of date) */
  onMembershipChange?: (service: Service) => void;
}

/**
 * Carries out, for one node, what decideNode says: observe, decide, perform at
 * most one action, decide again on what is then observed, and write the
 * status only if it changed. All writes are fenced to the given leadership.
 */
export class NodeReconciler {
  private readonly deps: NodeReconcilerDeps;
  private readonly flaredbMembers: ListCache<FlareDBMember> | undefined;
  private readonly iamNodes: ListCache<IamNodeRegistration> | undefined;

  constructor(deps: NodeReconcilerDeps) {
    this.deps = deps;
    const { flaredb, iam } = deps;
    if (flaredb) this.flaredbMembers = new ListCache((signal) => flaredb.listMembers(signal));
    // IAM's list only tells which registrations to (re)make, each idempotent, and
    // the controller's own registrations are applied to it in place: it may be
    // older than FlareDB's, and a mass join does not list 10,000 nodes 4 times a second.
    if (iam) this.iamNodes = new ListCache((signal) => iam.listNodes(signal), IAM_LIST_MAX_AGE_MS, (n) => n.id);
  }

  async reconcile(node: string, leadership: Leadership): Promise<ReconcileResult> {
    const { keys, log } = this.deps;
    const now = this.deps.now?.() ?? new Date();
    const desired = this.deps.desired.get(keys.desired(node));
    if (desired === undefined) return {}; // a deleted desired record never removes a member
    const previous = this.previousStatus(node);

    if (desired.value === undefined) {
      const status = invalidSpecStatus(desired.problem ?? 'invalid record', desired.modRevision, previous, now);
      await this.writeStatus(node, status, leadership, desired.modRevision);
      return {};
    }

    const agentRec = this.deps.agents.get(keys.agent(node));
    if (agentRec?.problem !== undefined) log.warn({ node, problem: agentRec.problem }, 'ignoring unreadable agent report');
    const spec = desired.value.spec;
    const signal = leadership.signal;
    // What this reconcile itself records or ends, on top of what the watch has delivered so far.
    const inFlight: OperationsInFlight = { ...this.deps.operations() };
    // After its own registration the list is updated in place: no full list of IAM per join.
    let iamUpdatedLocally = false;
    const observe = async (fresh: boolean): Promise<NodeInputs> => {
      const chainfire = spec.chainfire ? await this.observeChainfire(fresh) : { members: [] };
      const removingChainfire = spec.state === 'Absent' && spec.chainfire !== undefined && 'members' in chainfire;
      const conflicts = this.deps.addressConflicts(node);
      return {
        node,
        desired: desired.value!,
        ...(previous ? { previous } : {}),
        ...(agentRec?.value ? { agent: agentRec.value } : {}),
        now,
        chainfire,
        // Health and leadership matter only for taking a voter out.
        ...(removingChainfire ? { chainfireHealth: await this.deps.chainfire.health(chainfire.members) } : {}),
        ...(removingChainfire ? await leaderOf(this.deps.chainfire) : {}),
        ...(this.deps.placement && spec.chainfire && 'members' in chainfire && spec.state === 'Present' ? { placement: this.deps.placement(chainfire.members) } : {}),
        ...(spec.flaredb ? { flaredb: await observeList(this.flaredbMembers, fresh, signal) } : {}),
        ...(spec.iam ? { iam: await observeList(this.iamNodes, fresh && !iamUpdatedLocally, signal) } : {}),
        iamBootstrapped: this.deps.iamBootstrapped(),
        operations: Object.fromEntries(Object.entries(inFlight).map(([svc, v]) => [svc, v!.op])),
        policy: this.deps.policy(),
        ...(conflicts.length > 0 ? { addressConflicts: conflicts } : {}),
      };
    };

    let seen = await observe(false);
    let decision = decideNode(seen);
    const changes: OperationChange[] = [...(decision.operations ?? [])];
    if (decision.action !== undefined) {
      this.assertLeader(leadership);
      const action = decision.action;
      for (const change of changes.filter((c) => c.start)) {
        await this.startOperation(node, change, inFlight, leadership);
        failpoint('after-operation-recorded');
      }
      let refused: PromoteRefused | undefined;
      try {
        failpoint(`before-${action.kind}`);
        refused = await this.act(node, action, signal);
        iamUpdatedLocally = action.kind === 'registerNode';
        this.deps.onMembershipChange?.(action.service);
        failpoint(`after-${action.kind}`);
      } catch (err) {
        const busy = isMembershipError(err, 'BUSY');
        if (!busy && !isMembershipError(err, 'UNAVAILABLE') && !isMembershipError(err, 'SERVICE_ERROR')) throw err;
        // Say why nothing moves, then let the work queue back off.
        const failed = decideNode({ ...(await observe(true)), actionFailed: errorMessage(err), failedService: action.service });
        await this.writeStatus(node, failed.status, leadership, desired.modRevision);
        // A refusal for now is looked at again at a steady pace: backing off would
        // grow past the few seconds etcd refuses for (5 ms doubling: 20 s after 12 tries).
        if (busy) {
          log.info({ node, service: action.service, err: errorMessage(err) }, `refused for now; trying again in ${BUSY_RETRY_MS / 1000} s`);
          return { requeueAfterMs: BUSY_RETRY_MS };
        }
        throw err;
      }
      for (const change of changes.filter((c) => c.finish)) await this.finishOperation(change.service, inFlight, leadership);
      seen = await observe(true);
      decision = decideNode({ ...seen, ...(refused ? { promoteRefused: refused } : {}) });
      changes.splice(0, changes.length, ...(decision.action === undefined ? (decision.operations ?? []) : []));
    }
    for (const change of changes.filter((c) => c.finish && !c.start)) await this.finishOperation(change.service, inFlight, leadership);
    await this.writeStatus(node, decision.status, leadership, desired.modRevision);
    const waitingFor = unseen(seen);
    // Waiting for another node's change that ended meanwhile (its end was seen
    // before this status said the node waits, so nothing else would wake it): look again now.
    const current = this.deps.operations();
    const ended = decision.status.conditions.some((c) => c.reason === 'WaitingForOtherChange') &&
      Object.entries(inFlight).some(([svc, v]) => v!.op.node !== node && current[svc as Service]?.modRevision !== v!.modRevision);
    // An action still to be made (this reconcile made its one already, or a read after it did not show
    // it yet: a member list from a member that has not applied the change) is made soon, not at the resync.
    const requeueAfterMs = ended ? 0 : decision.action !== undefined ? Math.min(decision.requeueAfterMs ?? NEXT_ACTION_MS, NEXT_ACTION_MS) : decision.requeueAfterMs;
    return {
      ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}),
      ...(waitingFor.length > 0 ? { waitingFor } : {}),
    };
  }

  /** Asks a service for its members afresh (filling the shared list): the probe of ServiceRecovery. */
  async probe(service: Service, signal?: AbortSignal): Promise<void> {
    if (service === 'chainfire') await this.deps.chainfire.listMembers(true);
    else if (service === 'flaredb') await this.flaredbMembers?.get(true, signal);
    else await this.iamNodes?.get(true, signal);
  }

  /** Records the change before it starts: a compare-and-swap, so two workers cannot both start one. */
  private async startOperation(node: string, change: OperationChange, inFlight: OperationsInFlight, leadership: Leadership): Promise<void> {
    const current = inFlight[change.service];
    const keepStart = !change.fresh && current?.op.node === node && current.op.change === change.start;
    const op: MembershipOperation = {
      apiVersion: API_VERSION,
      kind: 'MembershipOperation',
      service: change.service,
      node,
      change: change.start!,
      startedAt: keepStart ? current!.op.startedAt : new Date().toISOString(),
      startedBy: `${leadership.identity} (term ${leadership.term})`,
    };
    const key = this.deps.keys.operation(change.service);
    const modRevision = await leadership.writer.putIfUnchanged(key, encodeRecord(op), current?.modRevision ?? 0);
    inFlight[change.service] = { op, modRevision };
    if (!keepStart) this.deps.log.info({ node, service: change.service, change: op.change }, 'membership change recorded');
  }

  /** Ends the change only if its record is still the one this controller wrote or read. */
  private async finishOperation(service: Service, inFlight: OperationsInFlight, leadership: Leadership): Promise<void> {
    const current = inFlight[service];
    if (current === undefined) return;
    await leadership.writer.deleteIfUnchanged(this.deps.keys.operation(service), current.modRevision);
    this.deps.log.info({ node: current.op.node, service, change: current.op.change }, 'membership change done');
    delete inFlight[service];
  }

  private async act(node: string, action: NodeAction, signal: AbortSignal): Promise<PromoteRefused | undefined> {
    const { chainfire, log } = this.deps;
    switch (action.kind) {
      case 'addMember': {
        this.flaredbMembers?.invalidate();
        const outcome = await this.deps.flaredb!.addMember(action.id, action.raftAddr, signal);
        this.flaredbMembers?.invalidate();
        log.info({ node, service: 'flaredb', raftAddr: action.raftAddr, outcome }, 'added FlareDB member');
        return undefined;
      }
      case 'registerNode':
        await this.deps.iam!.registerNode(action.registration, signal);
        this.iamNodes?.upsert(action.registration);
        log.info({ node, service: 'iam' }, 'registered node with IAM');
        return undefined;
      case 'addLearner':
        log.info({ node, service: 'chainfire', peerUrl: action.peerUrl }, 'adding learner');
        await chainfire.addLearner(action.peerUrl);
        return undefined;
      case 'removeFlareDBMember': {
        this.flaredbMembers?.invalidate();
        const outcome = await this.deps.flaredb!.removeMember(action.id, signal);
        this.flaredbMembers?.invalidate();
        log.info({ node, service: 'flaredb', outcome }, 'removed FlareDB member');
        return undefined;
      }
      case 'deregisterNode': {
        this.iamNodes?.invalidate();
        const outcome = await this.deps.iam!.deregisterNode(action.id, signal);
        this.iamNodes?.invalidate();
        log.info({ node, service: 'iam', outcome }, 'deregistered node from IAM');
        return undefined;
      }
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

  private async observeChainfire(fresh: boolean): Promise<ChainfireObservation> {
    try {
      return { members: await this.deps.chainfire.listMembers(fresh) };
    } catch (err) {
      return { unavailable: errorMessage(err) };
    }
  }

  /** Drops cached service lists, e.g. when a new term starts. */
  invalidateLists(): void {
    this.flaredbMembers?.invalidate();
    this.iamNodes?.invalidate();
    this.deps.chainfire.invalidate();
  }

  /** The node's status as last written, by this controller (taken into the cache at once) or another. */
  private previousStatus(node: string): StatusBody | undefined {
    return this.deps.statuses.get(this.deps.keys.status(node))?.value?.status;
  }

  private assertLeader(leadership: Leadership): void {
    if (!leadership.isLeader()) {
      throw new MembershipError('NOT_LEADER', `term ${leadership.term} has ended; not acting`);
    }
  }

  /** Writes the status only when it differs from the last one (the controller stamp aside). */
  /** `generation`: the desired record's mod revision this reconcile read; the write lands only while it is unchanged. */
  private async writeStatus(node: string, status: NodeDecision['status'], leadership: Leadership, generation: number): Promise<void> {
    const canonical = canonicalJson(status);
    const previous = this.previousStatus(node);
    if (previous !== undefined) {
      const { controller: _stamp, ...rest } = previous;
      if (canonicalJson(rest) === canonical) return;
    }
    const body: StatusBody = { ...status, controller: { identity: leadership.identity, term: leadership.term } };
    const record: NodeMembershipStatus = {
      apiVersion: API_VERSION,
      kind: 'NodeMembershipStatus',
      metadata: { name: node },
      status: body,
    };
    // Only while the desired record is the one this status describes: a status
    // must not reappear after `membershipctl delete` removed both.
    const desiredKey = this.deps.keys.desired(node);
    const key = this.deps.keys.status(node);
    const revision = await leadership.writer.putIfUnchangedGrouped(key, encodeRecord(record), generation, desiredKey);
    // Read-your-writes: the next reconcile compares with this status even before the watch delivers it.
    const createRevision = this.deps.statuses.get(key)?.createRevision ?? revision;
    this.deps.statuses.assume(key, { key, node, modRevision: revision, createRevision, value: record }, revision);
    this.deps.onStatusWrite?.(node, body);
    this.deps.log.info(
      { node, phase: body.phase, conditions: body.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`).join(' ') },
      'status updated',
    );
  }
}

/** The services whose observation failed. */
function unseen(inputs: NodeInputs): Service[] {
  const out: Service[] = [];
  if ('unavailable' in inputs.chainfire) out.push('chainfire');
  if (inputs.flaredb !== undefined && 'unavailable' in inputs.flaredb) out.push('flaredb');
  if (inputs.iam !== undefined && 'unavailable' in inputs.iam) out.push('iam');
  return out;
}

async function observeList<T>(cache: ListCache<T> | undefined, fresh: boolean, signal: AbortSignal): Promise<Observation<T>> {
  if (cache === undefined) return { notConfigured: true };
  try {
    const members = await cache.get(fresh, signal);
    return cache.keyed ? { members, find: (id) => cache.lookup(members, id) } : { members };
  } catch (err) {
    return { unavailable: errorMessage(err) };
  }
}

async function leaderOf(chainfire: ChainfireDriver): Promise<{ chainfireLeaderId?: string }> {
  const id = await chainfire.leaderId();
  return id === undefined ? {} : { chainfireLeaderId: id };
}
