import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeWaiters } from './change-waiters.js';

const waiting = (type: 'ChainfireMember' | 'FlareDBMember') => [
  { type, reason: 'WaitingForOtherChange' },
  { type: 'Ready' as const, reason: 'WaitingForOtherChange' },
];

describe('ChangeWaiters', () => {
  it('keeps the waiting nodes per service, oldest first, and a node keeps its place while it waits', () => {
    const w = new ChangeWaiters();
    for (let i = 0; i < 20; i++) w.update(`n${i}`, waiting('FlareDBMember'));
    w.update('c1', waiting('ChainfireMember'));
    w.update('n0', waiting('FlareDBMember')); // the same status again
    assert.deepEqual(w.next('flaredb', 3), ['n0', 'n1', 'n2']);
    assert.equal(w.next('flaredb').length, 16);
    assert.deepEqual(w.next('chainfire'), ['c1']);
    assert.deepEqual(w.next('iam'), []);
  });

  it('a joiner waiting for a dead voter is woken when a Chainfire change ends (that voter\'s removal)', () => {
    const w = new ChangeWaiters();
    w.update('node04', [{ type: 'ChainfireMember', reason: 'WaitingForHealthyVoters' }]);
    w.update('node05', [{ type: 'ChainfireMember', reason: 'LearnerAdded' }]);
    assert.deepEqual(w.next('chainfire'), ['node04']);
  });

  it('drops a node whose status no longer waits, or that has no status', () => {
    const w = new ChangeWaiters();
    w.update('a', waiting('FlareDBMember'));
    w.update('b', waiting('FlareDBMember'));
    w.update('c', waiting('FlareDBMember'));
    w.update('a', [{ type: 'FlareDBMember', reason: 'AddingMember' }]);
    w.update('b', undefined);
    assert.deepEqual(w.next('flaredb'), ['c']);
    assert.equal(w.next('flaredb', Number.POSITIVE_INFINITY).length, 1);
    // Waiting again puts it at the back of the line.
    w.update('a', waiting('FlareDBMember'));
    assert.deepEqual(w.next('flaredb'), ['c', 'a']);
  });

  it('moves a node between services as its status does', () => {
    const w = new ChangeWaiters();
    w.update('a', waiting('ChainfireMember'));
    w.update('a', waiting('FlareDBMember'));
    assert.deepEqual(w.next('chainfire'), []);
    assert.deepEqual(w.next('flaredb'), ['a']);
  });
});
