/*
 * decideNode with Chainfire, FlareDB and IAM requested: the order of work for one joining node.
 *
 *  O1  a simulated join (each decision's effect fed back as the next observation) runs
 *      addLearner -> (learner starts) -> promote -> addMember -> registerNode, one action per
 *      decision, and ends Ready with AgentReady, ChainfireMember, FlareDBMember, IAMRegistered, Ready
 *  O2  FlareDB is never acted on before ChainfireMember=True
 *  O3  IAM is never acted on before FlareDBMember=True
 *  O4  a Ready node whose FlareDB (or IAM) cannot be observed keeps its status and is looked at again
 *  O5  a node mid-join whose FlareDB (or IAM) cannot be observed shows the condition Unknown/ServiceUnavailable
 *  O6  another node's change in flight holds back a FlareDB change (one at a time, with a message that does
 *      not change while it waits) but not an IAM registration, which changes no quorum
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FlareDBMember, IamNodeRegistration } from '../schema/members.js';
import type { AgentReport, Service } from '../schema/agent-report.js';
import type { NodeMembership } from '../schema/node-membership.js';
import type { MembershipOperation } from '../schema/operation.js';
import type { StatusBody } from '../schema/status.js';
import { canonicalJson } from '../store/records.js';
import type { ChainfireMember } from '../schema/members.js';
import { decideNode, type NodeAction, type NodeDecision, type NodeInputs, type OperationChange } from './decide.js';
import { UNAVAILABLE_RETRY_MS } from './step.js';
import { agentReport, asPrevious, chainfireMember, cond, joinSpec, membership, NODE, PEER, summary } from '../../test/support/node-records.js';

const FLARE_RAFT = '10.0.1.13:2480';
const T0 = new Date('2026-11-24T10:00:00Z');
const REGISTRATION: IamNodeRegistration = { id: NODE, role: 'control-plane', fqdn: 'node04.prod.example.com', ip: '10.0.1.13' };
const CONDITION_ORDER = ['AgentReady', 'ChainfireMember', 'FlareDBMember', 'IAMRegistered', 'Ready'];

function desired(generation = 20): NodeMembership {
  return membership(
    joinSpec(['chainfire', 'flaredb', 'iam'], { nodeIp: '10.0.1.13', fqdn: 'node04.prod.example.com' }),
    generation,
  );
}

/** The agent's report; its local FlareDB checked healthy, checked unhealthy, or not checked yet. */
function agent(flaredb: 'healthy' | 'unhealthy' | 'unchecked' = 'healthy'): AgentReport {
  return agentReport(
    'chainfire',
    flaredb !== 'unchecked' ? { healthy: flaredb === 'healthy', checkedAt: '2026-11-24T09:59:40Z' } : undefined,
  );
}

const node01 = chainfireMember('a1', 'node01', 'https://10.0.1.10:2380');
const learner = (name = '') => chainfireMember('c3', name, PEER, true);
const voter = chainfireMember('c3', NODE, PEER);
const flare01: FlareDBMember = { id: 'node01', raftAddr: '10.0.1.10:2480' };
const flareMe: FlareDBMember = { id: NODE, raftAddr: FLARE_RAFT };
const iam01: IamNodeRegistration = { id: 'node01', role: 'control-plane' };

function inputs(over: Partial<NodeInputs> = {}): NodeInputs {
  return {
    node: NODE,
    desired: desired(),
    agent: agent(),
    chainfire: { members: [node01] },
    flaredb: { members: [flare01] },
    iam: { members: [iam01] },
    iamBootstrapped: true,
    now: T0,
    ...over,
  };
}

function label(a: NodeAction | undefined): string {
  return a === undefined ? '-' : `${a.service}:${a.kind}`;
}

/** What the services look like; mutated by the actions and by the outside world. */
interface World {
  chainfire: ChainfireMember[];
  flaredb: FlareDBMember[];
  iam: IamNodeRegistration[];
  agent: AgentReport;
  iamBootstrapped: boolean;
  /** operations/<service> as the reconciler keeps them */
  operations: Partial<Record<Service, MembershipOperation>>;
}

/** What the reconciler does with operations/<service> around the action: start before, finish after. */
function startOperations(w: World, changes: OperationChange[] | undefined, now: Date): void {
  for (const c of changes ?? []) {
    if (c.start !== undefined) {
      w.operations[c.service] = {
        apiVersion: 'membership.photoncloud.io/v1alpha1',
        kind: 'MembershipOperation',
        service: c.service,
        node: NODE,
        change: c.start,
        startedAt: now.toISOString(),
        startedBy: 'node01/4312',
      };
    }
  }
}

function finishOperations(w: World, changes: OperationChange[] | undefined): void {
  for (const c of changes ?? []) if (c.finish === true) delete w.operations[c.service];
}

function applyAction(w: World, a: NodeAction): void {
  switch (a.kind) {
    case 'addLearner':
      w.chainfire.push(chainfireMember('c3', '', a.peerUrl, true));
      return;
    case 'promote':
      w.chainfire = w.chainfire.map((m) => (m.id === a.memberId ? { ...m, isLearner: false } : m));
      return;
    case 'addMember':
      w.flaredb.push({ id: a.id, raftAddr: a.raftAddr });
      return;
    case 'registerNode':
      w.iam = [...w.iam.filter((r) => r.id !== a.registration.id), a.registration];
      return;
    default:
      assert.fail(`a join decided ${a.service}:${a.kind}`);
  }
}

/** Something the controller waits for happens outside it; false when nothing is left to happen. */
function worldMoves(w: World): boolean {
  const unstarted = w.chainfire.find((m) => m.name === '');
  if (unstarted !== undefined) {
    unstarted.name = NODE; // the node's etcd started with the initialCluster from the status
    return true;
  }
  if (w.agent.report.services.flaredb === undefined) {
    w.agent = agent('healthy'); // the agent has checked its local FlareDB
    return true;
  }
  if (!w.iamBootstrapped) {
    w.iamBootstrapped = true; // the cluster's initial IAM setup completed
    return true;
  }
  return false;
}

interface Trace {
  decisions: NodeDecision[];
  actions: string[];
  /** operations/<service> in flight when each decision was made */
  inFlight: string[][];
  world: World;
}

function simulateJoin(): Trace {
  const w: World = {
    chainfire: [node01],
    flaredb: [flare01],
    iam: [iam01],
    agent: agent('unchecked'),
    iamBootstrapped: false,
    operations: {},
  };
  const decisions: NodeDecision[] = [];
  const actions: string[] = [];
  const inFlight: string[][] = [];
  let previous: StatusBody | undefined;
  for (let i = 0; i < 30; i++) {
    const now = new Date(T0.getTime() + i * 60_000);
    inFlight.push(Object.keys(w.operations).sort());
    const d = decideNode({
      node: NODE,
      desired: desired(),
      ...(previous !== undefined ? { previous } : {}),
      agent: w.agent,
      chainfire: { members: structuredClone(w.chainfire) },
      flaredb: { members: structuredClone(w.flaredb) },
      iam: { members: structuredClone(w.iam) },
      iamBootstrapped: w.iamBootstrapped,
      operations: structuredClone(w.operations),
      now,
    });
    decisions.push(d);
    previous = asPrevious(d);
    startOperations(w, d.operations, now);
    if (d.action !== undefined) {
      actions.push(label(d.action));
      applyAction(w, d.action);
    }
    finishOperations(w, d.operations);
    if (d.action === undefined && !worldMoves(w)) {
      return { decisions, actions, inFlight, world: w };
    }
  }
  assert.fail('the join did not settle');
}

describe('decideNode O1: a simulated join with Chainfire, FlareDB and IAM', () => {
  const trace = simulateJoin();
  const last = trace.decisions.at(-1);

  it('acts in the order addLearner, promote, addMember, registerNode', () => {
    assert.deepEqual(trace.actions, ['chainfire:addLearner', 'chainfire:promote', 'flaredb:addMember', 'iam:registerNode']);
  });

  it('passes through every wait on the way, one step per decision', () => {
    assert.deepEqual(
      trace.decisions.map((d) => [cond(d, 'Ready')?.reason, label(d.action)]),
      [
        ['AddingLearner', 'chainfire:addLearner'],
        ['LearnerAdded', '-'],
        ['LearnerCatchingUp', 'chainfire:promote'],
        ['WaitingForAgent', '-'],
        ['AddingMember', 'flaredb:addMember'],
        ['WaitingForIAMSetup', '-'],
        ['Registering', 'iam:registerNode'],
        ['Joined', '-'],
      ],
    );
  });

  it('ends Ready with the conditions in the contract\'s order', () => {
    assert.ok(last);
    assert.equal(last.status.phase, 'Ready');
    assert.deepEqual(summary(last), [
      ['AgentReady', 'True', 'Reporting'],
      ['ChainfireMember', 'True', 'Promoted'],
      ['FlareDBMember', 'True', 'Joined'],
      ['IAMRegistered', 'True', 'Registered'],
      ['Ready', 'True', 'Joined'],
    ]);
    assert.equal(cond(last, 'Ready')?.message, 'member of Chainfire, FlareDB, IAM');
    assert.deepEqual(last.status.chainfire, {
      memberId: 'c3',
      role: 'voter',
      peerUrl: PEER,
      initialCluster: `node01=https://10.0.1.10:2380,node04=${PEER}`,
    });
    assert.deepEqual(last.status.flaredb, { memberId: NODE, raftAddr: FLARE_RAFT });
    assert.deepEqual(last.status.iam, { registered: true });
    assert.equal(last.action, undefined);
    assert.equal(last.requeueAfterMs, 10_000); // its health is looked at every healthIntervalSeconds
  });

  it('records each Raft membership change before it starts (not the IAM registration) and ends the join with no change in flight', () => {
    assert.deepEqual(trace.inFlight, [[], ['chainfire'], ['chainfire'], ['chainfire'], [], ['flaredb'], [], []]);
    assert.deepEqual(trace.world.operations, {});
  });

  it('lists the conditions in the contract\'s order at every step, and is Joining until Ready', () => {
    for (const d of trace.decisions) {
      assert.deepEqual(
        d.status.conditions.map((c) => c.type),
        CONDITION_ORDER,
      );
    }
    assert.deepEqual(
      trace.decisions.map((d) => d.status.phase),
      ['Joining', 'Joining', 'Joining', 'Joining', 'Joining', 'Joining', 'Joining', 'Ready'],
    );
  });

  it('never returns two actions at once: the services after the acting one wait for it', () => {
    for (const d of trace.decisions) {
      assert.ok(d.action === undefined || (typeof d.action === 'object' && !Array.isArray(d.action)));
      const started = (d.operations ?? []).filter((o) => o.start !== undefined);
      assert.ok(started.length <= 1, `at most one change started per decision: ${JSON.stringify(d.operations)}`);
      if (started[0] !== undefined) assert.equal(started[0].service, d.action?.service, 'the change started is the action\'s');
      const service = d.action?.service;
      if (service === 'chainfire') {
        assert.equal(cond(d, 'FlareDBMember')?.reason, 'WaitingForChainfire');
        assert.equal(cond(d, 'IAMRegistered')?.reason, 'WaitingForChainfire');
      } else if (service === 'flaredb') {
        assert.equal(cond(d, 'ChainfireMember')?.status, 'True');
        assert.equal(cond(d, 'IAMRegistered')?.reason, 'WaitingForFlareDB');
      } else if (service === 'iam') {
        assert.equal(cond(d, 'ChainfireMember')?.status, 'True');
        assert.equal(cond(d, 'FlareDBMember')?.status, 'True');
      }
    }
  });

  it('a Ready node decided again on its own status changes nothing', () => {
    assert.ok(last);
    const again = decideNode(
      inputs({
        previous: asPrevious(last),
        chainfire: { members: [node01, voter] },
        flaredb: { members: [flare01, flareMe] },
        iam: { members: [iam01, REGISTRATION] },
        now: new Date(T0.getTime() + 3_600_000),
      }),
    );
    assert.equal(canonicalJson(again.status), canonicalJson(last.status));
    assert.equal(again.action, undefined);
    assert.equal(again.requeueAfterMs, 10_000);
  });
});

describe('decideNode O2: FlareDB is never acted on before ChainfireMember=True', () => {
  const other = chainfireMember('d4', 'node05', 'https://10.0.1.14:2380', true);
  const { agent: _a, ...noAgent } = inputs();
  const cases: [string, NodeInputs][] = [
    ['no agent yet', noAgent],
    ['not a Chainfire member', inputs()],
    ['learner not started', inputs({ chainfire: { members: [node01, learner()] } })],
    ['learner started', inputs({ chainfire: { members: [node01, learner(NODE)] } })],
    ['promote refused', inputs({ chainfire: { members: [node01, learner(NODE)] }, promoteRefused: { memberId: 'c3', detail: 'not in sync' } })],
    ['promote failed', inputs({ chainfire: { members: [node01, learner(NODE)] }, actionFailed: 'deadline exceeded', failedService: 'chainfire' })],
    ['another learner joining', inputs({ chainfire: { members: [node01, other] } })],
    ['Chainfire unavailable', inputs({ chainfire: { unavailable: 'deadline exceeded' } })],
    ['Chainfire conflict', inputs({ chainfire: { members: [node01, chainfireMember('old', NODE, 'https://10.0.9.9:2380')] } })],
  ];
  for (const [name, base] of cases) {
    it(`${name}: FlareDBMember waits for Chainfire, no FlareDB action`, () => {
      const d = decideNode(base);
      assert.notEqual(cond(d, 'ChainfireMember')?.status, 'True');
      assert.notEqual(d.action?.service, 'flaredb');
      assert.notEqual(d.action?.service, 'iam');
      assert.equal(cond(d, 'FlareDBMember')?.status, 'False');
      assert.equal(cond(d, 'FlareDBMember')?.reason, 'WaitingForChainfire');
      assert.equal(cond(d, 'IAMRegistered')?.reason, 'WaitingForChainfire');
      assert.deepEqual(d.status.flaredb, {});
    });
  }

  it('the FlareDB add comes in the decision after ChainfireMember turns True', () => {
    const d = decideNode(inputs({ chainfire: { members: [node01, voter] } }));
    assert.equal(cond(d, 'ChainfireMember')?.status, 'True');
    assert.deepEqual(d.action, { service: 'flaredb', kind: 'addMember', id: NODE, raftAddr: FLARE_RAFT });
  });
});

describe('decideNode O3: IAM is never acted on before FlareDBMember=True', () => {
  const joined = { chainfire: { members: [node01, voter] } };
  const cases: [string, NodeInputs][] = [
    ['FlareDB add pending', inputs(joined)],
    ['FlareDB add failed', inputs({ ...joined, actionFailed: 'HTTP 503', failedService: 'flaredb' })],
    ['agent has not checked FlareDB', inputs({ ...joined, agent: agent('unchecked') })],
    ['agent reports FlareDB unhealthy', inputs({ ...joined, agent: agent('unhealthy') })],
    ['no agent', inputs({ ...joined, agent: undefined })],
    ['FlareDB unavailable', inputs({ ...joined, flaredb: { unavailable: 'connect ECONNREFUSED' } })],
    ['FlareDB not configured', inputs({ ...joined, flaredb: undefined })],
    ['FlareDB conflict', inputs({ ...joined, flaredb: { members: [flare01, { id: 'node09', raftAddr: FLARE_RAFT }] } })],
  ];
  for (const [name, base] of cases) {
    it(`${name}: IAMRegistered waits for FlareDB, no IAM action`, () => {
      const d = decideNode(base);
      assert.equal(cond(d, 'ChainfireMember')?.status, 'True');
      assert.notEqual(cond(d, 'FlareDBMember')?.status, 'True');
      assert.notEqual(d.action?.service, 'iam');
      assert.notEqual(d.action?.service, 'chainfire');
      assert.equal(cond(d, 'IAMRegistered')?.status, 'False');
      assert.equal(cond(d, 'IAMRegistered')?.reason, 'WaitingForFlareDB');
      assert.deepEqual(d.status.iam, {});
    });
  }

  it('a FlareDB conflict fails the node with no action at all', () => {
    const d = decideNode(inputs({ ...joined, flaredb: { members: [{ id: 'node09', raftAddr: FLARE_RAFT }] } }));
    assert.equal(d.status.phase, 'Failed');
    assert.equal(cond(d, 'Ready')?.reason, 'Conflict');
    assert.equal(d.action, undefined);
  });

  it('the IAM registration comes once FlareDBMember is True', () => {
    const d = decideNode(inputs({ ...joined, flaredb: { members: [flare01, flareMe] } }));
    assert.equal(cond(d, 'FlareDBMember')?.status, 'True');
    assert.deepEqual(d.action, { service: 'iam', kind: 'registerNode', registration: REGISTRATION });
  });
});

describe('decideNode O4: a Ready node whose other services cannot be observed keeps its status', () => {
  const readyInputs = inputs({
    chainfire: { members: [node01, voter] },
    flaredb: { members: [flare01, flareMe] },
    iam: { members: [iam01, REGISTRATION] },
  });
  const ready = decideNode(readyInputs);

  it('the starting point is Ready', () => {
    assert.equal(ready.status.phase, 'Ready');
    assert.equal(ready.action, undefined);
  });

  it('FlareDB unavailable: status unchanged, no action, requeued', () => {
    const d = decideNode({ ...readyInputs, previous: asPrevious(ready), flaredb: { unavailable: 'deadline exceeded' }, now: new Date('2026-11-24T11:00:00Z') });
    assert.equal(canonicalJson(d.status), canonicalJson(ready.status));
    assert.equal(d.action, undefined);
    assert.equal(d.requeueAfterMs, UNAVAILABLE_RETRY_MS);
  });

  it('IAM unavailable: status unchanged, no action, requeued', () => {
    const d = decideNode({ ...readyInputs, previous: asPrevious(ready), iam: { unavailable: 'HTTP 502' }, now: new Date('2026-11-24T11:00:00Z') });
    assert.equal(canonicalJson(d.status), canonicalJson(ready.status));
    assert.equal(d.action, undefined);
    assert.equal(d.requeueAfterMs, UNAVAILABLE_RETRY_MS);
  });

  it('also without the agent, which a Ready node no longer needs', () => {
    const { agent: _a, ...base } = readyInputs;
    const readyNoAgent = decideNode(base);
    assert.equal(readyNoAgent.status.phase, 'Ready');
    const d = decideNode({ ...base, previous: asPrevious(readyNoAgent), flaredb: { unavailable: 'down' } });
    assert.equal(canonicalJson(d.status), canonicalJson(readyNoAgent.status));
    assert.equal(d.requeueAfterMs, UNAVAILABLE_RETRY_MS);
  });

  it('a new spec generation is decided afresh: FlareDBMember Unknown', () => {
    const d = decideNode({ ...readyInputs, desired: desired(21), previous: asPrevious(ready), flaredb: { unavailable: 'down' } });
    assert.equal(d.status.observedGeneration, 21);
    assert.equal(cond(d, 'FlareDBMember')?.status, 'Unknown');
    assert.equal(cond(d, 'FlareDBMember')?.reason, 'ServiceUnavailable');
  });
});

describe('decideNode O5: a node mid-join whose services cannot be observed', () => {
  it('FlareDB unavailable after Chainfire joined: FlareDBMember Unknown/ServiceUnavailable, Joining, requeued', () => {
    const promoted = decideNode(inputs({ chainfire: { members: [node01, voter] }, agent: agent('unchecked') }));
    assert.equal(promoted.status.phase, 'Joining');
    const d = decideNode(
      inputs({ previous: asPrevious(promoted), chainfire: { members: [node01, voter] }, flaredb: { unavailable: 'connect ECONNREFUSED' } }),
    );
    assert.equal(d.status.phase, 'Joining');
    assert.deepEqual(summary(d), [
      ['AgentReady', 'True', 'Reporting'],
      ['ChainfireMember', 'True', 'Joined'],
      ['FlareDBMember', 'Unknown', 'ServiceUnavailable'],
      ['IAMRegistered', 'False', 'WaitingForFlareDB'],
      ['Ready', 'False', 'ServiceUnavailable'],
    ]);
    assert.match(cond(d, 'FlareDBMember')?.message ?? '', /connect ECONNREFUSED/);
    assert.match(cond(d, 'Ready')?.message ?? '', /^FlareDBMember: cannot list FlareDB members/);
    assert.equal(d.action, undefined);
    assert.equal(d.requeueAfterMs, UNAVAILABLE_RETRY_MS);
  });

  it('FlareDB unavailable with no previous status: the same Unknown condition', () => {
    const d = decideNode(inputs({ chainfire: { members: [node01, voter] }, flaredb: { unavailable: 'down' } }));
    assert.equal(cond(d, 'FlareDBMember')?.status, 'Unknown');
    assert.equal(cond(d, 'FlareDBMember')?.reason, 'ServiceUnavailable');
    assert.equal(d.status.phase, 'Joining');
  });

  it('IAM unavailable after FlareDB joined: IAMRegistered Unknown/ServiceUnavailable', () => {
    const d = decideNode(inputs({ chainfire: { members: [node01, voter] }, flaredb: { members: [flare01, flareMe] }, iam: { unavailable: 'HTTP 502' } }));
    assert.equal(d.status.phase, 'Joining');
    assert.equal(cond(d, 'FlareDBMember')?.status, 'True');
    assert.equal(cond(d, 'IAMRegistered')?.status, 'Unknown');
    assert.equal(cond(d, 'IAMRegistered')?.reason, 'ServiceUnavailable');
    assert.equal(cond(d, 'Ready')?.reason, 'ServiceUnavailable');
    assert.equal(d.action, undefined);
    assert.equal(d.requeueAfterMs, UNAVAILABLE_RETRY_MS);
  });
});

describe('decideNode: a joined service that cannot be seen for a moment keeps its True condition', () => {
  it('FlareDBMember stays True (same transition time) while FlareDB is down mid-join', () => {
    const stepOne = decideNode(inputs({ chainfire: { members: [node01, voter] }, agent: agent('healthy'), flaredb: { members: [flare01, { id: NODE, raftAddr: FLARE_RAFT }] } }));
    const flaredbBefore = cond(stepOne, 'FlareDBMember');
    assert.equal(flaredbBefore?.status, 'True');
    const blind = decideNode(inputs({ previous: asPrevious(stepOne), chainfire: { members: [node01, voter] }, agent: agent('healthy'), flaredb: { unavailable: 'down' }, now: new Date(Date.parse(flaredbBefore!.lastTransitionTime) + 60_000) }));
    assert.deepEqual(cond(blind, 'FlareDBMember'), flaredbBefore);
    assert.deepEqual(blind.status.flaredb, stepOne.status.flaredb);
  });
});

describe('decideNode O6: other nodes\' changes in flight', () => {
  const op = (service: Service, node: string, startedAt: string): MembershipOperation => ({
    apiVersion: 'membership.photoncloud.io/v1alpha1',
    kind: 'MembershipOperation',
    service,
    node,
    change: 'join',
    startedAt,
    startedBy: 'node01/4312 (term 3)',
  });
  const chainfireJoined = { chainfire: { members: [node01, voter] } };

  it('another node\'s FlareDB join holds back this node\'s FlareDB join: no action, no change recorded', () => {
    const d = decideNode(inputs({ ...chainfireJoined, operations: { flaredb: op('flaredb', 'node05', '2026-11-24T09:59:00Z') } }));
    assert.equal(d.action, undefined);
    assert.equal(d.operations, undefined);
    assert.equal(cond(d, 'FlareDBMember')?.reason, 'WaitingForOtherChange');
    assert.equal(cond(d, 'Ready')?.reason, 'WaitingForOtherChange');
    assert.ok(d.requeueAfterMs !== undefined);
  });

  it('the waiting message does not change when the change in flight does: no status rewrite per change', () => {
    const a = decideNode(inputs({ ...chainfireJoined, operations: { flaredb: op('flaredb', 'node05', '2026-11-24T09:59:00Z') } }));
    const b = decideNode(inputs({ ...chainfireJoined, previous: asPrevious(a), operations: { flaredb: op('flaredb', 'node06', '2026-11-24T10:00:07Z') } }));
    assert.equal(canonicalJson(b.status), canonicalJson(a.status));
    assert.match(cond(a, 'FlareDBMember')?.message ?? '', /operations\/flaredb/);
  });

  it('another node\'s IAM registration in flight does not hold back this node\'s: registered at once, nothing recorded', () => {
    const flaredbJoined = { ...chainfireJoined, flaredb: { members: [flare01, flareMe] } };
    const d = decideNode(inputs({ ...flaredbJoined, operations: { iam: op('iam', 'node05', '2026-11-24T09:59:00Z') } }));
    assert.deepEqual(d.action, { service: 'iam', kind: 'registerNode', registration: REGISTRATION });
    assert.equal(d.operations, undefined);
  });

  it('an IAM change record left by this node (an older controller) is ended once the registration is seen', () => {
    const done = { ...chainfireJoined, flaredb: { members: [flare01, flareMe] }, iam: { members: [iam01, REGISTRATION] } };
    const d = decideNode(inputs({ ...done, operations: { iam: op('iam', NODE, '2026-11-24T09:59:00Z') } }));
    assert.equal(d.action, undefined);
    assert.deepEqual(d.operations, [{ service: 'iam', finish: true }]);
    assert.equal(d.status.phase, 'Ready');
  });
});
