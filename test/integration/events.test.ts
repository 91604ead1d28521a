// Each node's event history (events/<node>) against real etcd: a join, a refused removal and a removal leave
// the expected events in order, with the controller's term; membershipctl events and describe show them; the
// history stays at 50 under 1,000 appends; a leader whose term has ended cannot append.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { EventRecorder } from '../../src/controller/event-recorder.js';
import { LeaderElection } from '../../src/election/leader-election.js';
import { createLogger } from '../../src/log.js';
import { MAX_EVENTS } from '../../src/schema/events.js';
import { FencedWriter } from '../../src/store/fenced-writer.js';
import { KeyLayout } from '../../src/store/keys.js';
import { bootstrapReady, joinControlPlane, readStatusBody, until } from '../support/day-two.js';
import { ctl, membershipFor, tempDir, withControllerLog, withRunningController, type RunningController } from '../support/fixtures.js';

const log = createLogger({ level: 'silent' });

const env: RunningController = withRunningController({ afterStart: bootstrapReady() });

interface Row {
  node: string;
  type: string;
  reason: string;
  message: string;
  controller: { identity: string; term: number };
}

async function events(node: string): Promise<Row[]> {
  const r = await ctl(env.cluster.endpoints, ['events', node, '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Row[];
}

/** Whether `wanted` appears in `reasons` in this order (others may come between). */
function inOrder(reasons: string[], wanted: string[]): boolean {
  let i = 0;
  for (const r of reasons) if (r === wanted[i]) i += 1;
  return i === wanted.length;
}

describe('event history', { timeout: 300_000 }, () => {
  it('a join, a refused removal and a removal, in order, with the term', async () => {
    await withControllerLog(env.controller, async () => {
      await joinControlPlane(env.cluster, env.client, 'node04', await tempDir('events-'));
      const term = (await readStatusBody(env.client, 'node04'))!.controller!.term;
      // Each Chainfire change comes after its snapshot.
      const joined = (await until('node04: SnapshotTaken, LearnerAdded, SnapshotTaken, Promoted, PhaseReady', async () => {
        const rows = await events('node04');
        const wanted = ['SnapshotTaken', 'LearnerAdded', 'SnapshotTaken', 'Promoted', 'PhaseReady'];
        return inOrder(rows.map((r) => r.reason), wanted) ? { done: rows } : { seen: rows.map((r) => r.reason).join(' ') };
      }, 30_000))!;
      assert.match(joined.find((r) => r.reason === 'SnapshotTaken')!.message, /snapshot of Chainfire before addLearner written to \/.*_node04_addLearner_rev\d+\.db/);
      assert.ok(joined.every((r) => r.controller.term === term && r.controller.identity === 'c1'), JSON.stringify(joined));
      assert.equal(joined.find((r) => r.reason === 'LearnerAdded')!.type, 'Normal');

      // A removal: node04 leaves.
      const removed = await ctl(env.cluster.endpoints, ['delete', 'node04', '--now', '--timeout', '120s']);
      assert.equal(removed.code, 0, removed.stdout + removed.stderr);
      await until('node04: MemberRemoved after its join', async () => {
        const rows = await events('node04');
        return inOrder(rows.map((r) => r.reason), ['LearnerAdded', 'Promoted', 'PhaseReady', 'MemberRemoved']) ? { done: true } : { seen: rows.map((r) => r.reason).join(' ') };
      }, 30_000);
      // A refused removal: three voters and minVoters 3, so node03 may not go.
      assert.equal((await ctl(env.cluster.endpoints, ['delete', 'node03', '--now', '--no-wait'])).code, 0);
      const refused = (await until('node03: a QuorumProtection warning', async () => {
        const rows = await events('node03');
        const w = rows.find((r) => r.reason === 'QuorumProtection');
        return w ? { done: w } : { seen: rows.map((r) => r.reason).join(' ') };
      }, 60_000))!;
      assert.equal(refused.type, 'Warning');
      assert.match(refused.message, /ChainfireMember=False: .*below the floor of 3/);
      assert.equal((await ctl(env.cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(membershipFor(env.cluster.member('node03'), true)))).code, 0);

      // describe shows the latest; the table of all nodes names them.
      const described = await ctl(env.cluster.endpoints, ['describe', 'node03']);
      assert.equal(described.code, 0, described.stderr);
      assert.match(described.stdout, /Events:\n\s+AGE\s+TYPE\s+REASON\s+TERM\s+MESSAGE\n[\s\S]*Warning\s+QuorumProtection/);
      const all = await ctl(env.cluster.endpoints, ['events']);
      assert.match(all.stdout, /^NODE\s+AGE\s+TYPE\s+REASON/m);
      assert.match(all.stdout, /node04 .*MemberRemoved/);
    });
  });

  it('stays at the last 50 under 1,000 appends, and a leader whose term ended cannot append', async () => {
    const client = new Etcd3({ hosts: env.cluster.endpoints });
    const k = new KeyLayout('/events-test');
    try {
      const election = new LeaderElection({ client, dir: k.leaderDir(), identity: 'recorder', ttlSeconds: 5, log });
      const leadership = await election.campaign(new AbortController().signal);
      const recorder = new EventRecorder(client, k, log);
      for (let i = 0; i < 1000; i++) {
        recorder.record('node07', [{ type: 'Normal', reason: 'Tick', message: `change ${i}` }], 1, leadership);
        if (i % 100 === 99) await recorder.idle();
      }
      await recorder.idle();
      const stored = EventRecorder.decode((await client.get(k.event('node07')).string()) ?? undefined);
      assert.equal(stored.length, MAX_EVENTS);
      assert.equal(stored.at(-1)!.message, 'change 999');
      assert.equal(stored[0]!.message, `change ${1000 - MAX_EVENTS}`);
      assert.ok(stored.every((e) => e.controller.term === leadership.term));

      // The term ends (its key is gone); a writer that still believes it leads gets as far as etcd, which fences it.
      await leadership.resign();
      let rejected = 0;
      const writer = new FencedWriter({ client, leaderKey: leadership.key, term: leadership.term, stillLeader: () => true, onRejected: () => rejected++ });
      const stale = { ...leadership, isLeader: () => true, writer };
      recorder.record('node07', [{ type: 'Warning', reason: 'Stale', message: 'from an ended term' }], 1, stale);
      await recorder.idle();
      const after = EventRecorder.decode((await client.get(k.event('node07')).string()) ?? undefined);
      assert.equal(after.at(-1)!.message, 'change 999', 'nothing appended by the stale leader');
      assert.ok(rejected > 0, 'etcd rejected the fenced write');
    } finally {
      client.close();
    }
  });
});
