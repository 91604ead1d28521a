// The controller's snapshots of Chainfire, driven directly against a real etcd:
// one per change record, retention by count and by size over 50 changes, the
// refusals (over the cap, a full disk, no permission) that leave no partial file
// and lose no older snapshot, onFailure "warn", and a snapshot that etcdctl
// restores into a fresh data dir that a real etcd then serves.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Etcd3 } from 'etcd3';
import { Registry } from 'prom-client';
import { isMembershipError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { ControllerMetrics } from '../../src/metrics/controller-metrics.js';
import { API_VERSION } from '../../src/schema/common.js';
import type { MembershipOperation } from '../../src/schema/operation.js';
import { ChainfireSnapshots, type ChainfireChange } from '../../src/snapshots/chainfire-snapshots.js';
import { parseSnapshotFileName } from '../../src/snapshots/naming.js';
import { snapshotSettings, type SnapshotSettings } from '../../src/snapshots/settings.js';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { tempDir } from '../support/fixtures.js';
import { snapshotStatus, withRestored } from '../support/snapshots.js';

const MiB = 1024 ** 2;

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger({ level: 'debug', destination, base: { service: 'membership-controller' } }) };
}

function operation(node: string, startedAt: string, change: 'join' | 'remove' = 'join'): MembershipOperation {
  return { apiVersion: API_VERSION, kind: 'MembershipOperation', service: 'chainfire', node, change, startedAt, startedBy: 'test (term 1)' };
}

/** The files in `dir`, temporary ones included, sorted. */
const filesIn = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

describe('snapshots of a real etcd, taken by the controller\'s snapshot module', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let root: string;
  let n = 0;

  /** A snapshotter on the test etcd with its own directory (or `dir`) and limits. */
  const snapshotter = (limits: Partial<SnapshotSettings> = {}) => {
    const { lines, log } = capture();
    const metrics = new ControllerMetrics(new Registry(), { defaultMetrics: false });
    const settings = { ...snapshotSettings(undefined, join(root, `state-${n++}`)), minFreeBytes: 0, ...limits };
    const s = new ChainfireSnapshots({ client: () => client, settings, log, metrics: { total: metrics.snapshotsTotal, lastTimestamp: metrics.lastSnapshotTimestamp } });
    const counts = async () => {
      const m = (await metrics.registry.getSingleMetricAsString('membership_snapshots_total')).split('\n');
      const value = (result: string) => Number(m.find((l) => l.startsWith(`membership_snapshots_total{result="${result}"}`))?.split(' ')[1]);
      return { success: value('success'), failure: value('failure') };
    };
    return { s, lines, settings, counts, metrics };
  };

  before(async () => {
    cluster = await EtcdCluster.start({ size: 1 });
    client = new Etcd3({ hosts: cluster.endpoints });
    root = await tempDir('snapshots-');
    await client.put('/photoncloud/membership/v1/desired/node04').value('{"kept": "in the snapshot"}');
  });
  after(async () => {
    client?.close();
    await cluster?.stop();
    if (root) {
      spawnSync('chattr', ['-R', '-i', root], { stdio: 'ignore' });
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('one snapshot per change record and kind: promotes retried for the same record take none', async () => {
    const { s, settings, counts } = snapshotter();
    const join = operation('node04', '2026-12-03T06:10:00.000Z');
    // Each snapshot at its own revision, as in the controller (every change record written moves it), so that no two
    // share a name; each change made (a promote etcd refuses is not, but its record covers its retries).
    const change = async (node: string, kind: ChainfireChange['kind'], op: MembershipOperation | undefined) => {
      await client.put('/tick').value(String(Date.now()));
      const file = await s.beforeChange({ node, kind, operation: op });
      s.changeMade();
      return file;
    };
    assert.ok(await change('node04', 'addLearner', join));
    for (let i = 0; i < 5; i++) {
      const file = await change('node04', 'promote', join);
      assert.equal(file === undefined, i > 0, `promote attempt ${i + 1} ${file === undefined ? 'took none' : 'took one'}`);
    }
    assert.equal(await change('node04', 'addLearner', join), undefined, 'the same add again (a retried reconcile)');
    // A learner added afresh (a new record, a new start time) is a new change.
    assert.ok(await change('node04', 'addLearner', operation('node04', '2026-12-03T06:20:00.000Z')));
    // Without a record: every call takes one.
    assert.ok(await change('node05', 'removeMember', undefined));
    assert.ok(await change('node05', 'removeMember', undefined));
    const taken = filesIn(settings.dir).map((f) => parseSnapshotFileName(f)).map((p) => `${p?.node}/${p?.change}`);
    assert.deepEqual(taken.sort(), ['node04/addLearner', 'node04/addLearner', 'node04/promote', 'node05/removeMember', 'node05/removeMember']);
    assert.deepEqual(await counts(), { success: 5, failure: 0 });
  });

  it('a change not made (etcd refused it for now) and recorded afresh is still covered by its snapshot, until a change is made', async () => {
    const { s, settings } = snapshotter();
    const attempt = async (startedAt: string) => {
      await client.put('/tick').value(startedAt);
      return s.beforeChange({ node: 'node06', kind: 'addLearner', operation: operation('node06', startedAt) });
    };
    assert.ok(await attempt('2026-12-03T06:30:00.000Z'));
    // Refused for now: the change record ends, the next attempt records a new one, a second later.
    assert.equal(await attempt('2026-12-03T06:30:01.000Z'), undefined);
    assert.equal(await attempt('2026-12-03T06:30:02.000Z'), undefined);
    // Another node's change, or the same node's other change, is not covered.
    await client.put('/tick').value('other');
    assert.ok(await s.beforeChange({ node: 'node07', kind: 'addLearner', operation: operation('node07', '2026-12-03T06:30:03.000Z') }));
    assert.ok(await attempt('2026-12-03T06:30:04.000Z'));
    s.changeMade();
    // Made at last; a later join of the node needs a snapshot of its own.
    assert.ok(await attempt('2026-12-03T06:40:00.000Z'));
    assert.equal(filesIn(settings.dir).length, 4);
  });

  it('retention: 50 changes with maxCount 5 leave the 5 newest, at most 5 at any time', async () => {
    const { s, settings } = snapshotter({ maxCount: 5, maxBytes: 1024 * MiB });
    const taken: string[] = [];
    for (let i = 0; i < 50; i++) {
      await client.put('/tick').value(String(i));
      const file = await s.beforeChange({ node: `node${String(i).padStart(2, '0')}`, kind: 'promote', operation: operation('node04', `2026-12-03T06:${String(i).padStart(2, '0')}:00.000Z`) });
      s.changeMade();
      taken.push(file!.name);
      const now = filesIn(settings.dir);
      assert.ok(now.length <= 5, `after change ${i + 1}: ${now.length} files`);
    }
    const kept = filesIn(settings.dir);
    assert.equal(kept.length, 5);
    assert.deepEqual(kept, taken.slice(-5).sort(), 'the five kept are the five last taken');
    assert.deepEqual(kept.map((f) => parseSnapshotFileName(f)!.node).sort(), ['node45', 'node46', 'node47', 'node48', 'node49']);
  });

  it('retention: 50 changes with maxBytes 3 MiB keep at most 3 MiB of snapshots, the newest', async () => {
    // About 1 MiB of values, so that each snapshot is over 1 MiB.
    for (let i = 0; i < 16; i++) await client.put(`/bulk/${i}`).value('x'.repeat(64 * 1024));
    const { s, settings } = snapshotter({ maxCount: 100, maxBytes: 3 * MiB });
    let last = '';
    for (let i = 0; i < 50; i++) {
      await client.put('/tick').value(String(i));
      const file = await s.beforeChange({ node: 'node04', kind: 'removeMember', operation: operation('node04', `2026-12-03T07:${String(i).padStart(2, '0')}:00.000Z`, 'remove') });
      s.changeMade();
      last = file!.name;
      const sizes = filesIn(settings.dir).map((f) => statSync(join(settings.dir, f)).size);
      assert.ok(sizes.reduce((a, b) => a + b, 0) <= 3 * MiB, `after change ${i + 1}: ${sizes.join(' + ')} bytes`);
      assert.ok(sizes.every((b) => b > MiB), `each snapshot holds the bulk: ${sizes.join(', ')}`);
    }
    const kept = filesIn(settings.dir);
    assert.equal(kept.length, 2, `two snapshots of over 1 MiB (not three) fit in 3 MiB: ${kept.join(', ')}`);
    assert.ok(kept.includes(last), 'the newest is kept');
    for (let i = 0; i < 16; i++) await client.delete().key(`/bulk/${i}`);
  });

  it('a snapshot over the cap is refused before anything is written; the older snapshots stay as they were', async () => {
    const { s, settings, counts } = snapshotter();
    const first = await s.take('node04', 'addLearner');
    const before = readFileSync(first.path);
    const tight = snapshotter({ dir: settings.dir, maxBytes: 1000 });
    await assert.rejects(tight.s.beforeChange({ node: 'node05', kind: 'addLearner', operation: operation('node05', '2026-12-03T08:00:00.000Z') }), (err: unknown) => {
      assert.ok(isMembershipError(err, 'SNAPSHOT_FAILED'), String(err));
      assert.match(err.message, new RegExp(`^no snapshot of Chainfire before addLearner of node05 could be written to ${settings.dir}: `));
      assert.match(err.message, /more than snapshots\.maxBytes \(1000 B\)/);
      return true;
    });
    assert.deepEqual(filesIn(settings.dir), [first.name], 'no temporary file, no new file, the older one kept');
    assert.deepEqual(readFileSync(first.path), before);
    assert.deepEqual(await tight.counts(), { success: 0, failure: 1 });
    assert.deepEqual(await counts(), { success: 0, failure: 0 }, 'take() alone counts nothing');
    assert.equal(tight.lines.filter((l) => l.level === 'ERROR' && /could be written/.test(String(l.message))).length, 1);
  });

  it('a disk with less free than the reserve counts as full: refused, naming the free space and the setting', async () => {
    const { s, settings } = snapshotter();
    const first = await s.take('node04', 'promote');
    const free = Number(execFileSync('df', ['--output=avail', '-B1', settings.dir], { encoding: 'utf8' }).trim().split('\n')[1]);
    const full = snapshotter({ dir: settings.dir, minFreeBytes: free + 1024 ** 4 });
    await assert.rejects(full.s.beforeChange({ node: 'node05', kind: 'promote' }), (err: unknown) => {
      assert.ok(isMembershipError(err, 'SNAPSHOT_FAILED'), String(err));
      assert.match(err.message, /: disk full: .* free, and a .* snapshot would leave less than snapshots\.minFreeBytes/);
      return true;
    });
    assert.deepEqual(filesIn(settings.dir), [first.name]);
  });

  it('a real full disk (a 2 MiB tmpfs, nearly filled): refused before writing, nothing partial, the older snapshot kept', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('mounting a tmpfs needs root; the reserve case above covers the same check without one');
    const mnt = join(root, 'tmpfs');
    mkdirSync(mnt);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', mnt], { encoding: 'utf8' });
    if (mounted.status !== 0) return t.skip(`mount -t tmpfs failed (${mounted.stderr.trim()}): no tmpfs in this environment`);
    try {
      const dir = join(mnt, 'snapshots');
      const { s } = snapshotter({ dir, minFreeBytes: 0 });
      const first = await s.take('node04', 'addLearner');
      const size = first.bytes;
      // Fill the disk but for less than one snapshot.
      const free = Number(execFileSync('df', ['--output=avail', '-B1', mnt], { encoding: 'utf8' }).trim().split('\n')[1]);
      writeFileSync(join(mnt, 'filler'), Buffer.alloc(Math.max(0, free - Math.floor(size / 2))));
      await assert.rejects(s.beforeChange({ node: 'node05', kind: 'addLearner' }), (err: unknown) => {
        assert.ok(isMembershipError(err, 'SNAPSHOT_FAILED'), String(err));
        assert.match(err.message, new RegExp(`could be written to ${dir}: disk full: `));
        return true;
      });
      assert.deepEqual(filesIn(dir), [first.name]);
      assert.equal(statSync(first.path).size, size);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  it('a directory the controller may not write to: refused, naming the directory and "permission denied"', async (t) => {
    const dir = join(root, 'locked');
    mkdirSync(dir);
    const locked = process.getuid?.() === 0
      ? spawnSync('chattr', ['+i', dir]).status === 0 // root ignores modes; an immutable directory stops it too
      : (spawnSync('chmod', ['0500', dir]).status === 0);
    if (!locked) return t.skip('neither chattr +i (as root, on this filesystem) nor chmod could lock the directory');
    try {
      const { s } = snapshotter({ dir });
      await assert.rejects(s.beforeChange({ node: 'node04', kind: 'removeMember' }), (err: unknown) => {
        assert.ok(isMembershipError(err, 'SNAPSHOT_FAILED'), String(err));
        assert.equal(err.message.startsWith(`no snapshot of Chainfire before removeMember of node04 could be written to ${dir}: permission denied`), true, err.message);
        return true;
      });
      assert.deepEqual(filesIn(dir), []);
    } finally {
      spawnSync('chattr', ['-i', dir], { stdio: 'ignore' });
      spawnSync('chmod', ['0700', dir]);
    }
  });

  it('onFailure "warn": the change goes on without a snapshot, logged at WARN and counted as a failure, once per change record', async () => {
    const { s, settings, lines, counts } = snapshotter({ maxBytes: 1000, onFailure: 'warn' });
    const op = operation('node04', '2026-12-03T09:00:00.000Z');
    assert.equal(await s.beforeChange({ node: 'node04', kind: 'promote', operation: op }), undefined);
    assert.equal(await s.beforeChange({ node: 'node04', kind: 'promote', operation: op }), undefined);
    const warned = lines.filter((l) => l.level === 'WARN');
    assert.equal(warned.length, 1, JSON.stringify(lines));
    assert.match(String(warned[0]!.message), /going on without one \(snapshots\.onFailure is "warn"\)$/);
    assert.equal(warned[0]!.dir, settings.dir);
    assert.deepEqual(await counts(), { success: 0, failure: 1 });
    assert.deepEqual(filesIn(settings.dir), []);
  });

  it('a snapshot is one etcdctl reads and restores into a fresh data dir that a real etcd serves, with the data as it was', async () => {
    const { s } = snapshotter();
    await client.put('/restore-check').value('before the change');
    const file = await s.take('node04', 'addLearner');
    await client.put('/restore-check').value('after the change');

    const status = await snapshotStatus(file.path);
    assert.ok(status.revision >= file.revision, `etcdctl says revision ${status.revision}, the name ${file.revision}`);
    assert.ok(status.totalKey >= 2, JSON.stringify(status));

    await withRestored(file.path, root, async (reader) => {
      assert.equal(await reader.get('/restore-check').string(), 'before the change');
      assert.equal(await reader.get('/photoncloud/membership/v1/desired/node04').string(), '{"kept": "in the snapshot"}');
      const members = await reader.cluster.memberList({});
      assert.deepEqual(members.members.map((m) => m.name), ['restored']);
    });
  });
});
