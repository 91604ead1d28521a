import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HeldDisruption } from '../schema/disruption.js';
import type { ChainfireMember } from '../schema/members.js';
import type { NodeMembership } from '../schema/node-membership.js';
import { decideDisruption, type BudgetInput } from './budget.js';

const peer = (n: number) => `http://10.0.0.${n}:2380`;
const member = (n: number, isLearner = false): ChainfireMember => ({ id: `m${n}`, name: `node0${n}`, peerUrls: [peer(n)], clientUrls: [`http://10.0.0.${n}:2379`], isLearner });
const record = (n: number, extra: Partial<NodeMembership['spec']> = {}): NodeMembership => ({
  apiVersion: 'membership.photoncloud.io/v1alpha1',
  kind: 'NodeMembership',
  metadata: { name: `node0${n}` },
  spec: { role: 'control-plane', bootstrap: true, state: 'Present', nodeIp: `10.0.0.${n}`, chainfire: { raftAddr: `10.0.0.${n}:2380`, clientUrl: `http://10.0.0.${n}:2379` }, ...extra },
} as NodeMembership);
const hold = (node: string): HeldDisruption => ({ node, reason: 'reboot', holder: 'ops@host', acquiredAt: 't0', expiresAt: 't1' });

function input(over: Partial<BudgetInput> = {}): BudgetInput {
  const members = [member(1), member(2), member(3)];
  return {
    node: 'node02',
    records: [record(1), record(2), record(3), record(9, { role: 'worker', chainfire: undefined } as Partial<NodeMembership['spec']>)],
    chainfire: { members, health: { m1: true, m2: true, m3: true } },
    held: [],
    maxDisruptedVoters: 1,
    ...over,
  };
}

describe('decideDisruption', () => {
  it('grants a voter of three healthy ones, saying what is left', () => {
    const d = decideDisruption(input());
    assert.deepEqual(d, { granted: true, why: 'Chainfire keeps 2 healthy voters of 3 (quorum 2)' });
  });

  it('refuses a second voter while one is held (one at a time), and names the holder', () => {
    const d = decideDisruption(input({ held: [hold('node03')] }));
    assert.equal(d.granted, false);
    assert.equal(!d.granted && d.code, 'BUDGET');
    assert.match(!d.granted ? d.why : '', /node03 \("reboot", held by ops@host until t1\)/);
  });

  it('with maxDisruptedVoters 2 the quorum still decides: 2 of 3 would leave 1', () => {
    const d = decideDisruption(input({ held: [hold('node03')], maxDisruptedVoters: 2 }));
    assert.equal(!d.granted && d.code, 'QUORUM');
    assert.match(!d.granted ? d.why : '', /1 healthy voter of 3 \(quorum 2\): node03 \(held for a disruption\)/);
    const five = input({
      chainfire: { members: [1, 2, 3, 4, 5].map((n) => member(n)), health: { m1: true, m2: true, m3: true, m4: true, m5: true } },
      records: [1, 2, 3, 4, 5].map((n) => record(n)),
      held: [hold('node03')],
      maxDisruptedVoters: 2,
    });
    assert.equal(decideDisruption(five).granted, true, '5 voters: two held leave 3, a quorum');
  });

  it('refuses any voter while another voter is unhealthy', () => {
    const d = decideDisruption(input({ chainfire: { members: [member(1), member(2), member(3)], health: { m1: true, m2: true, m3: false } } }));
    assert.equal(!d.granted && d.code, 'QUORUM');
    assert.match(!d.granted ? d.why : '', /node03 \(unhealthy\)/);
  });

  it('grants a worker or a learner whatever the voters do, but not a second time', () => {
    const sick = { members: [member(1), member(2), member(3)], health: { m1: false, m2: false, m3: true } };
    assert.deepEqual(decideDisruption(input({ node: 'node09', chainfire: sick })), { granted: true, why: 'node09 is not a Chainfire voter' });
    const learner = input({ node: 'node04', records: [...input().records, record(4)], chainfire: { members: [member(1), member(2), member(3), member(4, true)], health: { m1: true, m2: true, m3: true } } });
    assert.equal(decideDisruption(learner).granted, true);
    const twice = decideDisruption(input({ node: 'node09', held: [hold('node09')] }));
    assert.equal(!twice.granted && twice.code, 'HELD');
  });

  it('counts FlareDB members too when the node is one', () => {
    const records = [1, 2, 3].map((n) => record(n, { flaredb: { raftAddr: `10.0.0.${n}:2480`, apiUrl: `http://10.0.0.${n}:2479` } } as Partial<NodeMembership['spec']>));
    const ok = decideDisruption(input({ records, flaredbMembers: 3 }));
    assert.equal(ok.granted, true);
    assert.match(ok.why, /FlareDB keeps 2 of 3 \(quorum 2\)/);
    const two = decideDisruption(input({ records, flaredbMembers: 2 }));
    assert.equal(!two.granted && two.code, 'QUORUM');
    assert.match(!two.granted ? two.why : '', /FlareDB would have 1 of 2 members up \(quorum 2/);
  });
});
