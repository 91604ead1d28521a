import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { storeWentBack } from './rewind.js';

describe('storeWentBack', () => {
  it('is undefined for the same store at the same or a later revision', () => {
    assert.equal(storeWentBack({ clusterId: '1', revision: 10 }, { clusterId: '1', revision: 10 }), undefined);
    assert.equal(storeWentBack({ clusterId: '1', revision: 10 }, { clusterId: '1', revision: 12 }), undefined);
    assert.equal(storeWentBack({ clusterId: undefined, revision: 10 }, { clusterId: '2', revision: 12 }), undefined, 'no cluster id seen yet');
  });

  it('names a lower revision', () => {
    assert.equal(storeWentBack({ clusterId: '1', revision: 66 }, { clusterId: '1', revision: 5 }), "Chainfire's revision went back from 66 to 5 (restored from a snapshot)");
  });

  it('names another cluster id, in hex, even once the revision has caught up', () => {
    assert.equal(
      storeWentBack({ clusterId: '255', revision: 5 }, { clusterId: '4096', revision: 5 }),
      "Chainfire's cluster id changed from ff to 1000 (recovered or restored)",
    );
  });
});
