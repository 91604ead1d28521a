/*
 * decideChainfire, branch by branch (one or more tests each):
 *
 *  B1  spec has no chainfire block                      -> undefined (nothing to decide)
 *  B2  member list unavailable                          -> Unknown/ServiceUnavailable, previous block kept,
 *                                                          retry after UNAVAILABLE_RETRY_MS, progressed only if
 *                                                          the previous phase was Joining
 *  B3  another member carries this node's name with a
 *      different peer URL                               -> False/Conflict, terminal, no action
 *  B4  not a member, bootstrap                          -> False/NotAMember, never added, requeue
 *  B5  not a member, agent has not reported             -> False/WaitingForAgent, no action, not progressed
 *  B6  not a member, another learner is joining         -> False/WaitingForOtherChange, no action (one at a time)
 *  B7  not a member, agent present, no learner          -> False/AddingLearner + addLearner(peerUrl)
 *  B8  voter, bootstrap                                 -> True/Adopted, no initialCluster
 *  B9  voter, previous status saw it as learner         -> True/Promoted
 *  B10 voter, previous ChainfireMember reason Promoted  -> True/Promoted (kept on later reconciles)
 *  B11 voter, otherwise                                 -> True/Joined with initialCluster
 *  B12 learner whose etcd has not started (name '')     -> False/LearnerAdded, requeue LEARNER_START_POLL_MS
 *  B13 started learner, etcd refused its promote        -> False/LearnerCatchingUp, requeue CATCH_UP_POLL_MS
 *  B14 started learner, no refusal for it               -> False/LearnerCatchingUp + promote(memberId)
 *  B15 initialCluster is sticky: kept from the previous status while the member id is the same,
 *      recomputed (sorted, unnamed others left out) when the id changed
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StatusBody } from '../schema/status.js';
import {
  CATCH_UP_POLL_MS,
  LEARNER_START_POLL_MS,
  UNAVAILABLE_RETRY_MS,
  decideChainfire,
  initialClusterOf,
  type ChainfireStepInput,
} from './chainfire-step.js';
import type { ChainfireMember } from '../schema/members.js';
import { joinSpec, NODE, PEER, type Spec } from '../../test/support/node-records.js';

function spec(over: Partial<Spec> = {}): Spec {
  return joinSpec(['chainfire'], over);
}

function member(id: string, name: string, peerUrl: string, isLearner = false): ChainfireMember {
  return { id, name, peerUrls: [peerUrl], clientUrls: [peerUrl.replace(':2380', ':2379')], isLearner };
}

const node01 = member('a1', 'node01', 'https://10.0.1.10:2380');
const node02 = member('b2', 'node02', 'https://10.0.1.11:2380');

function previous(over: Partial<StatusBody> = {}): StatusBody {
  return { observedGeneration: 7, phase: 'Joining', conditions: [], chainfire: {}, flaredb: {}, iam: {}, ...over };
}

function input(over: Partial<ChainfireStepInput> = {}): ChainfireStepInput {
  return {
    node: NODE,
    spec: spec(),
    previous: undefined,
    agentPresent: true,
    observed: { members: [node01, node02] },
    ...over,
  };
}

function decide(over: Partial<ChainfireStepInput> = {}) {
  const result = decideChainfire(input(over));
  assert.ok(result, 'expected a Chainfire decision');
  return result;
}

describe('decideChainfire', () => {
  it('B1: decides nothing when the spec asks for no Chainfire membership', () => {
    const { chainfire: _omit, ...noChainfire } = spec();
    assert.equal(decideChainfire(input({ spec: noChainfire })), undefined);
  });

  describe('B2: member list unavailable', () => {
    it('reports Unknown/ServiceUnavailable with the error and retries later', () => {
      const r = decide({ observed: { unavailable: 'connection refused' } });
      assert.equal(r.condition.type, 'ChainfireMember');
      assert.equal(r.condition.status, 'Unknown');
      assert.equal(r.condition.reason, 'ServiceUnavailable');
      assert.match(r.condition.message, /connection refused/);
      assert.equal(r.requeueAfterMs, UNAVAILABLE_RETRY_MS);
      assert.equal(r.action, undefined);
      assert.deepEqual(r.block, {});
      assert.equal(r.progressed, false);
    });

    it('keeps the previous chainfire block and stays progressed while Joining', () => {
      const block = { memberId: 'c3', role: 'learner' as const, peerUrl: PEER, initialCluster: 'x=y' };
      const r = decide({ observed: { unavailable: 'timeout' }, previous: previous({ phase: 'Joining', chainfire: block }) });
      assert.deepEqual(r.block, block);
      assert.equal(r.progressed, true);
    });

    it('is not progressed when the previous phase was Pending', () => {
      const r = decide({ observed: { unavailable: 'timeout' }, previous: previous({ phase: 'Pending' }) });
      assert.equal(r.progressed, false);
    });
  });

  describe('B3: Conflict', () => {
    it('is terminal when another member has this node name but another peer URL', () => {
      const old = member('dead', NODE, 'https://10.0.9.9:2380');
      const r = decide({ observed: { members: [node01, old] } });
      assert.equal(r.condition.status, 'False');
      assert.equal(r.condition.reason, 'Conflict');
      assert.equal(r.terminal, true);
      assert.equal(r.action, undefined);
      assert.equal(r.progressed, false);
      assert.deepEqual(r.block, {});
      assert.match(r.condition.message, /dead/);
      assert.match(r.condition.message, /https:\/\/10\.0\.9\.9:2380/);
      assert.match(r.condition.message, /etcdctl member remove dead/);
    });

    it('wins even when a member with the right peer URL also exists', () => {
      const old = member('dead', NODE, 'https://10.0.9.9:2380');
      const mine = member('c3', '', PEER, true);
      const r = decide({ observed: { members: [node01, old, mine] } });
      assert.equal(r.condition.reason, 'Conflict');
      assert.equal(r.action, undefined);
    });

    it('is not raised by a member with this name and this peer URL', () => {
      const r = decide({ observed: { members: [node01, member('c3', NODE, PEER)] } });
      assert.notEqual(r.condition.reason, 'Conflict');
      assert.equal(r.terminal, undefined);
    });
  });

  it('B4: a bootstrap node that is not a member is reported, never added', () => {
    const r = decide({ spec: spec({ bootstrap: true }) });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'NotAMember');
    assert.match(r.condition.message, new RegExp(PEER));
    assert.equal(r.action, undefined);
    assert.equal(r.requeueAfterMs, 10_000);
    assert.equal(r.progressed, false);
    assert.equal(r.terminal, undefined);
  });

  it('B4r: a bootstrap node that a quorum-loss recovery dropped joins again, learner first, and says why it waits', () => {
    const recovery = { at: '2026-12-03T06:00:00Z', node: 'node01', source: 'data' as const, memberId: 'c1', clusterId: 'f0', dropped: [NODE] };
    const waiting = decide({ spec: spec({ bootstrap: true }), recovery, agentPresent: false });
    assert.equal(waiting.condition.reason, 'WaitingForAgent');
    assert.match(waiting.condition.message, /dropped by the quorum-loss recovery on node01 at 2026-12-03T06:00:00Z/);
    assert.match(waiting.condition.message, /first-boot-agent reset chainfire/);
    const joining = decide({ spec: spec({ bootstrap: true }), recovery });
    assert.equal(joining.action?.kind, 'addLearner');
    // A recovery that did not drop this node changes nothing for it.
    const other = decide({ spec: spec({ bootstrap: true }), recovery: { ...recovery, dropped: ['node09'] } });
    assert.equal(other.condition.reason, 'NotAMember');
  });

  it('B5: waits for the agent before adding a learner', () => {
    const r = decide({ agentPresent: false });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'WaitingForAgent');
    assert.match(r.condition.message, /node04/);
    assert.equal(r.action, undefined);
    assert.equal(r.requeueAfterMs, undefined);
    assert.equal(r.progressed, false);
    assert.deepEqual(r.block, {});
  });

  it('B5: waits for the agent even when another learner is joining', () => {
    const other = member('d4', '', 'https://10.0.1.14:2380', true);
    const r = decide({ agentPresent: false, observed: { members: [node01, other] } });
    assert.equal(r.condition.reason, 'WaitingForAgent');
  });

  it('B6: makes one Chainfire change at a time', () => {
    const other = member('d4', 'node05', 'https://10.0.1.14:2380', true);
    const r = decide({ observed: { members: [node01, node02, other] } });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'WaitingForOtherChange');
    assert.match(r.condition.message, /d4/);
    assert.match(r.condition.message, /10\.0\.1\.14:2380/);
    assert.equal(r.action, undefined);
    assert.equal(r.requeueAfterMs, CATCH_UP_POLL_MS);
    assert.equal(r.progressed, true);
  });

  it('B7: adds the node as a learner with its peer URL', () => {
    const r = decide();
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'AddingLearner');
    assert.deepEqual(r.action, { service: 'chainfire', kind: 'addLearner', peerUrl: PEER });
    assert.equal(r.progressed, true);
    assert.deepEqual(r.block, {});
  });

  it('B7: takes the peer URL scheme from the client URL', () => {
    const r = decide({ spec: spec({ chainfire: { raftAddr: '10.0.1.13:2380', clientUrl: 'http://10.0.1.13:2379' } }) });
    assert.deepEqual(r.action, { service: 'chainfire', kind: 'addLearner', peerUrl: 'http://10.0.1.13:2380' });
  });

  it('B8: adopts a bootstrap voter without an initialCluster', () => {
    const r = decide({ spec: spec({ bootstrap: true }), observed: { members: [node01, member('c3', NODE, PEER)] } });
    assert.equal(r.condition.status, 'True');
    assert.equal(r.condition.reason, 'Adopted');
    assert.deepEqual(r.block, { memberId: 'c3', role: 'voter', peerUrl: PEER });
    assert.equal(r.action, undefined);
    assert.equal(r.requeueAfterMs, 10_000); // its health is looked at every healthIntervalSeconds
    assert.equal(r.progressed, true);
  });

  it('B8: adopts a bootstrap voter even when the agent is absent', () => {
    const r = decide({ spec: spec({ bootstrap: true }), agentPresent: false, observed: { members: [member('c3', NODE, PEER)] } });
    assert.equal(r.condition.reason, 'Adopted');
  });

  it('B9: reports Promoted when the previous status had this member as a learner', () => {
    const prev = previous({ chainfire: { memberId: 'c3', role: 'learner', peerUrl: PEER, initialCluster: 'kept' } });
    const r = decide({ previous: prev, observed: { members: [node01, node02, member('c3', NODE, PEER)] } });
    assert.equal(r.condition.status, 'True');
    assert.equal(r.condition.reason, 'Promoted');
    assert.deepEqual(r.block, { memberId: 'c3', role: 'voter', peerUrl: PEER, initialCluster: 'kept' });
    assert.equal(r.action, undefined);
  });

  it('B9: a learner record of another member id does not count as promoted here', () => {
    const prev = previous({ chainfire: { memberId: 'old', role: 'learner', peerUrl: PEER } });
    const r = decide({ previous: prev, observed: { members: [node01, member('c3', NODE, PEER)] } });
    assert.equal(r.condition.reason, 'Joined');
  });

  it('B10: keeps Promoted on later reconciles', () => {
    const prev = previous({
      phase: 'Ready',
      chainfire: { memberId: 'c3', role: 'voter', peerUrl: PEER, initialCluster: 'kept' },
      conditions: [
        {
          type: 'ChainfireMember',
          status: 'True',
          reason: 'Promoted',
          message: 'voting member c3 of Chainfire',
          lastTransitionTime: '2026-01-01T00:00:00Z',
          observedGeneration: 7,
        },
      ],
    });
    const r = decide({ previous: prev, observed: { members: [node01, member('c3', NODE, PEER)] } });
    assert.equal(r.condition.reason, 'Promoted');
  });

  it('B11: a voter found without a learner history is Joined, with its initialCluster', () => {
    const r = decide({ observed: { members: [node02, member('c3', NODE, PEER), node01] } });
    assert.equal(r.condition.status, 'True');
    assert.equal(r.condition.reason, 'Joined');
    assert.match(r.condition.message, /c3/);
    assert.deepEqual(r.block, {
      memberId: 'c3',
      role: 'voter',
      peerUrl: PEER,
      initialCluster: `node01=https://10.0.1.10:2380,node02=https://10.0.1.11:2380,node04=${PEER}`,
    });
    assert.equal(r.action, undefined);
    assert.equal(r.requeueAfterMs, 10_000); // its health is looked at every healthIntervalSeconds
  });

  it('B11: a voter needs no agent', () => {
    const r = decide({ agentPresent: false, observed: { members: [member('c3', NODE, PEER)] } });
    assert.equal(r.condition.status, 'True');
    assert.equal(r.condition.reason, 'Joined');
  });

  it('B12: waits for the learner etcd to start (empty name), publishing its initialCluster', () => {
    const r = decide({ observed: { members: [node01, node02, member('c3', '', PEER, true)] } });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'LearnerAdded');
    assert.match(r.condition.message, /c3/);
    assert.deepEqual(r.block, {
      memberId: 'c3',
      role: 'learner',
      peerUrl: PEER,
      initialCluster: `node01=https://10.0.1.10:2380,node02=https://10.0.1.11:2380,node04=${PEER}`,
    });
    assert.equal(r.requeueAfterMs, LEARNER_START_POLL_MS);
    assert.equal(r.action, undefined);
    assert.equal(r.progressed, true);
  });

  it('B12: the own learner is not mistaken for another change in flight', () => {
    const r = decide({ observed: { members: [node01, member('c3', '', PEER, true)] } });
    assert.notEqual(r.condition.reason, 'WaitingForOtherChange');
  });

  it('B13: reports LearnerCatchingUp with etcd\'s refusal and polls again', () => {
    const r = decide({
      observed: { members: [node01, member('c3', NODE, PEER, true)] },
      promoteRefused: { memberId: 'c3', detail: 'can only promote a learner member which is in sync with leader' },
    });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'LearnerCatchingUp');
    assert.match(r.condition.message, /in sync with leader/);
    assert.equal(r.action, undefined);
    assert.equal(r.requeueAfterMs, CATCH_UP_POLL_MS);
    assert.equal(r.block.role, 'learner');
    assert.equal(r.progressed, true);
  });

  it('B14: promotes a started learner', () => {
    const r = decide({ observed: { members: [node01, member('c3', NODE, PEER, true)] } });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'LearnerCatchingUp');
    assert.deepEqual(r.action, { service: 'chainfire', kind: 'promote', memberId: 'c3' });
    assert.equal(r.requeueAfterMs, undefined);
    assert.equal(r.progressed, true);
  });

  it('B14: a refusal for another member id does not stop the promote', () => {
    const r = decide({
      observed: { members: [node01, member('c3', NODE, PEER, true)] },
      promoteRefused: { memberId: 'zz', detail: 'not in sync' },
    });
    assert.deepEqual(r.action, { service: 'chainfire', kind: 'promote', memberId: 'c3' });
  });

  describe('B15: sticky initialCluster', () => {
    const sticky = 'node01=https://10.0.1.10:2380,node04=https://10.0.1.13:2380';

    it('keeps the previous initialCluster for the same member id, though members changed since', () => {
      const prev = previous({ chainfire: { memberId: 'c3', role: 'learner', peerUrl: PEER, initialCluster: sticky } });
      const r = decide({ previous: prev, observed: { members: [node01, node02, member('c3', '', PEER, true)] } });
      assert.equal(r.block.initialCluster, sticky);
    });

    it('recomputes it when the member id changed', () => {
      const prev = previous({ chainfire: { memberId: 'old', role: 'learner', peerUrl: PEER, initialCluster: sticky } });
      const r = decide({ previous: prev, observed: { members: [node01, node02, member('c3', '', PEER, true)] } });
      assert.equal(r.block.initialCluster, `node01=https://10.0.1.10:2380,node02=https://10.0.1.11:2380,node04=${PEER}`);
    });

    it('recomputes it when the previous status had none for this member', () => {
      const prev = previous({ chainfire: { memberId: 'c3', role: 'voter', peerUrl: PEER } });
      const r = decide({ previous: prev, observed: { members: [node01, member('c3', NODE, PEER)] } });
      assert.equal(r.block.initialCluster, `node01=https://10.0.1.10:2380,node04=${PEER}`);
    });
  });
});

describe('initialClusterOf', () => {
  it('names the new member after the node, sorts, and skips other members that have not started', () => {
    const members = [
      member('n2', 'node02', 'https://10.0.1.11:2380'),
      member('new', '', PEER, true),
      member('x', '', 'https://10.0.1.99:2380', true),
      member('n1', 'node01', 'https://10.0.1.10:2380'),
    ];
    assert.equal(
      initialClusterOf(members, 'new', NODE),
      `node01=https://10.0.1.10:2380,node02=https://10.0.1.11:2380,node04=${PEER}`,
    );
  });

  it('lists every peer URL of a member', () => {
    const multi: ChainfireMember = { ...node01, peerUrls: ['https://10.0.1.10:2380', 'https://[fd00::10]:2380'] };
    assert.equal(initialClusterOf([multi], 'none', NODE), 'node01=https://10.0.1.10:2380,node01=https://[fd00::10]:2380');
  });

  it('reads the same whatever order etcd lists the members in', () => {
    const a = [node01, node02, member('c3', '', PEER, true)];
    const b = [member('c3', '', PEER, true), node02, node01];
    assert.equal(initialClusterOf(a, 'c3', NODE), initialClusterOf(b, 'c3', NODE));
  });
});

describe('opt-in dead-member clean-up', () => {
  const node03 = member('c3', 'node03', 'https://10.0.1.12:2380');
  const mine = member('d4', NODE, PEER);
  const members = [node01, node02, node03, mine];
  const since = '2026-12-01T00:00:00Z';
  const unhealthyBefore = previous({
    phase: 'Degraded',
    conditions: [{ type: 'ChainfireMember', status: 'False', reason: 'MemberUnhealthy', message: 'x', lastTransitionTime: since, observedGeneration: 7 }],
    chainfire: { memberId: 'd4', role: 'voter', unhealthySince: since },
  });
  const policy = (enabled: boolean, minVoters = 3) => ({
    paused: false, maxVoters: 5, minVoters, learnerStartTimeoutSeconds: 300, learnerCatchUpTimeoutSeconds: 600, removalGraceSeconds: 5,
    healthIntervalSeconds: 10, maxDisruptedVoters: 1, deadMemberCleanup: { enabled, thresholdSeconds: 3600 },
  });
  const health = { a1: true, b2: true, c3: true, d4: false };
  const at = (iso: string) => new Date(iso);

  it('off: a dead member stays, reported only', () => {
    const r = decide({ observed: { members }, health, previous: unhealthyBefore, policy: policy(false), now: at('2026-12-02T00:00:00Z') });
    assert.equal(r.condition.reason, 'MemberUnhealthy');
    assert.equal(r.action, undefined);
  });

  it('on: not before the threshold (the status says when), then removed', () => {
    const early = decide({ observed: { members }, health, previous: unhealthyBefore, policy: policy(true), now: at('2026-12-01T00:59:00Z') });
    assert.equal(early.action, undefined);
    assert.match(early.condition.message, /dead-member clean-up removes it at 2026-12-01T01:00:00.000Z/);
    const due = decide({ observed: { members }, health, previous: unhealthyBefore, policy: policy(true), now: at('2026-12-01T01:00:01Z') });
    assert.equal(due.condition.reason, 'DeadMemberCleanup');
    assert.deepEqual(due.action, { service: 'chainfire', kind: 'removeMember', memberId: 'd4' });
  });

  it('the clock starts when the controller first sees the member silent, and is kept while it stays silent', () => {
    const fresh = previous({ phase: 'Ready', chainfire: { memberId: 'd4', role: 'voter' } });
    const first = decide({ observed: { members }, health, previous: fresh, policy: policy(true), now: at('2026-12-05T00:00:00Z') });
    assert.equal(first.action, undefined, 'a member silent only since now is not due');
    assert.equal(first.block.unhealthySince, '2026-12-05T00:00:00.000Z');
    const later = decide({ observed: { members }, health, previous: { ...fresh, chainfire: first.block }, policy: policy(true), now: at('2026-12-05T00:30:00Z') });
    assert.equal(later.block.unhealthySince, '2026-12-05T00:00:00.000Z');
    assert.match(later.condition.message, /removes it at 2026-12-05T01:00:00.000Z/);
  });

  it('on: never below minVoters healthy voters, and never while the node holds a disruption', () => {
    const three = [node01, node02, mine];
    const floor = decide({ observed: { members: three }, health: { a1: true, b2: true, d4: false }, previous: unhealthyBefore, policy: policy(true, 3), now: at('2026-12-02T00:00:00Z') });
    assert.equal(floor.action, undefined);
    assert.match(floor.condition.message, /clean-up is due but cannot remove it/);
    const held = decide({
      observed: { members }, health, previous: unhealthyBefore, policy: policy(true), now: at('2026-12-02T00:00:00Z'),
      disruption: { node: NODE, reason: 'reboot', holder: 'ops', acquiredAt: since, expiresAt: since },
    });
    assert.equal(held.action, undefined);
    assert.equal(held.condition.reason, 'PlannedDisruption');
  });
});
