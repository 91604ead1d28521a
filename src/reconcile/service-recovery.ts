import type { Service } from '../schema/agent-report.js';

/** How often a service that nodes wait for is asked again whether it answers. */
export const PROBE_EVERY_MS = 250;

export interface ServiceRecoveryOptions {
  /** one cheap call per service that succeeds once the service answers again */
  probes: Partial<Record<Service, () => Promise<unknown>>>;
  /** the nodes that waited for `service`, now that it answers */
  onRecovered: (service: Service, nodes: string[]) => void;
  everyMs?: number;
}

/**
 * Nodes that found a service unavailable wait here instead of each polling
 * it: one probe per service every PROBE_EVERY_MS while anyone waits, and
 * every waiting node is woken the moment the probe succeeds. During an outage
 * the service sees one request per period, however many nodes wait; after
 * it, nodes go again within a period instead of a retry interval.
 */
export class ServiceRecovery {
  private readonly waiting = new Map<Service, Set<string>>();
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private stopped = false;
  private readonly everyMs: number;

  constructor(private readonly opts: ServiceRecoveryOptions) {
    this.everyMs = opts.everyMs ?? PROBE_EVERY_MS;
  }

  /** `node` waits for `service` (no-op for a service without a probe). */
  wait(service: Service, node: string): void {
    if (this.stopped || this.opts.probes[service] === undefined) return;
    let set = this.waiting.get(service);
    if (set === undefined) this.waiting.set(service, (set = new Set()));
    set.add(node);
    this.schedule();
  }

  /** Nodes waiting, per service (for tests and logs). */
  waitingFor(service: Service): number {
    return this.waiting.get(service)?.size ?? 0;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.waiting.clear();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.probing || this.stopped || this.waiting.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.probeAll();
    }, this.everyMs);
    this.timer.unref();
  }

  private async probeAll(): Promise<void> {
    this.probing = true;
    try {
      await Promise.all(
        [...this.waiting.keys()].map(async (service) => {
          try {
            await this.opts.probes[service]!();
          } catch {
            return; // still down: the nodes keep waiting
          }
          if (this.stopped) return;
          const nodes = [...(this.waiting.get(service) ?? [])];
          this.waiting.delete(service);
          if (nodes.length > 0) this.opts.onRecovered(service, nodes);
        }),
      );
    } finally {
      this.probing = false;
      this.schedule();
    }
  }
}
