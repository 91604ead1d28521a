import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StatusBody } from '../schema/status.js';
import { actionEvent, actionFailedEvent, statusEvents } from './events.js';

function status(phase: StatusBody['phase'], chainfire: [string, string, string]): StatusBody {
  const [st, reason, message] = chainfire;
  return {
    observedGeneration: 3,
    phase,
    conditions: [
      { type: 'ChainfireMember', status: st as 'True', reason, message, lastTransitionTime: '2026-12-03T00:00:00Z', observedGeneration: 3 },
      { type: 'Ready', status: st as 'True', reason, message, lastTransitionTime: '2026-12-03T00:00:00Z', observedGeneration: 3 },
    ],
    chainfire: {},
    flaredb: {},
    iam: {},
  };
}

describe('event drafts', () => {
  it('a condition whose reason changed, and the phase, once each; Ready and an unchanged reason are no events', () => {
    const before = status('Joining', ['False', 'LearnerAdded', 'learner added as 1a']);
    const after = status('Joining', ['False', 'LearnerCatchingUp', '10 entries behind']);
    assert.deepEqual(statusEvents(before, after), [
      { type: 'Normal', reason: 'LearnerCatchingUp', message: 'ChainfireMember=False: 10 entries behind' },
    ]);
    assert.deepEqual(statusEvents(after, status('Joining', ['False', 'LearnerCatchingUp', '3 entries behind'])), []);
    // Promoted is the promote action's own event: the condition does not repeat it.
    const ready = statusEvents(after, status('Ready', ['True', 'Promoted', 'voting member 1a']));
    assert.deepEqual(ready.map((e) => e.reason), ['PhaseReady']);
    const joined = statusEvents(after, status('Ready', ['True', 'Joined', 'voting member 1a']));
    assert.deepEqual(joined.map((e) => e.reason), ['Joined', 'PhaseReady']);
  });

  it('refusals and lost members are warnings, and so is a Degraded phase', () => {
    const ready = status('Ready', ['True', 'Joined', 'voting member 1a']);
    const refused = statusEvents(ready, status('Removing', ['False', 'QuorumProtection', 'would leave 2 voters']));
    assert.deepEqual(refused.map((e) => `${e.type}/${e.reason}`), ['Warning/QuorumProtection', 'Normal/PhaseRemoving']);
    const dead = statusEvents(ready, status('Degraded', ['False', 'MemberUnhealthy', 'does not answer']));
    assert.deepEqual(dead.map((e) => `${e.type}/${e.reason}`), ['Warning/MemberUnhealthy', 'Warning/PhaseDegraded']);
    assert.equal(statusEvents(undefined, ready).length, 2, 'a first status: its reasons and its phase');
  });

  it('actions carried out and failed', () => {
    assert.deepEqual(actionEvent({ service: 'chainfire', kind: 'promote', memberId: '1a' }), {
      type: 'Normal', reason: 'Promoted', message: 'Chainfire learner 1a promoted to voter',
    });
    const failed = actionFailedEvent({ service: 'chainfire', kind: 'addLearner', peerUrl: 'http://10.0.0.4:2380' }, 'unhealthy cluster');
    assert.equal(failed.type, 'Warning');
    assert.equal(failed.reason, 'ActionFailed');
    assert.match(failed.message, /addLearner failed: unhealthy cluster/);
  });
});
