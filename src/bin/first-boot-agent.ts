#!/usr/bin/env node
import { Argument, Command, Option } from 'commander';
import { joinChainfire } from '../agent/join-chainfire.js';
import { httpDispatcher, waitForHealth } from '../agent/health.js';
import { DEFAULT_STATE_DIR, findMarker, writeMarker } from '../agent/markers.js';
import { EXIT, addConnectionFlags, connectionFrom, durationMs, positiveNumber, runCli } from '../cli/common.js';
import { MembershipError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { clusterConfigToMembership, loadClusterConfig } from '../schema/cluster-config.js';
import { connect } from '../store/connection.js';
import { KeyLayout } from '../store/keys.js';

/** The contract's exit codes for the agent (sysexits). */
function agentExitCode(err: MembershipError): number {
  switch (err.code) {
    case 'USAGE':
    case 'INVALID_NAME':
      return EXIT.USAGE;
    case 'REJECTED':
      return EXIT.DATAERR;
    case 'CONFIG_INVALID':
    case 'CONFIG_UNREADABLE':
      return EXIT.CONFIG;
    default:
      return EXIT.UNAVAILABLE;
  }
}

const program = new Command('first-boot-agent')
  .description('First-boot agent: waits for the local service and for the membership controller, then writes its marker.')
  .showHelpAfterError('(run with --help for usage)');

addConnectionFlags(
  program
    .command('join')
    .description('join a service\'s cluster (bootstrap mode: only wait for local health)')
    .addArgument(new Argument('<service>', 'service to join').choices(['chainfire']))
    .requiredOption('--config <file>', 'cluster-config.json of this node')
    .option('--state-dir <dir>', 'where marker files live', DEFAULT_STATE_DIR)
    .option('--timeout <duration>', 'how long to wait for the controller', durationMs('--timeout'), 600_000)
    .option('--health-timeout <duration>', 'how long to wait for the local service to be healthy', durationMs('--health-timeout'), 120_000)
    .option('--local-url <url>', 'URL of the local service (default: its client URL from the config)')
    .option(
      '--start-command <cmd>',
      'shell command that starts the local Chainfire once it was added as a learner; it gets CHAINFIRE_NAME, CHAINFIRE_INITIAL_CLUSTER, CHAINFIRE_INITIAL_CLUSTER_STATE and CHAINFIRE_ENV_FILE',
      'systemctl start chainfire.service',
    )
    .option('--heartbeat-ttl <seconds>', 'TTL of the heartbeat lease', positiveNumber('--heartbeat-ttl'), 10)
    .addOption(new Option('--log-level <level>').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .addHelpText(
      'after',
      `
Exit codes: 0 done or already done, 64 usage, 65 rejected by the controller, 69 timed out or unavailable, 78 bad config.

Examples:
  first-boot-agent join chainfire --config /etc/nixos/secrets/cluster-config.json
  first-boot-agent join chainfire --config cfg.json --endpoints https://10.0.1.10:2379 --cacert ca.crt --cert node04.crt --key node04.key`,
    ),
).action(async (service: 'chainfire', opts) => {
  const log = createLogger({ level: opts.logLevel, base: { service } });
  const opLog = log.child({ operation: 'cluster-join' });
  process.exitCode = await runJoin(service, opts, opLog);
});

async function runJoin(service: 'chainfire', opts: Record<string, any>, log: Logger): Promise<number> {
  const done = await findMarker(opts.stateDir, ['.chainfire-joined', '.chainfire-initialized']);
  if (done !== undefined) {
    log.info({ marker: done.name, since: done.content }, `already done (marker ${done.name} from ${done.content}); nothing to do`);
    return EXIT.OK;
  }
  const { config, warnings } = await loadClusterConfig(opts.config);
  for (const w of warnings) log.warn({ config: opts.config }, w);
  const membership = clusterConfigToMembership(config);
  const spec = membership.spec.chainfire;
  if (spec === undefined) throw new MembershipError('CONFIG_INVALID', `${opts.config}: this node has no Chainfire configuration`);
  const localUrl: string = opts.localUrl ?? spec.clientUrl;
  const tls = {
    ...(opts.cacert ?? config.tls?.ca_file ? { caFile: opts.cacert ?? config.tls?.ca_file } : {}),
    ...(opts.cert ?? config.tls?.cert_file ? { certFile: opts.cert ?? config.tls?.cert_file } : {}),
    ...(opts.key ?? config.tls?.key_file ? { keyFile: opts.key ?? config.tls?.key_file } : {}),
  };
  const dispatcher = httpDispatcher(tls);

  if (config.bootstrap) {
    // Bootstrap never waits for the controller: it runs on these very nodes.
    log.info({ node: config.node_id, localUrl }, 'bootstrap mode: waiting for the local service to be healthy');
    await waitForHealth(localUrl, opts.healthTimeout, {
      ...(dispatcher ? { dispatcher } : {}),
      onWaiting: (detail) => log.info({ node: config.node_id }, `waiting for local ${service}: ${detail}`),
    });
    const path = await writeMarker(opts.stateDir, '.chainfire-initialized');
    log.info({ node: config.node_id, marker: path }, 'Cluster initialized (bootstrap)');
    return EXIT.OK;
  }

  const connection = connectionFrom({ ...opts, ...(opts.cacert ?? tls.caFile ? { cacert: opts.cacert ?? tls.caFile } : {}) }, [config.leader_url]);
  const client = connect(connection);
  try {
    await joinChainfire({
      client,
      keys: new KeyLayout(connection.prefix),
      node: config.node_id,
      stateDir: opts.stateDir,
      timeoutMs: opts.timeout,
      healthTimeoutMs: opts.healthTimeout,
      startCommand: opts.startCommand,
      localUrl,
      ...(dispatcher ? { dispatcher } : {}),
      heartbeatTtlSeconds: Math.max(2, Math.round(opts.heartbeatTtl)),
      log,
    });
  } finally {
    client.close();
  }
  const path = await writeMarker(opts.stateDir, '.chainfire-joined');
  log.info({ node: config.node_id, marker: path }, 'Successfully joined cluster');
  return EXIT.OK;
}

// Failures are logged as the seed's JSON lines too, so journald shows them with the rest.
const OPERATIONS: Record<string, string> = { join: 'cluster-join', 'iam-setup': 'initial-setup', 'health-check': 'health-check' };
const sub = process.argv[2] ?? '';
const errorLog = createLogger({
  base: { service: sub === 'join' ? (process.argv[3] ?? 'unknown') : 'first-boot-agent', operation: OPERATIONS[sub] ?? 'usage' },
});
await runCli(program, process.argv, agentExitCode, (message) => errorLog.error(message));
