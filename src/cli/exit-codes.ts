/**
 * The exit status of each program for each error code: one table per
 * program, side by side, so that a new code must be given an exit status in
 * every program (the compiler asks for it) and the contract's exit codes
 * (docs/membershipctl.md, docs/troubleshooting.md) are read in one place.
 */
import type { ErrorCode, MembershipError } from '../errors.js';

/** sysexits(3), as the contract's exit codes. */
export const EXIT = {
  OK: 0,
  USAGE: 64,
  DATAERR: 65,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  NOPERM: 77,
  CONFIG: 78,
} as const;

export type ExitCodeTable = Readonly<Record<ErrorCode, number>>;

/** membershipctl: 1 for "not found, or a concurrent change won", 77 for access refused. */
export const MEMBERSHIPCTL_EXIT_CODES: ExitCodeTable = {
  USAGE: EXIT.USAGE,
  INVALID_NAME: EXIT.USAGE,
  CONFIG_INVALID: EXIT.CONFIG,
  CONFIG_UNREADABLE: EXIT.CONFIG,
  REJECTED: EXIT.DATAERR,
  UNAVAILABLE: EXIT.UNAVAILABLE,
  TIMEOUT: EXIT.UNAVAILABLE,
  COMMAND_FAILED: EXIT.UNAVAILABLE,
  RESOURCE_EXHAUSTED: EXIT.UNAVAILABLE,
  ACCESS_DENIED: EXIT.NOPERM,
  NOT_FOUND: 1,
  CONFLICT: 1,
  FENCED: EXIT.SOFTWARE,
  NOT_LEADER: EXIT.SOFTWARE,
  SERVICE_ERROR: EXIT.SOFTWARE,
  BUSY: EXIT.SOFTWARE,
  SNAPSHOT_FAILED: EXIT.UNAVAILABLE,
};

/** membership-controller: what membershipctl says, for the errors that end it (at start, mostly). */
export const CONTROLLER_EXIT_CODES: ExitCodeTable = { ...MEMBERSHIPCTL_EXIT_CODES };

/**
 * first-boot-agent: the contract gives it 0, 64, 65, 69 and 78 only, so
 * everything that is neither usage, rejection nor configuration is 69 ("a
 * service stayed unavailable", which systemd may retry): access refused too.
 */
export const AGENT_EXIT_CODES: ExitCodeTable = {
  USAGE: EXIT.USAGE,
  INVALID_NAME: EXIT.USAGE,
  CONFIG_INVALID: EXIT.CONFIG,
  CONFIG_UNREADABLE: EXIT.CONFIG,
  REJECTED: EXIT.DATAERR,
  UNAVAILABLE: EXIT.UNAVAILABLE,
  TIMEOUT: EXIT.UNAVAILABLE,
  COMMAND_FAILED: EXIT.UNAVAILABLE,
  RESOURCE_EXHAUSTED: EXIT.UNAVAILABLE,
  ACCESS_DENIED: EXIT.UNAVAILABLE,
  NOT_FOUND: EXIT.UNAVAILABLE,
  CONFLICT: EXIT.UNAVAILABLE,
  FENCED: EXIT.UNAVAILABLE,
  NOT_LEADER: EXIT.UNAVAILABLE,
  SERVICE_ERROR: EXIT.UNAVAILABLE,
  BUSY: EXIT.UNAVAILABLE,
  SNAPSHOT_FAILED: EXIT.UNAVAILABLE,
};

/** The exit status `table` gives an error (70, internal error, for a code it lacks). */
export function exitCodeFrom(table: ExitCodeTable): (err: MembershipError) => number {
  return (err) => table[err.code] ?? EXIT.SOFTWARE;
}
