/**
 * The membership controller as the model test runs it: the one reconcile of
 * the controller (reconcileNode, src/reconcile/reconcile-node.ts) on ports
 * that read and change the model world instead of etcd, FlareDB and IAM. The
 * ports also check, at every record write and every action, what the design
 * forbids. The only state kept between reconciles is what the real
 * controller persists (status and operations records), so a crash loses
 * nothing the model keeps.
 */
import { pino } from 'pino';
import { MembershipError, isMembershipError } from '../../src/errors.js';
import { addressConflicts } from '../../src/reconcile/conflicts.js';
import type { PromoteRefused } from '../../src/reconcile/chainfire-step.js';
import type { ReadPort, WritePort } from '../../src/reconcile/ports.js';
import { planNode, reconcileNode } from '../../src/reconcile/reconcile-node.js';
import type { NodeAction } from '../../src/reconcile/step.js';
import type { Service } from '../../src/schema/agent-report.js';
import type { MembershipOperation } from '../../src/schema/operation.js';
import type { StatusBody } from '../../src/schema/status.js';
import type { NodeDecision } from '../../src/reconcile/decide.js';
import { canonicalJson } from '../../src/store/records.js';
import type { Prng } from './prng.js';
import { ModelViolation, desiredOf, readyReason, type ModelNode, type OperationRecords, type World } from './world.js';

/** Where a reconcile can be cut short: the controller's failpoints, and a service call that fails. */
export type MidReconcileFault = 'crashBeforeAction' | 'crashAfterAction' | 'actionFails' | 'actionLandsButFails';
export const MID_RECONCILE_FAULTS: readonly MidReconcileFault[] = ['crashBeforeAction', 'crashAfterAction', 'actionFails', 'actionLandsButFails'];

export interface ControllerStats {
  reconciles: number;
  statusWrites: number;
  /** actions carried out (or tried), by service:kind */
  actions: Map<string, number>;
  /** changes whose recording the compare-and-swap refused (another change was recorded first) */
  refusedStarts: number;
  promoteRefusals: number;
  /** member adds etcd refused for now (BUSY: unhealthy cluster) */
  busyRefusals: number;
  failedActions: number;
  crashes: number;
  /** how often each Ready/ChainfireMember reason was decided (failed actions' decisions aside) */
  reasons: Map<string, number>;
  /** how often each phase was decided (failed actions' decisions aside) */
  phases: Map<string, number>;
}

export function newStats(): ControllerStats {
  return {
    reconciles: 0,
    statusWrites: 0,
    actions: new Map(),
    refusedStarts: 0,
    promoteRefusals: 0,
    busyRefusals: 0,
    failedActions: 0,
    crashes: 0,
    reasons: new Map(),
    phases: new Map(),
  };
}

export interface ReconcileEffect {
  acted: boolean;
  wroteStatus: boolean;
  operationsChanged: boolean;
  /**
   * The reconcile got as far as deciding the node's status and writing it if
   * it changed: it ran to its end, or its action failed and the failure was
   * said in the status. Not after a crash, or a compare-and-swap that lost.
   */
  statusDecided: boolean;
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

/** The controller process dies at a failpoint. */
class Crash extends Error {}

const SILENT = pino({ level: 'silent' });

/** What one reconcile did, for the trace and the stats. */
interface Reconcile {
  node: ModelNode;
  fault: MidReconcileFault | undefined;
  /** operations/ as this reconcile's cache shows it */
  view: OperationRecords;
  /** that view was behind the world when the reconcile started */
  stale: boolean;
  effect: ReconcileEffect;
  /** the action was carried out and failed (said in the status before the error is rethrown) */
  actionFailed: boolean;
  notes: string[];
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

  /** One reconcile of one node, through the controller's own reconcileNode. */
  async reconcile(name: string, fault?: MidReconcileFault): Promise<ReconcileEffect> {
    const r: Reconcile = {
      node: this.world.node(name),
      fault,
      view: undefined as unknown as OperationRecords,
      stale: false,
      effect: { acted: false, wroteStatus: false, operationsChanged: false, statusDecided: false },
      actionFailed: false,
      notes: [],
    };
    r.view = this.operationsView();
    r.stale = r.view !== this.world.operations;
    this.stats.reconciles += 1;
    const head = `${name}(${r.node.state})`;
    const stale = r.stale ? ' [stale operations cache]' : '';
    try {
      await reconcileNode(name, { read: this.reader(r.view), write: this.writer(r), onDecision: (_node, d, when) => this.decided(r, d, when) });
    } catch (err) {
      if (err instanceof Crash) {
        this.log(`${head} ${r.notes.join(' ')}: ${err.message}`);
        this.crash();
        return r.effect;
      }
      if (!isMembershipError(err)) throw err;
      // The work queue looks again later: a compare-and-swap that lost, or a call that failed.
      if (err.code !== 'CONFLICT') this.stats.failedActions += 1;
      r.effect.statusDecided = r.actionFailed;
      this.log(`${head} ${r.notes.join(' ')} FAILED (${err.code}: ${err.message}) -> ${r.node.status?.phase ?? '-'}/${readyReason(r.node.status)}${stale}`);
      return r.effect;
    }
    r.effect.statusDecided = true;
    const { acted, wroteStatus, operationsChanged } = r.effect;
    if (acted || wroteStatus || operationsChanged) {
      this.log(`${head} ${r.notes.join(' ') || '-'} -> ${r.node.status?.phase ?? '-'}/${readyReason(r.node.status)}${stale}`);
    }
    return r.effect;
  }

  /** Whether the node's decision, made afresh, would change nothing: no action, no record, no status write. */
  async idleProblem(name: string): Promise<string | undefined> {
    const n = this.world.node(name);
    const plan = await planNode(name, this.reader(this.world.operations));
    if (plan.kind !== 'valid') return `${name} has no valid desired record`;
    const d = plan.decision;
    if (d.action !== undefined) return `${name} still decides ${d.action.service}:${actionLabel(d.action)}`;
    if (d.operations !== undefined) return `${name} still changes operations: ${JSON.stringify(d.operations)}`;
    if (canonicalJson(d.status) !== canonicalJson(withoutStamp(n.status))) return `${name}'s status would still change`;
    return undefined;
  }

  /** The read port: the world's records and services, operations/ as `view` shows it. */
  private reader(view: OperationRecords): ReadPort {
    const w = this.world;
    const down = (service: Service, error: string) => {
      if (w.down[service]) throw new MembershipError('UNAVAILABLE', error);
    };
    return {
      now: () => new Date(w.nowMs),
      log: SILENT,
      desired: (node) => {
        const n = w.nodes.find((x) => x.name === node);
        return n && { value: desiredOf(n), modRevision: n.generation };
      },
      // Stored records are deep-frozen, so they are handed over as they are: a decision that mutated one would throw.
      status: (node) => w.node(node).status,
      agent: (node) => {
        const n = w.node(node);
        return n.agent ? { value: w.agentReport(n) } : undefined;
      },
      desiredRecords: () => w.nodes.map(desiredOf),
      addressConflicts: (node) => addressConflicts(node, w.nodes.map(desiredOf)),
      operations: () => view,
      policy: () => ({ ...w.policy }),
      policyProblem: () => undefined,
      iamBootstrapped: () => w.iamBootstrapped,
      chainfire: {
        members: async () => (down('chainfire', 'etcdserver: request timed out'), w.observeMembers()),
        health: async () => w.health(),
        leaderId: async () => w.leaderId,
      },
      flaredb: { list: async () => (down('flaredb', 'HTTP 503'), w.flaredb.map((m) => ({ ...m }))) },
      iam: { list: async () => (down('iam', 'HTTP 503'), w.iam.map((m) => ({ ...m }))) },
    };
  }

  /** The write port of one reconcile: records, statuses and actions on the world, each checked against the design. */
  private writer(r: Reconcile): WritePort {
    return {
      identity: 'model-controller',
      term: this.term,
      assertLeader: () => undefined,
      putOperation: async (service, op, expected) => this.putOperation(r, service, op, expected),
      deleteOperation: async (service, modRevision) => this.deleteOperation(r, service, modRevision),
      putStatus: async (node, status, generation) => this.putStatus(r, node, status, generation),
      act: async (_node, action) => this.act(r, action),
      failpoint: (name) => {
        if (r.fault === 'crashBeforeAction' && name.startsWith('before-')) throw new Crash('controller crashes before the call');
        if (r.fault === 'crashAfterAction' && name.startsWith('after-') && name !== 'after-operation-recorded') {
          throw new Crash('controller crashes after the call');
        }
      },
    };
  }

  /** The compare-and-swap of operations/<service>; with an up-to-date view, asking to record over another change is a bug. */
  private putOperation(r: Reconcile, service: Service, op: MembershipOperation, expected: number): number {
    const w = this.world;
    const name = r.node.name;
    if (w.policy.paused) throw new ModelViolation('S4', `${name}: recorded a ${service} ${op.change} while membership changes are paused`);
    const actual = w.operations[service];
    if (expected !== (actual?.modRevision ?? 0)) {
      const holder = actual === undefined ? 'nothing (it was deleted)' : `${actual.op.node}'s ${actual.op.change}`;
      if (!r.stale) throw new ModelViolation('S2', `${name}: asked to record a ${service} ${op.change} over ${holder}`);
      this.stats.refusedStarts += 1;
      r.notes.push(`(recording ${service}/${op.change} refused: operations/${service} holds ${holder}; its cache was behind)`);
      throw new MembershipError('CONFLICT', `operations/${service} changed since it was read`);
    }
    const modRevision = w.putOperation(service, op);
    r.effect.operationsChanged = true;
    r.notes.push(`+${service}/${op.change}`);
    return modRevision;
  }

  /** A delete of operations/<service> that lands only while the record has the revision this reconcile wrote or read. */
  private deleteOperation(r: Reconcile, service: Service, modRevision: number): void {
    const actual = this.world.operations[service];
    if (actual === undefined || actual.modRevision !== modRevision) {
      r.notes.push(`(-${service} refused: changed since read)`);
      throw new MembershipError('CONFLICT', `operations/${service} changed since it was read`);
    }
    if (actual.op.node !== r.node.name) {
      throw new ModelViolation(
        'S2',
        `${r.node.name} ended operations/${service}, deleting ${actual.op.node}'s ${actual.op.change} recorded at revision ${actual.modRevision}: ` +
          `its cache still showed its own, finished change`,
      );
    }
    this.world.deleteOperation(service);
    r.effect.operationsChanged = true;
    r.notes.push(`-${service}`);
  }

  private putStatus(r: Reconcile, node: string, status: StatusBody, generation: number): void {
    const n = this.world.node(node);
    if (generation !== n.generation) throw new ModelViolation('S5', `${node}: status written for generation ${generation}, the record has ${n.generation}`);
    n.status = deepFreeze(structuredClone(status));
    this.stats.statusWrites += 1;
    r.effect.wroteStatus = true;
  }

  /**
   * Every decision: (4) none holds an action while paused; the first one's action is counted as decided (it may
   * not be carried out: a crash, a refused record); reasons are counted except those of a failed action's
   * decision (ServiceUnavailable there comes from the injected failure, not from a service that is down).
   */
  private decided(r: Reconcile, d: NodeDecision, when: 'first' | 'after-action' | 'after-failure'): void {
    if (d.action !== undefined && this.world.policy.paused) {
      throw new ModelViolation('S4', `${r.node.name}: decided ${d.action.service}:${d.action.kind} while membership changes are paused`);
    }
    if (when === 'first' && d.action !== undefined) {
      const label = `${d.action.service}:${d.action.kind}`;
      this.stats.actions.set(label, (this.stats.actions.get(label) ?? 0) + 1);
    }
    if (when !== 'after-failure') this.countReasons(d.status);
  }

  private countReasons(status: Pick<StatusBody, 'conditions' | 'phase'>): void {
    this.stats.phases.set(status.phase, (this.stats.phases.get(status.phase) ?? 0) + 1);
    for (const c of status.conditions) {
      if (c.type === 'Ready' || c.type === 'ChainfireMember') this.stats.reasons.set(c.reason, (this.stats.reasons.get(c.reason) ?? 0) + 1);
    }
  }

  /** The action, checked against the one-change-at-a-time rules, then carried out as the service would. */
  private act(r: Reconcile, action: NodeAction): PromoteRefused | undefined {
    const w = this.world;
    const { name } = r.node;
    r.effect.acted = true;
    r.notes.push(actionLabel(action));
    // (4) nothing changes while paused
    if (w.policy.paused) throw new ModelViolation('S4', `${name}: ${action.service}:${action.kind} while membership changes are paused`);
    this.checkSerialized(r, action);
    const fail = (code: 'UNAVAILABLE' | 'BUSY', message: string): never => {
      r.actionFailed = true;
      throw new MembershipError(code, message);
    };
    if (r.fault === 'actionFails') fail('UNAVAILABLE', 'deadline exceeded');
    const outcome = w.apply(r.node, action);
    if (outcome.kind === 'failed') fail('UNAVAILABLE', outcome.error);
    if (outcome.kind === 'busy') {
      // What the driver throws for etcd's "unhealthy cluster": a refusal for now.
      this.stats.busyRefusals += 1;
      r.notes.push('(refused for now: unhealthy cluster)');
      fail('BUSY', outcome.error);
    }
    if (r.fault === 'actionLandsButFails' && outcome.kind === 'done') fail('UNAVAILABLE', 'deadline exceeded (the change landed)');
    if (outcome.kind === 'done') return undefined;
    if (outcome.kind !== 'promoteRefused') throw new Error(`unexpected outcome ${outcome.kind}`);
    this.stats.promoteRefusals += 1;
    r.notes.push('(refused: not in sync)');
    return outcome.refused;
  }

  /**
   * (2) one Raft membership change per service: the action runs under this node's own record, and no other
   * node's learner is joining. IAM registrations change no quorum and are not serialized.
   */
  private checkSerialized(r: Reconcile, action: NodeAction): void {
    if (action.service === 'iam') return;
    const w = this.world;
    const { name } = r.node;
    const label = `${action.service}:${action.kind}`;
    const holder = w.operations[action.service];
    if (holder !== undefined && holder.op.node !== name) {
      throw new ModelViolation('S2', `${name}: ${label} while operations/${action.service} holds ${holder.op.node}'s ${holder.op.change}`);
    }
    if (holder === undefined) {
      const seen = r.view[action.service];
      const staleOwn = seen !== undefined && seen.op.node === name;
      throw new ModelViolation(
        'S2',
        `${name}: ${label} with nothing recorded in operations/${action.service}` +
          (staleOwn ? ` (its cache still showed its own ${seen.op.change} from revision ${seen.modRevision}, deleted since)` : ''),
        staleOwn ? 'acted-on-stale-own-record' : undefined,
      );
    }
    if (action.service === 'chainfire') {
      const learner = w.learners().find((l) => l.node !== name);
      if (learner !== undefined) throw new ModelViolation('S2', `${name}: ${label} while ${learner.node}'s learner ${learner.id} is joining`);
    }
  }

  private operationsView(): OperationRecords {
    const history = this.world.operationsHistory;
    const latest = history.length - 1;
    if (this.workerLag > 0) return history[latest - this.rng.int(0, Math.min(this.workerLag, latest))] ?? this.world.operations;
    if (this.cacheAt === undefined) return this.world.operations;
    return history[this.cacheAt] ?? this.world.operations;
  }
}

function withoutStamp(status: StatusBody | undefined): Omit<StatusBody, 'controller'> | undefined {
  if (status === undefined) return undefined;
  const { controller: _stamp, ...rest } = status;
  return rest;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
