import { EventEmitter } from 'node:events';
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import pRetry from 'p-retry';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { RawKv } from '../store/records.js';
import { storeWentBack } from '../store/rewind.js';

export interface CacheEvent<T> {
  type: 'put' | 'delete';
  key: string;
  /** the record after the event (put) */
  record?: T;
  /** the record before the event, if the cache had one */
  previous?: T;
}

export interface RecordCacheOptions<T> {
  client: Etcd3;
  /** a key prefix (ending in "/") or, with `exact`, one key */
  prefix: string;
  exact?: boolean;
  decode: (kv: RawKv) => T;
  /** what the cache holds, for logs and the watch-restart metric */
  resource: string;
  log: Logger;
  onWatchRestart?: (resource: string) => void;
  /**
   * How often the store's identity is checked (default 10 s; 0: never): a
   * cluster id that changed, or a revision below the last one seen, means the
   * store was recovered or restored from a snapshot under the watch, which
   * etcd3 resumes from a revision that may never come: then list again.
   */
  epochCheckMs?: number;
}

/**
 * List, then watch from the next revision; keep the last revision from every
 * event. etcd3 resumes a watch after a disconnect by itself, but a watch on a
 * compacted revision resolves, emits `error` and stops: then (and on any other
 * watch error) list again, emit deletes for what vanished, and watch again,
 * with backoff. A store that went back (restored from a snapshot: a lower
 * revision, another cluster id) is noticed by a periodic look at a response
 * header and listed again the same way, every record emitted afresh.
 */
export class RecordCache<T> extends EventEmitter {
  private readonly opts: RecordCacheOptions<T>;
  private readonly items = new Map<string, T>();
  private readonly modRevisions = new Map<string, number>();
  private watcher: Watcher | undefined;
  private revision = 0;
  private stopped = false;
  private restarting: Promise<void> | undefined;
  private syncedFlag = false;
  /** the cluster id of the store the list came from */
  private clusterId: string | undefined;
  private epochTimer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(opts: RecordCacheOptions<T>) {
    super();
    this.opts = opts;
  }

  /** Lists and starts watching; resolves once the cache holds a full list. */
  async start(): Promise<void> {
    await this.listAndWatch();
    this.syncedFlag = true;
    const every = this.opts.epochCheckMs ?? 10_000;
    if (every > 0 && !this.stopped) {
      this.epochTimer = setInterval(() => void this.checkEpoch(), every);
      this.epochTimer.unref();
    }
  }

  /** Whether the store went back under the watch (see `epochCheckMs`); if so, list again. */
  async checkEpoch(): Promise<boolean> {
    if (this.stopped || this.restarting || this.checking || this.clusterId === undefined) return false;
    this.checking = true;
    // What this cache had seen before asking: events that arrive meanwhile may be newer than the answer.
    const seen = this.revision;
    try {
      const res = await this.opts.client.get(this.opts.prefix).exec();
      if (this.stopped || this.restarting) return false;
      const why = storeWentBack(
        { clusterId: this.clusterId, revision: seen },
        { clusterId: String(res.header.cluster_id), revision: Number(res.header.revision) },
      );
      if (why === undefined) return false;
      // Every record is emitted again: modRevisions of the old store say nothing about the new one.
      this.revision = 0;
      this.modRevisions.clear();
      const live = this.watcher;
      this.restart(new Error(why));
      void live?.cancel().catch(() => undefined);
      return true;
    } catch {
      return false; // no answer now (e.g. no quorum): the next look tries again
    } finally {
      this.checking = false;
    }
  }

  get synced(): boolean {
    return this.syncedFlag;
  }

  get lastRevision(): number {
    return this.revision;
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  values(): T[] {
    return [...this.items.values()];
  }

  entries(): [string, T][] {
    return [...this.items.entries()];
  }

  get size(): number {
    return this.items.size;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.epochTimer);
    const w = this.watcher;
    this.watcher = undefined;
    await w?.cancel().catch(() => undefined);
  }

  /**
   * Takes in a record this process itself just wrote at `modRevision`, before
   * the watch delivers it, so that readers see their own writes at once; the
   * watch's event for that revision is then skipped (not decoded again). Only
   * when the watch has not yet passed that revision: otherwise what it
   * delivered (including a later change or delete) is already newer.
   */
  assume(key: string, record: T, modRevision: number): void {
    if (modRevision <= this.revision) return;
    const previous = this.items.get(key);
    this.modRevisions.set(key, modRevision);
    this.items.set(key, record);
    const event: CacheEvent<T> = { type: 'put', key, record };
    if (previous !== undefined) event.previous = previous;
    this.emit('event', event);
  }

  override on(event: 'event', listener: (e: CacheEvent<T>) => void): this;
  override on(event: string, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }

  private async listAndWatch(): Promise<void> {
    const { client, prefix, exact } = this.opts;
    const res = exact ? await client.get(prefix).exec() : await client.getAll().prefix(prefix).exec();
    const listed = new Map<string, RawKv>();
    for (const kv of res.kvs) {
      const raw = toRaw(kv);
      if (!exact || raw.key === prefix) listed.set(raw.key, raw);
    }
    // Deletions that happened while we were not watching.
    for (const [key, previous] of [...this.items]) {
      if (!listed.has(key)) {
        this.items.delete(key);
        this.modRevisions.delete(key);
        this.emit('event', { type: 'delete', key, previous } satisfies CacheEvent<T>);
      }
    }
    for (const raw of listed.values()) this.apply('put', raw);
    this.revision = Number(res.header.revision);
    this.clusterId = String(res.header.cluster_id);

    const builder = exact ? client.watch().key(prefix) : client.watch().prefix(prefix);
    const watcher = await builder.startRevision(String(this.revision + 1)).create();
    if (this.stopped) {
      await watcher.cancel().catch(() => undefined);
      return;
    }
    this.watcher = watcher;
    watcher.on('data', (r) => {
      const rev = Number(r.header.revision);
      if (rev > this.revision) this.revision = rev;
    });
    watcher.on('put', (kv) => this.apply('put', toRaw(kv)));
    watcher.on('delete', (kv) => this.apply('delete', toRaw(kv)));
    watcher.on('error', (err) => this.restart(err));
  }

  private restart(err: unknown): void {
    if (this.stopped || this.restarting) return;
    this.opts.log.warn({ resource: this.opts.resource, err: errorMessage(err) }, 'watch failed; listing again');
    this.opts.onWatchRestart?.(this.opts.resource);
    const old = this.watcher;
    this.watcher = undefined;
    // etcd3 has already dropped a watcher that failed; cancelling it would wait
    // for an 'end' that never comes. Just stop listening to it.
    old?.removeAllListeners();
    this.restarting = (async () => {
      await pRetry(() => (this.stopped ? Promise.resolve() : this.listAndWatch()), {
        retries: Number.POSITIVE_INFINITY,
        minTimeout: 100,
        maxTimeout: 5000,
        onFailedAttempt: ({ error }) =>
          this.opts.log.warn({ resource: this.opts.resource, err: errorMessage(error) }, 'list+watch failed; retrying'),
        shouldRetry: () => !this.stopped,
      });
    })().finally(() => {
      this.restarting = undefined;
    });
  }

  private apply(type: 'put' | 'delete', raw: RawKv): void {
    if (raw.modRevision > this.revision) this.revision = raw.modRevision;
    const previous = this.items.get(raw.key);
    if (type === 'delete') {
      this.modRevisions.delete(raw.key);
      if (!this.items.delete(raw.key)) return;
      this.emit('event', { type, key: raw.key, previous } satisfies CacheEvent<T>);
      return;
    }
    // A re-list hands back unchanged keys: no event for them.
    if (previous !== undefined && this.modRevisions.get(raw.key) === raw.modRevision) return;
    this.modRevisions.set(raw.key, raw.modRevision);
    const record = this.opts.decode(raw);
    this.items.set(raw.key, record);
    const event: CacheEvent<T> = { type, key: raw.key, record };
    if (previous !== undefined) event.previous = previous;
    this.emit('event', event);
  }
}

function toRaw(kv: IKeyValue): RawKv {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
  };
}
