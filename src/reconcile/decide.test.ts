import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeMembership } from '../schema/node-membership.js';
import { canonicalJson } from '../store/records.js';
import { decideNode, invalidSpecStatus, type NodeInputs } from './decide.js';
import { UNAVAILABLE_RETRY_MS } from './step.js';
import { agentReport, asPrevious, chainfireMember, cond, joinSpec, membership, NODE, PEER, summary, type Spec } from '../../test/support/node-records.js';

const T0 = new Date('2026-11-24T10:00:00Z');
const T1 = new Date('2026-11-24T10:05:00Z');
const T0_ISO = '2026-11-24T10:00:00Z';
const T1_ISO = '2026-11-24T10:05:00Z';

/** node04 with Chainfire only; `generation` null: a record that carries none. */
function desired(spec: Partial<Spec> = {}, generation: number | null = 12): NodeMembership {
  return membership(joinSpec(['chainfire'], spec), generation ?? undefined);
}

const agent = agentReport('chainfire');

const node01 = chainfireMember('a1', 'node01', 'https://10.0.1.10:2380');
const learner = (name = '') => chainfireMember('c3', name, PEER, true);
const voter = chainfireMember('c3', NODE, PEER);

function inputs(over: Partial<NodeInputs> = {}): NodeInputs {
  return { node: NODE, desired: desired(), agent, chainfire: { members: [node01] }, now: T0, ...over };
}

describe('decideNode: phases and conditions', () => {
  it('Pending while the agent has not reported: AgentReady WaitingForAgent, Ready blocked by Chainfire', () => {
    const { agent: _none, ...noAgent } = inputs();
    const d = decideNode(noAgent);
    assert.equal(d.status.phase, 'Pending');
    assert.deepEqual(summary(d), [
      ['AgentReady', 'False', 'WaitingForAgent'],
      ['ChainfireMember', 'False', 'WaitingForAgent'],
      ['Ready', 'False', 'WaitingForAgent'],
    ]);
    assert.match(cond(d, 'Ready')?.message ?? '', /^ChainfireMember: waiting for node04's first-boot agent/);
    assert.equal(d.action, undefined);
    assert.equal(d.requeueAfterMs, undefined);
    assert.deepEqual(d.status.chainfire, {});
    assert.deepEqual(d.status.flaredb, {});
    assert.deepEqual(d.status.iam, {});
  });

  it('Joining with an addLearner action once the agent reports', () => {
    const d = decideNode(inputs());
    assert.equal(d.status.phase, 'Joining');
    assert.deepEqual(summary(d), [
      ['AgentReady', 'True', 'Reporting'],
      ['ChainfireMember', 'False', 'AddingLearner'],
      ['Ready', 'False', 'AddingLearner'],
    ]);
    assert.deepEqual(d.action, { service: 'chainfire', kind: 'addLearner', peerUrl: PEER });
    assert.equal(d.requeueAfterMs, undefined);
  });

  it('stays Joining when a joining node loses its agent before becoming a member', () => {
    const { agent: _none, ...noAgent } = inputs({ previous: asPrevious(decideNode(inputs())) });
    const d = decideNode(noAgent);
    assert.equal(d.status.phase, 'Joining');
    assert.equal(cond(d, 'AgentReady')?.reason, 'WaitingForAgent');
  });

  it('Joining, polling, while the learner etcd has not started', () => {
    const d = decideNode(inputs({ chainfire: { members: [node01, learner()] } }));
    assert.equal(d.status.phase, 'Joining');
    assert.equal(cond(d, 'Ready')?.reason, 'LearnerAdded');
    assert.equal(d.requeueAfterMs, 1000);
    assert.equal(d.action, undefined);
    assert.deepEqual(d.status.chainfire, {
      memberId: 'c3',
      role: 'learner',
      peerUrl: PEER,
      initialCluster: `node01=https://10.0.1.10:2380,node04=${PEER}`,
    });
  });

  it('Joining with a promote action once the learner has started', () => {
    const d = decideNode(inputs({ chainfire: { members: [node01, learner(NODE)] } }));
    assert.equal(d.status.phase, 'Joining');
    assert.deepEqual(d.action, { service: 'chainfire', kind: 'promote', memberId: 'c3' });
  });

  it('Joining, LearnerCatchingUp and polling, when etcd refused the promote', () => {
    const d = decideNode(
      inputs({ chainfire: { members: [node01, learner(NODE)] }, promoteRefused: { memberId: 'c3', detail: 'not in sync' } }),
    );
    assert.equal(d.status.phase, 'Joining');
    assert.equal(cond(d, 'ChainfireMember')?.reason, 'LearnerCatchingUp');
    assert.equal(cond(d, 'Ready')?.reason, 'LearnerCatchingUp');
    assert.match(cond(d, 'Ready')?.message ?? '', /not in sync/);
    assert.equal(d.action, undefined);
    assert.equal(d.requeueAfterMs, 1000);
  });

  it('Joining while another node\'s learner is in flight', () => {
    const other = chainfireMember('d4', 'node05', 'https://10.0.1.14:2380', true);
    const d = decideNode(inputs({ chainfire: { members: [node01, other] } }));
    assert.equal(d.status.phase, 'Joining');
    assert.equal(cond(d, 'Ready')?.reason, 'WaitingForOtherChange');
    assert.equal(d.action, undefined);
    assert.equal(d.requeueAfterMs, 1000);
  });

  it('Ready once a voter, with the agent reporting', () => {
    const d = decideNode(inputs({ chainfire: { members: [node01, voter] } }));
    assert.equal(d.status.phase, 'Ready');
    assert.deepEqual(summary(d), [
      ['AgentReady', 'True', 'Reporting'],
      ['ChainfireMember', 'True', 'Joined'],
      ['Ready', 'True', 'Joined'],
    ]);
    assert.equal(cond(d, 'Ready')?.message, 'member of Chainfire');
    assert.equal(d.action, undefined);
    assert.equal(d.requeueAfterMs, 10_000); // its health is looked at every healthIntervalSeconds
  });

  it('Ready without the agent: AgentReady NotRequired', () => {
    const { agent: _none, ...noAgent } = inputs({ chainfire: { members: [node01, voter] } });
    const d = decideNode(noAgent);
    assert.equal(d.status.phase, 'Ready');
    assert.equal(cond(d, 'AgentReady')?.status, 'True');
    assert.equal(cond(d, 'AgentReady')?.reason, 'NotRequired');
  });

  it('a bootstrap node has no AgentReady condition and is adopted', () => {
    const { agent: _none, ...noAgent } = inputs({ desired: desired({ bootstrap: true }), chainfire: { members: [node01, voter] } });
    const d = decideNode(noAgent);
    assert.equal(d.status.phase, 'Ready');
    assert.deepEqual(summary(d), [
      ['ChainfireMember', 'True', 'Adopted'],
      ['Ready', 'True', 'Joined'],
    ]);
    assert.deepEqual(d.status.chainfire, { memberId: 'c3', role: 'voter', peerUrl: PEER });
  });

  it('a bootstrap node that is not a member stays Pending, NotAMember, and is looked at again', () => {
    const d = decideNode(inputs({ desired: desired({ bootstrap: true }) }));
    assert.equal(d.status.phase, 'Pending');
    assert.deepEqual(summary(d), [
      ['ChainfireMember', 'False', 'NotAMember'],
      ['Ready', 'False', 'NotAMember'],
    ]);
    assert.equal(d.action, undefined);
    assert.equal(d.requeueAfterMs, 10_000);
  });

  it('Failed on Conflict, with no action', () => {
    const d = decideNode(inputs({ chainfire: { members: [node01, chainfireMember('old', NODE, 'https://10.0.9.9:2380')] } }));
    assert.equal(d.status.phase, 'Failed');
    assert.equal(cond(d, 'ChainfireMember')?.reason, 'Conflict');
    assert.equal(cond(d, 'Ready')?.status, 'False');
    assert.equal(cond(d, 'Ready')?.reason, 'Conflict');
    assert.equal(d.action, undefined);
    assert.equal(d.requeueAfterMs, undefined);
  });

  it('Chainfire unavailable: Unknown member condition, Ready False ServiceUnavailable, retried', () => {
    const d = decideNode(inputs({ chainfire: { unavailable: 'deadline exceeded' } }));
    assert.equal(d.status.phase, 'Pending');
    assert.deepEqual(summary(d), [
      ['AgentReady', 'True', 'Reporting'],
      ['ChainfireMember', 'Unknown', 'ServiceUnavailable'],
      ['Ready', 'False', 'ServiceUnavailable'],
    ]);
    assert.match(cond(d, 'Ready')?.message ?? '', /deadline exceeded/);
    assert.equal(d.requeueAfterMs, UNAVAILABLE_RETRY_MS);
    assert.equal(d.action, undefined);
  });

  it('Chainfire unavailable while Joining keeps the phase and the chainfire block', () => {
    const prev = asPrevious(decideNode(inputs({ chainfire: { members: [node01, learner()] } })));
    const d = decideNode(inputs({ previous: prev, chainfire: { unavailable: 'deadline exceeded' } }));
    assert.equal(d.status.phase, 'Joining');
    assert.deepEqual(d.status.chainfire, prev.chainfire);
  });

  it('Ready with no service requested', () => {
    const { chainfire: _none, ...spec } = desired().spec;
    const { agent: _a, ...noAgent } = inputs({ desired: { ...desired(), spec } });
    const d = decideNode(noAgent);
    assert.equal(d.status.phase, 'Ready');
    assert.deepEqual(summary(d), [
      ['AgentReady', 'True', 'NotRequired'],
      ['Ready', 'True', 'Joined'],
    ]);
    assert.equal(cond(d, 'Ready')?.message, 'no service membership requested');
    assert.deepEqual(d.status.chainfire, {});
  });
});

describe('decideNode: generations and transition times', () => {
  it('stamps the desired generation on the status and on every condition', () => {
    const d = decideNode(inputs({ desired: desired({}, 118) }));
    assert.equal(d.status.observedGeneration, 118);
    assert.deepEqual(
      d.status.conditions.map((c) => c.observedGeneration),
      [118, 118, 118],
    );
  });

  it('uses generation 0 when the desired record carries none', () => {
    const d = decideNode(inputs({ desired: desired({}, null) }));
    assert.equal(d.status.observedGeneration, 0);
    assert.ok(d.status.conditions.every((c) => c.observedGeneration === 0));
  });

  it('moves observedGeneration of unchanged conditions to a new generation, keeping their transition time', () => {
    const first = decideNode(inputs({ desired: desired({}, 5), chainfire: { members: [node01, voter] }, now: T0 }));
    const second = decideNode(
      inputs({ desired: desired({}, 6), chainfire: { members: [node01, voter] }, now: T1, previous: asPrevious(first) }),
    );
    assert.deepEqual(
      second.status.conditions.map((c) => [c.observedGeneration, c.lastTransitionTime]),
      [
        [6, T0_ISO],
        [6, T0_ISO],
        [6, T0_ISO],
      ],
    );
  });

  it('keeps lastTransitionTime while only the reason changes and moves it when the status flips', () => {
    const added = decideNode(inputs({ chainfire: { members: [node01, learner()] }, now: T0 }));
    const catchingUp = decideNode(
      inputs({
        chainfire: { members: [node01, learner(NODE)] },
        promoteRefused: { memberId: 'c3', detail: 'not in sync' },
        previous: asPrevious(added),
        now: T1,
      }),
    );
    assert.equal(cond(catchingUp, 'ChainfireMember')?.reason, 'LearnerCatchingUp');
    assert.equal(cond(catchingUp, 'ChainfireMember')?.lastTransitionTime, T0_ISO);
    assert.equal(cond(catchingUp, 'Ready')?.lastTransitionTime, T0_ISO);

    const promoted = decideNode(
      inputs({ chainfire: { members: [node01, voter] }, previous: asPrevious(catchingUp), now: T1 }),
    );
    assert.equal(cond(promoted, 'ChainfireMember')?.reason, 'Promoted');
    assert.equal(cond(promoted, 'ChainfireMember')?.lastTransitionTime, T1_ISO);
    assert.equal(cond(promoted, 'Ready')?.lastTransitionTime, T1_ISO);
    assert.equal(cond(promoted, 'AgentReady')?.lastTransitionTime, T0_ISO, 'AgentReady stayed True');
    assert.equal(promoted.status.chainfire.initialCluster, added.status.chainfire.initialCluster, 'initialCluster is sticky');
  });
});

describe('decideNode: a decision repeated on its own result changes nothing', () => {
  const { agent: _none, ...withoutAgent } = inputs();
  const cases: [string, NodeInputs][] = [
    ['waiting for agent', withoutAgent],
    ['adding learner', inputs()],
    ['learner not started', inputs({ chainfire: { members: [node01, learner()] } })],
    ['learner catching up', inputs({ chainfire: { members: [node01, learner(NODE)] }, promoteRefused: { memberId: 'c3', detail: 'x' } })],
    ['voter', inputs({ chainfire: { members: [node01, voter] } })],
    ['bootstrap adopted', inputs({ desired: desired({ bootstrap: true }), chainfire: { members: [voter] } })],
    ['conflict', inputs({ chainfire: { members: [chainfireMember('old', NODE, 'https://10.0.9.9:2380')] } })],
    ['unavailable', inputs({ chainfire: { unavailable: 'down' } })],
  ];
  for (const [name, base] of cases) {
    it(name, () => {
      const first = decideNode({ ...base, now: T0 });
      const second = decideNode({ ...base, previous: asPrevious(first), now: T1 });
      assert.equal(canonicalJson(second.status), canonicalJson(first.status));
      assert.deepEqual(second.action, first.action);
      assert.equal(second.requeueAfterMs, first.requeueAfterMs);
    });
  }

  it('promoted stays Promoted, with the same status, on the next reconcile', () => {
    const learnerStatus = decideNode(inputs({ chainfire: { members: [node01, learner(NODE)] }, promoteRefused: { memberId: 'c3', detail: 'x' } }));
    const base = inputs({ chainfire: { members: [node01, voter] } });
    const first = decideNode({ ...base, previous: asPrevious(learnerStatus), now: T0 });
    const second = decideNode({ ...base, previous: asPrevious(first), now: T1 });
    assert.equal(cond(first, 'ChainfireMember')?.reason, 'Promoted');
    assert.equal(canonicalJson(second.status), canonicalJson(first.status));
  });
});

describe('invalidSpecStatus', () => {
  it('fails the node with one Ready condition naming the problem', () => {
    const s = invalidSpecStatus('spec.chainfire.raftAddr: must be host:port', 40, undefined, T0);
    assert.equal(s.phase, 'Failed');
    assert.equal(s.observedGeneration, 40);
    assert.deepEqual(s.conditions, [
      {
        type: 'Ready',
        status: 'False',
        reason: 'InvalidSpec',
        message: 'spec.chainfire.raftAddr: must be host:port; fix the desired record and apply it again',
        lastTransitionTime: T0_ISO,
        observedGeneration: 40,
      },
    ]);
    assert.deepEqual([s.chainfire, s.flaredb, s.iam], [{}, {}, {}]);
  });

  it('keeps what was known of the memberships and the Ready transition time when Ready was already False', () => {
    const prev = asPrevious(decideNode(inputs({ chainfire: { members: [node01, learner()] }, now: T0 })));
    const s = invalidSpecStatus('bad', 41, prev, T1);
    assert.deepEqual(s.chainfire, prev.chainfire);
    assert.equal(s.conditions[0]?.lastTransitionTime, T0_ISO);
    assert.equal(s.conditions[0]?.observedGeneration, 41);
    assert.deepEqual(
      s.conditions.map((c) => c.type),
      ['Ready'],
    );
  });

  it('moves the Ready transition time when the node was Ready', () => {
    const prev = asPrevious(decideNode(inputs({ chainfire: { members: [node01, voter] }, now: T0 })));
    const s = invalidSpecStatus('bad', 41, prev, T1);
    assert.equal(s.conditions[0]?.lastTransitionTime, T1_ISO);
  });

  it('is stable when repeated on its own result', () => {
    const first = invalidSpecStatus('bad', 41, undefined, T0);
    const second = invalidSpecStatus('bad', 41, { ...first, controller: { identity: 'n/1', term: 1 } }, T1);
    assert.equal(canonicalJson(second), canonicalJson(first));
  });
});

describe('decideNode: terminal and unobservable states keep the status', () => {
  it('Failed stays Failed for the same generation even when the conflict went away; a new generation retries', () => {
    const namesake = chainfireMember('dd', NODE, 'https://10.9.9.9:2380');
    const failed = decideNode(inputs({ chainfire: { members: [node01, namesake] } }));
    assert.equal(failed.status.phase, 'Failed');
    const same = decideNode(inputs({ previous: asPrevious(failed), chainfire: { members: [node01] }, now: T1 }));
    assert.equal(same.status.phase, 'Failed');
    assert.equal(same.action, undefined);
    assert.equal(canonicalJson(same.status), canonicalJson(failed.status));
    const next = decideNode(inputs({ desired: desired({}, 13), previous: asPrevious(failed), chainfire: { members: [node01] }, now: T1 }));
    assert.equal(next.action?.kind, 'addLearner');
    assert.equal(next.status.phase, 'Joining');
  });

  it('a Ready node stays Ready, unchanged, while Chainfire members cannot be listed', () => {
    const ready = decideNode(inputs({ agent: undefined, chainfire: { members: [node01, voter] } }));
    assert.equal(ready.status.phase, 'Ready');
    const blind = decideNode(inputs({ agent: undefined, previous: asPrevious(ready), chainfire: { unavailable: 'deadline exceeded' }, now: T1 }));
    assert.equal(canonicalJson(blind.status), canonicalJson(ready.status));
    assert.equal(blind.action, undefined);
    assert.ok((blind.requeueAfterMs ?? 0) > 0, 'looks again soon');
  });
});
