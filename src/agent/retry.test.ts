import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { MembershipError } from '../errors.js';
import { createLogger } from '../log.js';
import { EtcdLiteError } from '../store/etcd-lite/client.js';
import { GRPC } from '../store/etcd-lite/grpc.js';
import { retryTransient } from './retry.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger({ level: 'debug', destination, base: { service: 'iam' } }) };
}

const leaderFailure = () =>
  new EtcdLiteError('http://127.0.0.1:2379', 'Chainfire at http://127.0.0.1:2379: put /x failed: etcdserver: request timed out, possibly due to previous leader failure', {
    grpcCode: GRPC.UNAVAILABLE,
  });

describe('retryTransient', () => {
  it('tries again after transient failures, logging each at WARN with its cause, and returns the answer', async () => {
    const { lines, log } = capture();
    let calls = 0;
    const got = await retryTransient('publishing the agent report', async () => {
      calls++;
      if (calls < 3) throw leaderFailure();
      return 'published';
    }, { deadline: Date.now() + 10_000, log, minDelayMs: 5, maxDelayMs: 10 });
    assert.equal(got, 'published');
    assert.equal(calls, 3);
    await new Promise((r) => setImmediate(r));
    const warns = lines.filter((l) => l.level === 'WARN');
    assert.equal(warns.length, 2);
    assert.equal(warns[0]!.message, 'publishing the agent report failed (leader failure); retrying');
    assert.equal(warns[0]!.cause, 'leader failure');
    assert.match(String(warns[0]!.err), /previous leader failure/);
  });

  it('gives up at once on what is not transient, with that error', async () => {
    const { log } = capture();
    let calls = 0;
    const denied = new EtcdLiteError('http://127.0.0.1:2379', 'etcdserver: permission denied', { grpcCode: GRPC.PERMISSION_DENIED, code: 'ACCESS_DENIED' });
    await assert.rejects(
      retryTransient('publishing the agent report', async () => {
        calls++;
        throw denied;
      }, { deadline: Date.now() + 10_000, log, minDelayMs: 5 }),
      (err) => err === denied,
    );
    assert.equal(calls, 1);
    const full = new MembershipError('RESOURCE_EXHAUSTED', 'etcdserver: mvcc: database space exceeded');
    await assert.rejects(retryTransient('x', async () => { throw full; }, { deadline: Date.now() + 10_000, log }), (err) => err === full);
  });

  it('stops at the deadline with the last transient failure', async () => {
    const { log } = capture();
    let calls = 0;
    const started = Date.now();
    await assert.rejects(
      retryTransient('listing and watching status', async () => {
        calls++;
        throw leaderFailure();
      }, { deadline: Date.now() + 300, log, minDelayMs: 20, maxDelayMs: 40 }),
      /previous leader failure/,
    );
    assert.ok(calls >= 3, `${calls} tries`);
    assert.ok(Date.now() - started < 2000, 'it stopped near the deadline');
  });

  it('stops when its signal is aborted', async () => {
    const { log } = capture();
    const stop = new AbortController();
    const reason = new Error('closed');
    setTimeout(() => stop.abort(reason), 50);
    await assert.rejects(
      retryTransient('x', async () => { throw leaderFailure(); }, { deadline: Date.now() + 60_000, log, signal: stop.signal, minDelayMs: 10, maxDelayMs: 20 }),
      (err) => err === reason,
    );
  });
});
