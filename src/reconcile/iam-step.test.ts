/*
 * decideIAM and registrationOf, branch by branch (one or more tests each):
 *
 *  B1  spec has no iam block                             -> undefined (nothing to decide)
 *  B2  the controller has no IAM configured              -> False/NotConfigured, no action, no requeue
 *  B3  registrations cannot be listed                    -> Unknown/ServiceUnavailable, retry after UNAVAILABLE_RETRY_MS
 *  B4  registered with the record's id, role, fqdn, ip   -> True/Registered, block {registered: true}
 *                                                           (whatever the earlier services or the IAM setup say)
 *  B5  not (or differently) registered, still waiting for Chainfire / FlareDB
 *                                                        -> False/WaitingForChainfire / WaitingForFlareDB, no action
 *  B6  not registered, the initial IAM setup not done    -> False/WaitingForIAMSetup, requeue, no action
 *  B7  not registered                                    -> False/Registering + registerNode(registrationOf)
 *  B8  registered, but role, fqdn or ip changed (or IAM holds a field the record no longer has)
 *                                                        -> False/Registering ("updating") + registerNode again
 *  B9  actionFailed with an action decided               -> False/ServiceUnavailable with the failure text, no action
 *  B10 state Absent, not registered                      -> False/Removed, settled, no action
 *  B11 state Absent, registered, FlareDB not yet removed -> False/WaitingForFlareDB, no action
 *  B12 state Absent, registered                          -> False/Removing + deregisterNode(id), IAM setup not needed
 *  R1  registrationOf: id and role always, fqdn and ip only when the spec has them, nothing else
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IamNodeRegistration } from '../schema/members.js';
import { decideIAM, registrationOf, type IAMStepInput } from './iam-step.js';
import { IAM_SETUP_POLL_MS, UNAVAILABLE_RETRY_MS } from './step.js';
import { contractSpec, NODE } from '../../test/support/node-records.js';

/** Every field set: the registration carries nodeIp and fqdn. */
const spec = contractSpec;

const WANT: IamNodeRegistration = { id: NODE, role: 'control-plane', fqdn: 'node04.prod.example.com', ip: '10.0.1.13' };
const other: IamNodeRegistration = { id: 'node01', role: 'control-plane', fqdn: 'node01.prod.example.com', ip: '10.0.1.10' };

function input(over: Partial<IAMStepInput> = {}): IAMStepInput {
  return {
    node: NODE,
    spec: spec(),
    waitingFor: undefined,
    iamBootstrapped: true,
    observed: { members: [other] },
    ...over,
  };
}

function decide(over: Partial<IAMStepInput> = {}) {
  const result = decideIAM(input(over));
  assert.ok(result, 'expected an IAM decision');
  return result;
}

describe('decideIAM B1: no iam block', () => {
  it('returns undefined whatever is observed', () => {
    const { iam: _none, ...noIam } = spec();
    assert.equal(decideIAM(input({ spec: noIam })), undefined);
    assert.equal(decideIAM(input({ spec: noIam, observed: { unavailable: 'down' } })), undefined);
    assert.equal(decideIAM(input({ spec: noIam, observed: { notConfigured: true } })), undefined);
  });
});

describe('decideIAM B2: not configured', () => {
  it('is False/NotConfigured naming the config field, without action or requeue', () => {
    const r = decide({ observed: { notConfigured: true } });
    assert.equal(r.condition.type, 'IAMRegistered');
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'NotConfigured');
    assert.match(r.condition.message, /iam\.endpoints/);
    assert.equal(r.action, undefined);
    assert.equal(r.requeueAfterMs, undefined);
    assert.equal(r.progressed, false);
    assert.deepEqual(r.block, {});
  });
});

describe('decideIAM B3: registrations cannot be listed', () => {
  it('is Unknown/ServiceUnavailable with the cause, and looks again soon', () => {
    const r = decide({ observed: { unavailable: 'HTTP 502' } });
    assert.deepEqual(r.condition, {
      type: 'IAMRegistered',
      status: 'Unknown',
      reason: 'ServiceUnavailable',
      message: 'cannot list IAM nodes: HTTP 502',
    });
    assert.equal(r.requeueAfterMs, UNAVAILABLE_RETRY_MS);
    assert.equal(r.action, undefined);
    assert.equal(r.progressed, false);
    assert.deepEqual(r.block, {});
  });

  it('comes before the wait for earlier services', () => {
    assert.equal(decide({ observed: { unavailable: 'x' }, waitingFor: 'Chainfire' }).condition.reason, 'ServiceUnavailable');
  });
});

describe('decideIAM B4: registered with the same data', () => {
  it('is True/Registered with block {registered: true} and no action', () => {
    const r = decide({ observed: { members: [other, { ...WANT }] } });
    assert.equal(r.condition.status, 'True');
    assert.equal(r.condition.reason, 'Registered');
    assert.match(r.condition.message, /node04 is registered with IAM as control-plane/);
    assert.deepEqual(r.block, { registered: true });
    assert.equal(r.action, undefined);
    assert.equal(r.requeueAfterMs, undefined);
    assert.equal(r.progressed, true);
    assert.equal(r.settled, true);
  });

  it('stays Registered while an earlier service is not ready or the IAM setup is not recorded', () => {
    for (const waitingFor of ['Chainfire', 'FlareDB'] as const) {
      assert.equal(decide({ waitingFor, observed: { members: [WANT] } }).condition.reason, 'Registered');
    }
    assert.equal(decide({ iamBootstrapped: false, observed: { members: [WANT] } }).condition.reason, 'Registered');
  });

  it('matches a record without fqdn and ip against a registration without them', () => {
    const { fqdn: _f, nodeIp: _i, ...bare } = spec({ role: 'worker' });
    const r = decide({ spec: bare, observed: { members: [{ id: NODE, role: 'worker' }] } });
    assert.equal(r.condition.status, 'True');
    assert.equal(r.condition.reason, 'Registered');
  });
});

describe('decideIAM B5: waiting for an earlier service', () => {
  for (const waitingFor of ['Chainfire', 'FlareDB'] as const) {
    it(`not registered, waiting for ${waitingFor}: False/WaitingFor${waitingFor}, no action`, () => {
      const r = decide({ waitingFor });
      assert.equal(r.condition.status, 'False');
      assert.equal(r.condition.reason, `WaitingFor${waitingFor}`);
      assert.match(r.condition.message, new RegExp(`follows ${waitingFor} membership`));
      assert.equal(r.action, undefined);
      assert.equal(r.requeueAfterMs, undefined);
      assert.equal(r.progressed, false);
      assert.deepEqual(r.block, {});
    });
  }

  it('a stale registration is not updated before the earlier services are ready', () => {
    const r = decide({ waitingFor: 'FlareDB', observed: { members: [{ ...WANT, ip: '10.0.9.9' }] } });
    assert.equal(r.condition.reason, 'WaitingForFlareDB');
    assert.equal(r.action, undefined);
  });

  it('waits for earlier services before the IAM setup', () => {
    assert.equal(decide({ waitingFor: 'Chainfire', iamBootstrapped: false }).condition.reason, 'WaitingForChainfire');
  });
});

describe('decideIAM B6: the initial IAM setup is not done', () => {
  it('is False/WaitingForIAMSetup, requeued, no action', () => {
    const r = decide({ iamBootstrapped: false });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'WaitingForIAMSetup');
    assert.equal(r.action, undefined);
    assert.equal(r.requeueAfterMs, IAM_SETUP_POLL_MS);
    assert.equal(r.progressed, true);
    assert.deepEqual(r.block, {});
    assert.equal(r.condition.message, 'the cluster\'s initial IAM setup has not completed yet');
  });

  it('says why the last try of the setup failed, when it did', () => {
    const r = decide({ iamBootstrapped: false, setupProblem: 'IAM: initial admin setup (POST /admin/bootstrap): answered badly: HTTP 201 <html>' });
    assert.equal(r.condition.reason, 'WaitingForIAMSetup');
    assert.equal(
      r.condition.message,
      'the cluster\'s initial IAM setup has not completed yet: its last try failed: IAM: initial admin setup (POST /admin/bootstrap): answered badly: HTTP 201 <html>',
    );
    assert.equal(r.action, undefined);
  });
});

describe('decideIAM B7: not registered', () => {
  it('decides registerNode with the record\'s registration', () => {
    const r = decide();
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'Registering');
    assert.equal(r.condition.message, 'registering node04 with IAM');
    assert.deepEqual(r.action, { service: 'iam', kind: 'registerNode', registration: WANT });
    assert.equal(r.requeueAfterMs, undefined);
    assert.equal(r.progressed, true);
    assert.deepEqual(r.block, {});
  });

  it('registers into an empty list too', () => {
    assert.equal(decide({ observed: { members: [] } }).action?.kind, 'registerNode');
  });
});

describe('decideIAM B8: registered with data that no longer matches', () => {
  const changes: [string, IamNodeRegistration][] = [
    ['role', { ...WANT, role: 'worker' }],
    ['fqdn', { ...WANT, fqdn: 'node04.old.example.com' }],
    ['ip', { ...WANT, ip: '10.0.1.99' }],
    ['fqdn missing in IAM', { id: NODE, role: 'control-plane', ip: '10.0.1.13' }],
    ['ip missing in IAM', { id: NODE, role: 'control-plane', fqdn: 'node04.prod.example.com' }],
  ];
  for (const [name, current] of changes) {
    it(`${name} changed: registers again with the record's data`, () => {
      const r = decide({ observed: { members: [other, current] } });
      assert.equal(r.condition.status, 'False');
      assert.equal(r.condition.reason, 'Registering');
      assert.equal(r.condition.message, "updating node04's IAM registration");
      assert.deepEqual(r.action, { service: 'iam', kind: 'registerNode', registration: WANT });
    });
  }

  it('IAM holds an fqdn the record no longer has: registers again without it', () => {
    const { fqdn: _gone, ...noFqdn } = spec();
    const r = decide({ spec: noFqdn, observed: { members: [WANT] } });
    assert.equal(r.condition.reason, 'Registering');
    assert.deepEqual(r.action, { service: 'iam', kind: 'registerNode', registration: { id: NODE, role: 'control-plane', ip: '10.0.1.13' } });
  });

  it('the update waits for the IAM setup like a first registration', () => {
    const r = decide({ iamBootstrapped: false, observed: { members: [{ ...WANT, role: 'worker' }] } });
    assert.equal(r.condition.reason, 'WaitingForIAMSetup');
    assert.equal(r.action, undefined);
  });
});

describe('decideIAM B9: the action failed earlier in this reconcile', () => {
  it('turns the registration into ServiceUnavailable with the failure text, and drops the action', () => {
    const r = decide({ actionFailed: 'HTTP 500 from iam' });
    assert.equal(r.condition.type, 'IAMRegistered');
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'ServiceUnavailable');
    assert.equal(r.condition.message, 'registering node04 with IAM failed: HTTP 500 from iam; retrying');
    assert.equal('action' in r, false);
    assert.equal(r.progressed, true);
  });

  it('leaves a decision without an action as it is', () => {
    assert.deepEqual(decide({ observed: { members: [WANT] }, actionFailed: 'x' }), decide({ observed: { members: [WANT] } }));
    assert.deepEqual(decide({ iamBootstrapped: false, actionFailed: 'x' }), decide({ iamBootstrapped: false }));
  });
});

describe('decideIAM B10-B12: state Absent', () => {
  const absent = spec({ state: 'Absent' });

  it('B10 not registered: False/Removed and settled, with no action', () => {
    const r = decide({ spec: absent, waitingFor: 'FlareDB' });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'Removed');
    assert.match(r.condition.message, /node04 is not registered with IAM/);
    assert.equal(r.action, undefined);
    assert.equal(r.settled, true);
  });

  it('B11 registered while FlareDB removal is pending: False/WaitingForFlareDB, no action', () => {
    const r = decide({ spec: absent, waitingFor: 'FlareDB', observed: { members: [WANT] } });
    assert.equal(r.condition.reason, 'WaitingForFlareDB');
    assert.match(r.condition.message, /deregistration follows FlareDB removal/);
    assert.equal(r.action, undefined);
    assert.equal(r.settled, undefined);
  });

  it('B12 registered: deregisterNode, whatever the registration holds and without the IAM setup', () => {
    const r = decide({ spec: absent, iamBootstrapped: false, observed: { members: [other, { ...WANT, role: 'worker' }] } });
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'Removing');
    assert.deepEqual(r.action, { service: 'iam', kind: 'deregisterNode', id: NODE });
    assert.equal(r.settled, undefined);
  });

  it('B12 a failed deregistration is ServiceUnavailable with the failure text and no action', () => {
    const r = decide({ spec: absent, observed: { members: [WANT] }, actionFailed: 'HTTP 500' });
    assert.equal(r.condition.reason, 'ServiceUnavailable');
    assert.equal(r.condition.message, 'deregistering node04 from IAM failed: HTTP 500; retrying');
    assert.equal(r.action, undefined);
  });
});

describe('registrationOf R1', () => {
  it('carries id, role, fqdn and ip, nothing else from the spec', () => {
    assert.deepEqual(registrationOf(NODE, spec()), WANT);
    assert.deepEqual(Object.keys(registrationOf(NODE, spec())).sort(), ['fqdn', 'id', 'ip', 'role']);
  });

  it('leaves out fqdn when the spec has none', () => {
    const { fqdn: _f, ...s } = spec();
    const r = registrationOf(NODE, s);
    assert.deepEqual(r, { id: NODE, role: 'control-plane', ip: '10.0.1.13' });
    assert.equal('fqdn' in r, false);
  });

  it('leaves out ip when the spec has none', () => {
    const { nodeIp: _i, ...s } = spec();
    const r = registrationOf(NODE, s);
    assert.deepEqual(r, { id: NODE, role: 'control-plane', fqdn: 'node04.prod.example.com' });
    assert.equal('ip' in r, false);
  });

  it('leaves out both, and takes the role and the node name given', () => {
    const { nodeIp: _i, fqdn: _f, ...s } = spec({ role: 'all-in-one' });
    const r = registrationOf('node09', s);
    assert.deepEqual(r, { id: 'node09', role: 'all-in-one' });
    assert.deepEqual(Object.keys(r).sort(), ['id', 'role']);
  });
});
