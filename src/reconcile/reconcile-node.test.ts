// reconcileNode on in-memory ports: what one reconcile records, does and writes
// around an action, and what the status says when the service refuses it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { MembershipError, type ErrorCode } from '../errors.js';
import type { IamNodeRegistration } from '../schema/members.js';
import type { StatusBody } from '../schema/status.js';
import { DEFAULT_POLICY, type MembershipOperation } from '../schema/operation.js';
import { agentReport, joinSpec, membership, NODE } from '../../test/support/node-records.js';
import type { ReadPort, ReconcilePorts, WritePort } from './ports.js';
import { BUSY_RETRY_MS, planNode, reconcileNode } from './reconcile-node.js';
import type { NodeAction } from './step.js';

const GENERATION = 41;

/** A node that wants only IAM, the setup done, IAM empty: the one action is registerNode. */
function world(actError?: ErrorCode) {
  const registered: IamNodeRegistration[] = [];
  const statuses: StatusBody[] = [];
  const actions: NodeAction[] = [];
  const desired = membership(joinSpec(['iam']), GENERATION);
  const read: ReadPort = {
    now: () => new Date('2026-11-24T10:00:00Z'),
    log: pino({ level: 'silent' }),
    desired: (node) => (node === NODE ? { value: desired, modRevision: GENERATION } : undefined),
    status: () => statuses.at(-1),
    agent: () => ({ value: agentReport('iam') }),
    desiredRecords: () => [desired],
    addressConflicts: () => [],
    operations: () => ({}),
    policy: () => DEFAULT_POLICY,
    policyProblem: () => undefined,
    iamBootstrapped: () => true,
    chainfire: { members: async () => [], health: async () => ({}), leaderId: async () => undefined },
    iam: { list: async () => [...registered] },
  };
  const write: WritePort = {
    identity: 'unit',
    term: 7,
    assertLeader: () => undefined,
    putOperation: async () => assert.fail('IAM registrations are not recorded in operations/'),
    deleteOperation: async () => assert.fail('nothing to end'),
    putStatus: async (node, status, generation) => {
      assert.equal(node, NODE);
      assert.equal(generation, GENERATION);
      statuses.push(status);
    },
    act: async (_node, action) => {
      actions.push(action);
      if (actError !== undefined) throw new MembershipError(actError, `IAM answered: ${actError}`);
      if (action.kind === 'registerNode') registered.push(action.registration);
      return undefined;
    },
    failpoint: () => undefined,
  };
  const ports: ReconcilePorts = { read, write };
  return { ports, statuses, actions, registered };
}

const iamCondition = (s: StatusBody | undefined) => s?.conditions.find((c) => c.type === 'IAMRegistered');

describe('reconcileNode', () => {
  it('acts once, decides again on what it then sees, and writes that status stamped with its term', async () => {
    const w = world();
    assert.deepEqual(await reconcileNode(NODE, w.ports), {});
    assert.deepEqual(w.actions.map((a) => a.kind), ['registerNode']);
    assert.equal(w.statuses.length, 1);
    assert.equal(w.statuses[0]!.phase, 'Ready');
    assert.equal(iamCondition(w.statuses[0])?.status, 'True');
    assert.deepEqual(w.statuses[0]!.controller, { identity: 'unit', term: 7 });
    // Nothing changed since: no action, no write.
    await reconcileNode(NODE, w.ports);
    assert.equal(w.actions.length, 1);
    assert.equal(w.statuses.length, 1);
  });

  for (const code of ['UNAVAILABLE', 'SERVICE_ERROR', 'ACCESS_DENIED', 'RESOURCE_EXHAUSTED'] as const) {
    it(`a ${code} answer to the action is said in the status, then handed to the work queue's backoff`, async () => {
      const w = world(code);
      await assert.rejects(reconcileNode(NODE, w.ports), (err: unknown) => err instanceof MembershipError && err.code === code);
      const c = iamCondition(w.statuses.at(-1));
      assert.equal(c?.reason, 'ServiceUnavailable');
      assert.match(c?.message ?? '', new RegExp(`failed: IAM answered: ${code}; retrying`));
    });
  }

  it('a refusal for now (BUSY) is said in the status and looked at again in a second, without backoff', async () => {
    const w = world('BUSY');
    assert.deepEqual(await reconcileNode(NODE, w.ports), { requeueAfterMs: BUSY_RETRY_MS });
    assert.equal(iamCondition(w.statuses.at(-1))?.reason, 'ServiceUnavailable');
  });

  it('planNode decides the same action and neither acts nor writes', async () => {
    const w = world();
    const plan = await planNode(NODE, w.ports.read);
    assert.equal(plan.kind, 'valid');
    assert.equal(plan.kind === 'valid' ? plan.decision.action?.kind : undefined, 'registerNode');
    assert.equal(w.actions.length, 0);
    assert.equal(w.statuses.length, 0);
  });
});

/** A node that wants only Chainfire, the one voter healthy: the one action is addLearner, which fails with `actError`. */
function chainfireWorld(actError: MembershipError) {
  const desired = membership(joinSpec(['chainfire']), GENERATION);
  const calls: string[] = [];
  const statuses: StatusBody[] = [];
  const operations: (MembershipOperation | undefined)[] = [];
  let opRevision = 0;
  const read: ReadPort = {
    now: () => new Date('2026-11-24T10:00:00Z'),
    log: pino({ level: 'silent' }),
    desired: () => ({ value: desired, modRevision: GENERATION }),
    status: () => statuses.at(-1),
    agent: () => ({ value: agentReport('chainfire') }),
    desiredRecords: () => [desired],
    addressConflicts: () => [],
    operations: () => ({}),
    policy: () => DEFAULT_POLICY,
    policyProblem: () => undefined,
    iamBootstrapped: () => true,
    chainfire: {
      members: async () => [{ id: 'a1', name: 'node01', peerUrls: ['https://10.0.1.10:2380'], clientUrls: ['https://10.0.1.10:2379'], isLearner: false }],
      health: async () => ({ a1: true }),
      leaderId: async () => 'a1',
    },
  };
  const write: WritePort = {
    identity: 'unit',
    term: 7,
    assertLeader: () => undefined,
    putOperation: async (service, op) => {
      calls.push(`put ${service}/${op.change}`);
      return (opRevision = 50);
    },
    deleteOperation: async (service, modRevision) => {
      assert.equal(modRevision, opRevision);
      calls.push(`delete ${service}`);
    },
    putStatus: async (_node, status) => {
      calls.push('status');
      statuses.push(status);
    },
    act: async (_node, action, operation) => {
      calls.push(action.kind);
      operations.push(operation);
      throw actError;
    },
    failpoint: () => undefined,
  };
  return { ports: { read, write }, calls, statuses, operations };
}

const chainfireCondition = (s: StatusBody | undefined) => s?.conditions.find((c) => c.type === 'ChainfireMember');

describe('reconcileNode: a Chainfire add etcd refuses for now', () => {
  it('ends the change it recorded, so that it holds no lock against the change that would unblock it', async () => {
    const w = chainfireWorld(new MembershipError('BUSY', 'etcd refuses to add learner for now: etcdserver: unhealthy cluster'));
    assert.deepEqual(await reconcileNode(NODE, w.ports), { requeueAfterMs: BUSY_RETRY_MS });
    assert.deepEqual(w.calls, ['put chainfire/join', 'addLearner', 'status', 'delete chainfire']);
  });
});

describe('reconcileNode: a Chainfire change held back for want of a snapshot', () => {
  const cause = 'no snapshot of Chainfire before addLearner of node04 could be written to /var/lib/membership-controller/snapshots: disk full: 10 MiB free';

  it('gets the change record it belongs to, so that one snapshot serves the change', async () => {
    const w = chainfireWorld(new MembershipError('SNAPSHOT_FAILED', cause));
    await assert.rejects(reconcileNode(NODE, w.ports));
    assert.equal(w.operations.length, 1);
    assert.deepEqual(
      { node: w.operations[0]?.node, service: w.operations[0]?.service, change: w.operations[0]?.change, startedAt: w.operations[0]?.startedAt },
      { node: NODE, service: 'chainfire', change: 'join', startedAt: '2026-11-24T10:00:00.000Z' },
    );
  });

  it('says SnapshotFailed with the cause, ends the change (no learner was added), and hands the error to the backoff', async () => {
    const w = chainfireWorld(new MembershipError('SNAPSHOT_FAILED', cause));
    await assert.rejects(reconcileNode(NODE, w.ports), (err: unknown) => err instanceof MembershipError && err.code === 'SNAPSHOT_FAILED');
    assert.deepEqual(w.calls, ['put chainfire/join', 'addLearner', 'status', 'delete chainfire']);
    const c = chainfireCondition(w.statuses.at(-1));
    assert.equal(c?.status, 'False');
    assert.equal(c?.reason, 'SnapshotFailed');
    assert.equal(c?.message, `adding ${NODE} as a Chainfire learner with peer URL https://10.0.1.13:2380: held back, ${cause}; retrying`);
    assert.equal(w.statuses.at(-1)?.phase, 'Joining');
  });
});
