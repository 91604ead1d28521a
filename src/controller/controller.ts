import { EventRecorder } from './event-recorder.js';
import { hostname } from 'node:os';
import pRetry from 'p-retry';
import type { Etcd3 } from 'etcd3';
import { RecordCache, type CacheEvent } from '../cache/record-cache.js';
import { EtcdChainfireDriver } from '../drivers/chainfire.js';
import { LeaderElection, type Leadership } from '../election/leader-election.js';
import { MembershipError, errorMessage, isMembershipError } from '../errors.js';
import type { Logger } from '../log.js';
import { ControllerMetrics, resetLeaderGauges } from '../metrics/controller-metrics.js';
import { startMetricsServer } from '../metrics/server.js';
import { chainfireHealth } from '../metrics/chainfire-health.js';
import { reconcileNode } from '../reconcile/reconcile-node.js';
import type { OperationsInFlight, ReconcilePorts } from '../reconcile/ports.js';
import { ControllerNodePorts } from './node-ports.js';
import { RaftAddressIndex } from '../reconcile/conflicts.js';
import { ServiceRecovery } from '../reconcile/service-recovery.js';
import { ChangeWaiters } from '../reconcile/change-waiters.js';
import type { NodeMembership } from '../schema/node-membership.js';
import { clusterConfigRecord, DEFAULT_POLICY, membershipOperation, type MembershipPolicy } from '../schema/operation.js';
import { chainfireRecovery, type RecoverySummary } from '../schema/cluster.js';
import { heldDisruption } from '../disruption/held.js';
import type { HeldDisruption } from '../schema/disruption.js';
import { formatIssues } from '../schema/common.js';
import type { Service } from '../schema/agent-report.js';
import { CLUSTER_KEY, ClusterReconciler, type OperationRecord } from '../reconcile/cluster-reconciler.js';
import { HttpFlareDBDriver } from '../drivers/flaredb.js';
import { HttpIAMDriver, readAdminSecret } from '../drivers/iam.js';
import type { FlareDBDriver, IAMDriver } from '../drivers/types.js';
import { httpOptions, type ControllerConfig } from './config.js';
import { PHASES, type NodeMembershipStatus } from '../schema/status.js';
import { connect, type ConnectionOptions } from '../store/connection.js';
import { KeyLayout, type RecordKind } from '../store/keys.js';
import { decodeAgentReport, decodeDesired, decodeStatus, parseJsonOrUndefined, type StoredRecord } from '../store/records.js';
import { ChainfireSnapshots } from '../snapshots/chainfire-snapshots.js';
import type { SnapshotSettings } from '../snapshots/settings.js';
import { ItemExponentialRateLimiter } from '../workqueue/rate-limiter.js';
import { WorkQueue } from '../workqueue/queue.js';

/**
 * Concurrent reconciles. Reconciles mostly wait on Chainfire and the services;
 * membership changes of Chainfire and FlareDB stay one at a time whatever this
 * is, and concurrent status writes share transactions, so more workers cost
 * etcd little (docs/benchmarks.md: 4 workers reached about 45 % of raw etcd's
 * transaction rate at 10,000 nodes, 32 about 70-90 %).
 */
export const DEFAULT_WORKERS = 32;

/** After a membership change, the cluster-wide view (cluster/status, member gauges) is refreshed this soon; changes in between share one refresh. */
const CLUSTER_VIEW_DELAY_MS = 1000;

export interface ControllerOptions {
  connection: ConnectionOptions;
  identity?: string;
  leaseTtlSeconds: number;
  workers: number;
  resyncPeriodMs: number;
  /** `host:port`, or undefined to serve no metrics */
  metricsAddr?: string;
  /** FlareDB and IAM endpoints and TLS; without them those services are not reconciled */
  config?: ControllerConfig;
  /** where and how the snapshots of Chainfire before its membership changes are kept */
  snapshots: SnapshotSettings;
  log: Logger;
}

/**
 * membership-controller: caches run on every replica (so a standby takes over
 * warm); the work queue and its workers run only while this replica leads,
 * and stop the moment its term ends. Shutdown order: stop campaigning, drain
 * workers, resign (so a standby takes over at once), stop watches, close.
 */
export class MembershipController {
  readonly metrics = new ControllerMetrics();
  readonly identity: string;
  private readonly opts: ControllerOptions;
  private readonly client: Etcd3;
  private readonly keys: KeyLayout;
  private readonly desired;
  private readonly statuses;
  private readonly agents;
  private readonly operationCache: RecordCache<OperationRecord>;
  private readonly configCache: RecordCache<{ policy?: MembershipPolicy; problem?: string }>;
  /** cluster/recovery: the last quorum-loss recovery, as `first-boot-agent recover chainfire` wrote it */
  private readonly recoveryCache: RecordCache<{ recovery?: RecoverySummary }>;
  /** disruptions/: planned disruptions held now */
  private readonly disruptionCache: RecordCache<HeldDisruption>;
  private readonly nodePorts: ControllerNodePorts;
  private readonly cluster: ClusterReconciler;
  private readonly flaredb: FlareDBDriver | undefined;
  private readonly iam: IAMDriver | undefined;
  readonly snapshots: ChainfireSnapshots;
  /** the snapshots' own client, made at the first snapshot */
  private snapshotClient: Etcd3 | undefined;
  private queue: WorkQueue | undefined;
  private recovery: ServiceRecovery | undefined;
  /** raft addresses claimed by Present records, kept from desired-record events */
  private readonly addresses = new RaftAddressIndex();
  /** nodes whose status says WaitingForOtherChange, per service, kept from status events */
  private readonly waiters = new ChangeWaiters();
  private readonly stop = new AbortController();
  /** desired records under invalid keys already logged (each revision is its own object in the cache) */
  private readonly reportedInvalid = new WeakSet<object>();
  private leadership: Leadership | undefined;
  /** the nodes' event histories (events/<node>) */
  private readonly events: EventRecorder;
  private running: Promise<void> | undefined;
  private closeMetrics: (() => Promise<void>) | undefined;
  metricsPort: number | undefined;

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    this.identity = opts.identity ?? `${hostname()}/${process.pid}`;
    this.client = connect(opts.connection);
    this.keys = new KeyLayout(opts.connection.prefix);
    const log = opts.log;
    const cache = <T>(kind: RecordKind, decode: (kv: import('../store/records.js').RawKv) => T) =>
      new RecordCache<T>({
        client: this.client,
        prefix: this.keys.dir(kind),
        decode,
        resource: kind,
        log,
        onWatchRestart: (resource) => this.metrics.watchRestarts.inc({ resource }),
      });
    this.desired = cache('desired', (kv) => decodeDesired(this.keys, kv));
    this.statuses = cache('status', (kv) => decodeStatus(this.keys, kv));
    this.agents = cache('agents', (kv) => decodeAgentReport(this.keys, kv));
    this.operationCache = new RecordCache({
      client: this.client,
      prefix: `${this.keys.prefix}/operations/`,
      resource: 'operations',
      log,
      decode: (kv) => {
        const parsed = membershipOperation.safeParse(parseJsonOrUndefined(kv.value));
        return parsed.success
          ? { key: kv.key, op: parsed.data, modRevision: kv.modRevision }
          : { key: kv.key, modRevision: kv.modRevision, problem: formatIssues(parsed.error), raw: kv.value };
      },
    });
    this.configCache = new RecordCache({
      client: this.client,
      prefix: this.keys.clusterConfig(),
      exact: true,
      resource: 'cluster-config',
      log,
      decode: (kv) => {
        const parsed = clusterConfigRecord.safeParse(parseJsonOrUndefined(kv.value));
        if (!parsed.success) {
          log.error({ problem: formatIssues(parsed.error) }, 'cluster/config is invalid: no membership change is made until it is fixed');
          return { problem: formatIssues(parsed.error) };
        }
        return { policy: parsed.data.spec };
      },
    });
    this.recoveryCache = new RecordCache({
      client: this.client,
      prefix: this.keys.clusterRecovery(),
      exact: true,
      resource: 'cluster-recovery',
      log,
      onWatchRestart: (resource) => this.metrics.watchRestarts.inc({ resource }),
      decode: (kv) => {
        const parsed = chainfireRecovery.safeParse(parseJsonOrUndefined(kv.value));
        if (!parsed.success) {
          log.error({ problem: formatIssues(parsed.error) }, 'cluster/recovery is not a ChainfireRecovery record; ignored');
          return {};
        }
        const recovery = parsed.data.recovery;
        log.warn({ recovery }, `Chainfire was recovered from a quorum loss on ${recovery.node} (from ${recovery.source}) at ${recovery.at}`);
        const at = Date.parse(recovery.at);
        if (Number.isFinite(at)) this.metrics.lastRecovery.set(at / 1000);
        return { recovery };
      },
    });
    this.events = new EventRecorder(this.client, this.keys, log.child({ component: 'events' }));
    this.disruptionCache = new RecordCache({
      client: this.client,
      prefix: this.keys.dir('disruptions'),
      resource: 'disruptions',
      log,
      onWatchRestart: (resource) => this.metrics.watchRestarts.inc({ resource }),
      decode: (kv) => decodeDisruption(this.keys, kv, log),
    });
    const cfg = opts.config;
    // A leader hint or redirect to a host nobody configured is refused; the log says so (each hint at most once a minute).
    const refused = (service: string) => (message: string) => log.warn({ service }, message);
    this.flaredb = cfg?.flaredb ? new HttpFlareDBDriver(httpOptions(cfg.flaredb), { onRefusedLeader: refused('flaredb') }) : undefined;
    this.iam = cfg?.iam ? new HttpIAMDriver(httpOptions(cfg.iam), { onRefusedLeader: refused('iam') }) : undefined;
    const adminSecretFile = cfg?.iam?.adminSecretFile;
    const chainfireDriver = new EtcdChainfireDriver(this.client, { connection: opts.connection });
    this.cluster = new ClusterReconciler({
      client: this.client,
      keys: this.keys,
      chainfire: chainfireDriver,
      ...(this.flaredb ? { flaredb: this.flaredb } : {}),
      desired: () => this.desired.values().flatMap((r) => (r.value ? [r.value] : [])),
      operations: () => this.operationsInFlight(),
      operationRecords: () => this.operationCache.values(),
      hasValidRecord: (node) => this.desired.get(this.keys.desired(node))?.value !== undefined,
      metrics: this.metrics,
      recovery: () => this.recoveryCache.values()[0]?.recovery,
      disruptions: () => this.disruptionCache.values(),
      policy: () => this.policy(),
      ...(this.iam ? { iam: this.iam } : {}),
      ...(adminSecretFile ? { readAdminSecret: () => readAdminSecret(adminSecretFile) } : {}),
      log: log.child({ component: 'cluster' }),
      // Nodes waiting for the IAM setup go again now.
      onIamBootstrapped: () => {
        for (const [key] of this.desired.entries()) {
          const { node, nameProblem } = this.keys.nodeOf('desired', key);
          if (nameProblem === undefined) this.queue?.add(node);
        }
      },
    });
    this.snapshots = new ChainfireSnapshots({
      client: () => (this.snapshotClient ??= connect(opts.connection)),
      settings: opts.snapshots,
      log: log.child({ component: 'snapshots' }),
      metrics: { total: this.metrics.snapshotsTotal, lastTimestamp: this.metrics.lastSnapshotTimestamp },
    });
    this.nodePorts = new ControllerNodePorts({
      keys: this.keys,
      desired: this.desired,
      statuses: this.statuses,
      agents: this.agents,
      chainfire: chainfireDriver,
      flaredb: this.flaredb,
      iam: this.iam,
      iamBootstrapped: () => this.cluster.iamBootstrapped,
      iamSetupProblem: () => this.cluster.iamSetupProblem,
      operations: () => this.operationsInFlight(),
      policy: () => this.policy(),
      policyProblem: () => this.policyProblem(),
      recovery: () => this.recoveryCache.values()[0]?.recovery,
      disruptions: () => this.disruptionCache.values(),
      events: this.events,
      addressConflicts: (node) => this.addressConflicts(node),
      // A snapshot written goes into the node's history too.
      snapshots: {
        beforeChange: async (change) => {
          const file = await this.snapshots.beforeChange(change);
          const leadership = this.leadership;
          if (file !== undefined && leadership !== undefined) {
            const message = `snapshot of Chainfire before ${change.kind} written to ${file.path} (revision ${file.revision}, ${file.bytes} bytes)`;
            this.events.record(change.node, [{ type: 'Normal', reason: 'SnapshotTaken', message }], this.generationOf(change.node), leadership);
          }
          return file;
        },
        changeMade: () => this.snapshots.changeMade(),
      },
      log: log.child({ component: 'reconciler' }),
    });
  }

  async start(): Promise<void> {
    const { log } = this.opts;
    if (this.opts.metricsAddr !== undefined) {
      const srv = await startMetricsServer(
        this.metrics.registry,
        {
          healthz: () => chainfireHealth(this.client, this.opts.connection),
          readyz: () => {
            const synced = this.caches().every((c) => c.synced);
            return { ok: synced, detail: synced ? 'caches synced' : 'caches not yet synced' };
          },
        },
        this.opts.metricsAddr,
      );
      this.closeMetrics = srv.close;
      this.metricsPort = srv.port;
      log.info({ addr: this.opts.metricsAddr, port: srv.port }, 'serving /metrics, /healthz, /readyz');
    }
    await this.snapshots.init();
    log.info({ dir: this.opts.snapshots.dir, onFailure: this.opts.snapshots.onFailure }, 'a snapshot of Chainfire is written before each of its membership changes');
    await pRetry(() => Promise.all(this.caches().map((c) => c.start())), {
      retries: Number.POSITIVE_INFINITY,
      minTimeout: 200,
      maxTimeout: 5000,
      signal: this.stop.signal,
      // Chainfire refusing who we are does not pass with time: end with 77 rather than retry forever.
      shouldRetry: ({ error }) => refusedAccess(error) === undefined,
      onFailedAttempt: ({ error }) => log.warn({ err: errorMessage(error) }, 'cannot list records from Chainfire; retrying'),
    }).catch((err: unknown) => {
      throw refusedAccess(err, this.opts.connection.user) ?? err;
    });
    // Indexes kept from events, so that no reconcile scans every record.
    for (const [key, rec] of this.desired.entries()) this.indexDesired(key, rec);
    this.desired.on('event', (e) => this.indexDesired(e.key, e.record));
    this.countPhases();
    for (const [key, rec] of this.statuses.entries()) this.indexStatus(key, rec);
    this.statuses.on('event', (e) => {
      const before = e.previous?.value?.status.phase;
      const after = e.record?.value?.status.phase;
      if (before !== after) {
        if (before !== undefined) this.metrics.nodes.dec({ phase: before });
        if (after !== undefined) this.metrics.nodes.inc({ phase: after });
      }
      this.indexStatus(e.key, e.record);
    });
    log.info({ identity: this.identity, desired: this.desired.size }, 'caches synced');
    this.running = this.campaignLoop();
  }

  /** Stops gracefully: resigns leadership so that a standby takes over at once. */
  async shutdown(): Promise<void> {
    this.stop.abort();
    const leadership = this.leadership;
    await leadership?.resign().catch(() => undefined);
    await this.running?.catch(() => undefined);
    await Promise.all(this.caches().map((c) => c.stop()));
    await this.closeMetrics?.();
    await Promise.all([this.flaredb?.close(), this.iam?.close()]);
    this.snapshotClient?.close();
    this.client.close();
  }

  /** The node's desired record's generation as cached; 0 without one (its events still say when and what). */
  private generationOf(node: string): number {
    return this.desired.get(this.keys.desired(node))?.modRevision ?? 0;
  }

  private caches(): Array<RecordCache<unknown>> {
    return [this.desired, this.statuses, this.agents, this.operationCache, this.configCache, this.recoveryCache, this.disruptionCache] as Array<RecordCache<unknown>>;
  }

  operationsInFlight(): OperationsInFlight {
    const out: OperationsInFlight = {};
    for (const entry of this.operationCache.values()) {
      if (entry.op) out[entry.op.service as Service] = { op: entry.op, modRevision: entry.modRevision };
    }
    return out;
  }

  policy(): MembershipPolicy {
    return this.configCache.values()[0]?.policy ?? DEFAULT_POLICY;
  }

  /** Why cluster/config cannot be read; then no membership change is made. */
  policyProblem(): string | undefined {
    return this.configCache.values()[0]?.problem;
  }

  /** Other Present records that claim one of `node`'s raft addresses. */
  addressConflicts(node: string): string[] {
    return this.addresses.conflicts(node);
  }

  /**
   * A desired record under an invalid node name is logged once per revision
   * of it: every resync looks at it again, and a line per look buried the
   * log (the record object is the cache's for that revision).
   */
  private reportInvalidKey(key: string, problem: string): void {
    const rec = this.desired.get(key);
    if (rec === undefined || this.reportedInvalid.has(rec)) return;
    this.reportedInvalid.add(rec);
    this.opts.log.error({ key, revision: rec.modRevision, problem }, 'ignoring desired record under an invalid node name');
  }

  private indexDesired(key: string, rec: StoredRecord<NodeMembership> | undefined): void {
    const { node, nameProblem } = this.keys.nodeOf('desired', key);
    if (nameProblem === undefined) this.addresses.set(node, rec?.value);
  }

  private indexStatus(key: string, rec: StoredRecord<NodeMembershipStatus> | undefined): void {
    const { node, nameProblem } = this.keys.nodeOf('status', key);
    if (nameProblem !== undefined) return;
    this.waiters.update(node, rec?.value?.status.conditions);
    this.metrics.joiningNodes.observe(node, rec?.value?.status.phase);
  }

  private async campaignLoop(): Promise<void> {
    const { log } = this.opts;
    const election = new LeaderElection({
      client: this.client,
      dir: this.keys.leaderDir(),
      identity: this.identity,
      ttlSeconds: this.opts.leaseTtlSeconds,
      log,
      onFencedWriteRejected: () => this.metrics.fencedWritesRejected.inc(),
    });
    while (!this.stop.signal.aborted) {
      let leadership: Leadership;
      try {
        leadership = await pRetry(() => election.campaign(this.stop.signal), {
          retries: Number.POSITIVE_INFINITY,
          minTimeout: 200,
          maxTimeout: 5000,
          signal: this.stop.signal,
          onFailedAttempt: ({ error }) => log.warn({ err: errorMessage(error) }, 'campaign failed; campaigning again'),
        });
      } catch {
        return; // stopped
      }
      this.leadership = leadership;
      this.metrics.leaderStatus.set({ name: 'membership-controller' }, 1);
      log.info({ term: leadership.term, identity: this.identity }, 'became leader');
      await this.lead(leadership);
      this.metrics.leaderStatus.set({ name: 'membership-controller' }, 0);
      resetLeaderGauges(this.metrics);
      this.leadership = undefined;
      const reason: unknown = leadership.signal.reason;
      if (!this.stop.signal.aborted) log.warn({ term: leadership.term, reason: errorMessage(reason) }, 'leadership lost; standing by');
    }
  }

  /** Runs the work queue for one term; returns when the term ends. */
  private async lead(leadership: Leadership): Promise<void> {
    const { log } = this.opts;
    const queue = new WorkQueue({
      name: 'nodemembership',
      rateLimiter: new ItemExponentialRateLimiter({ baseDelayMs: 5, maxDelayMs: 60_000 }),
      metrics: this.metrics.queueMetrics,
    });
    this.queue = queue;
    const recovery = new ServiceRecovery({
      probes: {
        chainfire: () => this.nodePorts.probe('chainfire'),
        ...(this.flaredb ? { flaredb: () => this.nodePorts.probe('flaredb', leadership.signal) } : {}),
        ...(this.iam ? { iam: () => this.nodePorts.probe('iam', leadership.signal) } : {}),
      },
      onRecovered: (service, nodes) => {
        log.info({ service, nodes: nodes.length }, 'service answers again; looking at the nodes that waited for it');
        for (const node of nodes) queue.add(node);
      },
    });
    this.recovery = recovery;
    this.cluster.reset();
    this.nodePorts.invalidateLists();
    const enqueue = (kind: RecordKind) => (e: { key: string; type: string }) => {
      const { node, nameProblem } = this.keys.nodeOf(kind, e.key);
      if (nameProblem !== undefined) {
        if (kind === 'desired') this.reportInvalidKey(e.key, nameProblem);
        return;
      }
      if (kind === 'status' && e.type === 'put') return; // our own writes
      queue.add(node);
    };
    const onDesired = enqueue('desired');
    const onAgent = enqueue('agents');
    const onStatus = enqueue('status');
    // A policy change can unblock any node: look at all of them. A change that
    // ends unblocks only the nodes waiting for it: look at those, not at every
    // node (with thousands of nodes that would be a full resync per change).
    const onConfig = () => resyncAll();
    const onOperation = (e: { type: string; key: string }) => {
      if (e.type !== 'delete') return;
      const service = e.key.slice(e.key.lastIndexOf('/') + 1) as Service;
      for (const node of this.waiters.next(service)) queue.add(node);
    };
    const resyncAll = () => {
      queue.add(CLUSTER_KEY);
      for (const [key] of this.desired.entries()) onDesired({ key, type: 'resync' });
    };
    this.desired.on('event', onDesired);
    this.agents.on('event', onAgent);
    this.statuses.on('event', onStatus);
    this.operationCache.on('event', onOperation);
    this.configCache.on('event', onConfig);
    this.recoveryCache.on('event', onConfig);
    // A disruption granted or released goes into the node's history, and may unblock any node.
    const onDisruption = (e: CacheEvent<HeldDisruption>) => {
      const d = e.record ?? e.previous;
      if (d !== undefined && (e.type === 'delete' || e.previous === undefined)) {
        const draft = e.type === 'delete'
          ? { type: 'Normal' as const, reason: 'DisruptionEnded', message: `planned disruption ended: released, or lapsed at twice its TTL (it was held by ${d.holder} for ${JSON.stringify(d.reason)})` }
          : { type: 'Normal' as const, reason: 'DisruptionGranted', message: `planned disruption granted to ${d.holder} for ${JSON.stringify(d.reason)} until ${d.expiresAt}` };
        this.events.record(d.node, [draft], this.generationOf(d.node), leadership);
      }
      onConfig();
    };
    this.disruptionCache.on('event', onDisruption);
    resyncAll();
    const resync = setInterval(resyncAll, this.opts.resyncPeriodMs);
    resync.unref();

    // Members per service, orphans and failure tolerance follow a change within a second, not at the next periodic look.
    const ports = this.nodePorts.forTerm(leadership, () => queue.addAfter(CLUSTER_KEY, CLUSTER_VIEW_DELAY_MS));
    const workers = Array.from({ length: this.opts.workers }, () => this.work(queue, leadership, ports));
    await new Promise<void>((resolve) => {
      if (leadership.signal.aborted) return resolve();
      leadership.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    clearInterval(resync);
    this.desired.off('event', onDesired);
    this.agents.off('event', onAgent);
    this.statuses.off('event', onStatus);
    this.operationCache.off('event', onOperation);
    this.configCache.off('event', onConfig);
    this.recoveryCache.off('event', onConfig);
    this.disruptionCache.off('event', onDisruption);
    recovery.stop();
    queue.shutDown();
    await Promise.all(workers);
    this.queue = undefined;
    this.recovery = undefined;
  }

  private async work(queue: WorkQueue, leadership: Leadership, ports: ReconcilePorts): Promise<void> {
    const { log } = this.opts;
    for (;;) {
      const node = await queue.get();
      if (node === undefined) return;
      const controller = node === CLUSTER_KEY ? 'cluster' : 'node';
      const end = this.metrics.reconcileDuration.startTimer({ controller });
      try {
        if (!leadership.isLeader()) continue;
        const result =
          node === CLUSTER_KEY ? await this.cluster.reconcile(leadership) : await reconcileNode(node, ports);
        queue.forget(node);
        for (const service of result.waitingFor ?? []) this.recovery?.wait(service, node);
        if (result.requeueAfterMs !== undefined) {
          queue.addAfter(node, result.requeueAfterMs);
          this.metrics.reconcileTotal.inc({ controller, result: 'requeue_after' });
        } else {
          this.metrics.reconcileTotal.inc({ controller, result: 'success' });
        }
      } catch (err) {
        this.metrics.reconcileTotal.inc({ controller, result: 'error' });
        if (isMembershipError(err, 'CONFLICT')) {
          log.debug({ node, err: errorMessage(err) }, 'record changed during reconcile; looking again');
          queue.addRateLimited(node);
        } else if (isMembershipError(err, 'NOT_LEADER') || isMembershipError(err, 'FENCED')) {
          log.warn({ node, err: errorMessage(err) }, 'stopped: no longer leader');
        } else {
          log.warn({ node, err: errorMessage(err) }, 'reconcile failed; retrying with backoff');
          queue.addRateLimited(node);
        }
      } finally {
        end();
        queue.done(node);
      }
    }
  }

  private countPhases(): void {
    const counts = new Map<string, number>(PHASES.map((p) => [p, 0]));
    for (const rec of this.statuses.values()) {
      const phase = rec.value?.status.phase;
      if (phase !== undefined) counts.set(phase, (counts.get(phase) ?? 0) + 1);
    }
    for (const [phase, n] of counts) this.metrics.nodes.set({ phase }, n);
  }
}

/** A disruption record; one that does not decode still counts as held (by "unknown"): it is never ignored. */
function decodeDisruption(keys: KeyLayout, kv: import('../store/records.js').RawKv, log: Logger): HeldDisruption {
  const { problem, ...held } = heldDisruption(kv.key.slice(keys.dir('disruptions').length), kv.value);
  if (problem !== undefined) {
    log.error({ node: held.node, problem: formatIssues(problem) }, `disruptions/${held.node} is not a Disruption record; it still counts as held until it is released or lapses`);
  }
  return held;
}

/**
 * Chainfire refused the controller's credentials or its permissions, as an
 * ACCESS_DENIED naming the user; undefined for any other failure.
 */
function refusedAccess(err: unknown, user?: string): MembershipError | undefined {
  if (!(err instanceof Error)) return undefined;
  const who = user !== undefined ? `user ${user}` : 'this client (no --user)';
  if (err.name === 'EtcdAuthenticationFailedError' || /authentication failed/i.test(err.message)) {
    return new MembershipError(
      'ACCESS_DENIED',
      `Chainfire refused the credentials of ${who}: ${err.message}; check --user and the password (CHAINFIRE_PASSWORD or --password-file)`,
      { cause: err },
    );
  }
  if (err.name === 'EtcdPermissionDeniedError' || /permission denied|user name is empty/i.test(err.message)) {
    return new MembershipError(
      'ACCESS_DENIED',
      `Chainfire refused to let ${who} read the membership records: ${err.message}; the controller's user needs the ` +
        'membership-controller role (membershipctl rbac apply)',
      { cause: err },
    );
  }
  return undefined;
}
