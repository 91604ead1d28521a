import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BucketRateLimiter,
  ItemExponentialRateLimiter,
  MaxOfRateLimiter,
  defaultControllerRateLimiter,
} from './rate-limiter.js';

function fakeClock(start = 0): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('ItemExponentialRateLimiter', () => {
  it('doubles from 5 ms by default and caps at 1000 s', () => {
    const limiter = new ItemExponentialRateLimiter();
    const delays = Array.from({ length: 6 }, () => limiter.when('a'));
    assert.deepEqual(delays, [5, 10, 20, 40, 80, 160]);
    for (let i = 0; i < 2000; i++) limiter.when('a');
    assert.equal(limiter.when('a'), 1_000_000);
  });

  it('honours a configured base and cap', () => {
    const limiter = new ItemExponentialRateLimiter({ baseDelayMs: 5, maxDelayMs: 100 });
    const delays = Array.from({ length: 7 }, () => limiter.when('a'));
    assert.deepEqual(delays, [5, 10, 20, 40, 80, 100, 100]);
  });

  it('tracks keys independently and forget resets one key', () => {
    const limiter = new ItemExponentialRateLimiter();
    limiter.when('a');
    limiter.when('a');
    limiter.when('b');
    assert.equal(limiter.retries('a'), 2);
    assert.equal(limiter.retries('b'), 1);
    assert.equal(limiter.retries('never-seen'), 0);

    limiter.forget('a');
    assert.equal(limiter.retries('a'), 0);
    assert.equal(limiter.when('a'), 5);
    assert.equal(limiter.when('b'), 10);
  });

  it('rejects invalid options with a RangeError naming the option', () => {
    assert.throws(() => new ItemExponentialRateLimiter({ baseDelayMs: 0 }), { name: 'RangeError', message: /baseDelayMs/ });
    assert.throws(() => new ItemExponentialRateLimiter({ baseDelayMs: Number.NaN }), { name: 'RangeError', message: /baseDelayMs/ });
    assert.throws(() => new ItemExponentialRateLimiter({ maxDelayMs: -1 }), { name: 'RangeError', message: /maxDelayMs/ });
    assert.throws(
      () => new ItemExponentialRateLimiter({ baseDelayMs: 50, maxDelayMs: 10 }),
      { name: 'RangeError', message: /maxDelayMs/ },
    );
  });
});

describe('BucketRateLimiter', () => {
  it('lets a burst through, then spaces calls by 1/qps', () => {
    const clock = fakeClock();
    const limiter = new BucketRateLimiter({ qps: 10, burst: 2, clock: clock.now });
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((k) => limiter.when(k)),
      [0, 0, 100, 200],
    );
  });

  it('refills over time but never beyond the burst', () => {
    const clock = fakeClock();
    const limiter = new BucketRateLimiter({ qps: 10, burst: 2, clock: clock.now });
    limiter.when('a');
    limiter.when('a');
    assert.equal(limiter.when('a'), 100);
    clock.advance(100); // pays back the reservation above
    assert.equal(limiter.when('a'), 100);
    clock.advance(60_000);
    assert.deepEqual([limiter.when('a'), limiter.when('a'), limiter.when('a')], [0, 0, 100]);
  });

  it('defaults to 10 qps with a burst of 100 and keeps no per-key state', () => {
    const clock = fakeClock();
    const limiter = new BucketRateLimiter({ clock: clock.now });
    for (let i = 0; i < 100; i++) assert.equal(limiter.when(`k${i}`), 0);
    assert.equal(limiter.when('k'), 100);
    limiter.forget('k');
    assert.equal(limiter.retries('k'), 0);
  });

  it('rejects invalid options with a RangeError naming the option', () => {
    assert.throws(() => new BucketRateLimiter({ qps: 0 }), { name: 'RangeError', message: /qps/ });
    assert.throws(() => new BucketRateLimiter({ qps: Infinity }), { name: 'RangeError', message: /qps/ });
    assert.throws(() => new BucketRateLimiter({ burst: 0 }), { name: 'RangeError', message: /burst/ });
    assert.throws(() => new BucketRateLimiter({ burst: 1.5 }), { name: 'RangeError', message: /burst/ });
  });
});

describe('MaxOfRateLimiter', () => {
  it('returns the largest delay, forgets everywhere and reports the most retries', () => {
    const clock = fakeClock();
    const backoff = new ItemExponentialRateLimiter({ baseDelayMs: 5 });
    const bucket = new BucketRateLimiter({ qps: 1, burst: 1, clock: clock.now });
    const limiter = new MaxOfRateLimiter(backoff, bucket);

    assert.equal(limiter.when('a'), 5); // bucket has a token; backoff wins
    assert.equal(limiter.when('a'), 1000); // bucket is empty and wins
    assert.equal(limiter.retries('a'), 2);

    limiter.forget('a');
    assert.equal(limiter.retries('a'), 0);
    assert.equal(backoff.retries('a'), 0);
  });

  it('requires at least one limiter', () => {
    assert.throws(() => new MaxOfRateLimiter(), RangeError);
  });

  it('the default controller limiter starts at 5 ms', () => {
    const limiter = defaultControllerRateLimiter();
    assert.deepEqual([limiter.when('a'), limiter.when('a'), limiter.when('b')], [5, 10, 5]);
    assert.equal(limiter.retries('a'), 2);
  });
});
