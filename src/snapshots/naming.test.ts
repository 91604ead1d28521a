import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSnapshotFileName, snapshotFileName, temporaryFileName, temporaryFileWriter } from './naming.js';

describe('snapshot file names', () => {
  it('say when (to the second, UTC, no colons), before which node\'s change, which change and the revision', () => {
    const name = snapshotFileName({ at: new Date('2026-12-03T06:10:00.789Z'), node: 'node04', change: 'addLearner', revision: 1234 });
    assert.equal(name, '2026-12-03T06-10-00Z_node04_addLearner_rev1234.db');
  });

  it('are read back into the same parts', () => {
    for (const change of ['addLearner', 'promote', 'removeMember'] as const) {
      const parts = { at: new Date('2027-01-31T23:59:59Z'), node: 'cf-node-7', change, revision: 9_007_199_254 };
      assert.deepEqual(parseSnapshotFileName(snapshotFileName(parts)), parts);
    }
  });

  it('sort in time order as plain strings', () => {
    const at = ['2026-12-03T06:10:00Z', '2026-12-03T06:09:59Z', '2027-01-01T00:00:00Z', '2026-02-28T12:00:00Z'];
    const names = at.map((t, i) => snapshotFileName({ at: new Date(t), node: `node0${i}`, change: 'promote', revision: 10 - i }));
    const byName = [...names].sort().map((n) => parseSnapshotFileName(n)!.at.toISOString());
    assert.deepEqual(byName, [...at].sort().map((t) => new Date(t).toISOString()));
  });

  it('other files are not snapshots: they are neither listed nor pruned', () => {
    for (const other of [
      'notes.txt',
      'chainfire-2026-11-24.db', // an operator's own etcdctl snapshot save
      '2026-12-03T06-10-00Z_node04_addLearner_rev1234.db.bak',
      '2026-12-03T06-10-00Z_node04_moveLeader_rev1234.db', // not a change snapshots are taken before
      '2026-12-03T06-10-00Z_Node04_promote_rev1.db', // not a node name
      '2026-12-03T06-10-00Z_node04_promote_rev.db',
      '2026-13-03T06-10-00Z_node04_promote_rev1.db', // no such month
      '.snapshot.123-abcd.tmp',
    ]) {
      assert.equal(parseSnapshotFileName(other), undefined, other);
    }
  });

  it('temporary files are hidden, never taken for snapshots, and name their writer', () => {
    const t = temporaryFileName(4312, '0a1b2c3d');
    assert.equal(t, '.snapshot.4312-0a1b2c3d.tmp');
    assert.equal(parseSnapshotFileName(t), undefined);
    assert.equal(temporaryFileWriter(t), 4312);
    assert.equal(temporaryFileWriter('2026-12-03T06-10-00Z_node04_addLearner_rev1234.db'), undefined);
    assert.equal(temporaryFileWriter('.snapshot.x-1.tmp'), undefined);
  });
});
