import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SERVICES } from '../schema/agent-report.js';
import { PHASES } from '../schema/status.js';
import { JoiningNodes, type JoiningNodesOptions } from './joining-nodes.js';
import { WorkQueueMetricsProvider } from './workqueue-metrics.js';
import { VERSION } from '../version.js';

export const RECONCILE_RESULTS = ['success', 'error', 'requeue_after'] as const;
export type ReconcileOutcome = (typeof RECONCILE_RESULTS)[number];

/** membership_snapshots_total's results: a snapshot written, or none (the change held back, or let go on with onFailure warn). */
export const SNAPSHOT_RESULTS = ['success', 'failure'] as const;

/** The controller's metrics, named as in the contract; every labelled series starts at 0. */
export class ControllerMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileDuration: Histogram<'controller'>;
  readonly leaderStatus: Gauge<'name'>;
  readonly nodes: Gauge<'phase'>;
  /** membership_node_joining_since_timestamp_seconds{node} and membership_node_joining_overflow */
  readonly joiningNodes: JoiningNodes;
  readonly serviceMembers: Gauge<'service' | 'role'>;
  readonly failureTolerance: Gauge<'service'>;
  readonly operationsInProgress: Gauge<'service'>;
  readonly fencedWritesRejected: Counter;
  readonly watchRestarts: Counter<'resource'>;
  readonly orphanedMembers: Gauge<'service'>;
  readonly lastRecovery: Gauge;
  readonly disruptions: Gauge<'state'>;
  readonly deadMembers: Gauge;
  readonly queueMetrics: WorkQueueMetricsProvider;
  readonly buildInfo: Gauge<'version'>;
  readonly snapshotsTotal: Counter<'result'>;
  readonly lastSnapshotTimestamp: Gauge;

  constructor(registry = new Registry(), options: { defaultMetrics?: boolean; joining?: JoiningNodesOptions } = {}) {
    this.registry = registry;
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: registry });
      // prom-client exports these gauges with a counter's suffix, which promtool
      // rejects; the per-type nodejs_active_* series carry the same figures.
      for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        registry.removeSingleMetric(n);
      }
    }
    this.queueMetrics = new WorkQueueMetricsProvider(registry);
    // The queue's series exist from the start, on a standby too.
    this.queueMetrics.forQueue('nodemembership');
    const registers = [registry];
    this.reconcileTotal = new Counter({
      name: 'membership_reconcile_total',
      help: 'Reconciles of NodeMemberships by outcome.',
      labelNames: ['controller', 'result'],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'membership_reconcile_duration_seconds',
      help: 'Time one reconcile of a NodeMembership took, including calls to Chainfire, FlareDB and IAM.',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.leaderStatus = new Gauge({
      name: 'leader_election_master_status',
      help: '1 while this controller is the leader, 0 otherwise.',
      labelNames: ['name'],
      registers,
    });
    this.buildInfo = new Gauge({ name: 'membership_build_info', help: 'Always 1; the version label is the running release.', labelNames: ['version'], registers });
    this.buildInfo.set({ version: VERSION }, 1);
    this.nodes = new Gauge({ name: 'membership_nodes', help: 'NodeMemberships by status phase.', labelNames: ['phase'], registers });
    this.joiningNodes = new JoiningNodes(registry, options.joining);
    this.serviceMembers = new Gauge({
      name: 'membership_service_members',
      help: 'Members each service reports, by role.',
      labelNames: ['service', 'role'],
      registers,
    });
    this.failureTolerance = new Gauge({
      name: 'membership_failure_tolerance',
      help: 'Healthy voters minus quorum: how many more voters the service can lose.',
      labelNames: ['service'],
      registers,
    });
    this.operationsInProgress = new Gauge({
      name: 'membership_operations_in_progress',
      help: 'Membership changes in flight per service (0 or 1).',
      labelNames: ['service'],
      registers,
    });
    this.fencedWritesRejected = new Counter({
      name: 'membership_fenced_writes_rejected_total',
      help: 'Leader writes that etcd rejected because the term was no longer current.',
      registers,
    });
    this.watchRestarts = new Counter({
      name: 'membership_watch_restarts_total',
      help: 'Watches that had to be re-listed and restarted, by resource.',
      labelNames: ['resource'],
      registers,
    });

    this.orphanedMembers = new Gauge({
      name: 'membership_orphaned_members',
      help: 'Members a service reports that no desired record claims (reported, never removed).',
      labelNames: ['service'],
      registers,
    });

    this.lastRecovery = new Gauge({
      name: 'membership_chainfire_last_recovery_timestamp_seconds',
      help: 'When Chainfire was last recovered from a quorum loss (first-boot-agent recover chainfire; cluster/recovery), as a Unix time; 0: never.',
      registers,
    });

    this.disruptions = new Gauge({
      name: 'membership_disruptions',
      help: 'Planned disruptions held (membershipctl disruption acquire): state "held", or "overdue" once past the TTL its holder gave.',
      labelNames: ['state'],
      registers,
    });
    for (const state of ['held', 'overdue']) this.disruptions.set({ state }, 0);
    this.deadMembers = new Gauge({
      name: 'membership_dead_members',
      help: 'Chainfire members that have not answered their health check for longer than cluster/config deadMemberCleanup.thresholdSeconds and are still members.',
      registers,
    });

    this.snapshotsTotal = new Counter({
      name: 'membership_snapshots_total',
      help: 'Snapshots of Chainfire the controller tried to write before a Chainfire membership change, by result.',
      labelNames: ['result'],
      registers,
    });
    this.lastSnapshotTimestamp = new Gauge({
      name: 'membership_last_snapshot_timestamp_seconds',
      help: 'When the newest snapshot of Chainfire in this controller\'s snapshot directory was taken (Unix seconds); 0 before the first.',
      registers,
    });

    for (const result of SNAPSHOT_RESULTS) this.snapshotsTotal.inc({ result }, 0);
    this.lastSnapshotTimestamp.set(0);
    for (const controller of ['node', 'cluster']) {
      for (const result of RECONCILE_RESULTS) this.reconcileTotal.inc({ controller, result }, 0);
      this.reconcileDuration.zero({ controller });
    }
    this.leaderStatus.set({ name: 'membership-controller' }, 0);
    for (const phase of PHASES) this.nodes.set({ phase }, 0);
    for (const service of SERVICES) {
      for (const role of ['voter', 'learner']) this.serviceMembers.set({ service, role }, 0);
      this.operationsInProgress.set({ service }, 0);
      this.orphanedMembers.set({ service }, 0);
    }
    // IAM has no quorum of its own: no failure tolerance series for it.
    for (const service of ['chainfire', 'flaredb']) this.failureTolerance.set({ service }, 0);
    for (const resource of ['desired', 'status', 'agents', 'operations', 'cluster-config', 'cluster-recovery', 'disruptions']) this.watchRestarts.inc({ resource }, 0);
  }
}

/** The gauges only a leader keeps current: back to 0 when a replica stops leading. */
export function resetLeaderGauges(m: ControllerMetrics): void {
  for (const service of SERVICES) {
    for (const role of ['voter', 'learner']) m.serviceMembers.set({ service, role }, 0);
    m.operationsInProgress.set({ service }, 0);
    m.orphanedMembers.set({ service }, 0);
  }
  for (const service of ['chainfire', 'flaredb']) m.failureTolerance.set({ service }, 0);
  for (const state of ['held', 'overdue']) m.disruptions.set({ state }, 0);
  m.deadMembers.set(0);
}
