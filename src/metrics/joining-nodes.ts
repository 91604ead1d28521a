/**
 * Which nodes are in phase Joining, and since when: one series per node, so
 * that an alert can name the node that is stuck. The number of series is
 * capped (the nodes joining longest are exported, the rest only counted), so
 * that a cluster of 10,000 nodes joining at once costs Prometheus at most
 * `cap` series per replica.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Phase } from '../schema/status.js';

/** At most this many node series per replica by default. */
export const JOINING_SERIES_CAP = 100;

export interface JoiningNodesOptions {
  /** the most node series exported; the rest are counted in membership_node_joining_overflow */
  cap?: number;
  /** the clock, in milliseconds since the epoch */
  now?: () => number;
}

export class JoiningNodes {
  readonly cap: number;
  /** node -> when this replica saw it enter Joining, in Unix seconds */
  private readonly since = new Map<string, number>();
  private readonly now: () => number;

  constructor(registry: Registry, options: JoiningNodesOptions = {}) {
    const cap = options.cap ?? JOINING_SERIES_CAP;
    if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`the joining series cap must be a whole number of at least 1, got ${cap}`);
    this.cap = cap;
    this.now = options.now ?? Date.now;
    const tracked = this.since;
    const registers = [registry];
    // Built at scrape time from the map: a node that left Joining (or whose
    // record was deleted) has no series left behind.
    new Gauge({
      name: 'membership_node_joining_since_timestamp_seconds',
      help:
        `When this replica saw each node enter phase Joining (Unix seconds); only nodes in Joining, at most ${cap} ` +
        '(those joining longest); the others are counted in membership_node_joining_overflow.',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        const longest = [...tracked].sort(([a, x], [b, y]) => x - y || (a < b ? -1 : a > b ? 1 : 0)).slice(0, cap);
        for (const [node, seconds] of longest) this.set({ node }, seconds);
      },
    });
    new Gauge({
      name: 'membership_node_joining_overflow',
      help: `Nodes in phase Joining that have no membership_node_joining_since_timestamp_seconds series because ${cap} nodes have joined longer.`,
      registers,
      collect() {
        this.set(Math.max(0, tracked.size - cap));
      },
    });
  }

  /** The phase a status record now shows for `node`; undefined when the record was deleted or does not decode. */
  observe(node: string, phase: Phase | undefined): void {
    if (phase !== 'Joining') {
      this.since.delete(node);
    } else if (!this.since.has(node)) {
      this.since.set(node, Math.floor(this.now() / 1000));
    }
  }

  /** Nodes in Joining as this replica sees them (all of them, not only the exported ones). */
  get size(): number {
    return this.since.size;
  }
}
