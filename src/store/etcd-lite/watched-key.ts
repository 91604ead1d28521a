import { EventEmitter } from 'node:events';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { RawKv } from '../records.js';
import { storeWentBack } from '../rewind.js';
import type { EtcdLite, EtcdLiteWatch } from './client.js';

export interface KeyChange<T> {
  type: 'put' | 'delete';
  key: string;
  /** the record after the event (put) */
  record?: T;
  /** the record before the event, if there was one */
  previous?: T;
}

export interface WatchedKeyOptions<T> {
  client: Pick<EtcdLite, 'range' | 'watch'>;
  key: string;
  decode: (kv: RawKv) => T;
  /** what the key holds, for logs */
  resource: string;
  log: Logger;
  /** first and longest pause between attempts to list and watch again (default 100 ms and 5 s) */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * How often the store's revision is looked at (default 10 s; 0: never). A
   * store restored from a snapshot under the watch can carry on without
   * ending it (a watch from a revision that does not exist yet waits
   * silently): a revision below the one seen means list and watch again.
   */
  epochCheckMs?: number;
}

/** Why a watch is started again: its end, or the store going back; a compacted revision is listed at once. */
type RestartCause = Error & { compactRevision?: number };

/**
 * One key, listed and then watched from the next revision: `value` is what
 * the key holds, and `change` is emitted when that changes. When the watch
 * ends (its revision compacted, canceled by etcd, its stream broken), the
 * key is read again, a change emitted if it differs, and watched again, with
 * backoff, until `stop()`.
 */
export class WatchedKey<T> extends EventEmitter {
  readonly key: string;
  private readonly opts: WatchedKeyOptions<T>;
  private current: { record: T; modRevision: number } | undefined;
  private revision = 0;
  private watch: EtcdLiteWatch | undefined;
  /** counts the watches started: events of an older one are ignored */
  private generation = 0;
  private stopped = false;
  private restarting: Promise<void> | undefined;
  /** why the watch has to be started again, while a restart is due */
  private pendingRestart: RestartCause | undefined;
  private wake: (() => void) | undefined;
  private epochTimer: NodeJS.Timeout | undefined;
  private checking = false;
  /** the cluster id of the store the last list came from */
  private clusterId: string | undefined;

  constructor(opts: WatchedKeyOptions<T>) {
    super();
    this.opts = opts;
    this.key = opts.key;
  }

  /** The record the key holds, undefined while it does not exist. */
  get value(): T | undefined {
    return this.current?.record;
  }

  get modRevision(): number | undefined {
    return this.current?.modRevision;
  }

  /** The revision the watch has seen up to. */
  get lastRevision(): number {
    return this.revision;
  }

  /** Reads the key and starts watching it; resolves once both are done, rejects if either fails. */
  async start(): Promise<void> {
    await this.listAndWatch();
    const every = this.opts.epochCheckMs ?? 10_000;
    if (every > 0 && !this.stopped) {
      this.epochTimer = setInterval(() => void this.checkEpoch(), every);
      this.epochTimer.unref();
    }
  }

  /** Whether the store went back under the watch (see `epochCheckMs`); if so, list and watch again. */
  async checkEpoch(): Promise<boolean> {
    if (this.stopped || this.restarting || this.checking) return false;
    this.checking = true;
    // What was seen before asking: events that arrive meanwhile may be newer than the answer.
    const seen = this.revision;
    try {
      const listed = await this.opts.client.range(this.opts.key);
      if (this.stopped || this.restarting) return false;
      const why = storeWentBack({ clusterId: this.clusterId, revision: seen }, listed);
      if (why === undefined) return false;
      // The watch of the old store is dropped; listAndWatch sees the lower revision and starts from the new one.
      const live = this.watch;
      this.watch = undefined;
      this.generation += 1;
      live?.cancel();
      this.restart(new Error(`${why} under the watch`));
      return true;
    } catch {
      return false; // no answer now: the next look tries again
    } finally {
      this.checking = false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.epochTimer);
    this.stopped = true;
    this.watch?.cancel();
    this.watch = undefined;
    this.wake?.();
    await this.restarting?.catch(() => undefined);
  }

  override on(event: 'change', listener: (e: KeyChange<T>) => void): this;
  override on(event: string, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }

  private async listAndWatch(): Promise<void> {
    const { client, key } = this.opts;
    const listed = await client.range(key);
    if (this.stopped) return;
    const wentBack = storeWentBack({ clusterId: this.clusterId, revision: this.revision }, listed);
    if (wentBack !== undefined) {
      // Restored from a snapshot: a watch from the old revision would wait for revisions that may never come,
      // and what the key holds now counts as a change even with an older (or equal) modRevision.
      this.opts.log.warn({ resource: this.opts.resource, from: this.revision, to: listed.revision }, `${wentBack}: watching from the new revision`);
      if (this.current !== undefined) this.current = { ...this.current, modRevision: -1 };
      this.revision = 0;
    }
    if (listed.clusterId !== undefined) this.clusterId = listed.clusterId;
    const kv = listed.kvs.find((k) => k.key === key);
    if (kv === undefined) this.apply({ type: 'delete', kv: { key, value: '', modRevision: listed.revision, createRevision: 0 } });
    else this.apply({ type: 'put', kv });
    this.revision = Math.max(this.revision, listed.revision);
    const generation = ++this.generation;
    // Events may arrive in the very answer that says the watch was created, before `watch()` resolves.
    const watch = await client.watch(key, this.revision + 1, {
      onEvents: (events, revision) => {
        if (this.generation !== generation || this.stopped) return;
        for (const e of events) this.apply(e);
        if (revision > this.revision) this.revision = revision;
      },
      onEnd: (err) => {
        if (this.generation !== generation || this.stopped) return;
        this.watch = undefined;
        this.restart(err);
      },
    });
    if (this.stopped) {
      watch.cancel();
      return;
    }
    if (this.generation === generation && !watch.canceled) this.watch = watch;
  }

  private restart(err: RestartCause): void {
    if (this.stopped) return;
    this.opts.log.warn({ resource: this.opts.resource, err: errorMessage(err) }, 'watch failed; listing again');
    this.pendingRestart = err;
    // A restart under way goes round once more.
    if (this.restarting) return;
    this.restarting = (async () => {
      const longest = this.opts.maxBackoffMs ?? 5000;
      while (this.pendingRestart !== undefined && !this.stopped) {
        const cause = this.pendingRestart;
        this.pendingRestart = undefined;
        let pause = this.opts.minBackoffMs ?? 100;
        // A compacted revision is a reason to list again at once; anything else waits a little first.
        if (cause.compactRevision === undefined) await this.sleep(pause);
        while (!this.stopped) {
          try {
            await this.listAndWatch();
            break;
          } catch (e) {
            if (this.stopped) return;
            this.opts.log.warn({ resource: this.opts.resource, err: errorMessage(e) }, 'list+watch failed; retrying');
            await this.sleep(pause);
            pause = Math.min(longest, pause * 2);
          }
        }
      }
    })().finally(() => {
      this.restarting = undefined;
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private apply(event: { type: 'put' | 'delete'; kv: RawKv }): void {
    const { kv } = event;
    if (kv.key !== this.key) return;
    if (kv.modRevision > this.revision) this.revision = kv.modRevision;
    const previous = this.current;
    if (event.type === 'delete') {
      if (previous === undefined) return;
      this.current = undefined;
      this.emit('change', { type: 'delete', key: kv.key, previous: previous.record } satisfies KeyChange<T>);
      return;
    }
    // A list after a restart hands back what was already seen: no change for it.
    if (previous !== undefined && previous.modRevision >= kv.modRevision) return;
    const record = this.opts.decode(kv);
    this.current = { record, modRevision: kv.modRevision };
    const change: KeyChange<T> = { type: 'put', key: kv.key, record };
    if (previous !== undefined) change.previous = previous.record;
    this.emit('change', change);
  }
}
