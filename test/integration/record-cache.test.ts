import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { EtcdCluster, type EtcdMember } from '../support/etcd-cluster.js';
import { eventually, membershipFor } from '../support/fixtures.js';
import { RecordCache, type CacheEvent } from '../../src/cache/record-cache.js';
import { createLogger } from '../../src/log.js';
import { connect, DEFAULT_CALL_TIMEOUT_MS } from '../../src/store/connection.js';
import { KeyLayout } from '../../src/store/keys.js';
import { decodeDesired, encodeRecord, type StoredRecord } from '../../src/store/records.js';
import type { NodeMembership } from '../../src/schema/node-membership.js';

type Desired = StoredRecord<NodeMembership>;

const log = createLogger({ level: 'silent' });

/** A client talking to exactly one member, configured as the programs configure theirs. */
function clientOf(member: EtcdMember): Etcd3 {
  return connect({ endpoints: [member.clientUrl], prefix: '/unused', callTimeoutMs: DEFAULT_CALL_TIMEOUT_MS });
}

/**
 * Running members that are not the raft leader. Killing one of those leaves the
 * rest of the cluster serving without an election in between.
 */
async function raftFollowers(cluster: EtcdCluster): Promise<EtcdMember[]> {
  const out: EtcdMember[] = [];
  for (const member of cluster.members) {
    if (member.pid === undefined) continue;
    const c = new Etcd3({ hosts: [member.clientUrl] });
    try {
      const status = await c.maintenance.status();
      if (status.header.member_id !== status.leader) out.push(member);
    } finally {
      c.close();
    }
  }
  return out;
}

function desiredValue(node: string, role: 'worker' | 'control-plane'): string {
  return encodeRecord(
    membershipFor({ name: node, peerUrl: 'http://127.0.0.1:2380', clientUrl: 'http://127.0.0.1:2379' }, false, { role }),
  );
}

/** A cache of desired records under a fresh prefix, recording what a user of it sees. */
function desiredCache(client: Etcd3, keys: KeyLayout) {
  const events: CacheEvent<Desired>[] = [];
  const restarts: string[] = [];
  const cache = new RecordCache<Desired>({
    client,
    prefix: keys.dir('desired'),
    decode: (kv) => decodeDesired(keys, kv),
    resource: 'nodememberships',
    log,
    onWatchRestart: (resource) => restarts.push(resource),
  });
  cache.on('event', (e) => events.push(e));
  return { cache, events, restarts };
}

function freshKeys(): KeyLayout {
  return new KeyLayout(`/record-cache-test-${randomBytes(4).toString('hex')}`);
}

async function waitForEvents<T>(events: T[], count: number, what: string, timeoutMs = 90_000): Promise<T[]> {
  return eventually(what, async () => (events.length >= count ? events.slice() : undefined), timeoutMs, 100);
}

/** Content of the cache as node -> role, for comparison with what etcd holds. */
function roles(cache: RecordCache<Desired>): Record<string, string | undefined> {
  return Object.fromEntries(cache.values().map((r) => [r.node, r.value?.spec.role]));
}

async function rolesInEtcd(client: Etcd3, keys: KeyLayout): Promise<Record<string, string | undefined>> {
  const res = await client.getAll().prefix(keys.dir('desired')).exec();
  return Object.fromEntries(
    res.kvs.map((kv) => [
      keys.nodeOf('desired', kv.key.toString()).node,
      (JSON.parse(kv.value.toString()) as NodeMembership).spec.role,
    ]),
  );
}

function summary(e: CacheEvent<Desired>): string {
  const parts = [e.type, e.key.split('/').pop()];
  if (e.record) parts.push(`record=${e.record.value?.spec.role}@${e.record.modRevision}`);
  if (e.previous) parts.push(`previous=${e.previous.value?.spec.role}@${e.previous.modRevision}`);
  return parts.join(' ');
}

describe('RecordCache against a real 3-member etcd', () => {
  let cluster: EtcdCluster;
  /** Talks to every member: the test's own writes and reads. */
  let admin: Etcd3;

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    admin = new Etcd3({ hosts: cluster.endpoints });
  });

  after(async () => {
    admin?.close();
    await cluster?.stop();
  });

  it('lists what exists before start, then delivers puts and deletes as events', { timeout: 120_000 }, async () => {
    const keys = freshKeys();
    const rA = await admin.put(keys.desired('node-a')).value(desiredValue('node-a', 'worker')).exec();
    await admin.put(keys.desired('node-b')).value(desiredValue('node-b', 'worker')).exec();
    // A key outside the prefix that shares its beginning must not show up.
    await admin.put(keys.dir('desired').slice(0, -1) + 'x/node-z').value('{}').exec();

    const client = new Etcd3({ hosts: cluster.endpoints });
    const { cache, events, restarts } = desiredCache(client, keys);
    try {
      await cache.start();
      assert.equal(cache.synced, true);
      assert.deepEqual(roles(cache), { 'node-a': 'worker', 'node-b': 'worker' });
      const listedA = cache.get(keys.desired('node-a'));
      assert.ok(listedA, 'node-a is in the cache right after start');
      assert.equal(listedA.modRevision, Number(rA.header.revision));
      assert.equal(listedA.value?.metadata.generation, Number(rA.header.revision));
      assert.equal(listedA.problem, undefined);
      // The initial list is reported as puts too, one per key.
      assert.deepEqual(events.map(summary).sort(), [
        `put node-a record=worker@${rA.header.revision}`,
        `put node-b record=worker@${Number(rA.header.revision) + 1}`,
      ]);
      events.length = 0;

      const created = await admin.put(keys.desired('node-c')).value(desiredValue('node-c', 'worker')).exec();
      const updated = await admin.put(keys.desired('node-a')).value(desiredValue('node-a', 'control-plane')).exec();
      const deleted = await admin.delete().key(keys.desired('node-b')).exec();

      const seen = await waitForEvents(events, 3, 'the put, update and delete to arrive');
      assert.deepEqual(seen.map(summary), [
        `put node-c record=worker@${created.header.revision}`,
        `put node-a record=control-plane@${updated.header.revision} previous=worker@${rA.header.revision}`,
        `delete node-b previous=worker@${Number(rA.header.revision) + 1}`,
      ]);
      assert.equal(seen[2]?.record, undefined, 'a delete carries no record');
      assert.deepEqual(roles(cache), { 'node-a': 'control-plane', 'node-c': 'worker' });
      assert.deepEqual(roles(cache), await rolesInEtcd(admin, keys));
      assert.ok(cache.lastRevision >= Number(deleted.header.revision));

      // Writing the same bytes again is still a new revision: a put event, no re-list.
      const rewritten = await admin.put(keys.desired('node-c')).value(desiredValue('node-c', 'worker')).exec();
      const [rewrite] = (await waitForEvents(events, 4, 'the rewrite to arrive')).slice(3);
      assert.equal(rewrite && summary(rewrite), `put node-c record=worker@${rewritten.header.revision} previous=worker@${created.header.revision}`);
      assert.deepEqual(restarts, []);
    } finally {
      await cache.stop();
      client.close();
    }

    // After stop nothing more is delivered.
    const before = events.length;
    await admin.put(keys.desired('node-d')).value(desiredValue('node-d', 'worker')).exec();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(events.length, before, 'a stopped cache emits nothing');
  });

  it('takes in its own writes at once, does not decode them again from the watch, and never goes back in time', { timeout: 120_000 }, async () => {
    const keys = freshKeys();
    // The cache watches through one follower; the test writes through another member. With the
    // follower stopped, the watch cannot deliver the write before the cache is told of it.
    const followers = await raftFollowers(cluster);
    const watched = followers[0]!;
    const other = cluster.members.find((m) => m.name !== watched.name && m.pid !== undefined)!;
    const client = clientOf(watched);
    const writer = clientOf(other);
    let decoded = 0;
    const events: CacheEvent<Desired>[] = [];
    const cache = new RecordCache<Desired>({
      client,
      prefix: keys.dir('desired'),
      decode: (kv) => {
        decoded += 1;
        return decodeDesired(keys, kv);
      },
      resource: 'nodememberships',
      log,
    });
    cache.on('event', (e) => events.push(e));
    try {
      await cache.start();
      const key = keys.desired('node-a');
      const value = desiredValue('node-a', 'worker');
      await cluster.kill(watched.name, 'SIGSTOP');
      let revision: number;
      try {
        revision = Number((await writer.put(key).value(value).exec()).header.revision);
      } finally {
        await cluster.kill(watched.name, 'SIGCONT');
      }
      const mine = decodeDesired(keys, { key, value, modRevision: revision, createRevision: revision });
      cache.assume(key, mine, revision);
      assert.equal(cache.get(key), mine, 'readable at once');
      assert.deepEqual(events.map(summary), [`put node-a record=worker@${revision}`]);
      // The watch delivers the same revision: no second event, no decode.
      const marker = await writer.put(keys.desired('node-m')).value(desiredValue('node-m', 'worker')).exec();
      await eventually('the watch to pass the marker', async () => (cache.lastRevision >= Number(marker.header.revision) ? true : undefined), 30_000, 20);
      assert.equal(decoded, 1, 'only the marker was decoded');
      assert.deepEqual(events.map(summary), [`put node-a record=worker@${revision}`, `put node-m record=worker@${marker.header.revision}`]);
      assert.equal(cache.get(key), mine);

      // A write the watch has already passed (here: deleted since) is not taken in.
      const late = await writer.put(keys.desired('node-b')).value(desiredValue('node-b', 'worker')).exec();
      const gone = await writer.delete().key(keys.desired('node-b')).exec();
      await eventually('the delete to arrive', async () => (cache.lastRevision >= Number(gone.header.revision) ? true : undefined), 30_000, 20);
      const lateRev = Number(late.header.revision);
      cache.assume(keys.desired('node-b'), decodeDesired(keys, { key: keys.desired('node-b'), value: desiredValue('node-b', 'worker'), modRevision: lateRev, createRevision: lateRev }), lateRev);
      assert.equal(cache.get(keys.desired('node-b')), undefined, 'a deleted record does not come back');
      assert.deepEqual(roles(cache), await rolesInEtcd(admin, keys));
    } finally {
      await cache.stop();
      client.close();
      writer.close();
    }
  });

  it(
    'resumes after its only etcd member was down: the changes made meanwhile arrive as events, without a re-list',
    { timeout: 180_000 },
    async (t) => {
      const keys = freshKeys();
      const [member] = await raftFollowers(cluster);
      assert.ok(member, 'a follower to connect the cache to');
      const rA = await admin.put(keys.desired('node-a')).value(desiredValue('node-a', 'worker')).exec();
      const rB = await admin.put(keys.desired('node-b')).value(desiredValue('node-b', 'worker')).exec();

      const client = clientOf(member);
      const { cache, events, restarts } = desiredCache(client, keys);
      try {
        await cache.start();
        events.length = 0;

        await cluster.kill(member.name);
        const deleted = await admin.delete().key(keys.desired('node-a')).exec();
        const updated = await admin.put(keys.desired('node-b')).value(desiredValue('node-b', 'control-plane')).exec();
        const created = await admin.put(keys.desired('node-c')).value(desiredValue('node-c', 'worker')).exec();
        // Nothing can reach the cache while its member is down.
        assert.deepEqual(events, []);
        const restartedAt = Date.now();
        await cluster.restart(member.name);

        const seen = await waitForEvents(events, 3, 'the changes made while the member was down');
        const resumeMs = Date.now() - restartedAt;
        assert.deepEqual(seen.map(summary), [
          `delete node-a previous=worker@${rA.header.revision}`,
          `put node-b record=control-plane@${updated.header.revision} previous=worker@${rB.header.revision}`,
          `put node-c record=worker@${created.header.revision}`,
        ]);
        assert.ok(cache.lastRevision >= Number(deleted.header.revision));
        assert.deepEqual(roles(cache), await rolesInEtcd(admin, keys));
        // The watch resumed where it stopped: no re-list was needed.
        assert.deepEqual(restarts, []);

        // And it keeps delivering.
        const later = await admin.put(keys.desired('node-d')).value(desiredValue('node-d', 'worker')).exec();
        const [last] = (await waitForEvents(events, 4, 'a put after the resume')).slice(3);
        assert.equal(last && summary(last), `put node-d record=worker@${later.header.revision}`);
        t.diagnostic(`resume: changes arrived ${resumeMs} ms after the member was restarted`);
      } finally {
        await cache.stop();
        client.close();
        if (member.pid === undefined) await cluster.restart(member.name);
      }
    },
  );

  it(
    'lists again when its watch resumes on a compacted revision: deletes for vanished keys, puts for new and changed ones',
    {
      timeout: 180_000,
    },
    async (t) => {
      const keys = freshKeys();
      const [member] = await raftFollowers(cluster);
      assert.ok(member, 'a follower to connect the cache to');
      const rA = await admin.put(keys.desired('node-a')).value(desiredValue('node-a', 'worker')).exec();
      const rB = await admin.put(keys.desired('node-b')).value(desiredValue('node-b', 'worker')).exec();
      const rKeep = await admin.put(keys.desired('node-keep')).value(desiredValue('node-keep', 'worker')).exec();

      const client = clientOf(member);
      const { cache, events, restarts } = desiredCache(client, keys);
      try {
        await cache.start();
        events.length = 0;
        const watchedFrom = cache.lastRevision;

        await cluster.kill(member.name);
        await admin.delete().key(keys.desired('node-a')).exec();
        const updated = await admin.put(keys.desired('node-b')).value(desiredValue('node-b', 'control-plane')).exec();
        const created = await admin.put(keys.desired('node-c')).value(desiredValue('node-c', 'worker')).exec();
        // Compact away every revision the cache has not seen.
        await admin.kv.compact({ revision: created.header.revision, physical: true });
        assert.ok(Number(created.header.revision) > watchedFrom + 1);
        const restartedAt = Date.now();
        await cluster.restart(member.name);

        const seen = await waitForEvents(events, 3, 'the re-list after the compacted watch', 45_000);
        const relistMs = Date.now() - restartedAt;
        assert.deepEqual(seen.map(summary).sort(), [
          `delete node-a previous=worker@${rA.header.revision}`,
          `put node-b record=control-plane@${updated.header.revision} previous=worker@${rB.header.revision}`,
          `put node-c record=worker@${created.header.revision}`,
        ]);
        assert.ok(restarts.length >= 1, 'onWatchRestart was called');
        assert.ok(restarts.every((r) => r === 'nodememberships'));
        // The unchanged key is kept and produced no event.
        assert.equal(cache.get(keys.desired('node-keep'))?.modRevision, Number(rKeep.header.revision));
        assert.deepEqual(roles(cache), await rolesInEtcd(admin, keys));
        assert.deepEqual(roles(cache), { 'node-b': 'control-plane', 'node-c': 'worker', 'node-keep': 'worker' });

        // After the re-list it watches again.
        const later = await admin.put(keys.desired('node-d')).value(desiredValue('node-d', 'worker')).exec();
        const [last] = (await waitForEvents(events, 4, 'a put after the re-list')).slice(3);
        assert.equal(last && summary(last), `put node-d record=worker@${later.header.revision}`);
        t.diagnostic(`compaction: cache re-listed ${relistMs} ms after the member was restarted`);
      } finally {
        await cache.stop();
        client.close();
        if (member.pid === undefined) await cluster.restart(member.name);
      }
    },
  );
});
