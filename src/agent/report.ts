import { hostname } from 'node:os';
import { MembershipError, errorMessage, keptCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { AgentReport, LocalData, Service } from '../schema/agent-report.js';
import { API_VERSION } from '../schema/common.js';
import { VERSION } from '../version.js';
import type { EtcdLite } from '../store/etcd-lite/client.js';
import { EtcdLiteLease } from '../store/etcd-lite/lease.js';
import type { KeyLayout } from '../store/keys.js';
import { encodeRecord } from '../store/records.js';
import { retryTransient } from './retry.js';

export const AGENT_VERSION = VERSION;

export interface ReportPublisherOptions {
  client: EtcdLite;
  keys: KeyLayout;
  node: string;
  waitingFor: Service;
  mode: 'join' | 'bootstrap';
  ttlSeconds: number;
  log: Logger;
  /** the agent's --timeout as a moment (epoch ms): transient failures are tried again until then (default: never given up) */
  deadline?: number;
  /** the local data of a service, read again for every publish (`report.data`) */
  data?: { service: 'chainfire' | 'flaredb'; read: () => Promise<LocalData | undefined> };
}

/**
 * The agent's heartbeat: `agents/<node>` bound to a lease, so the controller
 * sees the agent vanish when it stops (the key expires with the lease). A
 * publish that fails transiently (a leader change, a timed-out lease grant or
 * put) is tried again until the deadline. A lease that is lost while the
 * agent runs (Chainfire unreachable for a whole TTL) is replaced: the report
 * is published again under a new lease.
 */
export class ReportPublisher {
  private readonly lease: EtcdLiteLease;
  private readonly report: AgentReport;
  private readonly key: string;
  private readonly log: Logger;
  private readonly opts: ReportPublisherOptions;
  /** ends the tries of a publish when the publisher is closed */
  private readonly closing = new AbortController();
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private republishing = false;
  private dataSource: ReportPublisherOptions['data'];

  constructor(opts: ReportPublisherOptions) {
    this.key = opts.keys.agent(opts.node);
    this.log = opts.log;
    this.opts = opts;
    this.dataSource = opts.data;
    this.lease = new EtcdLiteLease(opts.client, opts.ttlSeconds);
    this.lease.on('lost', (err: unknown) => {
      if (this.closed) return;
      opts.log.warn({ err: errorMessage(err) }, 'heartbeat lease lost; publishing again');
      this.republish();
    });
    this.report = {
      apiVersion: API_VERSION,
      kind: 'AgentReport',
      metadata: { name: opts.node },
      report: {
        agentVersion: AGENT_VERSION,
        pid: process.pid,
        hostname: hostname(),
        startedAt: new Date().toISOString(),
        mode: opts.mode,
        waitingFor: opts.waitingFor,
        services: {},
      },
    };
  }

  /**
   * Publishes (or re-publishes) the report with a service's current health
   * and the local data as it is now, trying again after transient failures
   * until the deadline.
   */
  async publish(service?: Service, healthy?: boolean, detail?: string): Promise<void> {
    if (service !== undefined && healthy !== undefined) {
      this.report.report.services[service] = {
        healthy,
        checkedAt: new Date().toISOString(),
        ...(detail !== undefined ? { detail } : {}),
      };
    }
    try {
      await retryTransient('publishing the agent report', async () => {
        await this.readData();
        await this.lease.put(this.key, encodeRecord(this.report));
      }, { deadline: this.opts.deadline ?? Number.POSITIVE_INFINITY, log: this.log, signal: this.closing.signal });
    } catch (err) {
      throw new MembershipError(keptCode(err, 'UNAVAILABLE'), `cannot publish agent report to Chainfire: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Where the local data of a service comes from from now on (`report.data`). */
  useData(source: NonNullable<ReportPublisherOptions['data']>): void {
    this.dataSource = source;
  }

  /** The report as it was last published (or is about to be). */
  get current(): AgentReport {
    return structuredClone(this.report);
  }

  private async readData(): Promise<void> {
    const source = this.dataSource;
    if (source === undefined) return;
    const data = await source.read();
    if (data === undefined) {
      if (this.report.report.data) delete this.report.report.data[source.service];
      return;
    }
    this.report.report.data = { ...this.report.report.data, [source.service]: data };
  }

  /** Revokes the lease: the report disappears at once. */
  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort(new MembershipError('UNAVAILABLE', 'the agent report is no longer published'));
    if (this.retry !== undefined) clearTimeout(this.retry);
    await this.lease.revoke().catch(() => undefined);
  }

  /** Publishes under a new lease, trying again every TTL/3 until it is published or the publisher is closed. */
  private republish(): void {
    if (this.closed || this.republishing || this.retry !== undefined) return;
    this.republishing = true;
    this.publish().then(
      () => {
        this.republishing = false;
      },
      (err: unknown) => {
        this.republishing = false;
        if (this.closed) return;
        this.log.warn({ err: errorMessage(err) }, 'cannot publish the agent report again yet; retrying');
        this.retry = setTimeout(() => {
          this.retry = undefined;
          this.republish();
        }, Math.max(500, (this.lease.ttlSeconds * 1000) / 3));
        this.retry.unref();
      },
    );
  }
}
