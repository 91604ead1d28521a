/**
 * Rate limiters decide how long a key waits before it is retried. The queue
 * calls `when` once per retry, so limiters may keep per-key state there.
 */

export interface RateLimiter {
  /** Delay in milliseconds before `key` may be processed again. */
  when(key: string): number;
  /** Drop per-key state once the key has succeeded. */
  forget(key: string): void;
  /** How many times `when` was asked about `key` since it was last forgotten. */
  retries(key: string): number;
}

function requirePositive(owner: string, option: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${owner}: ${option} must be a positive finite number, got ${String(value)}`);
  }
}

export interface ItemExponentialOptions {
  /** Delay of the first retry in ms (default 5). */
  baseDelayMs?: number;
  /** Upper bound on any delay in ms (default 1,000,000, i.e. 1000 s). */
  maxDelayMs?: number;
}

/** Per-key exponential backoff: base, 2·base, 4·base, ... capped at max. */
export class ItemExponentialRateLimiter implements RateLimiter {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  private readonly failures = new Map<string, number>();

  constructor(options: ItemExponentialOptions = {}) {
    const { baseDelayMs = 5, maxDelayMs = 1_000_000 } = options;
    requirePositive('ItemExponentialRateLimiter', 'baseDelayMs', baseDelayMs);
    requirePositive('ItemExponentialRateLimiter', 'maxDelayMs', maxDelayMs);
    if (maxDelayMs < baseDelayMs) {
      throw new RangeError(
        `ItemExponentialRateLimiter: maxDelayMs (${maxDelayMs}) must not be less than baseDelayMs (${baseDelayMs})`,
      );
    }
    this.baseDelayMs = baseDelayMs;
    this.maxDelayMs = maxDelayMs;
  }

  when(key: string): number {
    const exponent = this.failures.get(key) ?? 0;
    this.failures.set(key, exponent + 1);
    // 2 ** exponent reaches Infinity after ~1024 failures; min() still caps it.
    return Math.min(this.baseDelayMs * 2 ** exponent, this.maxDelayMs);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

export interface BucketOptions {
  /** Tokens added per second (default 10). */
  qps?: number;
  /** Bucket size, i.e. how many keys may go through at once (default 100). */
  burst?: number;
  /** Monotonic clock in ms; injectable for tests. */
  clock?: () => number;
}

/**
 * One token bucket shared by all keys: it bounds the overall retry rate even
 * when many distinct keys fail at once, which per-key backoff cannot do.
 */
export class BucketRateLimiter implements RateLimiter {
  readonly qps: number;
  readonly burst: number;
  private readonly clock: () => number;
  // May go negative: each call reserves a future token, so callers queue up
  // behind one another instead of all being told the same delay.
  private tokens: number;
  private last: number;

  constructor(options: BucketOptions = {}) {
    const { qps = 10, burst = 100, clock = () => performance.now() } = options;
    requirePositive('BucketRateLimiter', 'qps', qps);
    if (!Number.isInteger(burst) || burst < 1) {
      throw new RangeError(`BucketRateLimiter: burst must be an integer of at least 1, got ${String(burst)}`);
    }
    this.qps = qps;
    this.burst = burst;
    this.clock = clock;
    this.tokens = burst;
    this.last = clock();
  }

  when(_key: string): number {
    const now = this.clock();
    const elapsedMs = Math.max(0, now - this.last);
    this.last = Math.max(this.last, now);
    this.tokens = Math.min(this.burst, this.tokens + (elapsedMs * this.qps) / 1000);
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.qps;
  }

  forget(_key: string): void {
    // Tokens are not owned by any key, so there is nothing to give back.
  }

  retries(_key: string): number {
    return 0;
  }
}

/** Applies every limiter and honours the strictest one. */
export class MaxOfRateLimiter implements RateLimiter {
  private readonly limiters: readonly RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    if (limiters.length === 0) {
      throw new RangeError('MaxOfRateLimiter: limiters must contain at least one rate limiter');
    }
    this.limiters = limiters;
  }

  when(key: string): number {
    // Every limiter must see the call so its own state advances.
    let delay = 0;
    for (const limiter of this.limiters) delay = Math.max(delay, limiter.when(key));
    return delay;
  }

  forget(key: string): void {
    for (const limiter of this.limiters) limiter.forget(key);
  }

  retries(key: string): number {
    let most = 0;
    for (const limiter of this.limiters) most = Math.max(most, limiter.retries(key));
    return most;
  }
}

/** Per-key backoff from 5 ms to 1000 s, bounded overall to 10 qps with burst 100. */
export function defaultControllerRateLimiter(): RateLimiter {
  return new MaxOfRateLimiter(new ItemExponentialRateLimiter(), new BucketRateLimiter());
}
