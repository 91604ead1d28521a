#!/usr/bin/env node
import { Command, Option } from 'commander';
import { addConnectionFlags, connectionFrom, durationMs, logLevelOption, nonEmpty, runCli, wholeNumber, wholeSeconds } from '../cli/common.js';
import { exitWhenDrained } from '../cli/output.js';
import { CONTROLLER_EXIT_CODES, exitCodeFrom } from '../cli/exit-codes.js';
import { DEFAULT_WORKERS, MembershipController } from '../controller/controller.js';
import { checkControllerConfigFiles, loadControllerConfig } from '../controller/config.js';
import { LOG_FORMATS, createLogger, setLogFormat, type LogFormat } from '../log.js';
import { defaultStateDir, snapshotSettings } from '../snapshots/settings.js';
import { MembershipError } from '../errors.js';
import { parseListenAddr } from '../metrics/server.js';
import { VERSION } from '../version.js';

const program = addConnectionFlags(
  new Command('membership-controller')
    .description('Reconciles NodeMembership records into Chainfire membership; one leader at a time, others stand by.')
    .version(VERSION, '-V, --version', 'print the version and exit')
    .addHelpText(
      'after',
      `
Examples:
  membership-controller --endpoints https://10.0.1.10:2379,https://10.0.1.11:2379 \\
      --cacert /etc/nixos/secrets/ca.crt --cert /etc/nixos/secrets/node01.crt --key /etc/nixos/secrets/node01.key
  CHAINFIRE_ENDPOINTS=http://127.0.0.1:2379 membership-controller --lease-ttl 10 --metrics-addr 127.0.0.1:9477
  ETCDCTL_ENDPOINTS=10.0.1.10:2379 ETCDCTL_CACERT=/etc/nixos/secrets/ca.crt membership-controller --resync-period 1m30s`,
    ),
)
  .option('--config <file>', 'configuration file (JSON): FlareDB and IAM endpoints, TLS files, timeouts; see docs/controller-config.md')
  .option('--identity <id>', 'name this replica proclaims in the election (default hostname/pid)', nonEmpty('--identity'))
  .option(
    '--state-dir <dir>',
    'where the controller keeps its files: snapshots of Chainfire go to <dir>/snapshots unless the config file names snapshots.dir ' +
      '(default $STATE_DIRECTORY, as systemd\'s StateDirectory= sets it, else /var/lib/membership-controller)',
    nonEmpty('--state-dir'),
  )
  .option(
    '--lease-ttl <seconds>',
    'leader lease TTL in whole seconds (2-3600, or a duration such as 15s or 1m); a standby takes over within this after a crash',
    wholeSeconds('--lease-ttl', 2, 3600),
    10,
  )
  .option('--workers <n>', 'concurrent reconciles (1-1024)', wholeNumber('--workers', 1, 1024), DEFAULT_WORKERS)
  .option(
    '--resync-period <duration>',
    'how often every record is reconciled again (1s-24h; Go durations such as 30s, 1m30s, 2h)',
    durationMs('--resync-period', { minMs: 1000, maxMs: 24 * 3_600_000 }),
    30_000,
  )
  .option('--metrics-addr <host:port>', 'where to serve /metrics, /healthz and /readyz ("off" to disable)', metricsAddr, '127.0.0.1:9477')
  .addOption(logLevelOption())
  .addOption(new Option('--log-format <format>', 'json: one JSON object per line; pretty: one readable line per entry').choices(LOG_FORMATS).default('json'))
  .action(async (opts) => {
    setLogFormat(opts.logFormat as LogFormat);
    const log = createLogger({ level: opts.logLevel, base: { service: 'membership-controller' } });
    const config = opts.config !== undefined ? await loadControllerConfig(opts.config) : undefined;
    if (config) await checkControllerConfigFiles(config);
    const connection = connectionFrom(opts, log);
    if (config) connection.callTimeoutMs = config.chainfire.callTimeoutMs;
    if (opts.stateDir !== undefined && !String(opts.stateDir).startsWith('/')) {
      throw new MembershipError('USAGE', `--state-dir must be an absolute path, got ${JSON.stringify(opts.stateDir)}`);
    }
    const controller = new MembershipController({
      connection,
      ...(config ? { config } : {}),
      snapshots: snapshotSettings(config?.snapshots, opts.stateDir ?? defaultStateDir()),
      ...(opts.identity ? { identity: opts.identity } : {}),
      leaseTtlSeconds: opts.leaseTtl,
      workers: opts.workers,
      resyncPeriodMs: opts.resyncPeriod,
      ...(opts.metricsAddr !== 'off' ? { metricsAddr: opts.metricsAddr } : {}),
      log,
    });
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down: resigning leadership');
      controller.shutdown().then(
        () => exitWhenDrained(0),
        () => exitWhenDrained(1),
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    await controller.start();
    await new Promise<never>(() => undefined);
  });

/** `--metrics-addr`: host:port, or "off". */
function metricsAddr(value: string): string {
  if (value !== 'off') parseListenAddr(value);
  return value;
}

await runCli(program, process.argv, exitCodeFrom(CONTROLLER_EXIT_CODES));
