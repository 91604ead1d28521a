import { hostname } from 'node:os';
import { MembershipError, errorMessage, keptCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { AgentReport, Service } from '../schema/agent-report.js';
import { API_VERSION } from '../schema/common.js';
import { VERSION } from '../version.js';
import type { EtcdLite } from '../store/etcd-lite/client.js';
import { EtcdLiteLease } from '../store/etcd-lite/lease.js';
import type { KeyLayout } from '../store/keys.js';
import { encodeRecord } from '../store/records.js';

export const AGENT_VERSION = VERSION;

/**
 * The agent's heartbeat: `agents/<node>` bound to a lease, so the controller
 * sees the agent vanish when it stops (the key expires with the lease). A
 * lease that is lost while the agent runs (Chainfire unreachable for a whole
 * TTL) is replaced: the report is published again under a new lease.
 */
export class ReportPublisher {
  private readonly lease: EtcdLiteLease;
  private readonly report: AgentReport;
  private readonly key: string;
  private readonly log: Logger;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(opts: { client: EtcdLite; keys: KeyLayout; node: string; waitingFor: Service; mode: 'join' | 'bootstrap'; ttlSeconds: number; log: Logger }) {
    this.key = opts.keys.agent(opts.node);
    this.log = opts.log;
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

  /** Publishes (or re-publishes) the report with a service's current health. */
  async publish(service?: Service, healthy?: boolean, detail?: string): Promise<void> {
    if (service !== undefined && healthy !== undefined) {
      this.report.report.services[service] = {
        healthy,
        checkedAt: new Date().toISOString(),
        ...(detail !== undefined ? { detail } : {}),
      };
    }
    try {
      await this.lease.put(this.key, encodeRecord(this.report));
    } catch (err) {
      throw new MembershipError(keptCode(err, 'UNAVAILABLE'), `cannot publish agent report to Chainfire: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Revokes the lease: the report disappears at once. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retry !== undefined) clearTimeout(this.retry);
    await this.lease.revoke().catch(() => undefined);
  }

  /** Publishes under a new lease, trying again every TTL/3 until it is published or the publisher is closed. */
  private republish(): void {
    if (this.closed || this.retry !== undefined) return;
    this.publish().catch((err: unknown) => {
      if (this.closed) return;
      this.log.warn({ err: errorMessage(err) }, 'cannot publish the agent report again yet; retrying');
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.republish();
      }, Math.max(500, (this.lease.ttlSeconds * 1000) / 3));
      this.retry.unref();
    });
  }
}
