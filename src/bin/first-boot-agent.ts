#!/usr/bin/env node
import { Argument, Command, Option } from 'commander';
import type { AgentFlags } from '../agent/context.js';
import { DEFAULT_DATA_DIRS } from '../agent/local-data.js';
import { START_COMMAND_ENV } from '../agent/start-command.js';
import { DEFAULT_STATE_DIR, findDone } from '../agent/markers.js';
import { addConnectionFlags, durationMs, httpUrlFlag, nonEmpty, runCli, wholeSeconds } from '../cli/common.js';
import { AGENT_EXIT_CODES, EXIT, exitCodeFrom } from '../cli/exit-codes.js';
import { LOG_FORMATS, createLogger, logFormatFromArgv, setLogFormat } from '../log.js';
import type { Service } from '../schema/agent-report.js';
import { VERSION } from '../version.js';

const EXIT_CODES = 'Exit codes: 0 done or already done (join chainfire: also when the voter policy keeps the node a client of Chainfire), 64 usage, 65 rejected by the controller, 69 timed out or unavailable, 78 bad config.';

/** Flags shared by the subcommands that wait. */
function waitingCommand(cmd: Command): Command {
  return addConnectionFlags(
    cmd
      .requiredOption('--config <file>', 'cluster-config.json of this node', nonEmpty('--config'))
      .option('--state-dir <dir>', 'where marker files live', nonEmpty('--state-dir'), DEFAULT_STATE_DIR)
      .option('--timeout <duration>', 'how long to wait for the controller (Go durations such as 10m or 1h30m, at most 168h)', durationMs('--timeout'), 600_000)
      .option('--health-timeout <duration>', 'how long to wait for the local service to be healthy (at most 168h)', durationMs('--health-timeout'), 120_000)
      .option('--local-url <url>', 'URL of the local service (default: from the config)', httpUrlFlag('--local-url'))
      .option('--heartbeat-ttl <seconds>', 'TTL of the heartbeat lease, whole seconds (2-3600, or a duration such as 15s)', wholeSeconds('--heartbeat-ttl', 2, 3600), 10)
      .addOption(new Option('--log-level <level>').choices(['debug', 'info', 'warn', 'error']).default('info'))
      .addOption(logFormatOption()),
  );
}

/** Read from argv before parsing, so that every logger (the error log too) uses it; the option validates it. */
function logFormatOption(): Option {
  return new Option('--log-format <format>', 'json: one JSON object per line; pretty: one readable line per entry').choices(LOG_FORMATS).default('json');
}
setLogFormat(logFormatFromArgv(process.argv));

const program = new Command('first-boot-agent')
  .description('First-boot agent: waits for the local service and for the membership controller, then writes its marker.')
  .version(VERSION, '-V, --version', 'print the version and exit')
  .showHelpAfterError('(run with --help for usage)');

async function runWait(service: Service, operation: string, flags: AgentFlags & { logLevel: string }): Promise<number> {
  const log = createLogger({ level: flags.logLevel as 'info', base: { service } }).child({ operation });
  const done = await findDone(flags.stateDir, service);
  if (done !== undefined) {
    log.info({ marker: done.name, since: done.content }, `already done (marker ${done.name} from ${done.content}); nothing to do`);
    return EXIT.OK;
  }
  // What waits and talks to Chainfire is loaded only when there is something to wait for.
  const { joinService, loadContext } = await import('../agent/commands.js');
  const ctx = await loadContext(flags, log);
  const result = await joinService(ctx, service);
  if ('settled' in result) {
    const c = result.settled;
    log.info(
      { node: ctx.node, condition: c.type, reason: c.reason },
      `${c.type}=${c.status} ${c.reason}: ${c.message}. The voter policy keeps ${ctx.node} out of Chainfire's voters: it stays a client of ` +
        'Chainfire, which is not a failure; the next units (join flaredb, iam-setup) go on. No marker is written, so a later boot looks again ' +
        'when a voter seat is free',
    );
    return EXIT.OK;
  }
  log.info({ node: ctx.node, marker: result.marker }, ctx.config.bootstrap ? 'Cluster initialized (bootstrap)' : 'Successfully joined cluster');
  return EXIT.OK;
}

waitingCommand(
  program
    .command('join')
    .description('join a service\'s cluster (bootstrap mode: only wait for local health)')
    .addArgument(new Argument('<service>', 'service to join').choices(['chainfire', 'flaredb']))
    .option(
      '--start-command <cmd>',
      'Chainfire only: shell command that starts the local etcd once it was added as a learner; it gets CHAINFIRE_NAME, ' +
        'CHAINFIRE_INITIAL_CLUSTER, CHAINFIRE_INITIAL_CLUSTER_STATE and CHAINFIRE_ENV_FILE, and of the agent\'s own environment only ' +
        `${START_COMMAND_ENV.join(', ')} and LC_* (no password or other secret)`,
      nonEmpty('--start-command'),
      'systemctl start chainfire.service',
    )
    .option(
      '--data-dir <dir>',
      `the local service's data directory; the report says whether it holds data (Chainfire: <dir>/member exists; FlareDB: not empty) ` +
        `(default: ${DEFAULT_DATA_DIRS.chainfire} or ${DEFAULT_DATA_DIRS.flaredb})`,
      nonEmpty('--data-dir'),
    )
    .addHelpText(
      'after',
      `
${EXIT_CODES}

Examples:
  first-boot-agent join chainfire --config /etc/nixos/secrets/cluster-config.json
  first-boot-agent join flaredb --config /etc/nixos/secrets/cluster-config.json --endpoints https://10.0.1.10:2379 \\
      --cacert ca.crt --cert node04.crt --key node04.key`,
    ),
).action(async (service: 'chainfire' | 'flaredb', opts) => {
  process.exitCode = await runWait(service, 'cluster-join', opts);
});

waitingCommand(
  program
    .command('iam-setup')
    .description('wait for the local IAM and for this node\'s IAM registration (bootstrap mode: only local health)')
    .addHelpText('after', `\n${EXIT_CODES}\n\nExamples:\n  first-boot-agent iam-setup --config /etc/nixos/secrets/cluster-config.json`),
).action(async (opts) => {
  process.exitCode = await runWait('iam', 'initial-setup', { ...opts, startCommand: '' });
});

addConnectionFlags(
  program
    .command('health-check')
    .description('check every service this node runs; exit 69 when one is unhealthy')
    .requiredOption('--config <file>', 'cluster-config.json of this node', nonEmpty('--config'))
    .addOption(new Option('--log-level <level>').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .addOption(logFormatOption())
    .addHelpText('after', '\nExit codes: 0 all healthy, 64 usage, 69 a service is unhealthy, 78 bad config.\n\nExamples:\n  first-boot-agent health-check --config /etc/nixos/secrets/cluster-config.json'),
).action(async (opts) => {
  const log = createLogger({ level: opts.logLevel, base: { service: 'cluster' } }).child({ operation: 'health-check' });
  const { healthCheck, loadContext } = await import('../agent/commands.js');
  const ctx = await loadContext({ ...opts, stateDir: DEFAULT_STATE_DIR, timeout: 0, healthTimeout: 0, startCommand: '', heartbeatTtl: 10 }, log);
  const ok = await healthCheck(ctx);
  log[ok ? 'info' : 'error']({ node: ctx.node, healthy: ok }, ok ? 'all services healthy' : 'at least one service is unhealthy');
  process.exitCode = ok ? EXIT.OK : EXIT.UNAVAILABLE;
});

program
  .command('reset')
  .description(
    'the seed\'s "Reset and Re-join" made safe: with the local service stopped, move its data directory aside to ' +
      '<dir>.reset-<time> (nothing is deleted) and remove its markers, so that its join unit joins it again',
  )
  .addArgument(new Argument('<service>', 'service to reset').choices(['chainfire', 'flaredb']))
  .requiredOption('--config <file>', 'cluster-config.json of this node', nonEmpty('--config'))
  .option('--data-dir <dir>', `the service's data directory (default: ${DEFAULT_DATA_DIRS.chainfire} or ${DEFAULT_DATA_DIRS.flaredb})`, nonEmpty('--data-dir'))
  .option('--state-dir <dir>', 'where marker files live', nonEmpty('--state-dir'), DEFAULT_STATE_DIR)
  .option('--local-url <url>', 'URL of the local service, which must not answer (default: from the config)', httpUrlFlag('--local-url'))
  .option('--cacert <file>', 'CA certificate for the local service\'s health check (default: the config\'s tls.ca_file)')
  .option('--cert <file>', 'client certificate for that check')
  .option('--key <file>', 'its private key')
  .addOption(new Option('--log-level <level>').choices(['debug', 'info', 'warn', 'error']).default('info'))
  .addOption(logFormatOption())
  .addHelpText(
    'after',
    '\nExit codes: 0 reset (or nothing to reset), 64 usage, 69 the service still runs (stop it first) or its data could not be moved, 78 bad config.\n\n' +
      'Examples:\n  systemctl stop chainfire.service\n  first-boot-agent reset chainfire --config /etc/nixos/secrets/cluster-config.json\n' +
      '  systemctl restart chainfire-cluster-join.service',
  )
  .action(async (service: 'chainfire' | 'flaredb', opts) => {
    const log = createLogger({ level: opts.logLevel, base: { service } }).child({ operation: 'reset' });
    const { loadContext } = await import('../agent/context.js');
    const { resetService } = await import('../agent/reset.js');
    const ctx = await loadContext({ ...opts, timeout: 0, healthTimeout: 0, startCommand: '', heartbeatTtl: 10 }, log);
    const r = await resetService(ctx, service, { dataDir: opts.dataDir ?? DEFAULT_DATA_DIRS[service], stateDir: opts.stateDir });
    log.info({ node: ctx.node, ...(r.movedTo !== undefined ? { movedTo: r.movedTo } : {}), removed: r.removed, next: r.next }, `reset done; next: ${r.next}`);
    process.exitCode = EXIT.OK;
  });

addConnectionFlags(
  program
    .command('recover')
    .description(
      'quorum loss recovered on a surviving control-plane node: restart the local Chainfire as a new one-member cluster from ' +
        'its own data (etcd --force-new-cluster) or from a snapshot; refused while any member is healthy',
    )
    .addArgument(new Argument('<service>', 'service to recover').choices(['chainfire']))
    .requiredOption('--config <file>', 'cluster-config.json of this node')
    .option('--from-snapshot <file>', 'restore this snapshot (checked with etcdctl snapshot status first) instead of using the local data')
    .option('--yes', 'do not ask for confirmation (required when stdin is not a terminal)', false)
    .option('--data-dir <dir>', `Chainfire's data directory (default: ${DEFAULT_DATA_DIRS.chainfire})`)
    .option('--state-dir <dir>', 'where marker and environment files live', DEFAULT_STATE_DIR)
    .option('--local-url <url>', 'URL of the local Chainfire (default: from the config)')
    .option('--stop-command <cmd>', 'shell command that stops the local Chainfire', 'systemctl stop chainfire.service')
    .option(
      '--start-command <cmd>',
      'shell command that starts it again; it gets CHAINFIRE_NAME, CHAINFIRE_INITIAL_CLUSTER, CHAINFIRE_INITIAL_CLUSTER_STATE, ' +
        'CHAINFIRE_FORCE_NEW_CLUSTER (true/false), CHAINFIRE_EXTRA_ARGS (--force-new-cluster or empty) and CHAINFIRE_ENV_FILE (the same, ' +
        'as a one-shot EnvironmentFile, removed once Chainfire is healthy)',
      'systemctl start chainfire.service',
    )
    .option('--etcdctl <path>', 'etcd\'s etcdctl, which checks and restores snapshots', 'etcdctl')
    .option('--health-timeout <duration>', 'how long to wait for the local Chainfire to stop and to be healthy again', durationMs('--health-timeout'), 120_000)
    .addOption(new Option('--log-level <level>').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .addOption(logFormatOption())
    .addHelpText(
      'after',
      '\nExit codes: 0 recovered, 64 usage (or not confirmed), 65 refused: a member is healthy (the cluster has a quorum), ' +
        '69 Chainfire did not stop, start or answer, 78 bad config, no local data, or a snapshot etcdctl refuses.\n\n' +
        'Examples:\n  first-boot-agent recover chainfire --config /etc/nixos/secrets/cluster-config.json\n' +
        '  first-boot-agent recover chainfire --config /etc/nixos/secrets/cluster-config.json \\\n' +
        '      --from-snapshot /var/lib/membership-controller/snapshots/2026-12-03T06-10-00Z_node04_addLearner_rev1234.db --yes',
    ),
).action(async (_service: 'chainfire', opts) => {
  const log = createLogger({ level: opts.logLevel, base: { service: 'chainfire' } }).child({ operation: 'recover' });
  const { loadContext } = await import('../agent/context.js');
  const { recoverChainfire } = await import('../agent/recover.js');
  const ctx = await loadContext({ ...opts, timeout: 0, heartbeatTtl: 10 }, log);
  const r = await recoverChainfire(ctx, {
    dataDir: opts.dataDir ?? DEFAULT_DATA_DIRS.chainfire,
    stateDir: opts.stateDir,
    ...(opts.fromSnapshot !== undefined ? { fromSnapshot: opts.fromSnapshot } : {}),
    yes: opts.yes === true,
    stopCommand: opts.stopCommand,
    startCommand: opts.startCommand,
    etcdctl: opts.etcdctl,
    healthTimeoutMs: opts.healthTimeout,
    interactive: process.stdin.isTTY === true,
  });
  log.info(
    { ...r.record.recovery, recorded: r.recorded, ...(r.movedTo !== undefined ? { movedTo: r.movedTo } : {}), next: r.next },
    `Chainfire recovered on ${ctx.node} as a one-member cluster (from ${r.record.recovery.source}); next: ${r.next}`,
  );
  process.exitCode = EXIT.OK;
});

// Failures are logged as the seed's JSON lines too, so journald shows them with the rest.
const OPERATIONS: Record<string, string> = { join: 'cluster-join', 'iam-setup': 'initial-setup', 'health-check': 'health-check', reset: 'reset', recover: 'recover' };
const sub = process.argv[2] ?? '';
const errorLog = createLogger({
  base: {
    service: sub === 'join' || sub === 'reset' || sub === 'recover' ? (process.argv[3] ?? 'unknown') : sub === 'iam-setup' ? 'iam' : 'first-boot-agent',
    operation: OPERATIONS[sub] ?? 'usage',
  },
});
await runCli(program, process.argv, exitCodeFrom(AGENT_EXIT_CODES), (message) => errorLog.error(message));
