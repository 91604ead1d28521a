import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdAuthenticationFailedError, EtcdPermissionDeniedError, GRPCResourceExhastedError, GRPCUnavailableError } from 'etcd3';
import { MembershipError } from '../errors.js';
import { explainEtcdError } from './client.js';

function cast(err: Error, flags = { user: 'alice' }): MembershipError {
  const out = explainEtcdError(err, flags);
  assert.ok(out instanceof MembershipError, `expected a MembershipError, got ${String(out)}`);
  return out;
}

describe('explainEtcdError: etcd3 errors cast where they enter membershipctl', () => {
  it('database space exceeded is RESOURCE_EXHAUSTED, naming the alarm and what to do', () => {
    const err = cast(new GRPCResourceExhastedError('8 RESOURCE_EXHAUSTED: etcdserver: mvcc: database space exceeded'));
    assert.equal(err.code, 'RESOURCE_EXHAUSTED');
    assert.match(err.message, /^Chainfire is out of space: etcdserver: mvcc: database space exceeded: etcd raised its NOSPACE alarm/);
    assert.match(err.message, /etcdctl alarm disarm/);
  });

  it('refused credentials and permissions are ACCESS_DENIED, naming the user', () => {
    const auth = cast(new EtcdAuthenticationFailedError('etcdserver: authentication failed, invalid user ID or password'));
    assert.equal(auth.code, 'ACCESS_DENIED');
    assert.match(auth.message, /^Chainfire refused the credentials of user alice: .*check --user and the password/);
    const perm = cast(new EtcdPermissionDeniedError('7 PERMISSION_DENIED: etcdserver: permission denied'));
    assert.equal(perm.code, 'ACCESS_DENIED');
    assert.match(perm.message, /^Chainfire refused the request for user alice: /);
    const token = cast(new Error('etcdserver: invalid auth token'));
    assert.equal(token.code, 'ACCESS_DENIED');
  });

  it('an unreachable Chainfire is UNAVAILABLE; other errors pass unchanged', () => {
    assert.equal(cast(new GRPCUnavailableError('14 UNAVAILABLE: No connection established')).code, 'UNAVAILABLE');
    const other = new Error('something else');
    assert.equal(explainEtcdError(other, {}), other);
  });
});
