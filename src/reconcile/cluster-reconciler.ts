import type { Etcd3 } from 'etcd3';
import type { IAMDriver } from '../drivers/types.js';
import type { Leadership } from '../election/leader-election.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { clusterStatus, type ClusterStatus } from '../schema/cluster.js';
import { API_VERSION, formatIssues } from '../schema/common.js';
import type { KeyLayout } from '../store/keys.js';
import { encodeRecord } from '../store/records.js';
import type { ReconcileResult } from './node-reconciler.js';

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
}

/**
 * Cluster-wide work: IAM's initial setup, exactly once per cluster. Done is
 * recorded in `cluster/status` (fenced); a leader that finds no record still
 * asks IAM first, so a setup whose record was lost with a crashed leader is
 * not repeated.
 */
export class ClusterReconciler {
  private readonly deps: ClusterReconcilerDeps;
  private iamDone = false;

  constructor(deps: ClusterReconcilerDeps) {
    this.deps = deps;
  }

  get iamBootstrapped(): boolean {
    return this.iamDone;
  }

  async reconcile(leadership: Leadership): Promise<ReconcileResult> {
    const { iam, log, keys } = this.deps;
    if (iam === undefined || this.iamDone) return {};
    const current = await this.readStatus();
    if (current?.status.iam?.bootstrapped) {
      this.markDone();
      return {};
    }
    const signal = leadership.signal;
    const { initialized } = await iam.bootstrapStatus(signal);
    let outcome: 'initialized' | 'already-initialized' = 'already-initialized';
    if (!initialized) {
      if (this.deps.readAdminSecret === undefined) throw new Error('IAM is configured without iam.adminSecretFile');
      const secret = await this.deps.readAdminSecret();
      if (!leadership.isLeader()) return {};
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
    return {};
  }

  /** A new term re-reads everything from the store. */
  reset(): void {
    this.iamDone = false;
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
