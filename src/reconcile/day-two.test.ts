// decideNode on day two: dead members, reprovisioned nodes, removed members
// wanted again, voters down while a node joins, and records that flip.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentReport } from '../schema/agent-report.js';
import { REMOVE_NOW_ANNOTATION, type NodeMembership } from '../schema/node-membership.js';
import { DEFAULT_POLICY } from '../schema/operation.js';
import { decideNode, type NodeInputs } from './decide.js';
import { agentReport, asPrevious, chainfireMember, cond, joinSpec, membership, NODE, PEER, type Spec } from '../../test/support/node-records.js';

const T0 = new Date('2026-11-24T10:00:00Z');
const later = (s: number) => new Date(T0.getTime() + s * 1000);

const node01 = chainfireMember('a1', 'node01', 'https://10.0.1.10:2380');
const node02 = chainfireMember('a2', 'node02', 'https://10.0.1.11:2380');
const node03 = chainfireMember('a3', 'node03', 'https://10.0.1.12:2380');
const mine = chainfireMember('c4', NODE, PEER);
const allHealthy = { a1: true, a2: true, a3: true, c4: true };

function desired(spec: Partial<Spec> = {}, generation = 12, annotations: Record<string, string> = {}): NodeMembership {
  const m = membership(joinSpec(['chainfire'], spec), generation);
  return { ...m, metadata: { ...m.metadata, annotations } };
}

function withData(data: { present: boolean; memberId?: string }): AgentReport {
  const a = agentReport('chainfire');
  return { ...a, report: { ...a.report, data: { chainfire: { ...data, checkedAt: T0.toISOString() } } } };
}

function inputs(over: Partial<NodeInputs> = {}): NodeInputs {
  return {
    node: NODE,
    desired: desired(),
    agent: agentReport('chainfire'),
    chainfire: { members: [node01, node02, node03, mine] },
    chainfireHealth: allHealthy,
    now: T0,
    ...over,
  };
}

describe('decideNode: a member that stops answering', () => {
  it('a Ready voter whose member does not answer is Degraded, and Ready again once it answers', () => {
    const ready = decideNode(inputs());
    assert.equal(ready.status.phase, 'Ready');
    assert.equal(ready.requeueAfterMs, DEFAULT_POLICY.healthIntervalSeconds * 1000);
    const down = decideNode(inputs({ previous: asPrevious(ready), chainfireHealth: { ...allHealthy, c4: false }, now: later(10) }));
    assert.equal(down.status.phase, 'Degraded');
    assert.equal(cond(down, 'ChainfireMember')?.reason, 'MemberUnhealthy');
    assert.equal(cond(down, 'Ready')?.reason, 'MemberUnhealthy');
    assert.equal(cond(down, 'ChainfireMember')?.lastTransitionTime, '2026-11-24T10:00:10Z', 'since when it does not answer');
    assert.equal(down.action, undefined, 'a dead member of a Present node is not removed for being dead');
    const back = decideNode(inputs({ previous: asPrevious(down), now: later(20) }));
    assert.equal(back.status.phase, 'Ready');
    assert.equal(cond(back, 'ChainfireMember')?.status, 'True');
  });

  it('a node that was never Ready is not Degraded', () => {
    const d = decideNode(inputs({ chainfireHealth: { ...allHealthy, c4: false } }));
    assert.notEqual(d.status.phase, 'Degraded');
  });
});

describe('decideNode: a reprovisioned node (its data wiped, its old member listed)', () => {
  const wiped = withData({ present: false });
  it('removes the old member once it does not answer, even in the smallest cluster', () => {
    const d = decideNode(inputs({ agent: wiped, chainfire: { members: [node01, node02, mine] }, chainfireHealth: { a1: true, a2: true, c4: false } }));
    assert.deepEqual(d.action, { service: 'chainfire', kind: 'removeMember', memberId: 'c4' });
    assert.equal(cond(d, 'ChainfireMember')?.reason, 'Reprovisioned');
    assert.notEqual(d.status.phase, 'Ready');
  });

  it('removes nothing while the old member still answers, and says to check the data dir', () => {
    const d = decideNode(inputs({ agent: wiped }));
    assert.equal(d.action, undefined);
    assert.equal(cond(d, 'ChainfireMember')?.reason, 'Reprovisioned');
    assert.match(cond(d, 'ChainfireMember')?.message ?? '', /--data-dir/);
  });

  it('is never Ready for the old member: the agent that started etcd as it, or reports its data, keeps it', () => {
    assert.equal(decideNode(inputs({ agent: withData({ present: false, memberId: 'c4' }) })).status.phase, 'Ready');
    assert.equal(decideNode(inputs({ agent: withData({ present: true, memberId: 'c4' }) })).status.phase, 'Ready');
    assert.equal(decideNode(inputs({ agent: agentReport('chainfire') })).status.phase, 'Ready', 'an agent that does not say keeps the old behaviour');
  });

  it('then joins afresh: no member, the agent reports no data: a learner is added', () => {
    const removed = decideNode(inputs({ agent: wiped, chainfire: { members: [node01, node02, mine] }, chainfireHealth: { a1: true, a2: true, c4: false } }));
    const d = decideNode(inputs({ agent: wiped, chainfire: { members: [node01, node02] }, chainfireHealth: { a1: true, a2: true }, previous: asPrevious(removed) }));
    assert.deepEqual(d.action, { service: 'chainfire', kind: 'addLearner', peerUrl: PEER });
  });

  it('a bootstrap node is never replaced for its report', () => {
    const d = decideNode(inputs({ desired: desired({ bootstrap: true }), agent: wiped, chainfireHealth: { ...allHealthy, c4: false } }));
    assert.equal(d.action, undefined);
  });
});

describe('decideNode: a removed member wanted again', () => {
  const removed = { ...asPrevious(decideNode(inputs())), chainfire: { memberId: 'c9' } };
  it('says RejoinRequired with the reset command while nothing on the node can rejoin', () => {
    for (const agent of [undefined, withData({ present: true, memberId: 'c9' })]) {
      const d = decideNode({ ...inputs({ chainfire: { members: [node01, node02, node03] }, previous: removed }), ...(agent ? { agent } : { agent: undefined }) });
      assert.equal(cond(d, 'ChainfireMember')?.reason, 'RejoinRequired');
      assert.match(cond(d, 'ChainfireMember')?.message ?? '', /first-boot-agent reset chainfire/);
      assert.equal(d.action, undefined);
    }
  });

  it('joins again once the agent reports its data moved aside', () => {
    const d = decideNode(inputs({ chainfire: { members: [node01, node02, node03] }, previous: removed, agent: withData({ present: false }) }));
    assert.deepEqual(d.action, { service: 'chainfire', kind: 'addLearner', peerUrl: PEER });
  });
});

describe('decideNode: a voter down while a node joins', () => {
  it('adds no learner (etcd would refuse) and names what unblocks it', () => {
    const d = decideNode(inputs({ chainfire: { members: [node01, node02, node03] }, chainfireHealth: { a1: true, a2: true, a3: false } }));
    assert.equal(d.action, undefined);
    assert.equal(d.operations, undefined, 'it holds no lock');
    assert.equal(cond(d, 'ChainfireMember')?.reason, 'WaitingForHealthyVoters');
    assert.match(cond(d, 'ChainfireMember')?.message ?? '', /membershipctl delete node03 --now/);
  });

  it('the dead voter is removed below minVoters: the floor keeps healthy voters, not dead ones', () => {
    const dead = { ...inputs(), desired: desired({ state: 'Absent' }, 12, { [REMOVE_NOW_ANNOTATION]: 'true' }), node: NODE };
    const d = decideNode({ ...dead, chainfire: { members: [node01, node02, mine] }, chainfireHealth: { a1: true, a2: true, c4: false } });
    assert.deepEqual(d.action, { service: 'chainfire', kind: 'removeMember', memberId: 'c4' });
    const healthy = decideNode({ ...dead, chainfire: { members: [node01, node02, mine] }, chainfireHealth: { a1: true, a2: true, c4: true } });
    assert.equal(healthy.action, undefined);
    assert.equal(cond(healthy, 'ChainfireMember')?.reason, 'QuorumProtection');
  });
});

describe('decideNode: the removal grace', () => {
  const absent = (annotations: Record<string, string> = {}) => desired({ state: 'Absent' }, 13, annotations);
  const ready = asPrevious(decideNode(inputs()));

  it('a record set Absent waits removalGraceSeconds, then is removed', () => {
    const first = decideNode(inputs({ desired: absent(), previous: ready, now: later(0.4) }));
    assert.equal(first.action, undefined);
    assert.equal(first.status.phase, 'Removing');
    assert.equal(cond(first, 'Ready')?.status, 'Unknown');
    assert.equal(cond(first, 'Ready')?.reason, 'RemovalScheduled');
    assert.equal(first.requeueAfterMs, 4600);
    const again = decideNode(inputs({ desired: absent(), previous: asPrevious(first), now: later(3) }));
    assert.equal(again.action, undefined);
    assert.equal(cond(again, 'Ready')?.message, cond(first, 'Ready')?.message, 'the same status: nothing to write');
    const due = decideNode(inputs({ desired: absent(), previous: asPrevious(again), now: later(5) }));
    assert.ok(due.action !== undefined, 'removal starts after the grace');
    assert.equal(cond(due, 'Ready')?.reason, 'Removing');
  });

  it('a flip back to Present within the grace changes nothing', () => {
    const scheduled = decideNode(inputs({ desired: absent(), previous: ready, now: later(0.3) }));
    const back = decideNode(inputs({ desired: desired({}, 14), previous: asPrevious(scheduled), now: later(0.6) }));
    assert.equal(back.status.phase, 'Ready');
    assert.equal(back.action, undefined);
  });

  it('the remove-now annotation and a grace of 0 skip it', () => {
    assert.ok(decideNode(inputs({ desired: absent({ [REMOVE_NOW_ANNOTATION]: 'true' }), previous: ready })).action !== undefined);
    assert.ok(decideNode(inputs({ desired: absent(), previous: ready, policy: { ...DEFAULT_POLICY, removalGraceSeconds: 0 } })).action !== undefined);
    assert.equal(decideNode(inputs({ desired: absent({ [REMOVE_NOW_ANNOTATION]: 'false' }), previous: ready })).action, undefined);
  });
});

describe('decideNode: the removal grace across flips', () => {
  it('a second Absent generation waits its own grace, not what is left of the first', () => {
    const ready = asPrevious(decideNode(inputs()));
    const absent = (generation: number) => desired({ state: 'Absent' }, generation);
    const first = decideNode(inputs({ desired: absent(13), previous: ready, now: later(0) }));
    // Present again before the grace ended, not reconciled meanwhile; Absent again 100 s later.
    const second = decideNode(inputs({ desired: absent(15), previous: asPrevious(first), now: later(100) }));
    assert.equal(second.action, undefined);
    assert.equal(cond(second, 'Ready')?.lastTransitionTime, '2026-11-24T10:01:40Z');
    const soon = decideNode(inputs({ desired: absent(15), previous: asPrevious(second), now: later(102) }));
    assert.equal(soon.action, undefined, 'still within the second grace');
  });
});
