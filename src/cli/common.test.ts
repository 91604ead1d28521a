import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipError } from '../errors.js';
import { durationMs, positiveNumber } from './common.js';

function usageError(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MembershipError, `expected a MembershipError, got ${String(err)}`);
    assert.equal(err.code, 'USAGE');
    for (const f of fragments) assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

describe('durationMs', () => {
  const parse = durationMs('--timeout');
  const cases: [string, number][] = [
    ['1500ms', 1500],
    ['30s', 30_000],
    ['10m', 600_000],
    ['2h', 7_200_000],
    ['90', 90_000],
    ['1.5s', 1500],
    [' 5s ', 5000],
    ['0', 0],
  ];
  for (const [input, ms] of cases) {
    it(`parses ${JSON.stringify(input)} as ${ms} ms`, () => assert.equal(parse(input), ms));
  }

  for (const bad of ['', 'abc', '-5s', '5d', '5 s', '1e3', '.5s']) {
    it(`rejects ${JSON.stringify(bad)}, naming the flag and the value`, () => {
      usageError(() => parse(bad), '--timeout', JSON.stringify(bad));
    });
  }
});

describe('positiveNumber', () => {
  const parse = positiveNumber('--workers');

  it('parses positive numbers', () => {
    assert.equal(parse('3'), 3);
    assert.equal(parse('0.25'), 0.25);
  });

  for (const bad of ['0', '-1', 'abc', '', 'Infinity', 'NaN']) {
    it(`rejects ${JSON.stringify(bad)}, naming the flag and the value`, () => {
      usageError(() => parse(bad), '--workers must be a positive number', JSON.stringify(bad));
    });
  }
});
