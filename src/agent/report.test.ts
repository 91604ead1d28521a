import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { isMembershipError } from '../errors.js';
import { createLogger } from '../log.js';
import type { EtcdLite } from '../store/etcd-lite/client.js';
import { EtcdLiteError } from '../store/etcd-lite/client.js';
import { GRPC } from '../store/etcd-lite/grpc.js';
import { KeyLayout } from '../store/keys.js';
import { ReportPublisher } from './report.js';

const ep = 'http://127.0.0.1:2379';
const timedOut = () => new EtcdLiteError(ep, `Chainfire at ${ep}: put failed: etcdserver: request timed out, possibly due to previous leader failure`, { grpcCode: GRPC.UNAVAILABLE });
const noLeader = () => new EtcdLiteError(ep, `Chainfire at ${ep}: lease keepalive failed: etcdserver: no leader`, { grpcCode: GRPC.UNAVAILABLE });
const leaseGone = () => new EtcdLiteError(ep, `Chainfire at ${ep}: put failed: etcdserver: requested lease not found`, { grpcCode: GRPC.NOT_FOUND });

/** What the report publisher asks of Chainfire, with failures queued by the test. */
class FakeChainfire {
  nextLease = 1;
  granted: string[] = [];
  puts: Array<{ key: string; value: string; lease: string | undefined }> = [];
  putFailures: Error[] = [];
  keepAliveFails = false;

  async leaseGrant(ttl: number): Promise<{ id: string; ttl: number }> {
    const id = String(this.nextLease++);
    this.granted.push(id);
    return { id, ttl };
  }
  async leaseKeepAlive(): Promise<number> {
    if (this.keepAliveFails) throw noLeader();
    return 1;
  }
  async leaseRevoke(): Promise<void> {}
  async put(key: string, value: string, opts: { lease?: string } = {}): Promise<{ revision: number }> {
    const failure = this.putFailures.shift();
    if (failure !== undefined) throw failure;
    this.puts.push({ key, value, lease: opts.lease });
    return { revision: this.puts.length };
  }
}

function publisher(fake: FakeChainfire, opts: { deadline?: number; ttlSeconds?: number } = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const report = new ReportPublisher({
    client: fake as unknown as EtcdLite, keys: new KeyLayout(), node: 'node04', waitingFor: 'chainfire', mode: 'join',
    ttlSeconds: opts.ttlSeconds ?? 10, log: createLogger({ level: 'debug', destination }),
    ...(opts.deadline !== undefined ? { deadline: opts.deadline } : {}),
    data: { service: 'chainfire', read: async () => ({ present: false, memberId: '6c1e', checkedAt: new Date().toISOString() }) },
  });
  return { report, lines };
}

describe('ReportPublisher', () => {
  it('a publish that times out in a leader change is tried again (WARN with the cause), with the local data in the report', async () => {
    const fake = new FakeChainfire();
    fake.putFailures.push(timedOut(), timedOut());
    const { report, lines } = publisher(fake, { deadline: Date.now() + 30_000 });
    await report.publish('chainfire', false, 'not started');
    await report.close();
    assert.equal(fake.puts.length, 1);
    const body = JSON.parse(fake.puts[0]!.value) as { report: { data: { chainfire: { present: boolean; memberId: string } } } };
    assert.deepEqual([body.report.data.chainfire.present, body.report.data.chainfire.memberId], [false, '6c1e']);
    const retries = lines.filter((l) => l.level === 'WARN' && l.cause === 'leader failure');
    assert.equal(retries.length, 2, JSON.stringify(lines));
  });

  it('a lease that etcd dropped is granted again by the next try', async () => {
    const fake = new FakeChainfire();
    const { report } = publisher(fake, { deadline: Date.now() + 30_000 });
    await report.publish();
    fake.putFailures.push(leaseGone());
    await report.publish();
    await report.close();
    assert.deepEqual(fake.granted, ['1', '2']);
    assert.deepEqual(fake.puts.map((p) => p.lease), ['1', '2']);
  });

  it('keepalives failing for longer than the TTL: a new lease, and the report published again under it', async () => {
    const fake = new FakeChainfire();
    const { report, lines } = publisher(fake, { deadline: Date.now() + 30_000, ttlSeconds: 1 });
    await report.publish();
    fake.keepAliveFails = true;
    const deadline = Date.now() + 10_000;
    while (fake.puts.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await report.close();
    assert.equal(fake.puts.length, 2, 'published again');
    assert.deepEqual(fake.puts.map((p) => p.lease), ['1', '2']);
    assert.ok(lines.some((l) => l.level === 'WARN' && l.message === 'heartbeat lease lost; publishing again'));
  });

  it('access refused ends a publish at once, keeping its code; at the deadline a transient failure ends it as UNAVAILABLE', async () => {
    const fake = new FakeChainfire();
    fake.putFailures.push(new EtcdLiteError(ep, 'etcdserver: permission denied', { grpcCode: GRPC.PERMISSION_DENIED, code: 'ACCESS_DENIED' }));
    const { report } = publisher(fake, { deadline: Date.now() + 30_000 });
    await assert.rejects(report.publish(), (err) => isMembershipError(err, 'ACCESS_DENIED') && /cannot publish agent report/.test(err.message));
    assert.equal(fake.putFailures.length, 0, 'tried once');
    await report.close();

    const late = new FakeChainfire();
    late.putFailures.push(timedOut(), timedOut(), timedOut(), timedOut(), timedOut(), timedOut());
    const { report: r2 } = publisher(late, { deadline: Date.now() + 400 });
    await assert.rejects(r2.publish(), (err) => isMembershipError(err, 'UNAVAILABLE') && /previous leader failure/.test(err.message));
    await r2.close();
  });
});
