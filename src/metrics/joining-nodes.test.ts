import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { JOINING_SERIES_CAP, JoiningNodes } from './joining-nodes.js';
import { ControllerMetrics } from './controller-metrics.js';

const SINCE = 'membership_node_joining_since_timestamp_seconds';
const OVERFLOW = 'membership_node_joining_overflow';

/** The exposition's samples of one metric: labels as text -> value. */
async function samples(registry: Registry, name: string): Promise<Map<string, number>> {
  const text = await registry.metrics();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}

/** A clock that the test moves. */
function clock(startSeconds: number): { now: () => number; advance: (s: number) => void } {
  let ms = startSeconds * 1000;
  return { now: () => ms, advance: (s) => (ms += s * 1000) };
}

const node = (i: number) => `node${String(i).padStart(5, '0')}`;

describe('JoiningNodes', () => {
  it('exports one series per Joining node with the time it entered Joining, and none for other phases', async () => {
    const registry = new Registry();
    const c = clock(1_800_000_000);
    const joining = new JoiningNodes(registry, { now: c.now });
    joining.observe('node01', 'Ready');
    joining.observe('node04', 'Pending');
    c.advance(30);
    joining.observe('node04', 'Joining');
    c.advance(60);
    joining.observe('node05', 'Joining');
    // A status rewrite while still Joining (a condition moved) keeps the clock.
    c.advance(60);
    joining.observe('node04', 'Joining');
    assert.deepEqual(
      await samples(registry, SINCE),
      new Map([
        ['{node="node04"}', 1_800_000_030],
        ['{node="node05"}', 1_800_000_090],
      ]),
    );
    assert.deepEqual(await samples(registry, OVERFLOW), new Map([['', 0]]));
  });

  it('removes a node\'s series when it leaves Joining or its record is deleted, and restarts its clock when it joins again', async () => {
    const registry = new Registry();
    const c = clock(1_800_000_000);
    const joining = new JoiningNodes(registry, { now: c.now });
    for (const n of ['node04', 'node05', 'node06']) joining.observe(n, 'Joining');
    c.advance(100);
    joining.observe('node04', 'Ready');
    joining.observe('node05', undefined);
    assert.deepEqual([...(await samples(registry, SINCE)).keys()], ['{node="node06"}']);
    joining.observe('node06', 'Failed');
    assert.deepEqual(await samples(registry, SINCE), new Map());
    assert.equal(joining.size, 0);
    c.advance(100);
    joining.observe('node04', 'Joining');
    assert.deepEqual(await samples(registry, SINCE), new Map([['{node="node04"}', 1_800_000_200]]));
  });

  it('exports at most the cap at 10,000 joining nodes: those joining longest, and counts the rest', async () => {
    const registry = new Registry();
    const c = clock(1_800_000_000);
    const joining = new JoiningNodes(registry, { now: c.now });
    // Entered Joining in a shuffled order: node i at second (i * 7919) mod 10,000.
    const order = Array.from({ length: 10_000 }, (_, i) => i).sort((a, b) => ((a * 7919) % 10_000) - ((b * 7919) % 10_000));
    for (const i of order) {
      joining.observe(node(i), 'Joining');
      c.advance(1);
    }
    const exported = await samples(registry, SINCE);
    assert.equal(exported.size, JOINING_SERIES_CAP);
    const firstToJoin = order.slice(0, JOINING_SERIES_CAP).map((i) => `{node="${node(i)}"}`);
    assert.deepEqual([...exported.keys()].sort(), firstToJoin.sort());
    assert.equal(Math.max(...exported.values()), 1_800_000_000 + JOINING_SERIES_CAP - 1);
    assert.deepEqual(await samples(registry, OVERFLOW), new Map([['', 10_000 - JOINING_SERIES_CAP]]));

    // The longest-joining ones become Ready: the next longest take their places.
    for (const i of order.slice(0, 50)) joining.observe(node(i), 'Ready');
    const next = await samples(registry, SINCE);
    assert.equal(next.size, JOINING_SERIES_CAP);
    assert.deepEqual([...next.keys()].sort(), order.slice(50, 50 + JOINING_SERIES_CAP).map((i) => `{node="${node(i)}"}`).sort());
    assert.deepEqual(await samples(registry, OVERFLOW), new Map([['', 10_000 - 50 - JOINING_SERIES_CAP]]));

    // All of them done: no series left, nothing left out.
    for (const i of order) joining.observe(node(i), 'Ready');
    assert.deepEqual(await samples(registry, SINCE), new Map());
    assert.deepEqual(await samples(registry, OVERFLOW), new Map([['', 0]]));
  });

  it('takes a smaller cap, and refuses one that is not a whole number of at least 1', async () => {
    const registry = new Registry();
    const joining = new JoiningNodes(registry, { cap: 2, now: () => 0 });
    for (const n of ['a', 'b', 'c']) joining.observe(n, 'Joining');
    // Same time: the node name decides, so the series do not swap between scrapes.
    assert.deepEqual([...(await samples(registry, SINCE)).keys()], ['{node="a"}', '{node="b"}']);
    assert.deepEqual(await samples(registry, OVERFLOW), new Map([['', 1]]));
    for (const cap of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new JoiningNodes(new Registry(), { cap }), /joining series cap must be a whole number of at least 1, got/);
    }
  });

  it('is part of the controller\'s registry', async () => {
    const metrics = new ControllerMetrics(new Registry(), { defaultMetrics: false });
    metrics.joiningNodes.observe('node04', 'Joining');
    assert.equal((await samples(metrics.registry, SINCE)).size, 1);
    assert.deepEqual(await samples(metrics.registry, OVERFLOW), new Map([['', 0]]));
  });
});
