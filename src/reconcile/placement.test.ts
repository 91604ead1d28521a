import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeMembership } from '../schema/node-membership.js';
import { decideChainfire } from './chainfire-step.js';
import { rankCandidates } from './placement.js';
import type { ChainfireMember } from '../schema/members.js';
import { DEFAULT_POLICY } from '../schema/operation.js';

const member = (id: string, name: string, port: number): ChainfireMember => ({
  id, name, peerUrls: [`http://10.0.0.${port}:2380`], clientUrls: [], isLearner: false,
});

const spec = (ip: number, datacenter: string, rack: string): NodeMembership['spec'] => ({
  role: 'control-plane', bootstrap: false, state: 'Present', datacenter, rack,
  chainfire: { raftAddr: `10.0.0.${ip}:2380`, clientUrl: `http://10.0.0.${ip}:2379` },
});

describe('voter spread across datacenters and racks', () => {
  const voters = [
    { node: 'node01', datacenter: 'dc1', rack: 'r1' },
    { node: 'node02', datacenter: 'dc1', rack: 'r2' },
    { node: 'node03', datacenter: 'dc2', rack: 'r1' },
  ];

  it('ranks a candidate in an emptier datacenter, then rack, first; ties by name', () => {
    const ranked = rankCandidates({
      voters,
      candidates: [
        { node: 'node04', datacenter: 'dc1', rack: 'r1' },
        { node: 'node05', datacenter: 'dc2', rack: 'r2' },
        { node: 'node06', datacenter: 'dc3', rack: 'r1' },
        { node: 'node07', datacenter: 'dc1', rack: 'r3' },
      ],
    });
    assert.deepEqual(ranked, ['node06', 'node05', 'node07', 'node04']);
  });

  it('gives the last seats to the best-spread candidates; the others show VoterLimitReached, settled', () => {
    const members = [member('a', 'node01', 1), member('b', 'node02', 2), member('c', 'node03', 3)];
    const placement = {
      voters,
      candidates: [
        { node: 'node04', datacenter: 'dc1', rack: 'r1' },
        { node: 'node05', datacenter: 'dc3', rack: 'r1' },
      ],
    };
    const policy = { ...DEFAULT_POLICY, maxVoters: 4 };
    const input = (node: string, ip: number, dc: string, rack: string) => ({
      node, spec: spec(ip, dc, rack), previous: undefined, agentPresent: true,
      observed: { members }, policy, placement,
    });
    const best = decideChainfire(input('node05', 5, 'dc3', 'r1'));
    assert.equal(best?.action?.kind, 'addLearner');
    const other = decideChainfire(input('node04', 4, 'dc1', 'r1'));
    assert.equal(other?.action, undefined);
    assert.equal(other?.condition.reason, 'VoterLimitReached');
    assert.match(other?.condition.message ?? '', /1 voter seat\(s\) left/);
    assert.equal(other?.settled, true);
  });

  it('without placement, every candidate may take a seat while seats are left', () => {
    const members = [member('a', 'node01', 1)];
    const d = decideChainfire({ node: 'node04', spec: spec(4, 'dc1', 'r1'), previous: undefined, agentPresent: true, observed: { members } });
    assert.equal(d?.action?.kind, 'addLearner');
  });
});
