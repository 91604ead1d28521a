/**
 * Keeps each node's event history (events/<node>): the last MAX_EVENTS events,
 * appended by the leader with a compare-and-swap fenced to its term, so a
 * stale leader cannot append. Appends run beside the reconciles (a reconcile
 * never waits for its events), one at a time per node, several drafts of a
 * node in one write; an append that keeps losing its compare-and-swap, or
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

export class EventRecorder {
  private readonly pending = new Map<string, { events: NodeEvent[]; leadership: Writer }>();
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly client: Etcd3,
    private readonly keys: KeyLayout,
    private readonly log: Logger,
    private readonly max = MAX_EVENTS,
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
    if (!this.running.has(node)) {
      const run = this.flush(node).finally(() => this.running.delete(node));
      this.running.set(node, run);
    }
  }

  /** Resolves once every event recorded so far is written or dropped. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
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

  private async append(node: string, events: NodeEvent[], leadership: Writer): Promise<void> {
    const key = this.keys.event(node);
    for (let attempt = 1; attempt <= 3; attempt++) {
      if (!leadership.isLeader()) return;
      try {
        const kv = (await this.client.get(key).exec()).kvs[0];
        const history = EventRecorder.decode(kv?.value.toString());
        const record: NodeEvents = { apiVersion: API_VERSION, kind: 'NodeEvents', metadata: { name: node }, events: squash([...history, ...events]).slice(-this.max) };
        await leadership.writer.putIfUnchanged(key, JSON.stringify(record), Number(kv?.mod_revision ?? 0));
        return;
      } catch (err) {
        if (isMembershipError(err, 'CONFLICT') && attempt < 3) continue;
        this.log.debug({ node, err: errorMessage(err), events: events.length }, 'events not recorded');
        return;
      }
    }
  }
}

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
