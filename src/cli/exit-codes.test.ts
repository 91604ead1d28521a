import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipError, type ErrorCode } from '../errors.js';
import { EXIT as COMMON_EXIT } from './common.js';
import { AGENT_EXIT_CODES, CONTROLLER_EXIT_CODES, EXIT, MEMBERSHIPCTL_EXIT_CODES, exitCodeFrom, type ExitCodeTable } from './exit-codes.js';

/** Every error code, with its exit status in membershipctl, the controller and the agent. */
const CONTRACT: [ErrorCode, ctl: number, controller: number, agent: number][] = [
  ['USAGE', 64, 64, 64],
  ['INVALID_NAME', 64, 64, 64],
  ['CONFIG_INVALID', 78, 78, 78],
  ['CONFIG_UNREADABLE', 78, 78, 78],
  ['REJECTED', 65, 65, 65],
  ['UNAVAILABLE', 69, 69, 69],
  ['TIMEOUT', 69, 69, 69],
  ['COMMAND_FAILED', 69, 69, 69],
  // etcd's NOSPACE alarm: unavailable for writes until an operator frees space.
  ['RESOURCE_EXHAUSTED', 69, 69, 69],
  // The contract gives the agent no 77: access refused is a service it cannot use, 69.
  ['ACCESS_DENIED', 77, 77, 69],
  ['NOT_FOUND', 1, 1, 69],
  ['CONFLICT', 1, 1, 69],
  ['FENCED', 70, 70, 69],
  ['NOT_LEADER', 70, 70, 69],
  ['SERVICE_ERROR', 70, 70, 69],
  ['BUSY', 70, 70, 69],
  // No snapshot of Chainfire could be written: nothing the program can do about it itself.
  ['SNAPSHOT_FAILED', 69, 69, 69],
];

describe('exit codes: one table per program', () => {
  const programs: [string, ExitCodeTable, number][] = [
    ['membershipctl', MEMBERSHIPCTL_EXIT_CODES, 1],
    ['membership-controller', CONTROLLER_EXIT_CODES, 2],
    ['first-boot-agent', AGENT_EXIT_CODES, 3],
  ];
  for (const [program, table, column] of programs) {
    it(`${program}: every error code has the contract's exit status`, () => {
      const want = Object.fromEntries(CONTRACT.map((row) => [row[0], row[column]]));
      assert.deepEqual({ ...table }, want);
      const exit = exitCodeFrom(table);
      for (const row of CONTRACT) assert.equal(exit(new MembershipError(row[0], 'x')), row[column], `${program} ${row[0]}`);
    });
  }

  it('a code missing from a table is an internal error (70)', () => {
    assert.equal(exitCodeFrom({} as ExitCodeTable)(new MembershipError('BUSY', 'x')), 70);
  });

  it('uses the sysexits values of the contract', () => {
    assert.deepEqual(EXIT, { OK: 0, USAGE: 64, DATAERR: 65, UNAVAILABLE: 69, SOFTWARE: 70, NOPERM: 77, CONFIG: 78 });
    assert.equal(COMMON_EXIT, EXIT);
  });
});
