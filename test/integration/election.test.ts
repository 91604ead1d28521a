import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { EtcdCluster, type EtcdMember } from '../support/etcd-cluster.js';
import { eventually } from '../support/fixtures.js';
import { LeaderElection, type Leadership } from '../../src/election/leader-election.js';
import { isMembershipError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { connect, DEFAULT_CALL_TIMEOUT_MS } from '../../src/store/connection.js';
import { KeyLayout } from '../../src/store/keys.js';

const TTL_SECONDS = 3;
const log = createLogger({ level: 'silent' });

/** A client configured as the programs configure theirs. */
function clientFor(endpoints: string[]): Etcd3 {
  return connect({ endpoints, prefix: '/unused', callTimeoutMs: DEFAULT_CALL_TIMEOUT_MS });
}

/** Running members that are not the raft leader: killing one causes no raft election. */
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

function freshLayout(): KeyLayout {
  return new KeyLayout(`/election-test-${randomBytes(4).toString('hex')}`);
}

/** One candidate: its own client, election and stop switch. */
class Candidate {
  readonly client: Etcd3;
  readonly election: LeaderElection;
  readonly stopper = new AbortController();
  fencedRejections = 0;

  constructor(
    readonly identity: string,
    endpoints: string[],
    dir: string,
    ttlSeconds = TTL_SECONDS,
  ) {
    this.client = clientFor(endpoints);
    this.election = new LeaderElection({
      client: this.client,
      dir,
      identity,
      ttlSeconds,
      log,
      onFencedWriteRejected: () => this.fencedRejections++,
    });
  }

  campaign(): Promise<Leadership> {
    return this.election.campaign(this.stopper.signal);
  }

  close(): void {
    this.stopper.abort();
    this.client.close();
  }
}

/** Tracks a pending campaign without awaiting it. */
function track(p: Promise<Leadership>) {
  const state: { leadership?: Leadership; error?: unknown; at?: number } = {};
  p.then(
    (l) => {
      state.leadership = l;
      state.at = Date.now();
    },
    (err: unknown) => {
      state.error = err;
      state.at = Date.now();
    },
  );
  return state;
}

async function createRevisionOf(client: Etcd3, key: string): Promise<number | undefined> {
  const res = await client.get(key).exec();
  const kv = res.kvs[0];
  return kv === undefined ? undefined : Number(kv.create_revision);
}

async function candidateKeys(client: Etcd3, dir: string): Promise<{ key: string; value: string; createRevision: number }[]> {
  const res = await client.getAll().prefix(dir).sort('Create', 'Ascend').exec();
  return res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString(), createRevision: Number(kv.create_revision) }));
}

describe('LeaderElection against a real 3-member etcd', () => {
  let cluster: EtcdCluster;
  let admin: Etcd3;
  const candidates: Candidate[] = [];

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    admin = new Etcd3({ hosts: cluster.endpoints });
  });

  after(async () => {
    for (const c of candidates) c.close();
    admin?.close();
    await cluster?.stop();
  });

  function candidate(identity: string, endpoints: string[], dir: string, ttlSeconds = TTL_SECONDS): Candidate {
    const c = new Candidate(identity, endpoints, dir, ttlSeconds);
    candidates.push(c);
    return c;
  }

  it(
    'elects exactly one of two candidates, the other stands by, and resigning hands over at once',
    { timeout: 120_000 },
    async (t) => {
      const keys = freshLayout();
      const dir = keys.leaderDir();
      const a = candidate('candidate-a', cluster.endpoints, dir);
      const b = candidate('candidate-b', cluster.endpoints, dir);

      // Both campaign at the same moment.
      const pa = a.campaign();
      const pb = b.campaign();
      const stateA = track(pa);
      const stateB = track(pb);
      const first = await Promise.race([pa, pb]);
      const [standby, standbyState, standbyCampaign] =
        first.identity === 'candidate-a' ? [b, stateB, pb] : [a, stateA, pa];

      // Both candidates have their key; the leader's is the older one.
      const listed = await eventually('both candidate keys', async () => {
        const ks = await candidateKeys(admin, dir);
        return ks.length === 2 ? ks : undefined;
      });
      assert.equal(listed[0]?.key, first.key);
      assert.equal(listed[0]?.value, first.identity);
      assert.equal(listed[1]?.value, standby.identity);
      // The term is the create revision etcd gave the leader's key.
      assert.equal(first.term, listed[0]?.createRevision);
      assert.equal(first.term, await createRevisionOf(admin, first.key));
      assert.equal(first.writer.term, first.term);
      assert.ok(first.isLeader());
      assert.equal(first.signal.aborted, false);

      // The standby keeps waiting while the leader holds its lease (well past one keepalive round).
      await new Promise((r) => setTimeout(r, TTL_SECONDS * 1000));
      assert.equal(standbyState.leadership, undefined, 'the standby must not be elected while the leader lives');
      assert.equal(standbyState.error, undefined);
      assert.ok(first.isLeader(), 'the leader kept its leadership through keepalives');

      const target = `${keys.prefix}/owned-by-leader`;
      await first.writer.put(target, 'from-first');
      assert.equal(await admin.get(target).string(), 'from-first');

      const resignedAt = Date.now();
      await first.resign();
      const second = await standbyCampaign;
      const takeoverMs = Date.now() - resignedAt;
      t.diagnostic(`takeover after resign: ${takeoverMs} ms`);
      assert.ok(takeoverMs < 2000, `the standby took over ${takeoverMs} ms after the resign, expected < 2000 ms`);

      // The old term is over, for the old leader and in etcd.
      assert.equal(first.signal.aborted, true);
      assert.ok(isMembershipError(first.signal.reason, 'NOT_LEADER'));
      assert.match((first.signal.reason as Error).message, /resigned/);
      assert.equal(first.isLeader(), false);
      assert.equal(await createRevisionOf(admin, first.key), undefined, 'the resigned leader key is gone');
      await assert.rejects(first.writer.put(target, 'late-write'), (err: unknown) => isMembershipError(err, 'NOT_LEADER'));
      assert.equal(await admin.get(target).string(), 'from-first');

      // The new leader's term is its own key's create revision, newer than the old one.
      assert.equal(second.identity, standby.identity);
      assert.equal(second.term, await createRevisionOf(admin, second.key));
      assert.ok(second.term > first.term);
      assert.ok(second.isLeader());
      await second.writer.put(target, 'from-second');
      assert.equal(await admin.get(target).string(), 'from-second');

      await second.resign();
      assert.deepEqual(await candidateKeys(admin, dir), []);
    },
  );

  it(
    'a leader cut off from etcd stops at its own lease deadline, and only then does the standby take over',
    { timeout: 120_000 },
    async (t) => {
      const keys = freshLayout();
      const dir = keys.leaderDir();
      const [isolated, other] = await raftFollowers(cluster);
      assert.ok(isolated && other, 'two raft followers');
      // Each candidate talks to one member only.
      const a = candidate('candidate-a', [isolated.clientUrl], dir);
      const b = candidate('candidate-b', [other.clientUrl], dir);

      const leader = await a.campaign();
      let abortedAt: number | undefined;
      leader.signal.addEventListener('abort', () => (abortedAt = Date.now()), { once: true });
      const standbyState = track(b.campaign());
      await eventually('the standby key', async () => ((await candidateKeys(admin, dir)).length === 2 ? true : undefined));
      assert.equal(standbyState.leadership, undefined);

      const killedAt = Date.now();
      try {
        await cluster.kill(isolated.name);
        await eventually('the cut-off leader to notice', async () => (leader.signal.aborted ? true : undefined), 30_000, 20);
        const lossMs = (abortedAt ?? Date.now()) - killedAt;
        t.diagnostic(`cut-off leader stopped ${lossMs} ms after its etcd member was killed (ttl ${TTL_SECONDS} s)`);
        // Its own deadline ended the term, not etcd3's 'lost' (which comes only after 2 x TTL).
        assert.ok(isMembershipError(leader.signal.reason, 'NOT_LEADER'));
        assert.match((leader.signal.reason as Error).message, /deadline/);
        assert.ok(lossMs < TTL_SECONDS * 1000 + 2000, `leadership ended ${lossMs} ms after the kill, expected < ${TTL_SECONDS * 1000 + 2000} ms`);
        assert.ok(lossMs < 2 * TTL_SECONDS * 1000);
        assert.equal(leader.isLeader(), false);
        const target = `${keys.prefix}/owned-by-leader`;
        await assert.rejects(leader.writer.put(target, 'late-write'), (err: unknown) => isMembershipError(err, 'NOT_LEADER'));
        await assert.rejects(leader.writer.delete(target), (err: unknown) => isMembershipError(err, 'NOT_LEADER'));

        // etcd lets the lease expire, deletes the old key, and the standby is elected.
        const second = await eventually('the standby to be elected', async () => standbyState.leadership, 60_000, 20);
        const takeoverMs = (standbyState.at ?? Date.now()) - killedAt;
        t.diagnostic(`standby elected ${takeoverMs} ms after the kill`);
        assert.ok(abortedAt !== undefined && standbyState.at !== undefined && standbyState.at >= abortedAt,
          'the old leader stopped before the new one was elected: never two leaders at once');
        assert.equal(await createRevisionOf(admin, leader.key), undefined, 'the old leader key expired with its lease');
        assert.equal(second.term, await createRevisionOf(admin, second.key));
        assert.ok(second.term > leader.term);
        await second.writer.put(target, 'from-second');
        assert.equal(await admin.get(target).string(), 'from-second');
        await second.resign();
      } finally {
        if (cluster.member(isolated.name).pid === undefined) await cluster.restart(isolated.name);
      }
    },
  );

  it(
    'a leader paused past its own deadline, but not past the lease\'s expiry in etcd, gives its key up and can be elected again',
    { timeout: 120_000 },
    async (t) => {
      const keys = freshLayout();
      const dir = keys.leaderDir();
      // TTL 10 s: the deadline is 1 s before etcd may let the lease expire, a window wide enough to pause in.
      const a = candidate('candidate-a', cluster.endpoints, dir, 10);
      const first = await a.campaign();
      // Right after an acknowledged keepalive (sent every 3.3 s), the deadline is about 9 s away.
      await eventually('a fresh keepalive', async () => (first.deadline() - Date.now() > 8_700 ? true : undefined), 10_000, 10);
      // Pause (as a long GC or SIGSTOP would) until just past the deadline; etcd still holds the lease,
      // and etcd3's keepalive, overdue, goes out the moment the pause ends and renews it.
      const until = first.deadline() + 300;
      while (Date.now() < until) {
        // busy: nothing else runs
      }
      assert.equal(first.isLeader(), false, 'the term ended at its deadline');
      assert.match((first.signal.reason as Error).message, /deadline/);
      // The ended term's key goes: a key kept alive by keepalives of a term that has ended blocks every candidate.
      await eventually('the ended term\'s key to be gone', async () => ((await createRevisionOf(admin, first.key)) === undefined ? true : undefined), 5_000, 50);
      await new Promise((r) => setTimeout(r, 3_000));
      assert.deepEqual(await candidateKeys(admin, dir), [], 'no key of the ended term came back');
      const startedAt = Date.now();
      const second = await a.campaign();
      t.diagnostic(`elected again ${Date.now() - startedAt} ms after campaigning`);
      assert.ok(second.term > first.term);
      assert.ok(second.isLeader());
      await second.resign();
    },
  );

  it(
    'a standby whose watch resumes on a compacted revision still takes over when the leader resigns',
    {
      timeout: 120_000,
    },
    async (t) => {
      const keys = freshLayout();
      const dir = keys.leaderDir();
      const [standbyMember] = await raftFollowers(cluster);
      assert.ok(standbyMember, 'a raft follower');
      const leaderEndpoints = cluster.endpoints.filter((e) => e !== standbyMember.clientUrl);
      const a = candidate('candidate-a', leaderEndpoints, dir);
      // A long TTL so that the standby's lease outlives the time its member is down.
      const b = candidate('candidate-b', [standbyMember.clientUrl], dir, 30);

      const leader = await a.campaign();
      const standbyState = track(b.campaign());
      await eventually('the standby key', async () => ((await candidateKeys(admin, dir)).length === 2 ? true : undefined));

      try {
        await cluster.kill(standbyMember.name);
        const noise = `${keys.prefix}/noise`;
        await admin.put(noise).value('1').exec();
        const written = await admin.put(noise).value('2').exec();
        await admin.kv.compact({ revision: written.header.revision, physical: true });
        await cluster.restart(standbyMember.name);
        assert.equal(standbyState.leadership, undefined);
        assert.ok(leader.isLeader(), 'the leader was not affected');

        const resignedAt = Date.now();
        await leader.resign();
        const second = await eventually('the standby to be elected', async () => standbyState.leadership, 30_000, 20);
        t.diagnostic(`standby elected ${(standbyState.at ?? Date.now()) - resignedAt} ms after the resign`);
        assert.equal(second.identity, 'candidate-b');
        assert.equal(second.term, await createRevisionOf(admin, second.key));
        await second.resign();
      } finally {
        if (cluster.member(standbyMember.name).pid === undefined) await cluster.restart(standbyMember.name);
      }
    },
  );
});
