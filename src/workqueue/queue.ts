/**
 * A deduplicating work queue of string keys for reconcile loops.
 *
 * A key lives in at most one of three places that matter to workers:
 *   - `queue`: waiting to be handed out (always also in `dirty`);
 *   - `processing`: held by a worker, and nowhere in `queue`;
 *   - `dirty` while processing: re-added during work, re-queued on `done`.
 * This is what keeps one key from reaching two workers at once while still
 * guaranteeing a run that starts after the latest add.
 */
import type { QueueMetrics, WorkQueueMetricsProvider } from '../metrics/workqueue-metrics.js';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.js';

export interface WorkQueueOptions {
  /** Used as the `name` label on metrics; must be non-empty. */
  name: string;
  /** Decides retry delays for `addRateLimited` (default: 5 ms–1000 s backoff, 10 qps / 100 burst). */
  rateLimiter?: RateLimiter;
  metrics?: WorkQueueMetricsProvider;
  /** Monotonic clock in ms used for durations; injectable for tests. */
  clock?: () => number;
}

const noMetrics: QueueMetrics = {
  add() {},
  get() {},
  done() {},
  retry() {},
  depth() {},
};

interface Delayed {
  readyAt: number;
  timer: NodeJS.Timeout;
}

export class WorkQueue {
  readonly name: string;
  private readonly limiter: RateLimiter;
  private readonly metrics: QueueMetrics;
  private readonly clock: () => number;

  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly queuedAt = new Map<string, number>();
  private readonly startedAt = new Map<string, number>();
  private readonly delayed = new Map<string, Delayed>();
  private readonly getters: Array<(key: string | undefined) => void> = [];
  private readonly drainers: Array<() => void> = [];
  private shuttingDown = false;

  constructor(options: WorkQueueOptions) {
    if (typeof options?.name !== 'string' || options.name.trim() === '') {
      throw new RangeError('WorkQueue: name must be a non-empty string');
    }
    this.name = options.name;
    this.limiter = options.rateLimiter ?? defaultControllerRateLimiter();
    this.metrics = options.metrics?.forQueue(options.name) ?? noMetrics;
    this.clock = options.clock ?? (() => performance.now());
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Number of keys waiting to be handed out (not counting those in progress). */
  len(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.metrics.add();
    this.dirty.add(key);
    // The worker holding the key will re-queue it on done().
    if (this.processing.has(key)) return;
    this.enqueue(key);
  }

  /**
   * Resolves with the next key, which the caller must pass to `done` when
   * finished. Resolves undefined once the queue is shut down and empty.
   */
  get(): Promise<string | undefined> {
    if (this.queue.length > 0) return Promise.resolve(this.take());
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(key: string): void {
    if (!this.processing.delete(key)) return;
    const started = this.startedAt.get(key);
    this.startedAt.delete(key);
    if (started !== undefined) this.metrics.done(this.secondsSince(started));

    if (this.dirty.has(key)) this.enqueue(key);
    if (this.processing.size === 0) this.settleDrainers();
  }

  /** Adds `key` after `ms`; if it is already waiting, the earlier time wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.clock() + ms;
    const pending = this.delayed.get(key);
    if (pending !== undefined) {
      if (pending.readyAt <= readyAt) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    // A pending retry must not keep the process alive on its own.
    timer.unref();
    this.delayed.set(key, { readyAt, timer });
  }

  /** Re-adds `key` after the rate limiter's delay, counting it as a retry. */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    this.metrics.retry();
    this.addAfter(key, this.limiter.when(key));
  }

  /** Clears retry history for `key`, typically after it succeeded. */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.limiter.retries(key);
  }

  /**
   * Stops accepting adds and cancels pending delayed adds. Keys already
   * queued are still handed out; idle getters resolve undefined.
   */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    for (const resolve of this.getters.splice(0)) resolve(undefined);
  }

  /** Like `shutDown`, then waits until no key is being processed. */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainers.push(resolve));
  }

  private enqueue(key: string): void {
    this.queue.push(key);
    this.queuedAt.set(key, this.clock());
    const getter = this.getters.shift();
    // Hand the key over synchronously so no other getter can race for it.
    if (getter !== undefined) getter(this.take());
    else this.metrics.depth(this.queue.length);
  }

  private take(): string {
    const key = this.queue.shift();
    if (key === undefined) throw new Error('WorkQueue: take() called on an empty queue');
    this.dirty.delete(key);
    this.processing.add(key);
    const queued = this.queuedAt.get(key);
    this.queuedAt.delete(key);
    const now = this.clock();
    if (queued !== undefined) this.metrics.get(this.secondsSince(queued, now));
    this.startedAt.set(key, now);
    this.metrics.depth(this.queue.length);
    return key;
  }

  private secondsSince(startMs: number, now = this.clock()): number {
    return Math.max(0, now - startMs) / 1000;
  }

  private settleDrainers(): void {
    for (const resolve of this.drainers.splice(0)) resolve();
  }
}
