import { Command, CommanderError, Option } from 'commander';
import { MembershipError, errorMessage } from '../errors.js';
import { printable } from '../printable.js';
import { EXIT } from './exit-codes.js';
import { exitWhenDrained, guardBrokenPipes } from './output.js';
import { resolveConnection, type ConnectionOptions, type DebugLog, type RawConnectionFlags } from '../store/connection-options.js';
import { DEFAULT_PREFIX } from '../store/keys.js';

export { EXIT } from './exit-codes.js';

/** Adds the contract's common connection flags to a command. */
export function addConnectionFlags(cmd: Command): Command {
  return cmd
    .option(
      '--endpoints <urls>',
      'Chainfire endpoints, comma-separated URLs or host:port (https with a TLS flag) (env CHAINFIRE_ENDPOINTS, then ETCDCTL_ENDPOINTS)',
    )
    .option('--cacert <file>', 'CA certificate that signed Chainfire\'s server certificate (env ETCDCTL_CACERT)')
    .option('--cert <file>', 'client certificate for mTLS (env ETCDCTL_CERT)')
    .option('--key <file>', 'private key of the client certificate (env ETCDCTL_KEY)')
    .option(
      '--user <name>',
      'etcd user (env ETCDCTL_USER, name or name:password); the password comes from --password-file, CHAINFIRE_PASSWORD or ETCDCTL_PASSWORD',
      userFlag,
    )
    .option('--password-file <file>', 'file holding the etcd password')
    .option('--prefix <prefix>', 'key prefix of the membership records', prefixFlag, DEFAULT_PREFIX);
}

/**
 * `--user`: a user name only. etcdctl takes `--user name:password`, which puts
 * the password in `ps` and in shell history; here the rest after ":" is never
 * taken, nor repeated in the message.
 */
function userFlag(value: string): string {
  if (value.includes(':')) {
    throw new MembershipError(
      'USAGE',
      '--user takes a user name only: a password after ":" would show in ps; give the password in --password-file FILE ' +
        'or CHAINFIRE_PASSWORD (or use ETCDCTL_USER=name:password, which stays out of ps)',
    );
  }
  return nonEmpty('--user')(value);
}

/** `--prefix`: as the key layout takes it (starts with "/", does not end with one). */
function prefixFlag(value: string): string {
  if (!value.startsWith('/') || value.endsWith('/') || value.length < 2) {
    throw new MembershipError('USAGE', `--prefix must start with "/" and not end with "/" (like ${DEFAULT_PREFIX}), got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * The connection of a program's flags and environment; with `log`, where each
 * setting came from is logged at debug level.
 */
export function connectionFrom(opts: RawConnectionFlags, log?: DebugLog): ConnectionOptions {
  return resolveConnection(opts, process.env, undefined, {}, log);
}

/** The bounds of a duration flag, in milliseconds. */
export interface DurationBounds {
  minMs?: number;
  maxMs?: number;
}

/**
 * The longest duration any flag takes: 7 days. Node's timers hold at most
 * 2^31-1 ms (24.8 days) and fire at once past it, so a longer wait would end
 * the moment it starts.
 */
export const MAX_DURATION_MS = 7 * 24 * 3_600_000;

/** Go's time.ParseDuration units, in milliseconds (µ as U+00B5 or U+03BC, as Go takes both). */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  '\u00b5s': 1e-3,
  '\u03bcs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const GO_DURATION_RE = /^([+-]?)((?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)$/;
const GO_PART_RE = /(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/g;

/**
 * A duration in milliseconds, as Go's time.ParseDuration reads it (what
 * etcdctl and systemd users type: 1m30s, 1h30m, 1.5h, 500ms, 2h45m30.5s;
 * units ns, us, µs, ms, s, m, h), or a bare number of seconds; undefined when
 * it is neither. The result keeps nanosecond precision.
 */
export function parseDurationMs(value: string): number | undefined {
  const text = value.trim();
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(text)) return Number(text) * 1000;
  const m = GO_DURATION_RE.exec(text);
  if (m === null) return undefined;
  let ms = 0;
  for (const [, n, unit] of m[2]!.matchAll(GO_PART_RE)) ms += Number(n) * UNIT_MS[unit!]!;
  ms = Math.round(ms * 1e6) / 1e6;
  return m[1] === '-' && ms !== 0 ? -ms : ms;
}

/**
 * Parses a duration flag (see parseDurationMs: 90s, 1m30s, 1h30m, 500ms, or a
 * bare number of seconds) into milliseconds, within `bounds` (default: more
 * than 0, at most 7 days).
 */
export function durationMs(flag: string, bounds: DurationBounds = {}) {
  const minMs = bounds.minMs ?? 1;
  const maxMs = bounds.maxMs ?? MAX_DURATION_MS;
  return (value: string): number => {
    const ms = parseDurationMs(value);
    if (ms === undefined) {
      throw new MembershipError(
        'USAGE',
        `${flag} must be a duration like 90s, 1m30s, 10m, 1h30m or 500ms (units ns, us, ms, s, m, h; a bare number is seconds), got ${JSON.stringify(value)}`,
      );
    }
    if (ms < minMs) throw new MembershipError('USAGE', `${flag} must be at least ${formatBound(minMs)}, got ${JSON.stringify(value)}`);
    if (ms > maxMs) throw new MembershipError('USAGE', `${flag} must be at most ${formatBound(maxMs)}, got ${JSON.stringify(value)}`);
    return ms;
  };
}

/**
 * A number of whole seconds from `min` to `max` (a lease TTL): a bare whole
 * number, or a duration of whole seconds such as 10s or 1m.
 */
export function wholeSeconds(flag: string, min: number, max: number) {
  return (value: string): number => {
    const bare = /^\s*[+-]?\d+(\.\d+)?(e[+-]?\d+)?\s*$/i.test(value);
    const ms = bare ? Number(value) * 1000 : parseDurationMs(value);
    const n = ms === undefined ? NaN : ms / 1000;
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new MembershipError(
        'USAGE',
        `${flag} must be a whole number from ${min} to ${max} (seconds), or a duration of whole seconds such as 10s or 1m, got ${JSON.stringify(value)}`,
      );
    }
    return n;
  };
}

/** `1ms`, `1s`, `24h`, `168h (7 days)`: a bound as the flag takes it. */
function formatBound(ms: number): string {
  if (ms % 3_600_000 === 0) return ms >= 48 * 3_600_000 ? `${ms / 3_600_000}h (${ms / 86_400_000} days)` : `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * Parses a whole number from `min` to `max` (a count of workers, a TTL in
 * seconds): a fraction would be rounded to something not asked for (0.4
 * workers is none at all), and a huge one exhausts memory or etcd.
 */
export function wholeNumber(flag: string, min: number, max: number) {
  return (value: string): number => {
    const n = /^\s*[+-]?\d+(\.\d+)?(e[+-]?\d+)?\s*$/i.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new MembershipError('USAGE', `${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

/** A text flag that must not be empty (a name, a path). */
export function nonEmpty(flag: string) {
  return (value: string): string => {
    if (value.trim() === '') throw new MembershipError('USAGE', `${flag} must not be empty`);
    return value;
  };
}

/** An http:// or https:// URL (the agent's --local-url). */
export function httpUrlFlag(flag: string) {
  return (value: string): string => {
    // Checked first, so that a password in it is never repeated in the message.
    if (value.includes('@')) throw new MembershipError('USAGE', `${flag} must not carry credentials (user:password@)`);
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
      throw new MembershipError('USAGE', `${flag} must be an http:// or https:// URL such as http://127.0.0.1:2379, got ${JSON.stringify(value)}`);
    }
    return value;
  };
}

export function logLevelOption(): Option {
  return new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error', 'silent']).default('info');
}

/** commander's parse of one command, as far as runCli reaches into it. */
interface ParsingCommand {
  options: readonly Option[];
  parseOptions(args: string[]): { operands: string[]; unknown: string[] };
  unknownOption(flag: string): never;
  error(message: string, options: { exitCode: number; code: string }): never;
  _checkForMissingMandatoryOptions(): void;
}

/**
 * Makes every command report an unknown option before anything else it would
 * complain about: commander checks required options (and parses option
 * values) first, so `join chainfire --bogus` said "required option '--config
 * <file>' not specified", which sent people looking for the wrong mistake.
 * An invalid option value is held until the unknown options were looked at;
 * then it is reported, before a missing required option.
 */
export function unknownOptionsFirst(commands: Command[]): void {
  let held: (() => never) | undefined;
  for (const cmd of commands as unknown as ParsingCommand[]) {
    for (const option of cmd.options) {
      const parse = option.parseArg;
      if (parse === undefined) continue;
      option.parseArg = <T>(value: string, previous: T): T => {
        try {
          return parse.call(option, value, previous) as T;
        } catch (err) {
          if (held !== undefined) return previous;
          held =
            err instanceof CommanderError
              ? () => cmd.error(`error: option '${option.flags}' argument '${value}' is invalid. ${err.message}`, { exitCode: 1, code: err.code })
              : () => {
                  throw err;
                };
          return previous;
        }
      };
    }
    const parseOptions = cmd.parseOptions.bind(cmd);
    let unknown: string[] = [];
    cmd.parseOptions = (args) => {
      const parsed = parseOptions(args);
      unknown = parsed.unknown;
      return parsed;
    };
    // Called on the command that runs, after --help was looked for and before its action.
    const checkMandatory = cmd._checkForMissingMandatoryOptions.bind(cmd);
    cmd._checkForMissingMandatoryOptions = () => {
      const flag = unknown.find((a) => a.startsWith('-') && a !== '-');
      if (flag !== undefined) cmd.unknownOption(flag);
      held?.();
      checkMandatory();
    };
  }
}

/**
 * Runs a commander program so that usage errors exit 64 with a message (an
 * unknown option named first), MembershipErrors exit with the status the
 * program's table in exit-codes.ts gives their code, nothing ends with an
 * unexplained stack trace, and all output reaches stdout and stderr before
 * the process exits.
 */
export async function runCli(
  program: Command,
  argv: string[],
  exitCodeFor: (err: MembershipError) => number,
  reportError: (message: string) => void = (message) => process.stderr.write(`error: ${message}\n`),
): Promise<never> {
  guardBrokenPipes();
  // Subcommands inherit settings only when created after them: apply to every command.
  const all = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(all)];
  for (const cmd of all(program)) {
    cmd.exitOverride();
    // commander's messages quote what was typed: a control character in it is shown escaped.
    cmd.configureOutput({ writeErr: (s) => process.stderr.write(printable(s, { newlines: true })) });
  }
  unknownOptionsFirst(all(program));
  let code: number = EXIT.OK;
  try {
    await program.parseAsync(argv);
    code = typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      code = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    } else if (err instanceof MembershipError) {
      reportError(printable(err.message, { newlines: true }));
      code = exitCodeFor(err);
    } else {
      reportError(printable(errorMessage(err), { newlines: true }));
      code = EXIT.SOFTWARE;
    }
  }
  // Everything written to a pipe reaches it before the process ends.
  return exitWhenDrained(code);
}
