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

/** A broken safety or liveness property; the schedule stops and reports its seed and trace. */
export class ModelViolation extends Error {
  override name = 'ModelViolation';
  /** set when the violation comes from a diagnosed known issue (recognised by its cause) */
  readonly knownIssue: KnownIssue | undefined;

  constructor(message: string, knownIssue?: KnownIssue) {
    super(knownIssue === undefined ? message : `${message} [known issue ${knownIssue}]`);
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
}

export interface OperationRecord {
  op: MembershipOperation;
  modRevision: number;
}
export type OperationRecords = Partial<Record<Service, OperationRecord>>;

export type ActionOutcome =
  | { kind: 'done' }
  | { kind: 'failed'; error: string }
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

export function agentReportOf(n: ModelNode): AgentReport {
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
        chainfire: { healthy: true, checkedAt: '2026-11-24T09:59:30Z' },
        flaredb: { healthy: n.flaredbHealthy, checkedAt: '2026-11-24T09:59:40Z', ...(n.flaredbHealthy ? {} : { detail: 'connection refused' }) },
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

  /** Time passes: learners whose etcd was due start, and are healthy from then on. */
  tick(): void {
    for (const m of this.members) {
      if (m.name !== '' || this.nowMs < m.startAtMs) continue;
      if (this.node(m.node).etcdBroken) continue;
      m.name = m.node;
      m.healthy = true;
      m.startAtMs = this.nowMs; // catching up counts from when it really started
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
    const forbid = (why: string): never => {
      throw new ModelViolation(`${by.name} (${by.state}): ${action.service}:${action.kind}: ${why}`);
    };
    switch (action.kind) {
      case 'addLearner': {
        if (by.state !== 'Present') forbid('a join action for an Absent node');
        const other = this.learners().find((l) => l.peerUrl !== action.peerUrl);
        // etcd 3.4 and later keep at most one learner; the controller must never ask for a second.
        if (other !== undefined) forbid(`a second learner while ${other.id} (${other.node}) is one`);
        if (this.down.chainfire || this.leaderId === undefined) return unavailable('add learner');
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
        if (by.state !== 'Present') forbid('promoted the learner of an Absent node');
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
        if (this.down.chainfire || this.leaderId === undefined) return unavailable('remove member');
        if (m.isLearner) {
          if (by.state === 'Present') {
            // Only the rollback of a learner whose etcd never started removes a Present node's learner.
            if (m.name !== '') forbid(`removed learner ${m.id}, whose etcd has started`);
            const age = (this.nowMs - m.addedAtMs) / 1000;
            if (age <= this.policy.learnerStartTimeoutSeconds) {
              const why = `${by.name}: rolled back learner ${m.id} ${age}s after adding it, before learnerStartTimeoutSeconds (${this.policy.learnerStartTimeoutSeconds}s)`;
              const early = m.recordedAtMs === undefined ? 0 : (m.addedAtMs - m.recordedAtMs) / 1000;
              if (early <= 0) forbid(why);
              throw new ModelViolation(`${why}; its join was recorded ${early}s before the learner was added`, 'learner-timeout-from-record');
            }
          }
        } else {
          if (by.state !== 'Absent') forbid(`removed voter ${m.id} of a Present node`);
          const after = this.voters().filter((v) => v.id !== m.id);
          const healthyAfter = after.filter((v) => this.isHealthy(v)).length;
          // The floor keeps healthy voters in, not dead ones.
          if (after.length < this.policy.minVoters && this.isHealthy(m)) forbid(`left ${after.length} voters, below minVoters ${this.policy.minVoters}`);
          if (healthyAfter < majority(after.length)) forbid(`left ${healthyAfter} healthy of ${after.length} voters: no quorum`);
          if (this.leaderId === m.id) forbid(`removed the Raft leader ${m.id} without moving leadership first`);
        }
        this.members = this.members.filter((x) => x.id !== m.id);
        if (!m.isLearner) this.elect();
        return { kind: 'done' };
      }
      case 'moveLeader': {
        const from = this.members.find((x) => x.id === action.fromMemberId);
        if (from === undefined) return { kind: 'done' }; // gone already
        if (by.state !== 'Absent') forbid('moved leadership away from a Present node');
        if (this.down.chainfire) return unavailable('move leader');
        if (this.leaderId !== from.id) return { kind: 'failed', error: 'etcdserver: not leader' };
        const to = this.members.find((x) => x.id === action.toMemberId);
        if (to === undefined || to.isLearner || !this.isHealthy(to)) return { kind: 'failed', error: 'etcdserver: bad leader transferee' };
        this.leaderId = to.id;
        return { kind: 'done' };
      }
      case 'addMember': {
        if (by.state !== 'Present') forbid('a join action for an Absent node');
        if (this.down.flaredb) return unavailable('FlareDB add');
        if (!this.flaredb.some((m) => m.id === action.id)) this.flaredb.push({ id: action.id, raftAddr: action.raftAddr });
        return { kind: 'done' }; // 409 (already a member) counts as done
      }
      case 'removeFlareDBMember': {
        if (by.state !== 'Absent') forbid('removed a Present node from FlareDB');
        if (this.down.flaredb) return unavailable('FlareDB remove');
        this.flaredb = this.flaredb.filter((m) => m.id !== action.id);
        return { kind: 'done' };
      }
      case 'registerNode': {
        if (by.state !== 'Present') forbid('a join action for an Absent node');
        if (!this.iamBootstrapped) forbid('registered a node before the initial IAM setup');
        if (this.down.iam) return unavailable('IAM register');
        this.iam = [...this.iam.filter((r) => r.id !== action.registration.id), action.registration];
        return { kind: 'done' };
      }
      case 'deregisterNode': {
        if (by.state !== 'Absent') forbid('deregistered a Present node from IAM');
        if (this.down.iam) return unavailable('IAM deregister');
        this.iam = this.iam.filter((r) => r.id !== action.id);
        return { kind: 'done' };
      }
    }
  }

  /** Invariants of the world itself, checked after every step. */
  check(): void {
    const learners = this.learners();
    if (learners.length > 1) throw new ModelViolation(`${learners.length} learners: ${learners.map((l) => `${l.id}(${l.node})`).join(', ')}`);
    if (this.voters().length === 0) throw new ModelViolation('no voter left');
    for (const svc of SERVICES) {
      const rec = this.operations[svc];
      if (rec !== undefined && rec.op.service !== svc) throw new ModelViolation(`operations/${svc} holds a ${rec.op.service} change`);
    }
  }

  describe(): string {
    const members = this.members
      .map((m) => `${m.id}:${m.node}${m.isLearner ? (m.name === '' ? '(learner,not started)' : '(learner)') : ''}${m.healthy || m.isLearner ? '' : '(unhealthy)'}${m.id === this.leaderId ? '*' : ''}`)
      .join(' ');
    const ops = SERVICES.filter((s) => this.operations[s] !== undefined)
      .map((s) => `${s}:${this.operations[s]!.op.node}/${this.operations[s]!.op.change}`)
      .join(' ');
    const nodes = this.nodes
      .map((n) => `${n.name}[${n.state}${n.bootstrap ? ',bootstrap' : ''}${n.agent ? ',agent' : ''}${n.etcdBroken ? ',etcd broken' : ''} ${n.status?.phase ?? '-'}/${readyReason(n.status)}]`)
      .join(' ');
    const p = this.policy;
    return [
      `chainfire: ${members}`,
      `flaredb: ${this.flaredb.map((m) => m.id).join(' ')}`,
      `iam: ${this.iam.map((r) => r.id).join(' ')}${this.iamBootstrapped ? '' : ' (setup not done)'}`,
      `operations: ${ops || '-'}`,
      `policy: paused=${p.paused} minVoters=${p.minVoters} maxVoters=${p.maxVoters} learnerStart=${p.learnerStartTimeoutSeconds}s catchUp=${p.learnerCatchUpTimeoutSeconds}s`,
      `nodes: ${nodes}`,
    ].join('\n');
  }
}

export function readyReason(status: Pick<StatusBody, 'conditions'> | undefined): string {
  return status?.conditions.find((c) => c.type === 'Ready')?.reason ?? '-';
}
