import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ListCache } from './list-cache.js';

interface Item {
  id: string;
  v: number;
}

function counted(items: () => Item[]) {
  const calls = { n: 0 };
  const load = async () => {
    calls.n += 1;
    await Promise.resolve();
    return items().map((i) => ({ ...i }));
  };
  return { calls, load };
}

describe('ListCache', () => {
  it('shares one load between concurrent callers and reuses it within maxAgeMs', async () => {
    const { calls, load } = counted(() => [{ id: 'a', v: 1 }]);
    const cache = new ListCache(load, 60_000);
    const [x, y] = await Promise.all([cache.get(), cache.get()]);
    assert.equal(calls.n, 1);
    assert.equal(x, y);
    await cache.get();
    assert.equal(calls.n, 1);
    await cache.get(true);
    assert.equal(calls.n, 2, 'fresh loads again');
    cache.invalidate();
    await cache.get();
    assert.equal(calls.n, 3, 'invalidate drops the list');
  });

  it('loads again once the list is older than maxAgeMs', async () => {
    const { calls, load } = counted(() => []);
    const cache = new ListCache(load, 0);
    await cache.get();
    await new Promise((r) => setTimeout(r, 5));
    await cache.get();
    assert.equal(calls.n, 2);
  });

  it('a failed load is not cached: the next caller loads again', async () => {
    let fail = true;
    const cache = new ListCache(async () => {
      if (fail) throw new Error('connect ECONNREFUSED');
      return [{ id: 'a', v: 1 }];
    }, 60_000);
    await assert.rejects(cache.get(), /ECONNREFUSED/);
    fail = false;
    assert.deepEqual(await cache.get(), [{ id: 'a', v: 1 }]);
  });

  it('looks items up by key without a list call, and upsert changes the cached list in place', async () => {
    const { calls, load } = counted(() => [
      { id: 'a', v: 1 },
      { id: 'b', v: 2 },
    ]);
    const cache = new ListCache(load, 60_000, (i: Item) => i.id);
    const list = await cache.get();
    assert.deepEqual(cache.lookup(list, 'b'), { id: 'b', v: 2 });
    assert.equal(cache.lookup(list, 'c'), undefined);
    cache.upsert({ id: 'b', v: 20 });
    cache.upsert({ id: 'c', v: 3 });
    const again = await cache.get();
    assert.equal(calls.n, 1, 'no list call after an upsert');
    assert.equal(again, list);
    assert.deepEqual(again, [
      { id: 'a', v: 1 },
      { id: 'b', v: 20 },
      { id: 'c', v: 3 },
    ]);
    assert.deepEqual(cache.lookup(again, 'c'), { id: 'c', v: 3 });
    assert.deepEqual(cache.lookup(again, 'b'), { id: 'b', v: 20 });
  });

  it('lookup in a list that is no longer the cached one scans it', async () => {
    const { load } = counted(() => [{ id: 'a', v: 1 }]);
    const cache = new ListCache(load, 60_000, (i: Item) => i.id);
    const old = await cache.get();
    await cache.get(true);
    cache.upsert({ id: 'a', v: 9 });
    assert.deepEqual(cache.lookup(old, 'a'), { id: 'a', v: 1 });
  });

  it('upsert without a cached list does nothing; the next get loads', async () => {
    const { calls, load } = counted(() => [{ id: 'a', v: 1 }]);
    const cache = new ListCache(load, 60_000, (i: Item) => i.id);
    cache.upsert({ id: 'z', v: 0 });
    assert.deepEqual(await cache.get(), [{ id: 'a', v: 1 }]);
    assert.equal(calls.n, 1);
  });
});
