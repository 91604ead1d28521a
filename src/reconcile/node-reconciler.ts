import type { RecordCache } from '../cache/record-cache.js';
import type { ChainfireDriver } from '../drivers/chainfire.js';
import type { Leadership } from '../election/leader-election.js';
import { MembershipError, errorMessage, isMembershipError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AgentReport } from '../schema/agent-report.js';
import type { NodeMembership } from '../schema/node-membership.js';
import { API_VERSION } from '../schema/common.js';
import type { NodeMembershipStatus, StatusBody } from '../schema/status.js';
import type { KeyLayout } from '../store/keys.js';
import { canonicalJson, encodeRecord, type StoredRecord } from '../store/records.js';
import type { ChainfireObservation, PromoteRefused } from './chainfire-step.js';
import { decideNode, invalidSpecStatus, type NodeAction, type NodeDecision } from './decide.js';

export interface ReconcileResult {
  requeueAfterMs?: number;
}

export interface NodeReconcilerDeps {
  keys: KeyLayout;
  desired: RecordCache<StoredRecord<NodeMembership>>;
  statuses: RecordCache<StoredRecord<NodeMembershipStatus>>;
  agents: RecordCache<StoredRecord<AgentReport>>;
  chainfire: ChainfireDriver;
  log: Logger;
  now?: () => Date;
  onStatusWrite?: (node: string, status: StatusBody) => void;
}

/**
 * Carries out, for one node, what decideNode says: observe, decide, perform at
 * most one action, decide again on what is then observed, and write the
 * status only if it changed. All writes are fenced to the given leadership.
 */
export class NodeReconciler {
  private readonly deps: NodeReconcilerDeps;
  /** What this leader last wrote per node; cleared when a new term starts. */
  private written = new Map<string, { term: number; status: StatusBody }>();

  constructor(deps: NodeReconcilerDeps) {
    this.deps = deps;
  }

  forget(node: string): void {
    this.written.delete(node);
  }

  async reconcile(node: string, leadership: Leadership): Promise<ReconcileResult> {
    const { keys, log } = this.deps;
    const now = this.deps.now?.() ?? new Date();
    const desired = this.deps.desired.get(keys.desired(node));
    if (desired === undefined) return {}; // a deleted desired record never removes a member
    const previous = this.previousStatus(node, leadership.term);

    if (desired.value === undefined) {
      const status = invalidSpecStatus(desired.problem ?? 'invalid record', desired.modRevision, previous, now);
      await this.writeStatus(node, status, leadership);
      return {};
    }

    const agentRec = this.deps.agents.get(keys.agent(node));
    if (agentRec?.problem !== undefined) log.warn({ node, problem: agentRec.problem }, 'ignoring unreadable agent report');
    const base = {
      node,
      desired: desired.value,
      ...(previous ? { previous } : {}),
      ...(agentRec?.value ? { agent: agentRec.value } : {}),
      now,
    };

    let decision = decideNode({ ...base, chainfire: await this.observeChainfire(false) });
    if (decision.action !== undefined) {
      this.assertLeader(leadership);
      let refused: PromoteRefused | undefined;
      try {
        refused = await this.act(node, decision.action);
      } catch (err) {
        if (!isMembershipError(err, 'UNAVAILABLE')) throw err;
        // Say why nothing moves, then let the work queue back off.
        const failed = decideNode({ ...base, chainfire: await this.observeChainfire(true), actionFailed: errorMessage(err) });
        await this.writeStatus(node, failed.status, leadership);
        throw err;
      }
      decision = decideNode({
        ...base,
        chainfire: await this.observeChainfire(true),
        ...(refused ? { promoteRefused: refused } : {}),
      });
    }
    await this.writeStatus(node, decision.status, leadership);
    return decision.requeueAfterMs !== undefined ? { requeueAfterMs: decision.requeueAfterMs } : {};
  }

  private async act(node: string, action: NodeAction): Promise<PromoteRefused | undefined> {
    const { chainfire, log } = this.deps;
    switch (action.kind) {
      case 'addLearner':
        log.info({ node, service: 'chainfire', peerUrl: action.peerUrl }, 'adding learner');
        await chainfire.addLearner(action.peerUrl);
        return undefined;
      case 'promote': {
        const outcome = await chainfire.promote(action.memberId);
        if (outcome.promoted) {
          log.info({ node, service: 'chainfire', memberId: action.memberId }, 'promoted learner to voter');
          return undefined;
        }
        log.debug({ node, memberId: action.memberId, detail: outcome.detail }, 'learner not yet in sync');
        return { memberId: action.memberId, detail: outcome.detail };
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

  private previousStatus(node: string, term: number): StatusBody | undefined {
    const mine = this.written.get(node);
    if (mine !== undefined && mine.term === term) return mine.status;
    return this.deps.statuses.get(this.deps.keys.status(node))?.value?.status;
  }

  private assertLeader(leadership: Leadership): void {
    if (!leadership.isLeader()) {
      throw new MembershipError('NOT_LEADER', `term ${leadership.term} has ended; not acting`);
    }
  }

  /** Writes the status only when it differs from the last one (the controller stamp aside). */
  private async writeStatus(node: string, status: NodeDecision['status'], leadership: Leadership): Promise<void> {
    const canonical = canonicalJson(status);
    const previous = this.previousStatus(node, leadership.term);
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
    await leadership.writer.put(this.deps.keys.status(node), encodeRecord(record));
    this.written.set(node, { term: leadership.term, status: body });
    this.deps.onStatusWrite?.(node, body);
    this.deps.log.info(
      { node, phase: body.phase, conditions: body.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`).join(' ') },
      'status updated',
    );
  }
}
