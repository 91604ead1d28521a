/**
 * The membership controller's reconcile of one node, as NodeReconciler does
 * it, against the model world instead of etcd, FlareDB and IAM: observe,
 * decideNode, record the change (compare-and-swap), act, end the change,
 * decide again on what is then observed, write the status if it changed. The
 * only state kept between reconciles is what the real controller persists
 * (status and operations records), so a crash loses nothing the model keeps.
 */
import type { Service } from '../../schema/agent-report.js';
import { API_VERSION } from '../../schema/common.js';
import type { MembershipOperation } from '../../schema/operation.js';
import { canonicalJson } from '../../store/records.js';
import { decideNode, type NodeDecision, type NodeInputs, type OperationChange } from '../decide.js';
import type { NodeAction } from '../step.js';
import type { Prng } from './prng.js';
import {
  ModelViolation,
  SERVICES,
  agentReportOf,
  desiredOf,
  readyReason,
  type ActionOutcome,
  type ModelNode,
  type OperationRecords,
  type World,
} from './world.js';

/** Where a reconcile can be cut short: the failpoints of NodeReconciler, and a service call that fails. */
export type MidReconcileFault = 'crashBeforeAction' | 'crashAfterAction' | 'actionFails' | 'actionLandsButFails';
export const MID_RECONCILE_FAULTS: readonly MidReconcileFault[] = ['crashBeforeAction', 'crashAfterAction', 'actionFails', 'actionLandsButFails'];

export interface ControllerStats {
  reconciles: number;
  statusWrites: number;
  /** actions carried out (or tried), by service:kind */
  actions: Map<string, number>;
  /** decisions that asked to record a change the compare-and-swap refused (another change was recorded first) */
  refusedStarts: number;
  promoteRefusals: number;
  failedActions: number;
  crashes: number;
  /** how often each Ready/ChainfireMember reason was decided */
  reasons: Map<string, number>;
}

export function newStats(): ControllerStats {
  return { reconciles: 0, statusWrites: 0, actions: new Map(), refusedStarts: 0, promoteRefusals: 0, failedActions: 0, crashes: 0, reasons: new Map() };
}

export interface ReconcileEffect {
  acted: boolean;
  wroteStatus: boolean;
  operationsChanged: boolean;
}

export function actionLabel(a: NodeAction | undefined): string {
  if (a === undefined) return '-';
  switch (a.kind) {
    case 'promote':
    case 'removeMember':
      return `${a.kind} ${a.memberId}`;
    case 'moveLeader':
      return `moveLeader ${a.fromMemberId}->${a.toMemberId}`;
    default:
      return a.kind;
  }
}

export class ControllerModel {
  /** the leader's term; a crash hands over to a new leader */
  term = 1;
  /**
   * A stalled watch: the operations/ cache shows history up to this index
   * until the watch resumes and delivers the rest in order; undefined when
   * current. All reconciles share the one cache, as all workers of a leader do.
   */
  cacheAt: number | undefined;
  /**
   * Several workers: each reconcile may have read the cache up to this many
   * writes before the latest, independently of what other reconciles read
   * (a worker read it just before another worker's write reached it).
   */
  workerLag = 0;
  readonly stats: ControllerStats = newStats();
  private readonly world: World;
  private readonly rng: Prng;
  private readonly log: (line: string) => void;

  constructor(world: World, rng: Prng, log: (line: string) => void) {
    this.world = world;
    this.rng = rng;
    this.log = log;
  }

  /** The leader dies; another takes over with nothing but the stored records. */
  crash(): void {
    this.term += 1;
    // The new leader lists operations/ afresh.
    this.cacheAt = undefined;
    this.workerLag = 0;
    this.stats.crashes += 1;
  }

  /** The inputs NodeReconciler gathers for a node. */
  observe(n: ModelNode, inFlight: OperationRecords): NodeInputs {
    const w = this.world;
    const chainfire = w.down.chainfire ? { unavailable: 'etcdserver: request timed out' } : { members: w.observeMembers() };
    const inputs: NodeInputs = {
      node: n.name,
      desired: desiredOf(n),
      now: new Date(w.nowMs),
      chainfire,
      iamBootstrapped: w.iamBootstrapped,
      operations: Object.fromEntries(SERVICES.filter((s) => inFlight[s] !== undefined).map((s) => [s, inFlight[s]!.op])),
      policy: { ...w.policy },
    };
    // Stored records are deep-frozen, so they are handed over as they are: a decision that mutated one would throw.
    if (n.status !== undefined) inputs.previous = n.status;
    if (n.agent) inputs.agent = agentReportOf(n);
    // Health and leadership are looked up only to take a voter out, as the reconciler does.
    if (n.state === 'Absent' && n.wants.chainfire && 'members' in chainfire) {
      inputs.chainfireHealth = w.health();
      if (w.leaderId !== undefined) inputs.chainfireLeaderId = w.leaderId;
    }
    if (n.state === 'Present' && 'members' in chainfire) inputs.placement = w.placement();
    if (n.wants.flaredb) inputs.flaredb = w.down.flaredb ? { unavailable: 'HTTP 503' } : { members: w.flaredb.map((m) => ({ ...m })) };
    if (n.wants.iam) inputs.iam = w.down.iam ? { unavailable: 'HTTP 503' } : { members: w.iam.map((r) => ({ ...r })) };
    return inputs;
  }

  reconcile(name: string, fault?: MidReconcileFault): ReconcileEffect {
    const w = this.world;
    const n = w.node(name);
    const effect: ReconcileEffect = { acted: false, wroteStatus: false, operationsChanged: false };
    this.stats.reconciles += 1;
    const view = this.operationsView();
    const stale = view !== w.operations;
    const inFlight: OperationRecords = { ...view };
    let decision = decideNode(this.observe(n, inFlight));
    this.countReasons(decision);
    let changes: OperationChange[] = [...(decision.operations ?? [])];
    const notes: string[] = [];

    if (decision.action !== undefined) {
      const action = decision.action;
      effect.acted = true;
      const label = `${action.service}:${action.kind}`;
      this.stats.actions.set(label, (this.stats.actions.get(label) ?? 0) + 1);
      // (4) nothing changes while paused
      if (w.policy.paused) throw new ModelViolation(`${name}: decided ${label} while membership changes are paused`);
      for (const c of changes) {
        if (c.start === undefined) continue;
        const expected = inFlight[c.service]?.modRevision ?? 0;
        const actual = w.operations[c.service];
        if (expected !== (actual?.modRevision ?? 0)) {
          // The real compare-and-swap fails with CONFLICT and the work queue retries later.
          // With an up-to-date view the decision itself ignored the record: that is a bug.
          const holder = actual === undefined ? 'nothing (it was deleted)' : `${actual.op.node}'s ${actual.op.change}`;
          if (!stale) throw new ModelViolation(`${name}: asked to record a ${c.service} ${c.start} over ${holder}`);
          this.stats.refusedStarts += 1;
          this.log(`${name}(${n.state}) ${actionLabel(action)}: recording ${c.service}/${c.start} refused, operations/${c.service} holds ${holder} (its cache was behind)`);
          return effect;
        }
        // As NodeReconciler.startOperation: a re-recorded change of the node's own keeps its start time unless fresh.
        const current = inFlight[c.service];
        const keepStart = !c.fresh && current?.op.node === name && current.op.change === c.start;
        const op: MembershipOperation = {
          apiVersion: API_VERSION,
          kind: 'MembershipOperation',
          service: c.service,
          node: name,
          change: c.start,
          startedAt: keepStart ? current!.op.startedAt : new Date(w.nowMs).toISOString(),
          startedBy: `model-controller (term ${this.term})`,
        };
        const modRevision = w.putOperation(c.service, op);
        inFlight[c.service] = { op, modRevision };
        effect.operationsChanged = true;
        notes.push(`+${c.service}/${c.start}`);
      }
      if (fault === 'crashBeforeAction') {
        this.log(`${name}(${n.state}) ${actionLabel(action)} ${notes.join(' ')}: controller crashes before the call`);
        this.crash();
        return effect;
      }
      // (2) one Raft membership change per service: the action runs under this node's own record, and no other
      // node's learner is joining. IAM registrations change no quorum and are not serialized.
      const holder = w.operations[action.service];
      if (action.service !== 'iam' && holder !== undefined && holder.op.node !== name) {
        throw new ModelViolation(`${name}: ${label} while operations/${action.service} holds ${holder.op.node}'s ${holder.op.change}`);
      }
      if (holder === undefined && action.service !== 'iam') {
        const seen = inFlight[action.service];
        const staleOwn = seen !== undefined && seen.op.node === name && !Number.isNaN(seen.modRevision);
        throw new ModelViolation(
          `${name}: ${label} with nothing recorded in operations/${action.service}` +
            (staleOwn ? ` (its cache still showed its own ${seen.op.change} from revision ${seen.modRevision}, deleted since)` : ''),
          staleOwn ? 'acted-on-stale-own-record' : undefined,
        );
      }
      if (action.service === 'chainfire') {
        const learner = w.learners().find((l) => l.node !== name);
        if (learner !== undefined) throw new ModelViolation(`${name}: ${label} while ${learner.node}'s learner ${learner.id} is joining`);
      }
      let outcome: ActionOutcome;
      if (fault === 'actionFails') {
        outcome = { kind: 'failed', error: 'deadline exceeded' };
      } else {
        outcome = w.apply(n, action);
        if (fault === 'actionLandsButFails' && outcome.kind === 'done') outcome = { kind: 'failed', error: 'deadline exceeded (the change landed)' };
      }
      if (outcome.kind === 'failed') {
        this.stats.failedActions += 1;
        const failed = decideNode({ ...this.observe(n, inFlight), actionFailed: outcome.error, failedService: action.service });
        effect.wroteStatus = this.writeStatus(n, failed.status);
        this.log(`${name}(${n.state}) ${actionLabel(action)} ${notes.join(' ')} FAILED (${outcome.error}) -> ${failed.status.phase}/${readyReason(failed.status)}`);
        return effect;
      }
      if (outcome.kind === 'promoteRefused') {
        this.stats.promoteRefusals += 1;
        notes.push('(refused: not in sync)');
      }
      if (fault === 'crashAfterAction') {
        this.log(`${name}(${n.state}) ${actionLabel(action)} ${notes.join(' ')}: controller crashes after the call`);
        this.crash();
        return effect;
      }
      for (const c of changes) if (c.finish) effect.operationsChanged = this.finishOperation(n, c.service, inFlight, notes) || effect.operationsChanged;
      decision = decideNode({ ...this.observe(n, inFlight), ...(outcome.kind === 'promoteRefused' ? { promoteRefused: outcome.refused } : {}) });
      this.countReasons(decision);
      changes = decision.action === undefined ? [...(decision.operations ?? [])] : [];
      notes.unshift(actionLabel(action));
    }
    for (const c of changes) {
      if (c.finish && c.start === undefined) effect.operationsChanged = this.finishOperation(n, c.service, inFlight, notes) || effect.operationsChanged;
    }
    effect.wroteStatus = this.writeStatus(n, decision.status);
    if (effect.acted || effect.wroteStatus || effect.operationsChanged) {
      this.log(`${name}(${n.state}) ${notes.join(' ') || '-'} -> ${decision.status.phase}/${readyReason(n.status)}${stale ? ' [stale operations cache]' : ''}`);
    }
    return effect;
  }

  /** Whether the node's decision, made afresh, would change nothing: no action, no record, no status write. */
  idleProblem(name: string): string | undefined {
    const n = this.world.node(name);
    const d = decideNode(this.observe(n, { ...this.world.operations }));
    if (d.action !== undefined) return `${name} still decides ${d.action.service}:${actionLabel(d.action)}`;
    if (d.operations !== undefined) return `${name} still changes operations: ${JSON.stringify(d.operations)}`;
    if (canonicalJson(d.status) !== n.statusJson) return `${name}'s status would still change`;
    return undefined;
  }

  private operationsView(): OperationRecords {
    const history = this.world.operationsHistory;
    const latest = history.length - 1;
    if (this.workerLag > 0) return history[latest - this.rng.int(0, Math.min(this.workerLag, latest))] ?? this.world.operations;
    if (this.cacheAt === undefined) return this.world.operations;
    return history[this.cacheAt] ?? this.world.operations;
  }

  /**
   * NodeReconciler.finishOperation: a (fenced) delete of operations/<service>
   * that lands only while the record has the revision this controller wrote or
   * read; otherwise etcd refuses it (CONFLICT) and the work queue looks again.
   */
  private finishOperation(n: ModelNode, service: Service, inFlight: OperationRecords, notes: string[]): boolean {
    const mine = inFlight[service];
    if (mine === undefined) return false;
    delete inFlight[service];
    const actual = this.world.operations[service];
    if (actual === undefined) return false;
    if (actual.modRevision !== mine.modRevision) {
      notes.push(`(-${service} refused: changed since read)`);
      return false;
    }
    if (actual.op.node !== n.name) {
      throw new ModelViolation(
        `${n.name} ended operations/${service}, deleting ${actual.op.node}'s ${actual.op.change} recorded at revision ${actual.modRevision}: ` +
          `its cache still showed its own, finished change`,
      );
    }
    this.world.deleteOperation(service);
    notes.push(`-${service}`);
    return true;
  }

  private writeStatus(n: ModelNode, status: NodeDecision['status']): boolean {
    const canonical = canonicalJson(status);
    if (canonical === n.statusJson) return false;
    n.status = deepFreeze({ ...structuredClone(status), controller: { identity: 'model-controller', term: this.term } });
    n.statusJson = canonical;
    this.stats.statusWrites += 1;
    return true;
  }

  private countReasons(d: NodeDecision): void {
    for (const c of d.status.conditions) {
      if (c.type !== 'Ready' && c.type !== 'ChainfireMember') continue;
      this.stats.reasons.set(c.reason, (this.stats.reasons.get(c.reason) ?? 0) + 1);
    }
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
