import { Command, CommanderError, Option } from 'commander';
import { MembershipError, errorMessage } from '../errors.js';
import { EXIT } from './exit-codes.js';
import { resolveConnection, type ConnectionOptions, type RawConnectionFlags } from '../store/connection-options.js';
import { DEFAULT_PREFIX } from '../store/keys.js';

export { EXIT } from './exit-codes.js';

/** Adds the contract's common connection flags to a command. */
export function addConnectionFlags(cmd: Command): Command {
  return cmd
    .option('--endpoints <urls>', 'Chainfire endpoints, comma-separated (env CHAINFIRE_ENDPOINTS)')
    .option('--cacert <file>', 'CA certificate that signed Chainfire\'s server certificate')
    .option('--cert <file>', 'client certificate for mTLS')
    .option('--key <file>', 'private key of the client certificate')
    .option('--user <name>', 'etcd user; the password comes from CHAINFIRE_PASSWORD or --password-file')
    .option('--password-file <file>', 'file holding the etcd password')
    .option('--prefix <prefix>', 'key prefix of the membership records', DEFAULT_PREFIX);
}

export function connectionFrom(opts: RawConnectionFlags, fallbackEndpoints?: string[]): ConnectionOptions {
  return resolveConnection(opts, process.env, fallbackEndpoints);
}

export function positiveNumber(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new MembershipError('USAGE', `${flag} must be a positive number, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** Parses a duration such as 90s, 10m, 1500ms or a bare number of seconds into milliseconds. */
export function durationMs(flag: string) {
  return (value: string): number => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
    if (!m) throw new MembershipError('USAGE', `${flag} must be a duration like 30s, 10m or 1500ms, got ${JSON.stringify(value)}`);
    const n = Number(m[1]);
    const unit = m[2] ?? 's';
    const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
    return n * factor;
  };
}

export function logLevelOption(): Option {
  return new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error', 'silent']).default('info');
}

/**
 * Runs a commander program so that usage errors exit 64 with a message,
 * MembershipErrors exit with the status the program's table in exit-codes.ts
 * gives their code, and nothing ends with an unexplained stack trace.
 */
export async function runCli(
  program: Command,
  argv: string[],
  exitCodeFor: (err: MembershipError) => number,
  reportError: (message: string) => void = (message) => process.stderr.write(`error: ${message}\n`),
): Promise<never> {
  // Subcommands inherit settings only when created after them: apply to every command.
  const all = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(all)];
  for (const cmd of all(program)) {
    cmd.exitOverride();
    cmd.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  }
  let code: number = EXIT.OK;
  try {
    await program.parseAsync(argv);
    code = typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      code = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    } else if (err instanceof MembershipError) {
      reportError(err.message);
      code = exitCodeFor(err);
    } else {
      reportError(errorMessage(err));
      code = EXIT.SOFTWARE;
    }
  }
  process.exit(code);
}
