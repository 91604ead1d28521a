import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipError } from '../../errors.js';
import { EtcdLiteError } from './client.js';
import { GRPC } from './grpc.js';
import { isTransient, transientCause } from './transient.js';

const ep = 'http://10.0.1.10:2379';
/** An answer of etcd, as the client casts it. */
const answer = (message: string, grpcCode: number, code?: 'ACCESS_DENIED' | 'RESOURCE_EXHAUSTED') =>
  new EtcdLiteError(ep, `Chainfire at ${ep}: put /x failed: ${message}`, { grpcCode, ...(code ? { code } : {}) });
/** A failure to reach an endpoint, explained, with Node's error as its cause. */
const unreachable = (message: string, code: string, causeMessage: string) =>
  new EtcdLiteError(ep, message, { cause: Object.assign(new Error(causeMessage), { code }) });

describe('transientCause: what passes by itself, and what a person must fix', () => {
  it('etcd\'s UNAVAILABLE answers during a leader change', () => {
    const cases: Array<[EtcdLiteError, string]> = [
      [answer('etcdserver: request timed out, possibly due to previous leader failure', GRPC.UNAVAILABLE), 'leader failure'],
      [answer('etcdserver: request timed out', GRPC.UNAVAILABLE), 'timed out'],
      [answer('etcdserver: request timed out, possibly due to connection lost', GRPC.UNAVAILABLE), 'timed out'],
      [answer('etcdserver: leader changed', GRPC.UNAVAILABLE), 'leader changed'],
      [answer('etcdserver: no leader', GRPC.UNAVAILABLE), 'no leader'],
      [answer('raft proposal dropped', 2), 'proposal dropped'],
      [answer('etcdserver: too many requests', 8), 'unavailable'],
      [answer('etcdserver: server stopped', GRPC.UNAVAILABLE), 'unavailable'],
      [answer('some new words for the same thing', GRPC.UNAVAILABLE), 'unavailable'],
      [answer('context deadline exceeded', GRPC.DEADLINE_EXCEEDED), 'timed out'],
    ];
    for (const [err, cause] of cases) assert.equal(transientCause(err), cause, err.message);
  });

  it('a lease that expired while Chainfire was out of reach: the next try grants a new one', () => {
    assert.equal(transientCause(answer('etcdserver: requested lease not found', GRPC.NOT_FOUND)), 'lease expired');
  });

  it('a member that restarts or went away: refused, reset, closed, GOAWAY, no answer in time', () => {
    assert.equal(
      transientCause(unreachable(`cannot connect to Chainfire at ${ep}: connection refused (is it running?)`, 'ECONNREFUSED', 'connect ECONNREFUSED')),
      'connection refused',
    );
    assert.equal(transientCause(unreachable(`cannot connect to Chainfire at ${ep}: read ECONNRESET`, 'ECONNRESET', 'read ECONNRESET')), 'connection reset');
    assert.equal(
      transientCause(unreachable(`cannot connect to Chainfire at ${ep}: the connection closed before an answer (HTTP/2 reset code 8)`, 'ECONNRESET', 'closed')),
      'connection reset',
    );
    assert.equal(transientCause(unreachable(`cannot connect to Chainfire at ${ep}: New streams cannot be created after receiving a GOAWAY`, 'ERR_HTTP2_GOAWAY_SESSION', 'GOAWAY')), 'GOAWAY');
    assert.equal(transientCause(new EtcdLiteError(ep, `Chainfire at ${ep}: lease grant (TTL 10s): no answer within 5s`)), 'timed out');
    assert.equal(transientCause(new EtcdLiteError(ep, `Chainfire at ${ep}: watch /x: the stream broke: ECONNRESET`)), 'connection reset');
    // Node's own errors, before any wrapping.
    assert.equal(transientCause(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:2379'), { code: 'ECONNREFUSED' })), 'connection refused');
  });

  it('several endpoints failing in several ways, as one error, are transient when any cause is', () => {
    const combined = new EtcdLiteError(
      ep,
      `cannot connect to Chainfire at ${ep}: connection refused (is it running?); Chainfire at http://10.0.1.11:2379: lease grant (TTL 10s) failed: etcdserver: request timed out`,
      { grpcCode: GRPC.UNAVAILABLE },
    );
    assert.ok(isTransient(combined));
  });

  it('never what a person must fix: access refused, NOSPACE, TLS that does not fit, a closed client, usage and config', () => {
    const lasting: unknown[] = [
      answer('etcdserver: permission denied', GRPC.PERMISSION_DENIED, 'ACCESS_DENIED'),
      answer('etcdserver: authentication failed, invalid user ID or password', GRPC.INVALID_ARGUMENT, 'ACCESS_DENIED'),
      // A refusal that happened to arrive with an UNAVAILABLE-looking word still says what it is.
      answer('etcdserver: mvcc: database space exceeded (request timed out)', 8, 'RESOURCE_EXHAUSTED'),
      unreachable(
        `Chainfire at https://10.0.1.10:2379 refused the TLS connection (TLS alert: bad certificate): it requires a client certificate; pass --cert and --key`,
        'ECONNRESET',
        'socket hang up',
      ),
      unreachable(`cannot verify Chainfire's TLS certificate at ${ep} (self-signed certificate): --cacert /ca.crt must be the CA that signed it`, 'DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'),
      unreachable(`cannot connect to Chainfire at ${ep}: it serves TLS, but the endpoint says http://; use https://`, 'ECONNRESET', 'closed'),
      new EtcdLiteError(ep, 'put /x: the Chainfire client is closed'),
      answer('etcdserver: request is too large', GRPC.INVALID_ARGUMENT),
      unreachable(`cannot connect to Chainfire at http://chainfire.invalid:2379: getaddrinfo ENOTFOUND chainfire.invalid`, 'ENOTFOUND', 'getaddrinfo ENOTFOUND'),
      new MembershipError('USAGE', '--cacert is required for https:// endpoints'),
      new MembershipError('CONFIG_INVALID', 'raft_addr: must be host:port'),
      new MembershipError('TIMEOUT', 'timed out after 600s waiting for ChainfireMember=True'),
      new MembershipError('REJECTED', 'the controller rejected node04'),
      'a string',
      undefined,
    ];
    for (const err of lasting) assert.equal(transientCause(err), undefined, String(err instanceof Error ? err.message : err));
  });
});
