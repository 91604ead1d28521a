// decideNode against state that outlives its cause: an orphan learner, an
// invalid cluster/config, a raft address claimed twice, a learner that never
// starts however often it is added.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeMembership } from '../schema/node-membership.js';
import { DEFAULT_POLICY } from '../schema/operation.js';
import { MAX_START_ATTEMPTS } from './chainfire-step.js';
import { decideNode, type NodeInputs } from './decide.js';
import { agentReport, asPrevious, chainfireMember, cond, joinSpec, membership, NODE, PEER, type Spec } from '../../test/support/node-records.js';

const T0 = new Date('2026-11-24T10:00:00Z');
const later = (s: number) => new Date(T0.getTime() + s * 1000);
const node01 = chainfireMember('a1', 'node01', 'https://10.0.1.10:2380');
const node02 = chainfireMember('a2', 'node02', 'https://10.0.1.11:2380');
const node03 = chainfireMember('a3', 'node03', 'https://10.0.1.12:2380');
const voters = [node01, node02, node03];
const healthy = { a1: true, a2: true, a3: true };

function desired(spec: Partial<Spec> = {}, generation = 12): NodeMembership {
  return membership(joinSpec(['chainfire'], spec), generation);
}

function inputs(over: Partial<NodeInputs> = {}): NodeInputs {
  return { node: NODE, desired: desired(), agent: agentReport('chainfire'), chainfire: { members: voters }, chainfireHealth: healthy, now: T0, ...over };
}

describe('an orphan learner (its record deleted mid-join)', () => {
  const orphan = chainfireMember('b6', '', 'https://10.0.1.16:2380', true);
  it('is removed by the next join, which then adds its own learner', () => {
    const d = decideNode(inputs({ chainfire: { members: [...voters, orphan] }, claimedPeerUrls: new Set(['https://10.0.1.10:2380', PEER]) }));
    assert.deepEqual(d.action, { service: 'chainfire', kind: 'removeMember', memberId: 'b6' });
    assert.deepEqual(d.operations, [{ service: 'chainfire', start: 'remove', fresh: true }, { service: 'chainfire', finish: true }]);
    assert.match(cond(d, 'ChainfireMember')?.message ?? '', /which never started and which no record claims/);
  });

  it('is left alone while a record claims it, or once it has started', () => {
    const claimed = decideNode(inputs({ chainfire: { members: [...voters, orphan] }, claimedPeerUrls: new Set(['https://10.0.1.16:2380']) }));
    assert.equal(claimed.action, undefined);
    assert.match(cond(claimed, 'ChainfireMember')?.message ?? '', /is still joining/);
    const started = chainfireMember('b6', 'node06', 'https://10.0.1.16:2380', true);
    assert.equal(decideNode(inputs({ chainfire: { members: [...voters, started] }, claimedPeerUrls: new Set() })).action, undefined);
  });
});

describe('an invalid cluster/config', () => {
  it('stops every change (fails closed) and says why', () => {
    const d = decideNode(inputs({ policyProblem: 'spec.paused: expected boolean, received string' }));
    assert.equal(d.action, undefined);
    assert.equal(cond(d, 'ChainfireMember')?.reason, 'Paused');
    assert.match(cond(d, 'ChainfireMember')?.message ?? '', /cluster\/config is invalid \(spec.paused: expected boolean/);
  });
});

describe('two records claiming one raft address', () => {
  const mine = chainfireMember('c4', NODE, PEER);
  it('the member (incumbent) goes on; the newcomer carries the conflict', () => {
    const incumbent = decideNode(inputs({ chainfire: { members: [...voters, mine] }, chainfireHealth: { ...healthy, c4: true }, addressConflicts: ['node09'] }));
    assert.equal(incumbent.status.phase, 'Ready');
    const newcomer = decideNode(inputs({ addressConflicts: ['node01'] }));
    assert.equal(newcomer.status.phase, 'Failed');
    assert.equal(cond(newcomer, 'Ready')?.reason, 'Conflict');
    assert.equal(newcomer.action, undefined);
  });

  it('the conflict clears when the other record goes', () => {
    const failed = decideNode(inputs({ addressConflicts: ['node01'] }));
    const after = decideNode(inputs({ previous: asPrevious(failed), now: later(5) }));
    assert.notEqual(after.status.phase, 'Failed');
    assert.deepEqual(after.action, { service: 'chainfire', kind: 'addLearner', peerUrl: PEER });
  });
});

describe('a learner that never starts, however often it is added', () => {
  it(`gives up after ${MAX_START_ATTEMPTS} rollbacks of one generation, saying so; a new generation tries again`, () => {
    const policy = { ...DEFAULT_POLICY, learnerStartTimeoutSeconds: 10 };
    const op = (at: Date) => ({ apiVersion: 'membership.photoncloud.io/v1alpha1' as const, kind: 'MembershipOperation' as const, service: 'chainfire' as const, node: NODE, change: 'join' as const, startedAt: at.toISOString(), startedBy: 'c (term 1)' });
    const learner = chainfireMember('c4', '', PEER, true);
    let previous = undefined as ReturnType<typeof asPrevious> | undefined;
    let t = 0;
    for (let attempt = 1; attempt <= MAX_START_ATTEMPTS; attempt++) {
      const add = decideNode(inputs({ policy, now: later(t), ...(previous ? { previous } : {}) }));
      assert.deepEqual(add.action, { service: 'chainfire', kind: 'addLearner', peerUrl: PEER }, `attempt ${attempt} adds`);
      const added = decideNode(inputs({ policy, now: later(t + 1), previous: asPrevious(add), chainfire: { members: [...voters, learner] }, operations: { chainfire: op(later(t)) } }));
      t += 30;
      const rollback = decideNode(inputs({ policy, now: later(t), previous: asPrevious(added), chainfire: { members: [...voters, learner] }, operations: { chainfire: op(later(t - 30)) } }));
      assert.equal(cond(rollback, 'ChainfireMember')?.reason, 'LearnerNotStarted');
      assert.deepEqual(rollback.action, { service: 'chainfire', kind: 'removeMember', memberId: 'c4' });
      // The status written is the decision after the rollback (the learner gone), which must keep the count.
      const after = decideNode(inputs({ policy, now: later(t), previous: asPrevious(added), operations: {} }));
      assert.equal(after.status.chainfire.startAttempts, attempt);
      previous = asPrevious(after);
      t += 1;
    }
    const gaveUp = decideNode(inputs({ policy, now: later(t), previous }));
    assert.equal(gaveUp.action, undefined);
    assert.equal(gaveUp.status.phase, 'Failed');
    assert.match(cond(gaveUp, 'ChainfireMember')?.message ?? '', new RegExp(`in ${MAX_START_ATTEMPTS} attempts .* apply the record again`));
    const reapplied = decideNode(inputs({ policy, desired: desired({}, 20), now: later(t + 5), previous: asPrevious(gaveUp) }));
    assert.deepEqual(reapplied.action, { service: 'chainfire', kind: 'addLearner', peerUrl: PEER });
  });
});
