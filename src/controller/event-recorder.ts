/**
 * Keeps each node's event history (events/<node>): the last MAX_EVENTS events,
 * appended by the leader with a compare-and-swap fenced to its term, so a
 * stale leader cannot append. Appends run beside the reconciles (a reconcile
 * never waits for its events), one at a time per node, and a little after
 * the fact (FLUSH_DELAY_MS): the events of a join land in one write after it,
 * not in etcd's way while it runs; an append that keeps losing its compare-and-swap, or
 * whose term ended, is dropped with a debug line.
 */
import type { Etcd3 } from 'etcd3';
import type { Leadership } from '../election/leader-election.js';
import { errorMessage, isMembershipError } from '../errors.js';
import type { Logger } from '../log.js';
import type { EventDraft } from '../reconcile/events.js';
import { API_VERSION } from '../schema/common.js';
import { MAX_EVENTS, nodeEvents, type NodeEvent, type NodeEvents } from '../schema/events.js';
import type { KeyLayout } from '../store/keys.js';
import { parseJsonOrUndefined } from '../store/records.js';

type Writer = Pick<Leadership, 'identity' | 'term' | 'writer' | 'isLeader'>;

/** How long a node's events wait before they are written, to be written together. */
export const FLUSH_DELAY_MS = 500;

export class EventRecorder {
  private readonly pending = new Map<string, { events: NodeEvent[]; leadership: Writer }>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly client: Etcd3,
    private readonly keys: KeyLayout,
    private readonly log: Logger,
    private readonly max = MAX_EVENTS,
    private readonly delayMs = FLUSH_DELAY_MS,
  ) {}

  record(node: string, drafts: EventDraft[], generation: number, leadership: Writer, now = new Date()): void {
    if (drafts.length === 0 || !leadership.isLeader()) return;
    const stamped = drafts.map((d): NodeEvent => ({
      time: now.toISOString(), type: d.type, reason: d.reason, message: d.message, generation,
      controller: { identity: leadership.identity, term: leadership.term },
    }));
    const queued = this.pending.get(node);
    // Only the last `max` can be kept anyway.
    this.pending.set(node, { events: [...(queued?.events ?? []), ...stamped].slice(-this.max), leadership });
    if (!this.running.has(node) && !this.timers.has(node)) {
      const timer = setTimeout(() => this.start(node), this.delayMs);
      timer.unref();
      this.timers.set(node, timer);
    }
  }

  /** Resolves once every event recorded so far is written or dropped (what waits is written now). */
  async idle(): Promise<void> {
    for (const node of [...this.timers.keys()]) this.start(node);
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  private start(node: string): void {
    clearTimeout(this.timers.get(node));
    this.timers.delete(node);
    if (this.running.has(node)) return;
    const run = this.flush(node).finally(() => this.running.delete(node));
    this.running.set(node, run);
  }

  /** The node's history as stored (oldest first); empty when there is none or it does not decode. */
  static decode(raw: string | undefined): NodeEvent[] {
    if (raw === undefined) return [];
    const parsed = nodeEvents.safeParse(parseJsonOrUndefined(raw));
    return parsed.success ? parsed.data.events : [];
  }

  private async flush(node: string): Promise<void> {
    for (let next = this.pending.get(node); next !== undefined; next = this.pending.get(node)) {
      this.pending.delete(node);
      await this.append(node, next.events, next.leadership);
    }
  }

  /**
   * What this leader last wrote (or read) per node, so that an append needs no
   * read first; a compare-and-swap that fails (someone else wrote) reads again.
   * Bounded: the least recently written nodes are forgotten first.
   */
  private readonly known = new Map<string, { modRevision: number; events: NodeEvent[]; term: number }>();

  private remember(node: string, entry: { modRevision: number; events: NodeEvent[]; term: number }): void {
    this.known.delete(node);
    this.known.set(node, entry);
    if (this.known.size > KNOWN_NODES) this.known.delete(this.known.keys().next().value!);
  }

  private async current(node: string, key: string, term: number): Promise<{ modRevision: number; events: NodeEvent[] }> {
    const cached = this.known.get(node);
    if (cached !== undefined && cached.term === term) return cached;
    const kv = (await this.client.get(key).exec()).kvs[0];
    return { modRevision: Number(kv?.mod_revision ?? 0), events: EventRecorder.decode(kv?.value.toString()) };
  }

  private async append(node: string, events: NodeEvent[], leadership: Writer): Promise<void> {
    const key = this.keys.event(node);
    for (let attempt = 1; attempt <= 3; attempt++) {
      if (!leadership.isLeader()) return;
      try {
        const history = await this.current(node, key, leadership.term);
        const kept = squash([...history.events, ...events]).slice(-this.max);
        const record: NodeEvents = { apiVersion: API_VERSION, kind: 'NodeEvents', metadata: { name: node }, events: kept };
        const modRevision = await leadership.writer.putIfUnchanged(key, JSON.stringify(record), history.modRevision);
        this.remember(node, { modRevision, events: kept, term: leadership.term });
        return;
      } catch (err) {
        this.known.delete(node);
        if (isMembershipError(err, 'CONFLICT') && attempt < 3) continue;
        this.log.debug({ node, err: errorMessage(err), events: events.length }, 'events not recorded');
        return;
      }
    }
  }
}

/** How many nodes' histories the recorder remembers, to append without reading first. */
const KNOWN_NODES = 2000;

/** The same event several times in a row is kept once, with a count and the last time. */
function squash(events: NodeEvent[]): NodeEvent[] {
  const out: NodeEvent[] = [];
  for (const e of events) {
    const last = out.at(-1);
    if (last !== undefined && last.type === e.type && last.reason === e.reason && last.message === e.message && last.generation === e.generation) {
      out[out.length - 1] = { ...e, count: (last.count ?? 1) + (e.count ?? 1) };
    } else {
      out.push(e);
    }
  }
  return out;
}
