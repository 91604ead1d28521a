import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipError } from '../errors.js';
import { DEFAULT_PREFIX, KeyLayout } from './keys.js';

describe('KeyLayout', () => {
  it('builds the contract keys under the default prefix', () => {
    const k = new KeyLayout();
    assert.equal(k.prefix, '/photoncloud/membership/v1');
    assert.equal(DEFAULT_PREFIX, '/photoncloud/membership/v1');
    assert.equal(k.desired('node04'), '/photoncloud/membership/v1/desired/node04');
    assert.equal(k.status('node04'), '/photoncloud/membership/v1/status/node04');
    assert.equal(k.agent('node04'), '/photoncloud/membership/v1/agents/node04');
    assert.equal(k.dir('desired'), '/photoncloud/membership/v1/desired/');
    assert.equal(k.leaderDir(), '/photoncloud/membership/v1/leader/membership-controller/');
    assert.equal(k.operation('flaredb'), '/photoncloud/membership/v1/operations/flaredb');
    assert.equal(k.clusterConfig(), '/photoncloud/membership/v1/cluster/config');
    assert.equal(k.clusterStatus(), '/photoncloud/membership/v1/cluster/status');
  });

  it('uses a custom prefix everywhere', () => {
    const k = new KeyLayout('/test/run1');
    assert.equal(k.desired('n1'), '/test/run1/desired/n1');
    assert.equal(k.leaderDir('other'), '/test/run1/leader/other/');
  });

  for (const bad of ['photoncloud', '/photoncloud/', '/', '']) {
    it(`rejects the prefix ${JSON.stringify(bad)} as a usage error`, () => {
      assert.throws(
        () => new KeyLayout(bad),
        (err: unknown) =>
          err instanceof MembershipError && err.code === 'USAGE' && err.message.includes(`prefix ${JSON.stringify(bad)}`),
      );
    });
  }
});

describe('KeyLayout.nodeOf', () => {
  const k = new KeyLayout();

  it('returns the node of a valid key without a problem', () => {
    assert.deepEqual(k.nodeOf('status', k.status('node-04')), { node: 'node-04' });
  });

  it('returns an invalid node name together with the reason', () => {
    const r = k.nodeOf('desired', k.desired('Node04'));
    assert.equal(r.node, 'Node04');
    assert.match(r.nameProblem ?? '', /"Node04" is not a DNS-1123 label/);
  });

  it('explains an empty node name', () => {
    assert.deepEqual(k.nodeOf('agents', k.dir('agents')), { node: '', nameProblem: 'node name is empty' });
  });

  it('explains a node name that is too long', () => {
    const long = 'a'.repeat(64);
    assert.match(k.nodeOf('desired', k.desired(long)).nameProblem ?? '', /64 characters long \(at most 63\)/);
  });

  it('takes a deeper path as an invalid name rather than a node', () => {
    const r = k.nodeOf('desired', `${k.dir('desired')}node04/extra`);
    assert.equal(r.node, 'node04/extra');
    assert.ok(r.nameProblem !== undefined);
  });

  it('throws for a key under another kind', () => {
    assert.throws(() => k.nodeOf('desired', k.status('node04')), (err: unknown) => err instanceof MembershipError && err.code === 'USAGE');
  });

  it('throws for a key under another prefix', () => {
    assert.throws(() => k.nodeOf('desired', '/other/desired/node04'), /is not under \/photoncloud\/membership\/v1\/desired\//);
  });
});
