import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SNAPSHOT_LIMITS, formatBytes, roomFor, toPrune, type KeptFile, type SnapshotLimits } from './retention.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** Snapshots named in time order: `t00` is the oldest. */
function files(...sizes: number[]): KeptFile[] {
  return sizes.map((bytes, i) => ({ name: `2026-12-03T06-10-${String(i).padStart(2, '0')}Z_node04_promote_rev${i}.db`, bytes }));
}
const names = (list: KeptFile[]) => list.map((f) => Number(/rev(\d+)/.exec(f.name)![1]));

describe('free space and the cap, checked before a snapshot is written', () => {
  const limits: SnapshotLimits = { maxCount: 10, maxBytes: 100 * MiB, minFreeBytes: 1 * GiB };

  it('allows a snapshot that fits under the cap and leaves the reserve free', () => {
    assert.equal(roomFor(50 * MiB, 2 * GiB, limits), undefined);
    assert.equal(roomFor(100 * MiB, 1 * GiB + 100 * MiB, limits), undefined, 'exactly the reserve left, exactly the cap');
  });

  it('refuses a snapshot that alone is over the cap, naming the setting', () => {
    const r = roomFor(100 * MiB + 1, 100 * GiB, limits);
    assert.equal(r?.cause, 'cap');
    assert.match(r!.message, /more than snapshots\.maxBytes \(100 MiB\)/);
  });

  it('refuses a snapshot that would eat into the reserve: the disk counts as full', () => {
    const r = roomFor(50 * MiB, 1 * GiB + 50 * MiB - 1, limits);
    assert.equal(r?.cause, 'disk');
    assert.match(r!.message, /^disk full: 1\.0 GiB free, and a 50 MiB snapshot would leave less than snapshots\.minFreeBytes \(1 GiB\) free/);
  });

  it('refuses on a filesystem with no space at all, even with no reserve', () => {
    assert.equal(roomFor(1, 0, { ...limits, minFreeBytes: 0 })?.cause, 'disk');
    assert.equal(roomFor(0, 0, { ...limits, minFreeBytes: 0 }), undefined);
  });

  it('checks the cap before the disk: a snapshot the cap can never hold says so', () => {
    assert.equal(roomFor(200 * MiB, 0, limits)?.cause, 'cap');
  });

  it('defaults: 10 snapshots, 1 GiB in all, 1 GiB kept free', () => {
    assert.deepEqual(DEFAULT_SNAPSHOT_LIMITS, { maxCount: 10, maxBytes: GiB, minFreeBytes: GiB });
  });
});

describe('retention', () => {
  it('keeps the newest maxCount, deleting the oldest first', () => {
    const limits = { maxCount: 3, maxBytes: GiB, minFreeBytes: 0 };
    assert.deepEqual(names(toPrune(files(1, 1, 1, 1, 1), limits)), [0, 1]);
    assert.deepEqual(toPrune(files(1, 1, 1), limits), []);
  });

  it('keeps the newest that fit under maxBytes together; every older one goes, even a small one', () => {
    const limits = { maxCount: 100, maxBytes: 10 * MiB, minFreeBytes: 0 };
    // newest first: 4 MiB (kept), 5 MiB (kept, 9 MiB), 2 MiB (11: goes), then the older 1 MiB goes too
    assert.deepEqual(names(toPrune(files(1 * MiB, 2 * MiB, 5 * MiB, 4 * MiB), limits)), [0, 1]);
  });

  it('always keeps the newest, even when it alone is over the cap', () => {
    const limits = { maxCount: 1, maxBytes: 1 * MiB, minFreeBytes: 0 };
    assert.deepEqual(names(toPrune(files(1, 2 * MiB), limits)), [0]);
  });

  it('whatever order the files are listed in', () => {
    const limits = { maxCount: 2, maxBytes: GiB, minFreeBytes: 0 };
    assert.deepEqual(names(toPrune(files(1, 1, 1, 1).reverse(), limits)), [0, 1]);
  });

  it('50 snapshots in a row with 5 kept leave the 5 newest', () => {
    const limits = { maxCount: 5, maxBytes: GiB, minFreeBytes: 0 };
    let kept: KeptFile[] = [];
    for (const f of files(...Array.from({ length: 50 }, () => MiB))) {
      kept.push(f);
      const doomed = new Set(toPrune(kept, limits).map((x) => x.name));
      kept = kept.filter((x) => !doomed.has(x.name));
      assert.ok(kept.length <= 5);
    }
    assert.deepEqual(names(kept), [45, 46, 47, 48, 49]);
  });
});

describe('formatBytes', () => {
  it('reads as an operator writes sizes', () => {
    assert.equal(formatBytes(800), '800 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(12 * MiB), '12 MiB');
    assert.equal(formatBytes(1.25 * GiB), '1.3 GiB');
    assert.equal(formatBytes(GiB), '1 GiB');
    assert.equal(formatBytes(150 * MiB), '150 MiB');
  });
});
