import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotDirectory, SnapshotTooLarge, writeProblem } from './directory.js';
import { snapshotFileName, temporaryFileName } from './naming.js';

const nameAt = (second: number, revision = second) =>
  snapshotFileName({ at: new Date(Date.UTC(2026, 11, 3, 6, 10, second)), node: 'node04', change: 'addLearner', revision });

async function* chunks(parts: string[], failAfter?: number): AsyncGenerator<Uint8Array> {
  for (const [i, p] of parts.entries()) {
    if (failAfter !== undefined && i === failAfter) throw new Error('stream broke: 14 UNAVAILABLE');
    yield Buffer.from(p);
  }
}

describe('the snapshot directory', () => {
  let root: string;
  let n = 0;
  const fresh = () => {
    const dir = join(root, `d${n++}`);
    return { dir, store: new SnapshotDirectory(dir) };
  };

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'snapshot-dir-test-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('is created with mode 0700, and a write leaves one whole file (0600) under its final name, nothing else', async () => {
    const { dir, store } = fresh();
    await store.ensure();
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const file = await store.write(chunks(['abc', 'def', 'g']), () => nameAt(1, 77), 1024);
    assert.equal(file.name, nameAt(1, 77));
    assert.equal(file.bytes, 7);
    assert.equal(file.revision, 77);
    assert.equal(readFileSync(file.path, 'utf8'), 'abcdefg');
    assert.equal(statSync(file.path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), [file.name]);
  });

  it('a stream that breaks midway leaves no file, temporary or final, and the older snapshots as they were', async () => {
    const { dir, store } = fresh();
    await store.ensure();
    const older = await store.write(chunks(['old']), () => nameAt(1), 1024);
    await assert.rejects(store.write(chunks(['abc', 'def', 'ghi'], 2), () => nameAt(2), 1024), /stream broke/);
    assert.deepEqual(readdirSync(dir), [older.name]);
    assert.equal(readFileSync(older.path, 'utf8'), 'old');
  });

  it('a snapshot that grows past the cap while written is stopped and leaves nothing', async () => {
    const { dir, store } = fresh();
    await store.ensure();
    await assert.rejects(store.write(chunks(['12345', '67890']), () => nameAt(3), 8), (err: unknown) => err instanceof SnapshotTooLarge && err.bytes === 8);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('lists only its snapshots, newest first, with their sizes', async () => {
    const { dir, store } = fresh();
    await store.ensure();
    writeFileSync(join(dir, nameAt(5)), 'x'.repeat(5));
    writeFileSync(join(dir, nameAt(9)), 'x'.repeat(9));
    writeFileSync(join(dir, nameAt(7)), 'x'.repeat(7));
    writeFileSync(join(dir, 'operator-notes.txt'), 'mine');
    writeFileSync(join(dir, temporaryFileName(1, 'ab')), 'partial');
    const listed = await store.list();
    assert.deepEqual(listed.map((f) => [f.name, f.bytes, f.node, f.change]), [
      [nameAt(9), 9, 'node04', 'addLearner'],
      [nameAt(7), 7, 'node04', 'addLearner'],
      [nameAt(5), 5, 'node04', 'addLearner'],
    ]);
  });

  it('prunes the oldest beyond the limits and never touches other files', async () => {
    const { dir, store } = fresh();
    await store.ensure();
    for (const s of [1, 2, 3, 4, 5]) writeFileSync(join(dir, nameAt(s)), 'x'.repeat(10));
    writeFileSync(join(dir, 'chainfire-2026-11-24.db'), 'x'.repeat(1000));
    const deleted = await store.prune({ maxCount: 4, maxBytes: 25, minFreeBytes: 0 });
    assert.deepEqual(deleted.map((f) => f.name), [nameAt(1), nameAt(2), nameAt(3)]);
    assert.deepEqual(readdirSync(dir).sort(), ['chainfire-2026-11-24.db', nameAt(4), nameAt(5)].sort());
  });

  it('deletes temporary files whose writer is gone (a crash mid-write), not those of a live writer', async () => {
    const { dir, store } = fresh();
    await store.ensure();
    const dead = temporaryFileName(999_999_999, 'aa');
    const live = temporaryFileName(4242, 'bb');
    const mine = temporaryFileName(process.pid, 'cc');
    for (const f of [dead, live, mine, nameAt(1)]) writeFileSync(join(dir, f), 'x');
    const removed = await store.removeStaleTemporaries((pid) => pid === 4242);
    assert.deepEqual(removed.sort(), [dead, mine].sort());
    assert.deepEqual(readdirSync(dir).sort(), [live, nameAt(1)].sort());
  });

  it('says what a file system failure means and what to do', () => {
    const err = (code: string) => Object.assign(new Error(`${code}: x`), { code, syscall: 'open' });
    assert.match(writeProblem(err('EACCES')), /^permission denied/);
    assert.match(writeProblem(err('EROFS')), /^read-only filesystem \(under systemd: StateDirectory=/);
    assert.equal(writeProblem(err('ENOSPC')), 'disk full (ENOSPC)');
    assert.match(writeProblem(err('EIO')), /^EIO: /);
  });

  it('reports the free space of its filesystem', async () => {
    const { store } = fresh();
    await store.ensure();
    const free = await store.freeBytes();
    assert.ok(Number.isSafeInteger(free) && free > 0, String(free));
  });
});
