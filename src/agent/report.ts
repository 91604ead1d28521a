import { hostname } from 'node:os';
import type { Etcd3, Lease } from 'etcd3';
import { MembershipError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { AgentReport, Service } from '../schema/agent-report.js';
import { API_VERSION } from '../schema/common.js';
import type { KeyLayout } from '../store/keys.js';
import { encodeRecord } from '../store/records.js';

export const AGENT_VERSION = '0.1.0';

/**
 * The agent's heartbeat: `agents/<node>` bound to a lease, so the controller
 * sees the agent vanish when it stops (the key expires with the lease).
 */
export class ReportPublisher {
  private readonly lease: Lease;
  private readonly report: AgentReport;
  private readonly key: string;

  constructor(opts: { client: Etcd3; keys: KeyLayout; node: string; waitingFor: Service; mode: 'join' | 'bootstrap'; ttlSeconds: number; log: Logger }) {
    this.key = opts.keys.agent(opts.node);
    this.lease = opts.client.lease(opts.ttlSeconds);
    this.lease.on('lost', (err) => opts.log.warn({ err: errorMessage(err) }, 'heartbeat lease lost; publishing again'));
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
      await this.lease.put(this.key).value(encodeRecord(this.report));
    } catch (err) {
      throw new MembershipError('UNAVAILABLE', `cannot publish agent report to Chainfire: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Revokes the lease: the report disappears at once. */
  async close(): Promise<void> {
    await this.lease.revoke().catch(() => undefined);
  }
}
