import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Condition } from '../schema/status.js';
import { findCondition, stampConditions, type ConditionDraft } from './conditions.js';

const EARLIER = '2026-11-24T10:30:45Z';
const NOW = new Date('2026-11-24T11:00:00.123Z');
const NOW_ISO = '2026-11-24T11:00:00Z';

const draft = (over: Partial<ConditionDraft> = {}): ConditionDraft => ({
  type: 'ChainfireMember',
  status: 'False',
  reason: 'LearnerAdded',
  message: 'learner added',
  ...over,
});

const stamped = (over: Partial<Condition> = {}): Condition => ({
  ...draft(),
  lastTransitionTime: EARLIER,
  observedGeneration: 3,
  ...over,
});

describe('stampConditions', () => {
  it('stamps a new condition with now, in whole seconds, and the generation', () => {
    const [c] = stampConditions([draft()], undefined, 5, NOW);
    assert.deepEqual(c, { ...draft(), lastTransitionTime: NOW_ISO, observedGeneration: 5 });
  });

  it('keeps lastTransitionTime while the status stays the same, even when reason and message change', () => {
    const [c] = stampConditions(
      [draft({ reason: 'LearnerCatchingUp', message: 'catching up' })],
      [stamped()],
      3,
      NOW,
    );
    assert.equal(c?.lastTransitionTime, EARLIER);
    assert.equal(c?.reason, 'LearnerCatchingUp');
    assert.equal(c?.message, 'catching up');
  });

  it('moves lastTransitionTime when the status flips', () => {
    const [c] = stampConditions([draft({ status: 'True', reason: 'Promoted' })], [stamped()], 3, NOW);
    assert.equal(c?.lastTransitionTime, NOW_ISO);
  });

  it('treats Unknown as a status of its own', () => {
    const [c] = stampConditions([draft({ status: 'Unknown', reason: 'ServiceUnavailable' })], [stamped()], 3, NOW);
    assert.equal(c?.lastTransitionTime, NOW_ISO);
  });

  it('matches previous conditions by type only', () => {
    const previous = [stamped({ type: 'AgentReady', status: 'False', lastTransitionTime: '2020-01-01T00:00:00Z' })];
    const out = stampConditions(
      [draft({ type: 'AgentReady', status: 'False' }), draft({ type: 'Ready', status: 'False' })],
      previous,
      3,
      NOW,
    );
    assert.deepEqual(
      out.map((c) => [c.type, c.lastTransitionTime]),
      [
        ['AgentReady', '2020-01-01T00:00:00Z'],
        ['Ready', NOW_ISO],
      ],
    );
  });

  it('sets the current generation on every condition, changed or not', () => {
    const out = stampConditions([draft(), draft({ type: 'Ready' })], [stamped({ observedGeneration: 3 })], 9, NOW);
    assert.deepEqual(
      out.map((c) => c.observedGeneration),
      [9, 9],
    );
    assert.equal(out[0]?.lastTransitionTime, EARLIER);
  });

  it('keeps the order of the drafts and drops previous conditions no longer decided', () => {
    const previous = [stamped({ type: 'FlareDBMember' }), stamped({ type: 'Ready' })];
    const out = stampConditions([draft({ type: 'Ready' }), draft({ type: 'AgentReady' })], previous, 3, NOW);
    assert.deepEqual(
      out.map((c) => c.type),
      ['Ready', 'AgentReady'],
    );
  });
});

describe('findCondition', () => {
  it('finds a condition by type, or undefined', () => {
    const list = [stamped({ type: 'AgentReady' }), stamped({ type: 'Ready', reason: 'Joined' })];
    assert.equal(findCondition(list, 'Ready')?.reason, 'Joined');
    assert.equal(findCondition(list, 'IAMRegistered'), undefined);
    assert.equal(findCondition(undefined, 'Ready'), undefined);
  });
});
