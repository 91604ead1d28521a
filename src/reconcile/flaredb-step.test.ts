/*
 * decideFlareDB, branch by branch (one or more tests each):
 *
 *  B1  spec has no flaredb block                        -> undefined (nothing to decide)
 *  B2  the controller has no FlareDB configured          -> False/NotConfigured, no action, no requeue
 *  B3  member list unavailable                           -> Unknown/ServiceUnavailable, retry after UNAVAILABLE_RETRY_MS
 *  B4  the raft address is held by a member with another id
 *                                                        -> False/Conflict, terminal, message names both nodes
 *  B5  a member with the node's id has another raft address
 *                                                        -> False/Conflict, terminal, message names old and new
 *                                                           address and the DELETE to run
 *  B6  member with the node's id and raft address        -> True/Joined (True/Adopted when bootstrap),
 *                                                           block {memberId, raftAddr}
 *  B7  not a member, bootstrap                           -> False/NotAMember, never added, requeue
 *  B8  not a member, Chainfire not ready                 -> False/WaitingForChainfire, no action
 *  B9  not a member, agent absent / not checked / unhealthy
 *                                                        -> False/WaitingForAgent, message says why, no action
 *  B10 not a member, agent reports FlareDB healthy       -> False/AddingMember + addMember(id, raftAddr)
 *  B11 actionFailed with an action decided               -> False/ServiceUnavailable with the failure text,
 *                                                           no action; ignored when no action was decided
 *  B12 state Absent, not a member                        -> False/Removed, settled, no action
 *  B13 state Absent, a member with the node's id         -> False/Removing + removeFlareDBMember(id),
 *                                                           block {memberId, raftAddr}
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FlareDBMember } from '../schema/members.js';
import type { AgentReport } from '../schema/agent-report.js';
import { decideFlareDB, type FlareDBStepInput } from './flaredb-step.js';
import { UNAVAILABLE_RETRY_MS } from './step.js';
import { agentReport, joinSpec, NODE, type Spec } from '../../test/support/node-records.js';

const RAFT = '10.0.1.13:2480';

type FlareDBHealth = NonNullable<AgentReport['report']['services']['flaredb']>;

function spec(over: Partial<Spec> = {}): Spec {
  return joinSpec(['chainfire', 'flaredb'], over);
}

/** node04's agent, waiting for FlareDB, with its local FlareDB as given (not checked yet when left out). */
function agent(flaredb?: FlareDBHealth): AgentReport {
  return agentReport('flaredb', flaredb);
}

const healthy: FlareDBHealth = { healthy: true, checkedAt: '2026-11-24T10:00:00Z' };

const node01: FlareDBMember = { id: 'node01', raftAddr: '10.0.1.10:2480', status: 'Up' };
const node02: FlareDBMember = { id: 'node02', raftAddr: '10.0.1.11:2480' };

function input(over: Partial<FlareDBStepInput> = {}): FlareDBStepInput {
  return {
    node: NODE,
    spec: spec(),
    agent: agent(healthy),
    chainfireReady: true,
    observed: { members: [node01, node02] },
    ...over,
  };
}

function decide(over: Partial<FlareDBStepInput> = {}) {
  const result = decideFlareDB(input(over));
  assert.ok(result, 'expected a FlareDB decision');
  return result;
}

describe('decideFlareDB B1: no flaredb block', () => {
  it('returns undefined whatever is observed', () => {
    const { flaredb: _none, ...noFlare } = spec();
    assert.equal(decideFlareDB(input({ spec: noFlare })), undefined);
    assert.equal(decideFlareDB(input({ spec: noFlare, observed: { unavailable: 'down' } })), undefined);
    assert.equal(decideFlareDB(input({ spec: noFlare, observed: { notConfigured: true } })), undefined);
    assert.equal(decideFlareDB(input({ spec: noFlare, actionFailed: 'boom' })), undefined);
  });
});

describe('decideFlareDB B2: not configured', () => {
  it('is False/NotConfigured, naming the config field, without action or requeue', () => {
    const r = decide({ observed: { notConfigured: true } });
    assert.equal(r.condition.type, 'FlareDBMember');
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'NotConfigured');
    assert.match(r.condition.message, /flaredb\.endpoints/);
    assert.deepEqual(r.block, {});
    assert.equal(r.action, undefined);
    assert.equal(r.requeueAfterMs, undefined);
    assert.equal(r.progressed, false);
    assert.equal(r.terminal, undefined);
  });
});

describe('decideFlareDB B3: members cannot be listed', () => {
  it('is Unknown/ServiceUnavailable with the cause, and looks again soon', () => {
    const r = decide({ observed: { unavailable: 'connect ECONNREFUSED 10.0.1.10:2479' } });
    assert.deepEqual(r.condition, {
      type: 'FlareDBMember',
      status: 'Unknown',
      reason: 'ServiceUnavailable',
      message: 'cannot list FlareDB members: connect ECONNREFUSED 10.0.1.10:2479',
    });
    assert.equal(r.requeueAfterMs, UNAVAILABLE_RETRY_MS);
    assert.equal(r.action, undefined);
    assert.deepEqual(r.block, {});
    assert.equal(r.progressed, false);
    assert.equal(r.terminal, undefined);
  });

  it('comes before the Chainfire gate and the bootstrap rule', () => {
    assert.equal(decide({ observed: { unavailable: 'x' }, chainfireReady: false }).condition.reason, 'ServiceUnavailable');
    assert.equal(decide({ observed: { unavailable: 'x' }, spec: spec({ bootstrap: true }) }).condition.reason, 'ServiceUnavailable');
  });
});

describe('decideFlareDB B4: raft address held by another member', () => {
  const thief: FlareDBMember = { id: 'node09', raftAddr: RAFT };

  it('is a terminal Conflict naming both nodes and the address, with no action', () => {
    const r = decide({ observed: { members: [node01, thief] } });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'Conflict');
    assert.equal(r.terminal, true);
    assert.equal(r.action, undefined);
    assert.equal(r.requeueAfterMs, undefined);
    assert.equal(r.progressed, false);
    assert.deepEqual(r.block, {});
    assert.match(r.condition.message, /node09/);
    assert.match(r.condition.message, /node04/);
    assert.ok(r.condition.message.includes(RAFT), r.condition.message);
  });

  it('wins over an otherwise matching member with the node id, bootstrap, and a missing agent', () => {
    const r = decide({
      spec: spec({ bootstrap: true }),
      agent: undefined,
      chainfireReady: false,
      observed: { members: [thief, { id: NODE, raftAddr: RAFT }] },
    });
    assert.equal(r.condition.reason, 'Conflict');
    assert.equal(r.terminal, true);
  });
});

describe('decideFlareDB B5: the node id with another raft address', () => {
  it('is a terminal Conflict naming old and new address and the DELETE that clears it', () => {
    const r = decide({ observed: { members: [node01, { id: NODE, raftAddr: '10.0.9.9:2480' }] } });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'Conflict');
    assert.equal(r.terminal, true);
    assert.equal(r.action, undefined);
    assert.deepEqual(r.block, {});
    assert.ok(r.condition.message.includes('10.0.9.9:2480'), r.condition.message);
    assert.ok(r.condition.message.includes(RAFT), r.condition.message);
    assert.ok(r.condition.message.includes('DELETE /admin/member/node04'), r.condition.message);
  });

  it('is a Conflict for a bootstrap node too (not adopted)', () => {
    const r = decide({ spec: spec({ bootstrap: true }), observed: { members: [{ id: NODE, raftAddr: '10.0.9.9:2480' }] } });
    assert.equal(r.condition.reason, 'Conflict');
    assert.equal(r.terminal, true);
  });
});

describe('decideFlareDB B6: already a member', () => {
  const me: FlareDBMember = { id: NODE, raftAddr: RAFT, status: 'Up' };

  it('joined node: True/Joined with block {memberId, raftAddr}', () => {
    const r = decide({ observed: { members: [node01, me, node02] } });
    assert.equal(r.condition.status, 'True');
    assert.equal(r.condition.reason, 'Joined');
    assert.match(r.condition.message, /node04/);
    assert.deepEqual(r.block, { memberId: NODE, raftAddr: RAFT });
    assert.equal(r.action, undefined);
    assert.equal(r.requeueAfterMs, undefined);
    assert.equal(r.progressed, true);
    assert.equal(r.settled, true);
    assert.equal(r.terminal, undefined);
  });

  it('bootstrap node: True/Adopted', () => {
    const r = decide({ spec: spec({ bootstrap: true }), observed: { members: [me, node01] } });
    assert.equal(r.condition.status, 'True');
    assert.equal(r.condition.reason, 'Adopted');
    assert.deepEqual(r.block, { memberId: NODE, raftAddr: RAFT });
  });

  it('needs neither Chainfire nor the agent once a member', () => {
    const r = decide({ chainfireReady: false, agent: undefined, observed: { members: [me] } });
    assert.equal(r.condition.status, 'True');
    assert.equal(r.condition.reason, 'Joined');
  });
});

describe('decideFlareDB B7: bootstrap node that is not a member', () => {
  it('is False/NotAMember, never added, and looked at again', () => {
    const r = decide({ spec: spec({ bootstrap: true }) });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'NotAMember');
    assert.match(r.condition.message, /never added/);
    assert.equal(r.action, undefined);
    assert.ok((r.requeueAfterMs ?? 0) > 0, 'requeued');
    assert.equal(r.progressed, false);
    assert.equal(r.terminal, undefined);
  });

  it('is NotAMember even while Chainfire is not ready', () => {
    assert.equal(decide({ spec: spec({ bootstrap: true }), chainfireReady: false }).condition.reason, 'NotAMember');
  });
});

describe('decideFlareDB B8: Chainfire not ready', () => {
  it('is False/WaitingForChainfire without action, even with a healthy agent', () => {
    const r = decide({ chainfireReady: false });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'WaitingForChainfire');
    assert.equal(r.action, undefined);
    assert.equal(r.requeueAfterMs, undefined);
    assert.equal(r.progressed, false);
    assert.deepEqual(r.block, {});
  });

  it('waits for Chainfire before the agent', () => {
    assert.equal(decide({ chainfireReady: false, agent: undefined }).condition.reason, 'WaitingForChainfire');
  });
});

describe('decideFlareDB B9: waiting for the agent', () => {
  const cases: [string, AgentReport | undefined, RegExp][] = [
    ['no agent reports', undefined, /\(no agent is reporting\)/],
    ['the agent has not checked FlareDB', agent(), /\(the agent has not checked it yet\)/],
    [
      'the agent reports FlareDB unhealthy',
      agent({ healthy: false, checkedAt: '2026-11-24T10:00:00Z', detail: 'port 2479 refused' }),
      /\(unhealthy: port 2479 refused\)/,
    ],
    ['unhealthy without detail', agent({ healthy: false, checkedAt: '2026-11-24T10:00:00Z' }), /\(unhealthy: no detail\)/],
  ];
  for (const [name, a, why] of cases) {
    it(`${name}: False/WaitingForAgent saying why, no action`, () => {
      const r = decide({ agent: a });
      assert.equal(r.condition.status, 'False');
      assert.equal(r.condition.reason, 'WaitingForAgent');
      assert.match(r.condition.message, /node04's agent/);
      assert.match(r.condition.message, why);
      assert.equal(r.action, undefined);
      assert.equal(r.progressed, true);
      assert.deepEqual(r.block, {});
    });
  }
});

describe('decideFlareDB B10: healthy agent, not a member', () => {
  it('decides addMember with the node id and the raft address', () => {
    const r = decide();
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'AddingMember');
    assert.ok(r.condition.message.includes(RAFT), r.condition.message);
    assert.deepEqual(r.action, { service: 'flaredb', kind: 'addMember', id: NODE, raftAddr: RAFT });
    assert.equal(r.requeueAfterMs, undefined);
    assert.equal(r.progressed, true);
    assert.equal(r.terminal, undefined);
    assert.deepEqual(r.block, {});
  });

  it('adds into an empty member list too', () => {
    assert.equal(decide({ observed: { members: [] } }).action?.kind, 'addMember');
  });
});

describe('decideFlareDB B11: the action failed earlier in this reconcile', () => {
  it('turns the add into ServiceUnavailable with the failure text, and drops the action', () => {
    const r = decide({ actionFailed: 'HTTP 503 from 10.0.1.10:2479' });
    assert.equal(r.condition.type, 'FlareDBMember');
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'ServiceUnavailable');
    assert.match(r.condition.message, /^adding node04 to FlareDB/);
    assert.match(r.condition.message, /failed: HTTP 503 from 10\.0\.1\.10:2479; retrying$/);
    assert.equal(r.action, undefined);
    assert.equal('action' in r, false);
    assert.equal(r.progressed, true);
    assert.equal(r.terminal, undefined);
  });

  it('leaves a decision without an action as it is', () => {
    const me: FlareDBMember = { id: NODE, raftAddr: RAFT };
    assert.deepEqual(decide({ observed: { members: [me] }, actionFailed: 'x' }), decide({ observed: { members: [me] } }));
    assert.deepEqual(decide({ chainfireReady: false, actionFailed: 'x' }), decide({ chainfireReady: false }));
    assert.deepEqual(decide({ observed: { unavailable: 'y' }, actionFailed: 'x' }), decide({ observed: { unavailable: 'y' } }));
  });
});

describe('decideFlareDB B12: state Absent, not a member', () => {
  it('is False/Removed and settled, with no action', () => {
    const r = decide({ spec: spec({ state: 'Absent' }) });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'Removed');
    assert.match(r.condition.message, /node04 is not a FlareDB member/);
    assert.equal(r.action, undefined);
    assert.equal(r.settled, true);
    assert.equal(r.progressed, true);
    assert.deepEqual(r.block, {});
  });

  it('is Removed without the agent, before Chainfire, and with another member on its old raft address', () => {
    const r = decide({
      spec: spec({ state: 'Absent' }),
      agent: undefined,
      chainfireReady: false,
      observed: { members: [{ id: 'node09', raftAddr: RAFT }] },
    });
    assert.equal(r.condition.reason, 'Removed');
    assert.equal(r.terminal, undefined);
  });
});

describe('decideFlareDB B13: state Absent, a member', () => {
  it('decides removeFlareDBMember and keeps what is known of the member in the block', () => {
    const r = decide({ spec: spec({ state: 'Absent' }), observed: { members: [node01, { id: NODE, raftAddr: RAFT }] } });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'Removing');
    assert.deepEqual(r.action, { service: 'flaredb', kind: 'removeFlareDBMember', id: NODE });
    assert.deepEqual(r.block, { memberId: NODE, raftAddr: RAFT });
    assert.equal(r.progressed, true);
    assert.equal(r.settled, undefined);
  });

  it('removes a member whose raft address differs from the record, and a bootstrap member, without a Conflict', () => {
    const moved = decide({ spec: spec({ state: 'Absent' }), observed: { members: [{ id: NODE, raftAddr: '10.0.9.9:2480' }] } });
    assert.equal(moved.condition.reason, 'Removing');
    assert.deepEqual(moved.block, { memberId: NODE, raftAddr: '10.0.9.9:2480' });
    const boot = decide({ spec: spec({ state: 'Absent', bootstrap: true }), observed: { members: [{ id: NODE, raftAddr: RAFT }] } });
    assert.equal(boot.action?.kind, 'removeFlareDBMember');
  });

  it('a failed removal is ServiceUnavailable with the failure text and no action', () => {
    const r = decide({ spec: spec({ state: 'Absent' }), observed: { members: [{ id: NODE, raftAddr: RAFT }] }, actionFailed: 'HTTP 500' });
    assert.equal(r.condition.reason, 'ServiceUnavailable');
    assert.match(r.condition.message, /^removing node04 from FlareDB failed: HTTP 500; retrying$/);
    assert.equal(r.action, undefined);
  });
});
