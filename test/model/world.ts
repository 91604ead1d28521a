/**
 * The world the membership controller acts on, reduced to what its decisions
 * depend on: an etcd (Chainfire) cluster with etcd's own membership rules, a
 * FlareDB member list, IAM registrations, the records in Chainfire the
 * controller and operators write (desired, status, agents, operations,
 * cluster/config) and a clock. Test-only: the controller model drives it and
 * it refuses, or reports as a violation, what real services or the design
 * would not allow.
 */
import { SERVICES, type AgentReport, type Service } from '../../src/schema/agent-report.js';
import { API_VERSION } from '../../src/schema/common.js';
import type { NodeMembership } from '../../src/schema/node-membership.js';
import type { MembershipOperation, MembershipPolicy } from '../../src/schema/operation.js';
import type { StatusBody } from '../../src/schema/status.js';
import type { ChainfireMember, FlareDBMember, IamNodeRegistration } from '../../src/schema/members.js';
import type { PromoteRefused } from '../../src/reconcile/chainfire-step.js';
import type { NodeAction } from '../../src/reconcile/step.js';
import type { Prng } from './prng.js';

export { SERVICES };

/**
 * The rules the model checks; every violation names the one it broke.
 * S: safety, checked at every record write and action; H: health in status,
 * checked after every step; L: liveness, checked once the faults stopped.
 */
export const RULES = {
  S1: 'a voter is removed only for an Absent node or when it is unhealthy (dead, or of a wiped node), only if the healthy voters left make a quorum, a healthy one never below minVoters, never while it leads Raft; a voter is always left',
  S2: 'one membership change at a time per service: recorded by compare-and-swap, acted on under its own record, never while another node\'s learner joins',
  S3: 'at most one learner; a learner of a Present node is rolled back only after learnerStartTimeoutSeconds',
  S4: 'nothing is changed while paused',
  S5: 'actions follow the record: join actions for a Present node, removals for an Absent one (but S1 and S3); IAM registrations after the initial setup; a status for the record\'s generation',
  S6: 'nothing is removed for a node that has been Absent for less than removalGraceSeconds (a Present -> Absent -> Present flip removes nothing)',
  H1: 'no status says Ready with ChainfireMember=True for a member that is gone, unhealthy or of an earlier incarnation of its node, after a reconcile of that node at least healthIntervalSeconds later',
  L1: 'once the faults stop: every Present node with an agent (and every bootstrap node) is Ready, a healthy Chainfire voter of its current incarnation or VoterLimitReached, FlareDB and IAM member; every voter is healthy; every Absent node is Removed and in no service',
  L2: 'once the faults stop: the cluster becomes quiet within MAX_QUIET_ROUNDS rounds, no operations record and no learner is left, and deciding again changes nothing',
} as const;
export type Rule = keyof typeof RULES;

/** A broken safety or liveness property; the schedule stops and reports its seed, the rule and the trace. */
export class ModelViolation extends Error {
  override name = 'ModelViolation';
  readonly rule: Rule;
  /** set when the violation comes from a diagnosed known issue (recognised by its cause) */
  readonly knownIssue: KnownIssue | undefined;

  constructor(rule: Rule, message: string, knownIssue?: KnownIssue) {
    super(`[${rule}] ${message}${knownIssue === undefined ? '' : ` [known issue ${knownIssue}]`}`);
    this.rule = rule;
    this.knownIssue = knownIssue;
  }
}

/**
 * Defects of the code under test that this model found and whose cause is
 * diagnosed precisely: each is recognised where it is detected by that cause,
 * not by seed. A default run ends such a schedule, counts it and lists its
 * seed rather than failing; a strict run (MODEL_STRICT=1) fails on it.
 *
 * learner-timeout-from-record: a learner is rolled back as "not started within
 *   learnerStartTimeoutSeconds" right after it was added, because the timeout
 *   counts from operations/chainfire's startedAt, and that record was written by
 *   an earlier attempt (an addLearner that failed, or a crash before the call).
 * acted-on-stale-own-record: an action is taken with no record in
 *   operations/<service>, because the reconcile's (stalled) watch cache still
 *   showed the node's own record for that change, which was already deleted,
 *   and a change that is the node's own is carried out without any compare.
 */
export type KnownIssue = 'learner-timeout-from-record' | 'acted-on-stale-own-record';

/** Raft quorum, written out here rather than imported so that the model checks the code's arithmetic independently. */
export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

export interface ModelNode {
  name: string;
  ip: string;
  datacenter: string;
  rack: string;
  /** spec.bootstrap of the desired record */
  bootstrap: boolean;
  /** which service blocks the desired record has */
  wants: Record<Service, boolean>;
  state: 'Present' | 'Absent';
  /** metadata.generation: the desired key's mod revision */
  generation: number;
  /** agents/<node> exists (the lease of the node's first-boot agent is alive) */
  agent: boolean;
  /** the node's agent has reported at least once (the node has booted) */
  agentSeen: boolean;
  /** what the agent reports about the node's local FlareDB */
  flaredbHealthy: boolean;
  /** the node's etcd does not start (until repaired): a learner added for it never starts */
  etcdBroken: boolean;
  /**
   * The node's local Chainfire data: the member its etcd was started as in
   * this incarnation of the node. Undefined: no data (its etcd never started
   * as a member, or the data was wiped or reset since).
   */
  data?: { memberId: string };
  /** when the node's data last changed: the agent report's checkedAt */
  dataCheckedAtMs: number;
  /**
   * The node's member was removed while its etcd ran: etcd stopped for good
   * ("the member has been permanently removed") and the node starts nothing
   * until its data is reset (world rule removedStaysDown).
   */
  etcdRemoved: boolean;
  /** when the record was last set Absent */
  absentSinceMs?: number;
  /** status/<node> as last written by the controller (deep-frozen) */
  status?: StatusBody;
}

export interface EtcdMember {
  id: string;
  /** the node whose peer URL this is (the model's bookkeeping; etcd knows only the URL) */
  node: string;
  peerUrl: string;
  /** empty until the member's etcd has started, as etcd's member list shows it */
  name: string;
  isLearner: boolean;
  /** answers its /health endpoint (voters; a learner is healthy once started) */
  healthy: boolean;
  addedAtMs: number;
  /** when the learner's etcd starts (later if its node's etcd is broken then) */
  startAtMs: number;
  /** how long after starting the learner has caught up with the leader's log */
  catchUpMs: number;
  /** startedAt of this node's operations/chainfire record when the learner was added */
  recordedAtMs?: number;
  /** stopped answering for good (fault voterDies): it recovers only when repaired after the faults stop */
  dead?: boolean;
  /** its node's data was wiped: its etcd, started again with this id on empty data, panics; it never recovers until removed */
  wiped?: boolean;
}

/** etcd's own rules that the model enforces only when asked to (ScheduleOptions.day2). */
export interface WorldRules {
  /**
   * etcd refuses a member add ("etcdserver: unhealthy cluster") while its
   * leader is not connected to every voter, i.e. while a voter is unhealthy
   * and for etcd's health interval after one comes back.
   */
  busyWhenUnhealthy: boolean;
  /** a member removed while its etcd runs stops that etcd for good, until its node's data is reset */
  removedStaysDown: boolean;
}

/** etcd's HealthInterval: a peer must have been connected this long for a member add to be taken. */
export const ETCD_HEALTH_INTERVAL_MS = 5000;

export interface OperationRecord {
  op: MembershipOperation;
  modRevision: number;
}
export type OperationRecords = Partial<Record<Service, OperationRecord>>;

export type ActionOutcome =
  | { kind: 'done' }
  | { kind: 'failed'; error: string }
  /** refused for now (etcd's "unhealthy cluster"): the driver throws BUSY */
  | { kind: 'busy'; error: string }
  | { kind: 'promoteRefused'; refused: PromoteRefused };

export const T0_MS = Date.parse('2026-11-24T10:00:00Z');

export function peerUrlOf(n: ModelNode): string {
  return `https://${n.ip}:2380`;
}

export function desiredOf(n: ModelNode): NodeMembership {
  const spec: NodeMembership['spec'] = {
    role: n.wants.chainfire ? 'control-plane' : 'worker',
    bootstrap: n.bootstrap,
    state: n.state,
    nodeIp: n.ip,
    fqdn: `${n.name}.model.example.com`,
    datacenter: n.datacenter,
    rack: n.rack,
  };
  if (n.wants.chainfire) spec.chainfire = { raftAddr: `${n.ip}:2380`, clientUrl: `https://${n.ip}:2379` };
  if (n.wants.flaredb) spec.flaredb = { raftAddr: `${n.ip}:2480`, apiUrl: `https://${n.ip}:2479` };
  if (n.wants.iam) spec.iam = {};
  return {
    apiVersion: API_VERSION,
    kind: 'NodeMembership',
    metadata: { name: n.name, labels: {}, annotations: {}, generation: n.generation },
    spec,
  };
}

/**
 * What the node's agent publishes. `etcdDown`: the node's etcd is not running
 * (it panicked on wiped data, or its member was removed).
 */
export function agentReportOf(n: ModelNode, etcdDown = false): AgentReport {
  return {
    apiVersion: API_VERSION,
    kind: 'AgentReport',
    metadata: { name: n.name },
    report: {
      agentVersion: '0.1.0',
      pid: 1000,
      hostname: `${n.name}.model.example.com`,
      startedAt: '2026-11-24T09:59:00Z',
      mode: n.bootstrap ? 'bootstrap' : 'join',
      waitingFor: 'chainfire',
      services: {
        chainfire: { healthy: !etcdDown, checkedAt: '2026-11-24T09:59:30Z', ...(etcdDown ? { detail: 'connection refused' } : {}) },
        flaredb: { healthy: n.flaredbHealthy, checkedAt: '2026-11-24T09:59:40Z', ...(n.flaredbHealthy ? {} : { detail: 'connection refused' }) },
      },
      data: {
        chainfire: {
          present: n.data !== undefined,
          ...(n.data !== undefined ? { memberId: n.data.memberId } : {}),
          checkedAt: new Date(n.dataCheckedAtMs).toISOString(),
        },
      },
    },
  };
}

export class World {
  nowMs = T0_MS;
  /** etcd-like revision: bumped by every record write, so generations and mod revisions only grow */
  revision = 100;
  readonly nodes: ModelNode[] = [];
  members: EtcdMember[] = [];
  leaderId: string | undefined;
  flaredb: FlareDBMember[] = [];
  iam: IamNodeRegistration[] = [];
  iamBootstrapped = false;
  operations: OperationRecords = {};
  /** every state operations/ has been in, oldest first: what a lagging watch may still show */
  readonly operationsHistory: OperationRecords[] = [this.operations];
  policy: MembershipPolicy;
  /** services whose APIs fail (listing and changes alike) */
  readonly down: Record<Service, boolean> = { chainfire: false, flaredb: false, iam: false };
  /** how long a newly added learner's etcd takes to start */
  learnerStartDelayMs: (node: ModelNode) => number;
  /** etcd's day-two rules, each on only when the schedule asks for it */
  rules: WorldRules = { busyWhenUnhealthy: false, removedStaysDown: false };
  /** when a voter last came back: etcd refuses member adds for its health interval after (busyWhenUnhealthy) */
  peerReconnectedAtMs = Number.NEGATIVE_INFINITY;
  private nextMemberId = 0x1a0;
  private readonly rng: Prng;

  constructor(rng: Prng, policy: MembershipPolicy) {
    this.rng = rng;
    this.policy = policy;
    this.learnerStartDelayMs = () => 1000;
  }

  node(name: string): ModelNode {
    const n = this.nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(`no node ${name} in the model`);
    return n;
  }

  bumpRevision(): number {
    this.revision += 1;
    return this.revision;
  }

  newMemberId(): string {
    this.nextMemberId += 0x11;
    return this.nextMemberId.toString(16);
  }

  voters(): EtcdMember[] {
    return this.members.filter((m) => !m.isLearner);
  }

  learners(): EtcdMember[] {
    return this.members.filter((m) => m.isLearner);
  }

  isHealthy(m: EtcdMember): boolean {
    return m.healthy && m.name !== '';
  }

  memberOf(n: ModelNode): EtcdMember | undefined {
    const url = peerUrlOf(n);
    return this.members.find((m) => m.peerUrl === url);
  }

  /** What the node's agent reports now: its etcd is down when it panicked on wiped data or its member was removed. */
  agentReport(n: ModelNode): AgentReport {
    return agentReportOf(n, n.etcdRemoved || this.memberOf(n)?.wiped === true);
  }

  /** The node's data changes (its etcd started as a member, or the data was wiped or reset). */
  setData(n: ModelNode, memberId: string | undefined): void {
    if (memberId === undefined) delete n.data;
    else n.data = { memberId };
    n.dataCheckedAtMs = this.nowMs;
  }

  /** `first-boot-agent reset chainfire`, or a reprovisioning: the node's data is gone and its etcd may start afresh. */
  resetData(n: ModelNode): void {
    this.setData(n, undefined);
    n.etcdRemoved = false;
  }

  /** A voter answers again (not one of a wiped node: that one panics until removed). */
  recover(m: EtcdMember): boolean {
    if (m.wiped === true) return false;
    m.healthy = true;
    delete m.dead;
    this.peerReconnectedAtMs = this.nowMs;
    return true;
  }

  /** etcd's member list as the Cluster API returns it. */
  observeMembers(): ChainfireMember[] {
    return this.members.map((m) => ({ id: m.id, name: m.name, peerUrls: [m.peerUrl], clientUrls: m.name === '' ? [] : [m.peerUrl.replace(/:2380$/, ':2379')], isLearner: m.isLearner }));
  }

  /** Each member's /health answer. */
  health(): Record<string, boolean> {
    return Object.fromEntries(this.members.map((m) => [m.id, this.isHealthy(m)]));
  }

  /**
   * Raft keeps a healthy leader; when the leader fails, the healthy voters
   * elect another, but only while they make a majority of the voters.
   */
  elect(): void {
    const voters = this.voters();
    const current = voters.find((v) => v.id === this.leaderId);
    if (current !== undefined && this.isHealthy(current)) return;
    const healthy = voters.filter((v) => this.isHealthy(v));
    this.leaderId = healthy.length >= majority(voters.length) && healthy.length > 0 ? this.rng.pick(healthy).id : undefined;
  }

  /**
   * Time passes: learners whose etcd was due start, and are healthy from then
   * on; the node's data is then that member's. A node whose etcd is broken, or
   * was stopped for good by a removal, starts nothing.
   */
  tick(): void {
    for (const m of this.members) {
      if (m.name !== '' || this.nowMs < m.startAtMs) continue;
      const n = this.node(m.node);
      if (n.etcdBroken || n.etcdRemoved) continue;
      m.name = m.node;
      m.healthy = true;
      m.startAtMs = this.nowMs; // catching up counts from when it really started
      this.setData(n, m.id);
    }
  }

  putOperation(service: Service, op: MembershipOperation): number {
    const modRevision = this.bumpRevision();
    this.operations = { ...this.operations, [service]: { op, modRevision } };
    this.operationsHistory.push(this.operations);
    return modRevision;
  }

  deleteOperation(service: Service): void {
    const { [service]: _gone, ...rest } = this.operations;
    this.operations = rest;
    this.operationsHistory.push(this.operations);
  }

  /**
   * Carries out an action the way the service would, for node `by`. What the
   * service would refuse comes back as a failure; what the design forbids
   * (and the real service might allow) throws a ModelViolation.
   */
  apply(by: ModelNode, action: NodeAction): ActionOutcome {
    const unavailable = (what: string): ActionOutcome => ({ kind: 'failed', error: `${what}: service unavailable` });
    const forbid = (rule: Rule, why: string): never => {
      throw new ModelViolation(rule, `${by.name} (${by.state}): ${action.service}:${action.kind}: ${why}`);
    };
    const withinGrace = (what: string): void => {
      const grace = this.policy.removalGraceSeconds;
      if (by.state !== 'Absent' || by.absentSinceMs === undefined || grace <= 0) return;
      const absentFor = (this.nowMs - by.absentSinceMs) / 1000;
      if (absentFor < grace) forbid('S6', `${what} ${absentFor}s after the record was set Absent, within removalGraceSeconds (${grace}s)`);
    };
    switch (action.kind) {
      case 'addLearner': {
        if (by.state !== 'Present') forbid('S5', 'a join action for an Absent node');
        const other = this.learners().find((l) => l.peerUrl !== action.peerUrl);
        // etcd 3.4 and later keep at most one learner; the controller must never ask for a second.
        if (other !== undefined) forbid('S3', `a second learner while ${other.id} (${other.node}) is one`);
        if (this.down.chainfire || this.leaderId === undefined) return unavailable('add learner');
        const busy = this.refusesAdd();
        if (busy !== undefined) return { kind: 'busy', error: `etcd refuses to add learner ${action.peerUrl} for now: etcdserver: unhealthy cluster (${busy})` };
        if (this.members.some((m) => m.peerUrl === action.peerUrl)) return { kind: 'done' }; // the driver treats "already a member" as done
        const m: EtcdMember = {
          id: this.newMemberId(),
          node: by.name,
          peerUrl: action.peerUrl,
          name: '',
          isLearner: true,
          healthy: false,
          addedAtMs: this.nowMs,
          startAtMs: this.nowMs + this.learnerStartDelayMs(by),
          catchUpMs: this.rng.int(0, 60) * 1000,
        };
        const record = this.operations.chainfire?.op;
        if (record?.node === by.name) m.recordedAtMs = Date.parse(record.startedAt);
        this.members.push(m);
        return { kind: 'done' };
      }
      case 'promote': {
        const m = this.members.find((x) => x.id === action.memberId);
        if (m === undefined) return { kind: 'failed', error: 'etcdserver: member not found' };
        if (!m.isLearner) return { kind: 'done' }; // the driver treats "not a learner" as already promoted
        if (by.state !== 'Present') forbid('S5', 'promoted the learner of an Absent node');
        if (this.down.chainfire || this.leaderId === undefined) return unavailable('promote');
        if (m.name === '' || this.nowMs < m.startAtMs + m.catchUpMs) {
          return { kind: 'promoteRefused', refused: { memberId: m.id, detail: 'etcdserver: can only promote a learner member which is in sync with leader' } };
        }
        m.isLearner = false;
        return { kind: 'done' };
      }
      case 'removeMember': {
        const m = this.members.find((x) => x.id === action.memberId);
        if (m === undefined) return { kind: 'done' }; // "member not found": a retried remove
        withinGrace(`removed ${m.isLearner ? 'learner' : 'voter'} ${m.id}`);
        if (this.down.chainfire || this.leaderId === undefined) return unavailable('remove member');
        if (m.isLearner) {
          if (by.state === 'Present') {
            // Only the rollback of a learner whose etcd never started removes a Present node's learner.
            if (m.name !== '') forbid('S3', `removed learner ${m.id}, whose etcd has started`);
            const age = (this.nowMs - m.addedAtMs) / 1000;
            if (age <= this.policy.learnerStartTimeoutSeconds) {
              const why = `${by.name}: rolled back learner ${m.id} ${age}s after adding it, before learnerStartTimeoutSeconds (${this.policy.learnerStartTimeoutSeconds}s)`;
              const early = m.recordedAtMs === undefined ? 0 : (m.addedAtMs - m.recordedAtMs) / 1000;
              if (early <= 0) forbid('S3', why);
              throw new ModelViolation('S3', `${why}; its join was recorded ${early}s before the learner was added`, 'learner-timeout-from-record');
            }
          }
        } else {
          // A Present node's voter is removed only when it is dead or of a wiped node (it does not answer); the
          // floor keeps healthy voters, not dead ones; the healthy voters left must make a quorum either way.
          const healthy = this.isHealthy(m);
          if (by.state !== 'Absent' && healthy) forbid('S1', `removed voter ${m.id} of a Present node, which is healthy`);
          const after = this.voters().filter((v) => v.id !== m.id);
          const healthyAfter = after.filter((v) => this.isHealthy(v)).length;
          if (healthy && after.length < this.policy.minVoters) forbid('S1', `left ${after.length} voters, below minVoters ${this.policy.minVoters}`);
          if (healthyAfter < majority(after.length)) forbid('S1', `left ${healthyAfter} healthy of ${after.length} voters: no quorum`);
          if (this.leaderId === m.id) forbid('S1', `removed the Raft leader ${m.id} without moving leadership first`);
        }
        this.members = this.members.filter((x) => x.id !== m.id);
        this.removed(m);
        if (!m.isLearner) this.elect();
        return { kind: 'done' };
      }
      case 'moveLeader': {
        const from = this.members.find((x) => x.id === action.fromMemberId);
        if (from === undefined) return { kind: 'done' }; // gone already
        if (by.state !== 'Absent') forbid('S5', 'moved leadership away from a Present node');
        if (this.down.chainfire) return unavailable('move leader');
        if (this.leaderId !== from.id) return { kind: 'failed', error: 'etcdserver: not leader' };
        const to = this.members.find((x) => x.id === action.toMemberId);
        if (to === undefined || to.isLearner || !this.isHealthy(to)) return { kind: 'failed', error: 'etcdserver: bad leader transferee' };
        this.leaderId = to.id;
        return { kind: 'done' };
      }
      case 'addMember': {
        if (by.state !== 'Present') forbid('S5', 'a join action for an Absent node');
        if (this.down.flaredb) return unavailable('FlareDB add');
        if (!this.flaredb.some((m) => m.id === action.id)) this.flaredb.push({ id: action.id, raftAddr: action.raftAddr });
        return { kind: 'done' }; // 409 (already a member) counts as done
      }
      case 'removeFlareDBMember': {
        if (by.state !== 'Absent') forbid('S5', 'removed a Present node from FlareDB');
        if (this.flaredb.some((m) => m.id === action.id)) withinGrace('removed it from FlareDB');
        if (this.down.flaredb) return unavailable('FlareDB remove');
        this.flaredb = this.flaredb.filter((m) => m.id !== action.id);
        return { kind: 'done' };
      }
      case 'registerNode': {
        if (by.state !== 'Present') forbid('S5', 'a join action for an Absent node');
        if (!this.iamBootstrapped) forbid('S5', 'registered a node before the initial IAM setup');
        if (this.down.iam) return unavailable('IAM register');
        this.iam = [...this.iam.filter((r) => r.id !== action.registration.id), action.registration];
        return { kind: 'done' };
      }
      case 'deregisterNode': {
        if (by.state !== 'Absent') forbid('S5', 'deregistered a Present node from IAM');
        if (this.iam.some((r) => r.id === action.id)) withinGrace('deregistered it from IAM');
        if (this.down.iam) return unavailable('IAM deregister');
        this.iam = this.iam.filter((r) => r.id !== action.id);
        return { kind: 'done' };
      }
    }
  }

  /**
   * Why etcd refuses a member add now, if it does (busyWhenUnhealthy): its
   * leader must have been connected to every voter for its health interval.
   */
  private refusesAdd(): string | undefined {
    if (!this.rules.busyWhenUnhealthy) return undefined;
    const sick = this.voters().filter((v) => !this.isHealthy(v));
    if (sick.length > 0) return `voter ${sick.map((v) => v.id).join(', ')} not connected`;
    const since = this.nowMs - this.peerReconnectedAtMs;
    if (since < ETCD_HEALTH_INTERVAL_MS) return `a voter reconnected ${since / 1000}s ago`;
    return undefined;
  }

  /**
   * A member is gone: if its etcd ran on its node's data, that etcd stops for
   * good (removedStaysDown) and the node starts nothing until its data is
   * reset; without that rule the node may start afresh, as if reset. A wiped
   * node's data is empty already; a learner that never started left none.
   */
  private removed(m: EtcdMember): void {
    const n = this.node(m.node);
    if (m.name === '' || m.wiped === true || n.data?.memberId !== m.id) return;
    if (this.rules.removedStaysDown) n.etcdRemoved = true;
    else this.resetData(n);
  }

  /**
   * H1: what is wrong with the node's status, if it says Ready with
   * ChainfireMember=True: its member is gone, does not answer, or is not the
   * member the node's etcd data belongs to (an earlier incarnation).
   */
  readyButUnwell(n: ModelNode): { memberId: string; why: string } | undefined {
    const s = n.status;
    if (s?.phase !== 'Ready') return undefined;
    if (s.conditions.find((c) => c.type === 'ChainfireMember')?.status !== 'True') return undefined;
    const id = s.chainfire.memberId;
    if (id === undefined) return undefined;
    const m = this.members.find((x) => x.id === id);
    if (m === undefined) return { memberId: id, why: `member ${id} is no longer listed` };
    if (m.wiped === true) return { memberId: id, why: `member ${id} is of an earlier incarnation: ${n.name}'s data was wiped, and its etcd, started as ${id}, panics` };
    if (!this.isHealthy(m)) return { memberId: id, why: `member ${id} does not answer /health${m.dead === true ? ' (dead)' : ''}` };
    if (n.data?.memberId !== id) {
      return { memberId: id, why: `member ${id} is of an earlier incarnation: ${n.name}'s etcd data is ${n.data === undefined ? 'empty' : `member ${n.data.memberId}'s`}` };
    }
    return undefined;
  }

  /** Invariants of the world itself, checked after every step. */
  check(): void {
    const learners = this.learners();
    if (learners.length > 1) throw new ModelViolation('S3', `${learners.length} learners: ${learners.map((l) => `${l.id}(${l.node})`).join(', ')}`);
    if (this.voters().length === 0) throw new ModelViolation('S1', 'no voter left');
    for (const svc of SERVICES) {
      const rec = this.operations[svc];
      if (rec !== undefined && rec.op.service !== svc) throw new ModelViolation('S2', `operations/${svc} holds a ${rec.op.service} change`);
    }
  }

  describe(): string {
    const state = (m: EtcdMember): string => {
      if (m.isLearner) return m.name === '' ? '(learner,not started)' : '(learner)';
      if (m.wiped === true) return '(wiped: panics)';
      if (m.dead === true) return '(dead)';
      return m.healthy ? '' : '(unhealthy)';
    };
    const members = this.members.map((m) => `${m.id}:${m.node}${state(m)}${m.id === this.leaderId ? '*' : ''}`).join(' ');
    const ops = SERVICES.filter((s) => this.operations[s] !== undefined)
      .map((s) => `${s}:${this.operations[s]!.op.node}/${this.operations[s]!.op.change}`)
      .join(' ');
    const etcd = (n: ModelNode): string =>
      `${n.etcdBroken ? ',etcd broken' : ''}${n.etcdRemoved ? ',etcd removed' : ''}${n.wants.chainfire ? `,data ${n.data?.memberId ?? 'none'}` : ''}`;
    const nodes = this.nodes
      .map((n) => `${n.name}[${n.state}${n.bootstrap ? ',bootstrap' : ''}${n.agent ? ',agent' : ''}${etcd(n)} ${n.status?.phase ?? '-'}/${readyReason(n.status)}]`)
      .join(' ');
    const p = this.policy;
    return [
      `chainfire: ${members}`,
      `flaredb: ${this.flaredb.map((m) => m.id).join(' ')}`,
      `iam: ${this.iam.map((r) => r.id).join(' ')}${this.iamBootstrapped ? '' : ' (setup not done)'}`,
      `operations: ${ops || '-'}`,
      `policy: paused=${p.paused} minVoters=${p.minVoters} maxVoters=${p.maxVoters} learnerStart=${p.learnerStartTimeoutSeconds}s catchUp=${p.learnerCatchUpTimeoutSeconds}s ` +
        `removalGrace=${p.removalGraceSeconds}s healthInterval=${p.healthIntervalSeconds}s`,
      `nodes: ${nodes}`,
    ].join('\n');
  }
}

export function readyReason(status: Pick<StatusBody, 'conditions'> | undefined): string {
  return status?.conditions.find((c) => c.type === 'Ready')?.reason ?? '-';
}
