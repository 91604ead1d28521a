import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeMembership } from '../schema/node-membership.js';
import { RaftAddressIndex, addressConflicts } from './conflicts.js';
import { Prng } from '../../test/model/prng.js';

function record(name: string, state: 'Present' | 'Absent', chainfire?: string, flaredb?: string): NodeMembership {
  return {
    apiVersion: 'membership.photoncloud.io/v1alpha1',
    kind: 'NodeMembership',
    metadata: { name, labels: {}, annotations: {}, generation: 1 },
    spec: {
      role: 'worker',
      bootstrap: false,
      state,
      ...(chainfire ? { chainfire: { raftAddr: chainfire, clientUrl: `http://${chainfire.replace(/:\d+$/, '')}:2379` } } : {}),
      ...(flaredb ? { flaredb: { raftAddr: flaredb, apiUrl: `http://${flaredb.replace(/:\d+$/, '')}:2479` } } : {}),
    },
  };
}

describe('RaftAddressIndex', () => {
  it('finds the other Present records that share an address, and forgets replaced and deleted ones', () => {
    const idx = new RaftAddressIndex();
    idx.set('a', record('a', 'Present', '10.0.0.1:2380', '10.0.0.1:2480'));
    idx.set('b', record('b', 'Present', undefined, '10.0.0.1:2480'));
    idx.set('c', record('c', 'Present', '10.0.0.1:2480'));
    assert.deepEqual(idx.conflicts('a'), ['b', 'c']);
    assert.deepEqual(idx.conflicts('b'), ['a', 'c']);
    idx.set('b', record('b', 'Present', undefined, '10.0.0.2:2480'));
    assert.deepEqual(idx.conflicts('a'), ['c']);
    assert.deepEqual(idx.conflicts('b'), []);
    idx.set('c', record('c', 'Absent', '10.0.0.1:2480'));
    assert.deepEqual(idx.conflicts('a'), []);
    idx.set('c', record('c', 'Present', '10.0.0.1:2480'));
    idx.set('c', undefined);
    assert.deepEqual(idx.conflicts('a'), []);
    assert.deepEqual(idx.conflicts('nobody'), []);
  });

  it('agrees with addressConflicts over 300 random sequences of record changes', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rng = new Prng(seed);
      const idx = new RaftAddressIndex();
      const records = new Map<string, NodeMembership>();
      const addr = () => (rng.chance(0.3) ? undefined : `10.0.0.${rng.int(1, 4)}:${rng.chance(0.5) ? 2380 : 2480}`);
      for (let step = 0; step < 40; step++) {
        const name = `n${rng.int(1, 8)}`;
        if (rng.chance(0.15)) {
          records.delete(name);
          idx.set(name, undefined);
        } else {
          const r = record(name, rng.chance(0.2) ? 'Absent' : 'Present', addr(), addr());
          records.set(name, r);
          idx.set(name, r);
        }
        for (const node of records.keys()) {
          assert.deepEqual(idx.conflicts(node), addressConflicts(node, [...records.values()]), `seed ${seed} step ${step} node ${node}`);
        }
      }
    }
  });
});
