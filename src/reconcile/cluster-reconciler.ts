import type { ChainfireMember } from '../schema/members.js';
import { DEFAULT_POLICY, type MembershipPolicy } from '../schema/operation.js';
import type { HeldDisruption } from '../schema/disruption.js';
import type { Etcd3 } from 'etcd3';
import type { FlareDBDriver, IAMDriver } from '../drivers/types.js';
import type { ChainfireDriver } from '../drivers/types.js';
import type { ControllerMetrics } from '../metrics/controller-metrics.js';
import { chainfirePeerUrl, type NodeMembership } from '../schema/node-membership.js';
import type { MembershipOperation } from '../schema/operation.js';
import { SERVICES, type Service } from '../schema/agent-report.js';
import { canonicalJson } from '../store/records.js';
import { failureTolerance } from './quorum.js';
import type { OperationsInFlight } from './ports.js';
import type { Leadership } from '../election/leader-election.js';
import { errorMessage, isMembershipError } from '../errors.js';
import type { Logger } from '../log.js';
import { clusterStatus, type ClusterStatus, type RecoverySummary } from '../schema/cluster.js';
import { API_VERSION, formatIssues } from '../schema/common.js';
import type { KeyLayout } from '../store/keys.js';
import { encodeRecord } from '../store/records.js';
import type { ReconcileResult } from './reconcile-node.js';

/** The work-queue key of cluster-wide work; never a node name (DNS labels have no "_"). */
export const CLUSTER_KEY = '_cluster';

export interface ClusterReconcilerDeps {
  client: Etcd3;
  keys: KeyLayout;
  iam?: IAMDriver;
  /** reads the initial admin user and password; called only when the setup is still to be done */
  readAdminSecret?: () => Promise<{ user: string; password: string }>;
  log: Logger;
  /** called once the IAM setup is known to be done, so that waiting nodes are reconciled */
  onIamBootstrapped: () => void;
  chainfire?: ChainfireDriver;
  flaredb?: FlareDBDriver;
  /** every valid desired record, Present or Absent */
  desired?: () => NodeMembership[];
  operations?: () => OperationsInFlight;
  /** every record under operations/, decodable or not */
  operationRecords?: () => OperationRecord[];
  /** the node has a desired record that decodes */
  hasValidRecord?: (node: string) => boolean;
  metrics?: ControllerMetrics;
  /** the last quorum-loss recovery, from cluster/recovery */
  recovery?: () => RecoverySummary | undefined;
  /** the planned disruptions held now, for their gauges */
  disruptions?: () => HeldDisruption[];
  /** cluster/config's policy (dead-member clean-up threshold) */
  policy?: () => MembershipPolicy;
}

/** A record under operations/ as the controller's cache holds it. */
export interface OperationRecord {
  key: string;
  modRevision: number;
  op?: MembershipOperation | undefined;
  problem?: string | undefined;
  /** the raw value, for the log when it is not a MembershipOperation */
  raw?: string | undefined;
}

/** How often the leader looks at the services as a whole. */
export const OBSERVE_EVERY_MS = 10_000;

type ServiceSummary = NonNullable<ClusterStatus['status']['services']>[string];

/**
 * Cluster-wide work: IAM's initial setup, exactly once per cluster. Done is
 * recorded in `cluster/status` (fenced); a leader that finds no record still
 * asks IAM first, so a setup whose record was lost with a crashed leader is
 * not repeated.
 */
export class ClusterReconciler {
  private readonly deps: ClusterReconcilerDeps;
  private iamDone = false;
  private setupProblem: string | undefined;

  constructor(deps: ClusterReconcilerDeps) {
    this.deps = deps;
  }

  get iamBootstrapped(): boolean {
    return this.iamDone;
  }

  /** Why the last try of IAM's initial setup failed, while it is not done: the waiting nodes' status says it. */
  get iamSetupProblem(): string | undefined {
    return this.iamDone ? undefined : this.setupProblem;
  }

  async reconcile(leadership: Leadership): Promise<ReconcileResult> {
    // An IAM that is down must not stop the observation of the other services.
    let setupError: unknown;
    await this.ensureIamSetup(leadership).then(
      () => {
        this.setupProblem = undefined;
      },
      (err: unknown) => {
        setupError = err;
        if (!isMembershipError(err, 'NOT_LEADER') && !isMembershipError(err, 'FENCED')) this.setupProblem = errorMessage(err).slice(0, 500);
      },
    );
    await this.endStaleOperations(leadership);
    await this.observeServices(leadership);
    if (setupError !== undefined) throw setupError;
    return { requeueAfterMs: OBSERVE_EVERY_MS };
  }

  /**
   * Members per service, Chainfire's failure tolerance and the orphans (members
   * no desired record claims): into the metrics, and into cluster/status when
   * they changed. Orphans are only reported, never removed.
   */
  private async observeServices(leadership: Leadership): Promise<void> {
    const { metrics, desired } = this.deps;
    if (desired === undefined) return;
    const records = desired();
    const services: Record<string, ServiceSummary> = {};
    const chainfire = this.deps.chainfire;
    if (chainfire) {
      try {
        const members = await chainfire.listMembers(true);
        const health = await chainfire.health(members);
        this.countDeadMembers(members, health);
        const voters = members.filter((m) => !m.isLearner).map((m) => m.id);
        const claimed = new Set(records.flatMap((r) => (r.spec.chainfire ? [chainfirePeerUrl(r.spec.chainfire)] : [])));
        services.chainfire = {
          voters: voters.length,
          learners: members.length - voters.length,
          failureTolerance: failureTolerance(voters, (id) => health[id] === true),
          orphans: members.filter((m) => !m.peerUrls.some((u) => claimed.has(u))).map((m) => m.name || m.id).sort(),
        };
      } catch (err) {
        this.deps.log.warn({ err: errorMessage(err) }, 'cannot observe Chainfire members');
      }
    }
    if (this.deps.flaredb) {
      try {
        const members = await this.deps.flaredb.listMembers(leadership.signal);
        const claimed = new Set(records.filter((r) => r.spec.flaredb).map((r) => r.metadata.name));
        // FlareDB reports no health per member: its tolerance assumes every member is healthy.
        services.flaredb = {
          voters: members.length,
          learners: 0,
          failureTolerance: failureTolerance(members.map((m) => m.id), () => true),
          orphans: members.filter((m) => !claimed.has(m.id)).map((m) => m.id).sort(),
        };
      } catch (err) {
        this.deps.log.warn({ err: errorMessage(err) }, 'cannot observe FlareDB members');
      }
    }
    if (this.deps.iam) {
      try {
        const nodes = await this.deps.iam.listNodes(leadership.signal);
        const claimed = new Set(records.filter((r) => r.spec.iam).map((r) => r.metadata.name));
        services.iam = { voters: nodes.length, learners: 0, orphans: nodes.filter((n) => !claimed.has(n.id)).map((n) => n.id).sort() };
      } catch (err) {
        this.deps.log.warn({ err: errorMessage(err) }, 'cannot observe IAM registrations');
      }
    }
    this.countDisruptions();
    const inFlight = this.deps.operations?.() ?? {};
    for (const service of SERVICES) {
      metrics?.operationsInProgress.set({ service }, inFlight[service as Service] ? 1 : 0);
      const summary = services[service];
      if (summary === undefined) continue;
      metrics?.serviceMembers.set({ service, role: 'voter' }, summary.voters);
      metrics?.serviceMembers.set({ service, role: 'learner' }, summary.learners);
      metrics?.orphanedMembers.set({ service }, summary.orphans.length);
      if (summary.failureTolerance !== undefined) metrics?.failureTolerance.set({ service }, summary.failureTolerance);
    }
    for (const [service, summary] of Object.entries(services)) {
      if (summary.orphans.length > 0 && canonicalJson(summary.orphans) !== canonicalJson(this.lastOrphans[service] ?? [])) {
        this.deps.log.warn({ service, orphans: summary.orphans }, 'members that no desired record claims (not removed; apply a record or remove them by hand)');
      }
      this.lastOrphans[service] = summary.orphans;
    }
    const current = await this.readStatus();
    const recovery = this.deps.recovery?.() ?? current?.status.recovery;
    const same = canonicalJson(current?.status.services ?? {}) === canonicalJson(services) && canonicalJson(current?.status.recovery ?? null) === canonicalJson(recovery ?? null);
    if (same) return;
    const record: ClusterStatus = {
      apiVersion: API_VERSION,
      kind: 'ClusterStatus',
      status: { ...(current?.status ?? {}), services, ...(recovery !== undefined ? { recovery } : {}) },
    };
    await leadership.writer.put(this.deps.keys.clusterStatus(), encodeRecord(record));
  }

  private lastOrphans: Record<string, string[]> = {};

  /** Since when each member has not answered, as this leader saw it. */
  private readonly unhealthySince = new Map<string, number>();

  /**
   * Members that have not answered for longer than the dead-member clean-up
   * threshold and are still members: clean-up on, it is blocked or under way;
   * off, a person must replace them.
   */
  private countDeadMembers(members: ChainfireMember[], health: Record<string, boolean>): void {
    const now = Date.now();
    const threshold = (this.deps.policy?.() ?? DEFAULT_POLICY).deadMemberCleanup.thresholdSeconds * 1000;
    for (const id of [...this.unhealthySince.keys()]) if (health[id] === true || !members.some((m) => m.id === id)) this.unhealthySince.delete(id);
    let due = 0;
    for (const m of members) {
      if (health[m.id] === true || m.clientUrls.length === 0) continue;
      const since = this.unhealthySince.get(m.id) ?? now;
      this.unhealthySince.set(m.id, since);
      if (now - since >= threshold) due += 1;
    }
    this.deps.metrics?.deadMembers.set(due);
  }

  /** Disruptions held, and those past the time their holder expected to be back (overdue: alert). */
  private countDisruptions(): void {
    const held = this.deps.disruptions?.() ?? [];
    const now = Date.now();
    const overdue = held.filter((d) => d.expiresAt === '' || Date.parse(d.expiresAt) < now).length;
    this.deps.metrics?.disruptions.set({ state: 'held' }, held.length - overdue);
    this.deps.metrics?.disruptions.set({ state: 'overdue' }, overdue);
  }

  /**
   * A change in flight whose record cannot be read, or that names a node
   * without a (valid) desired record, would block every later change of its
   * service for good: nobody would end it. It is deleted (only while it is
   * still the record read), and the log says what it held.
   */
  private async endStaleOperations(leadership: Leadership): Promise<void> {
    const { operationRecords, hasValidRecord, log } = this.deps;
    if (operationRecords === undefined || hasValidRecord === undefined) return;
    for (const rec of operationRecords()) {
      let why: string | undefined;
      if (rec.op === undefined) why = `it is not a MembershipOperation (${rec.problem ?? 'unreadable'})`;
      else if (!hasValidRecord(rec.op.node)) why = `it names ${rec.op.node}, which has no valid desired record (deleted while its ${rec.op.change} was in flight?)`;
      if (why === undefined) continue;
      try {
        await leadership.writer.deleteIfUnchanged(rec.key, rec.modRevision);
        log.error({ key: rec.key, value: (rec.raw ?? '').slice(0, 300) }, `${rec.key} deleted: ${why}; it would have blocked every later change of its service`);
      } catch (err) {
        if (!isMembershipError(err, 'CONFLICT')) throw err;
      }
    }
  }

  private async ensureIamSetup(leadership: Leadership): Promise<void> {
    const { iam, log, keys } = this.deps;
    if (iam === undefined || this.iamDone) return;
    const current = await this.readStatus();
    if (current?.status.iam?.bootstrapped) {
      this.markDone();
      return;
    }
    const signal = leadership.signal;
    const { initialized } = await iam.bootstrapStatus(signal);
    let outcome: 'initialized' | 'already-initialized' = 'already-initialized';
    if (!initialized) {
      if (this.deps.readAdminSecret === undefined) throw new Error('IAM is configured without iam.adminSecretFile');
      const secret = await this.deps.readAdminSecret();
      if (!leadership.isLeader()) return;
      outcome = await iam.bootstrap(secret, signal);
      log.info({ service: 'iam', user: secret.user, outcome }, 'IAM initial setup done');
    }
    const record: ClusterStatus = {
      apiVersion: API_VERSION,
      kind: 'ClusterStatus',
      status: {
        ...(current?.status ?? {}),
        iam: { bootstrapped: true, at: new Date().toISOString(), by: `${leadership.identity} (term ${leadership.term})`, outcome },
      },
    };
    await leadership.writer.put(keys.clusterStatus(), encodeRecord(record));
    this.markDone();
  }

  /** A new term re-reads everything from the store. */
  reset(): void {
    this.iamDone = false;
    this.setupProblem = undefined;
  }

  private markDone(): void {
    if (this.iamDone) return;
    this.iamDone = true;
    this.deps.onIamBootstrapped();
  }

  private async readStatus(): Promise<ClusterStatus | undefined> {
    const raw = await this.deps.client.get(this.deps.keys.clusterStatus()).string();
    if (raw === null) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      this.deps.log.warn({ err: errorMessage(err) }, 'cluster/status is not JSON; it will be rewritten');
      return undefined;
    }
    const parsed = clusterStatus.safeParse(json);
    if (!parsed.success) {
      this.deps.log.warn({ problem: formatIssues(parsed.error) }, 'cluster/status does not match its schema; it will be rewritten');
      return undefined;
    }
    return parsed.data;
  }
}
