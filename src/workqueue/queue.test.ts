import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { WorkQueueMetricsProvider } from '../metrics/workqueue-metrics.js';
import { WorkQueue } from './queue.js';
import { ItemExponentialRateLimiter } from './rate-limiter.js';

const PENDING = Symbol('pending');

/** The promise's value if it settles within a few event-loop turns, else PENDING. */
async function peek<T>(promise: Promise<T>): Promise<T | typeof PENDING> {
  const later = nextTurn().then(() => nextTurn()).then((): typeof PENDING => PENDING);
  return Promise.race([promise, later]);
}

/**
 * Fails instead of hanging when a timer-driven key never shows up. The guard
 * timer is ref'd on purpose: the queue's own timers are not, so without it
 * the event loop could empty while a delayed key is still due.
 */
async function getWithin(queue: WorkQueue, ms = 5_000): Promise<string | undefined> {
  const guard = new AbortController();
  const timeout = sleep(ms, PENDING, { signal: guard.signal }).catch((): undefined => undefined);
  try {
    const result = await Promise.race([queue.get(), timeout]);
    assert.notEqual(result, PENDING, `no key arrived within ${ms} ms`);
    return result as string | undefined;
  } finally {
    guard.abort();
  }
}

/** Drives the queue's timers and clock by hand, so timing is exact. */
function fakeTimers(t: TestContext): { clock: () => number; advance: (ms: number) => void } {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  return { clock: () => Date.now(), advance: (ms) => t.mock.timers.tick(ms) };
}

/** Deterministic PRNG so a failing interleaving can be replayed. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // High bits: an LCG's low bits repeat with a short period.
    return Math.floor((s / 2 ** 32) * n);
  };
}

describe('WorkQueue', () => {
  it('rejects an empty name', () => {
    assert.throws(() => new WorkQueue({ name: '' }), { name: 'RangeError', message: /name/ });
    assert.throws(() => new WorkQueue({ name: '  ' }), RangeError);
  });

  it('hands keys out in FIFO order and collapses repeated adds', async () => {
    const q = new WorkQueue({ name: 'dedup' });
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('b');
    assert.equal(q.len(), 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    assert.equal(q.len(), 0);
    q.shutDown();
  });

  it('re-runs a key re-added during processing exactly once, after done', async () => {
    const q = new WorkQueue({ name: 'readd' });
    q.add('a');
    const key = await q.get();
    assert.equal(key, 'a');

    q.add('a');
    q.add('a');
    q.add('a');
    assert.equal(q.len(), 0, 'a key being processed is not queued again yet');
    const second = q.get();
    assert.equal(await peek(second), PENDING, 'no second worker may receive a key in progress');

    q.done('a');
    assert.equal(await second, 'a');
    assert.equal(q.len(), 0, 'the three re-adds collapsed into one run');
    q.done('a');
    assert.equal(q.len(), 0);
    assert.equal(await peek(q.get()), PENDING);
    q.shutDown();
  });

  it('ignores done for a key nobody holds', async () => {
    const q = new WorkQueue({ name: 'stray-done' });
    q.done('ghost');
    q.add('a');
    q.done('a'); // queued, not processing: must stay queued
    assert.equal(q.len(), 1);
    assert.equal(await q.get(), 'a');
    q.shutDown();
  });

  it('never gives a key to two workers and processes every key after its last add', async () => {
    const q = new WorkQueue({ name: 'stress' });
    const random = prng(42);
    const keys = Array.from({ length: 25 }, (_, i) => `k${i}`);
    const active = new Set<string>();
    const lastAdd = new Map<string, number>();
    const lastStart = new Map<string, number>();
    const overlaps: string[] = [];
    let clock = 0;

    async function worker(): Promise<number> {
      let handled = 0;
      for (;;) {
        const key = await q.get();
        if (key === undefined) return handled;
        if (active.has(key)) overlaps.push(key);
        active.add(key);
        lastStart.set(key, ++clock);
        handled++;
        for (let i = random(4); i > 0; i--) await nextTurn();
        active.delete(key);
        q.done(key);
      }
    }

    const workers = Array.from({ length: 4 }, () => worker());
    for (let i = 0; i < 1000; i++) {
      const key = keys[random(keys.length)]!;
      q.add(key);
      lastAdd.set(key, ++clock);
      if (random(3) === 0) await nextTurn();
    }
    q.shutDown();
    const handled = await Promise.all(workers);

    assert.deepEqual(overlaps, []);
    for (const [key, added] of lastAdd) {
      const started = lastStart.get(key);
      assert.ok(started !== undefined && started > added, `${key} last added at ${added} but last started at ${started}`);
    }
    assert.ok(handled.filter((n) => n > 0).length > 1, 'work was spread over several workers');
  });

  it('delivers delayed keys when due, in order of their due time', async (t) => {
    const time = fakeTimers(t);
    const q = new WorkQueue({ name: 'after', clock: time.clock });
    q.addAfter('late', 60);
    q.addAfter('early', 10);
    q.addAfter('now', 0);
    assert.equal(q.len(), 1, 'a non-positive delay adds at once');
    assert.equal(await q.get(), 'now');

    time.advance(9);
    assert.equal(q.len(), 0);
    time.advance(1);
    assert.equal(await q.get(), 'early');
    time.advance(49);
    assert.equal(q.len(), 0);
    time.advance(1);
    assert.equal(await q.get(), 'late');
    q.shutDown();
  });

  it('keeps the earliest time when a key is delayed twice', async (t) => {
    const time = fakeTimers(t);
    const q = new WorkQueue({ name: 'after-twice', clock: time.clock });
    q.addAfter('a', 60_000);
    q.addAfter('a', 10);
    q.addAfter('b', 10);
    q.addAfter('b', 60_000);
    time.advance(10);
    assert.equal(q.len(), 2);
    const first = (await q.get())!;
    const second = (await q.get())!;
    assert.deepEqual([first, second].sort(), ['a', 'b']);
    q.done(first);
    q.done(second);

    time.advance(60_000);
    assert.equal(q.len(), 0, 'each key was added once, not once per addAfter');
    q.shutDown();
  });

  it('cancels delayed adds on shutdown and ignores adds afterwards', async (t) => {
    const time = fakeTimers(t);
    const q = new WorkQueue({ name: 'after-shutdown', clock: time.clock });
    q.addAfter('a', 10);
    q.shutDown();
    q.add('b');
    q.addAfter('c', 0);
    q.addRateLimited('d');
    time.advance(60_000);
    assert.equal(q.len(), 0);
    assert.equal(await q.get(), undefined);
    assert.equal(q.numRequeues('d'), 0);
  });

  it('addRateLimited backs off per key; forget resets the count', async () => {
    const q = new WorkQueue({
      name: 'limited',
      rateLimiter: new ItemExponentialRateLimiter({ baseDelayMs: 1, maxDelayMs: 4 }),
    });
    q.addRateLimited('a');
    q.addRateLimited('a');
    q.addRateLimited('a');
    assert.equal(q.numRequeues('a'), 3);
    assert.equal(await getWithin(q), 'a');
    q.done('a');
    q.forget('a');
    assert.equal(q.numRequeues('a'), 0);
    q.shutDown();
  });

  it('shutDown resolves every waiting getter with undefined', async () => {
    const q = new WorkQueue({ name: 'shutdown' });
    const waiting = [q.get(), q.get(), q.get()];
    assert.equal(await peek(waiting[0]!), PENDING);
    assert.equal(q.isShuttingDown, false);
    q.shutDown();
    assert.equal(q.isShuttingDown, true);
    assert.deepEqual(await Promise.all(waiting), [undefined, undefined, undefined]);
  });

  it('still hands out keys queued before shutdown, then undefined', async () => {
    const q = new WorkQueue({ name: 'shutdown-queued' });
    q.add('a');
    q.add('b');
    q.shutDown();
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    assert.equal(await q.get(), undefined);
  });

  it('shutDownWithDrain waits for keys in progress', async () => {
    const idle = new WorkQueue({ name: 'drain-idle' });
    await idle.shutDownWithDrain();

    const q = new WorkQueue({ name: 'drain' });
    q.add('a');
    q.add('b');
    const a = await q.get();
    const b = await q.get();
    let drained = false;
    const drain = q.shutDownWithDrain().then(() => void (drained = true));
    q.add('c');
    assert.equal(q.len(), 0, 'adds are refused while draining');

    q.done(a!);
    await nextTurn();
    assert.equal(drained, false, 'b is still in progress');
    q.done(b!);
    await drain;
    assert.equal(drained, true);
  });
});

describe('WorkQueue metrics', () => {
  function sample(
    json: Awaited<ReturnType<Registry['getMetricsAsJSON']>>,
    metric: string,
    queue: string,
    series = metric,
  ): number | undefined {
    const found = json.find((m) => m.name === metric);
    const values: Array<{ value: number; labels: Record<string, unknown>; metricName?: string }> = found?.values ?? [];
    const value = values.find(
      (v) => v.labels['name'] === queue && (v.metricName ?? metric) === series && v.labels['le'] === undefined,
    );
    return value?.value;
  }

  it('publishes every series at zero as soon as the queue exists', async () => {
    const registry = new Registry();
    new WorkQueue({ name: 'fresh', metrics: new WorkQueueMetricsProvider(registry) });
    const json = await registry.getMetricsAsJSON();
    assert.equal(sample(json, 'workqueue_depth', 'fresh'), 0);
    assert.equal(sample(json, 'workqueue_adds_total', 'fresh'), 0);
    assert.equal(sample(json, 'workqueue_retries_total', 'fresh'), 0);
    for (const h of ['workqueue_queue_duration_seconds', 'workqueue_work_duration_seconds']) {
      assert.equal(sample(json, h, 'fresh', `${h}_count`), 0);
      assert.equal(sample(json, h, 'fresh', `${h}_sum`), 0);
    }
    for (const m of json) assert.ok(m.help.length > 0, `${m.name} has help text`);

    const text = await registry.getSingleMetricAsString('workqueue_queue_duration_seconds');
    assert.match(text, /workqueue_queue_duration_seconds_bucket\{le="0.001",name="fresh"\} 0/);
    assert.match(text, /le="65.536"/);
  });

  it('records adds, depth, retries and durations from the injected clock', async () => {
    const registry = new Registry();
    let now = 1_000;
    const q = new WorkQueue({
      name: 'timed',
      metrics: new WorkQueueMetricsProvider(registry),
      rateLimiter: new ItemExponentialRateLimiter({ baseDelayMs: 60_000 }),
      clock: () => now,
    });

    q.add('a');
    q.add('b');
    q.add('a');
    let json = await registry.getMetricsAsJSON();
    assert.equal(sample(json, 'workqueue_adds_total', 'timed'), 2);
    assert.equal(sample(json, 'workqueue_depth', 'timed'), 2);

    now += 250;
    const key = await q.get();
    now += 2_000;
    q.done(key!);
    q.addRateLimited('a');

    json = await registry.getMetricsAsJSON();
    assert.equal(sample(json, 'workqueue_depth', 'timed'), 1);
    assert.equal(sample(json, 'workqueue_queue_duration_seconds', 'timed', 'workqueue_queue_duration_seconds_sum'), 0.25);
    assert.equal(sample(json, 'workqueue_queue_duration_seconds', 'timed', 'workqueue_queue_duration_seconds_count'), 1);
    assert.equal(sample(json, 'workqueue_work_duration_seconds', 'timed', 'workqueue_work_duration_seconds_sum'), 2);
    assert.equal(sample(json, 'workqueue_retries_total', 'timed'), 1);
    q.shutDown();
  });

  it('shares one set of metrics between providers and queues on a registry', async () => {
    const registry = new Registry();
    const first = new WorkQueue({ name: 'one', metrics: new WorkQueueMetricsProvider(registry) });
    first.add('x');
    const provider = new WorkQueueMetricsProvider(registry);
    new WorkQueue({ name: 'two', metrics: provider });
    new WorkQueue({ name: 'one', metrics: provider });

    const json = await registry.getMetricsAsJSON();
    assert.equal(json.filter((m) => m.name === 'workqueue_adds_total').length, 1);
    assert.equal(sample(json, 'workqueue_adds_total', 'one'), 1, 'a second queue of the same name keeps the count');
    assert.equal(sample(json, 'workqueue_adds_total', 'two'), 0);
    first.shutDown();
  });
});
