import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { LeaderElection, type Leadership } from '../../src/election/leader-election.js';
import { FencedWriteRejected, isMembershipError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { connect, DEFAULT_CALL_TIMEOUT_MS } from '../../src/store/connection.js';
import { FencedWriter } from '../../src/store/fenced-writer.js';
import { KeyLayout } from '../../src/store/keys.js';

const log = createLogger({ level: 'silent' });

function isFenced(err: unknown): boolean {
  return err instanceof FencedWriteRejected && isMembershipError(err, 'FENCED');
}

function isNotLeader(err: unknown): boolean {
  return isMembershipError(err, 'NOT_LEADER');
}

describe('FencedWriter against a real 3-member etcd', () => {
  let cluster: EtcdCluster;
  let admin: Etcd3;
  const clients: Etcd3[] = [];
  const stoppers: AbortController[] = [];

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    admin = new Etcd3({ hosts: cluster.endpoints });
  });

  after(async () => {
    for (const s of stoppers) s.abort();
    for (const c of clients) c.close();
    admin?.close();
    await cluster?.stop();
  });

  function newClient(): Etcd3 {
    const c = connect({ endpoints: cluster.endpoints, prefix: '/unused', callTimeoutMs: DEFAULT_CALL_TIMEOUT_MS });
    clients.push(c);
    return c;
  }

  function campaign(client: Etcd3, dir: string, identity: string, onFencedWriteRejected?: () => void): Promise<Leadership> {
    const stopper = new AbortController();
    stoppers.push(stopper);
    const opts = { client, dir, identity, ttlSeconds: 3, log, ...(onFencedWriteRejected ? { onFencedWriteRejected } : {}) };
    return new LeaderElection(opts).campaign(stopper.signal);
  }

  function freshLayout(): KeyLayout {
    return new KeyLayout(`/fenced-writer-test-${randomBytes(4).toString('hex')}`);
  }

  it('rejects puts and deletes of a stale term in etcd, leaving the data as the current leader wrote it', { timeout: 120_000 }, async () => {
    const keys = freshLayout();
    const dir = keys.leaderDir();
    const clientA = newClient();
    const clientB = newClient();
    const a = await campaign(clientA, dir, 'controller-a');
    const pendingB = campaign(clientB, dir, 'controller-b');

    const target = keys.status('node01');
    await a.writer.put(target, 'written-in-term-a');
    assert.equal(await admin.get(target).string(), 'written-in-term-a');

    await a.resign();
    const b = await pendingB;
    assert.ok(b.term > a.term);

    // The current leader writes.
    await b.writer.put(target, 'written-in-term-b');
    assert.equal(await admin.get(target).string(), 'written-in-term-b');

    // A writer that still believes in term A (its local check bypassed, as for
    // a paused process that has not noticed yet) reaches etcd and is refused.
    let rejections = 0;
    const stale = new FencedWriter({
      client: clientA,
      leaderKey: a.key,
      term: a.term,
      stillLeader: () => true,
      onRejected: () => rejections++,
    });
    assert.equal(stale.term, a.term);
    await assert.rejects(stale.put(target, 'stale-put'), isFenced);
    assert.equal(rejections, 1, 'onRejected was called for the refused put');
    const after = await admin.get(target).exec();
    assert.equal(after.kvs[0]?.value.toString(), 'written-in-term-b', 'the stale put did not land');

    // Knowing the current leader key is not enough: the term must match too.
    const staleOnCurrentKey = new FencedWriter({
      client: clientA,
      leaderKey: b.key,
      term: a.term,
      stillLeader: () => true,
      onRejected: () => rejections++,
    });
    await assert.rejects(staleOnCurrentKey.put(target, 'stale-put-2'), isFenced);
    assert.equal(rejections, 2);

    // A stale write cannot create a key either.
    const fresh = keys.status('node02');
    await assert.rejects(stale.put(fresh, 'stale-create'), isFenced);
    assert.equal(await admin.get(fresh).string(), null);
    assert.equal(rejections, 3);

    // Deletes are fenced the same way.
    await assert.rejects(stale.delete(target), isFenced);
    await assert.rejects(staleOnCurrentKey.delete(target), isFenced);
    assert.equal(rejections, 5);
    const stillThere = await admin.get(target).exec();
    assert.equal(stillThere.kvs[0]?.value.toString(), 'written-in-term-b', 'the stale delete did not land');
    assert.equal(stillThere.kvs[0]?.mod_revision, after.kvs[0]?.mod_revision, 'the key was not touched at all');

    // The old leadership's own writer refuses before even asking etcd.
    await assert.rejects(a.writer.put(target, 'old-leader'), isNotLeader);
    await assert.rejects(a.writer.delete(target), isNotLeader);

    // A writer built for the current term (on another client) writes and deletes.
    const current = new FencedWriter({
      client: clientA,
      leaderKey: b.key,
      term: b.term,
      stillLeader: () => true,
      onRejected: () => rejections++,
    });
    await current.put(fresh, 'current-term');
    assert.equal(await admin.get(fresh).string(), 'current-term');
    await current.delete(fresh);
    assert.equal(await admin.get(fresh).string(), null);
    await b.writer.delete(target);
    assert.equal(await admin.get(target).string(), null);
    assert.equal(rejections, 5, 'no write of the current term was refused');
    // The refusals of stale writers did not end the current leadership.
    assert.ok(b.isLeader());
    await b.resign();
  });

  it('a leader whose fenced write is refused ends its term at once', { timeout: 120_000 }, async () => {
    const keys = freshLayout();
    const dir = keys.leaderDir();
    let rejectedCalls = 0;
    const leader = await campaign(newClient(), dir, 'controller-a', () => rejectedCalls++);
    const target = keys.status('node01');
    await leader.writer.put(target, 'before');

    // Its election key disappears behind its back (its lease is still alive and
    // kept alive, so only etcd knows the term is over).
    await admin.delete().key(leader.key).exec();
    assert.ok(leader.isLeader(), 'locally it still believes it leads');

    await assert.rejects(leader.writer.put(target, 'after'), isFenced);
    assert.equal(await admin.get(target).string(), 'before', 'the refused write did not land');
    assert.equal(rejectedCalls, 1, 'onFencedWriteRejected was called');
    assert.equal(leader.signal.aborted, true, 'the refused write ended the term');
    assert.ok(isNotLeader(leader.signal.reason));
    assert.match((leader.signal.reason as Error).message, /fenced write was rejected/);
    assert.equal(leader.isLeader(), false);

    // From now on it does not even send.
    await assert.rejects(leader.writer.delete(target), isNotLeader);
    assert.equal(await admin.get(target).string(), 'before');
    assert.equal(rejectedCalls, 1);
  });

  it('grouped puts: concurrent callers share transactions, each gets its own outcome, a stale term lands nothing', { timeout: 120_000 }, async () => {
    const keys = freshLayout();
    const leader = await campaign(newClient(), keys.leaderDir(), 'controller-a');
    // Guards as for status writes: each node's desired record at the revision read.
    const guards = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const r = await admin.put(keys.desired(`n${i}`)).value('{}').exec();
      guards.set(`n${i}`, Number(r.header.revision));
    }
    // Ten desired records change after they were read: their status writes must not land.
    for (let i = 0; i < 10; i++) await admin.put(keys.desired(`n${i}`)).value('{"changed":true}').exec();

    const outcomes = await Promise.allSettled(
      [...guards].map(([node, rev]) => leader.writer.putIfUnchangedGrouped(keys.status(node), `status of ${node}`, rev, keys.desired(node))),
    );
    const landed = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const refused = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [i] : []));
    assert.deepEqual(refused, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'exactly the puts whose guard changed were refused');
    for (const o of outcomes.slice(0, 10)) assert.ok(o.status === 'rejected' && isMembershipError(o.reason, 'CONFLICT'));
    assert.equal(landed.length, 50);
    const transactions = new Set(landed).size;
    assert.ok(transactions < 10, `50 puts shared ${transactions} transactions`);
    const stored = await admin.getAll().prefix(keys.dir('status')).strings();
    assert.equal(Object.keys(stored).length, 50);
    for (let i = 10; i < 60; i++) assert.equal(stored[keys.status(`n${i}`)], `status of n${i}`);

    // A writer of an ended term: every grouped put is refused, none lands.
    const stale = new FencedWriter({ client: newClient(), leaderKey: leader.key, term: leader.term - 1, stillLeader: () => true });
    const staleOutcomes = await Promise.allSettled(
      [...guards].slice(10, 20).map(([node, rev]) => stale.putIfUnchangedGrouped(keys.status(node), 'stale', rev, keys.desired(node))),
    );
    assert.ok(staleOutcomes.every((o) => o.status === 'rejected' && isFenced(o.reason)));
    const after = await admin.getAll().prefix(keys.dir('status')).strings();
    assert.ok(Object.values(after).every((v) => v !== 'stale'), 'no stale put landed');
    await leader.resign();
  });
});
