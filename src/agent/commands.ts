import { MembershipError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { HttpClient } from '../net/http-client.js';
import type { Service } from '../schema/agent-report.js';
import { clusterConfigToMembership, loadClusterConfig, type ClusterConfig } from '../schema/cluster-config.js';
import type { NodeMembershipInput } from '../schema/node-membership.js';
import type { ConditionType } from '../schema/status.js';
import { resolveConnection, type KeyFileCheck, type RawConnectionFlags } from '../store/connection-options.js';
import { EtcdLite } from '../store/etcd-lite/client.js';
import { KeyLayout } from '../store/keys.js';
import { awaitMembership } from './await-membership.js';
import { checkHealth, localHttpClient, waitForHealth, type NamedFile, type TlsFiles } from './local-health.js';
import { joinChainfire } from './join-chainfire.js';
import { markersOf, writeMarker } from './markers.js';
import { ReportPublisher } from './report.js';

export interface AgentFlags extends RawConnectionFlags {
  config: string;
  stateDir: string;
  timeout: number;
  healthTimeout: number;
  localUrl?: string;
  startCommand: string;
  heartbeatTtl: number;
}

/** What every subcommand starts from: the validated config and what follows from it. */
export interface AgentContext {
  flags: AgentFlags;
  config: ClusterConfig;
  membership: NodeMembershipInput;
  node: string;
  /** for the local services' health endpoints, with the connection's TLS files */
  http: HttpClient;
  log: Logger;
}

export async function loadContext(flags: AgentFlags, log: Logger): Promise<AgentContext> {
  const { config, warnings } = await loadClusterConfig(flags.config);
  for (const w of warnings) log.warn({ config: flags.config }, w);
  // A flag wins over the config's tls block; messages name where each file came from.
  const pick = (flag: string, flagPath: string | undefined, field: string, configPath: string | undefined): NamedFile | undefined =>
    flagPath !== undefined ? { field: flag, path: flagPath } : configPath !== undefined ? { field, path: configPath } : undefined;
  const tls: TlsFiles = {
    ca: pick('--cacert', flags.cacert, 'tls.ca_file', config.tls?.ca_file),
    cert: pick('--cert', flags.cert, 'tls.cert_file', config.tls?.cert_file),
    key: pick('--key', flags.key, 'tls.key_file', config.tls?.key_file),
  };
  return { flags, config, membership: clusterConfigToMembership(config), node: config.node_id, http: localHttpClient(tls, warnInsecureKey), log };
}

/**
 * The agent warns about a private key that group or others may read, and goes
 * on: refusing would leave a node unable to boot into its cluster.
 */
function warnInsecureKey(message: string): void {
  createLogger({ base: { service: 'first-boot-agent', operation: 'tls' } }).warn(message);
}

/** The URL of a local service, from the config; `--local-url` overrides it for the one service a join waits for. */
export function localUrlOf(ctx: AgentContext, service: Service, honourFlag = true): string {
  if (honourFlag && ctx.flags.localUrl !== undefined) return ctx.flags.localUrl;
  const spec = ctx.membership.spec;
  if (service === 'chainfire' && spec.chainfire) return spec.chainfire.clientUrl;
  if (service === 'flaredb' && spec.flaredb) return spec.flaredb.apiUrl;
  if (service === 'iam') {
    const iam = ctx.config.services?.iam;
    if (iam?.api_url) return iam.api_url;
    const scheme = new URL(ctx.config.leader_url).protocol;
    const host = ctx.config.node_ip ?? ctx.config.raft_addr.replace(/:\d+$/, '');
    return `${scheme}//${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${iam?.port ?? IAM_PORT}`;
  }
  throw new MembershipError('CONFIG_INVALID', `${ctx.flags.config}: this node has no ${service} configuration`);
}

/** Whether the node runs a service at all (per its config). */
export function runs(ctx: AgentContext, service: Service): boolean {
  const spec = ctx.membership.spec;
  return service === 'chainfire' ? spec.chainfire !== undefined : service === 'flaredb' ? spec.flaredb !== undefined : spec.iam !== undefined;
}

/** IAM's API port (the contract's vocabulary). */
const IAM_PORT = 8080;

const CONDITION: Record<Service, ConditionType> = { chainfire: 'ChainfireMember', flaredb: 'FlareDBMember', iam: 'IAMRegistered' };
const NAMES: Record<Service, string> = { chainfire: 'Chainfire', flaredb: 'FlareDB', iam: 'IAM' };

/**
 * `join chainfire|flaredb` and `iam-setup`: done if the marker exists; in
 * bootstrap mode wait only for local health; in join mode publish the
 * heartbeat and block on the status record. Returns the marker written.
 */
export async function joinService(ctx: AgentContext, service: Service): Promise<string> {
  const { flags, log, node } = ctx;
  const markers = markersOf(service);
  const healthOpts = {
    http: ctx.http,
    onWaiting: (detail: string) => log.info({ node }, `waiting for local ${NAMES[service]}: ${detail}`),
  };
  if (!runs(ctx, service)) {
    throw new MembershipError('CONFIG_INVALID', `${flags.config}: ${node} does not run ${NAMES[service]} (see services.${service}.enabled and node_role)`);
  }
  const localUrl = localUrlOf(ctx, service);

  if (ctx.config.bootstrap) {
    // Bootstrap never waits for the controller: it runs on these very nodes.
    log.info({ node, localUrl }, `bootstrap mode: waiting for the local ${NAMES[service]} to be healthy`);
    await waitForHealth(localUrl, flags.healthTimeout, healthOpts);
    return writeMarker(flags.stateDir, markers[markers.length - 1]!);
  }

  // A loose private key or password file is warned about, not refused: the node must still boot.
  const keyCheck: KeyFileCheck = { insecureKey: 'warn', warn: (m) => log.warn({ node }, m) };
  const connection = resolveConnection(
    { ...flags, ...(flags.cacert === undefined && ctx.config.tls?.ca_file ? { cacert: ctx.config.tls.ca_file } : {}) },
    process.env,
    [ctx.config.leader_url],
    keyCheck,
  );
  const client = EtcdLite.connect(connection, keyCheck);
  const keys = new KeyLayout(connection.prefix);
  const report = new ReportPublisher({ client, keys, node, waitingFor: service, mode: 'join', ttlSeconds: Math.max(2, Math.round(flags.heartbeatTtl)), log });
  try {
    if (service === 'chainfire') {
      await joinChainfire({
        client, keys, node, stateDir: flags.stateDir, timeoutMs: flags.timeout, healthTimeoutMs: flags.healthTimeout,
        startCommand: flags.startCommand, localUrl, http: ctx.http, report, log,
      });
    } else {
      // FlareDB and IAM run before they are members: wait for them locally first (bounded),
      // while the first report goes out; a report that cannot be published ends the wait.
      const unpublished = new AbortController();
      const first = report.publish(service, false, 'waiting for the local service');
      first.catch(() => unpublished.abort());
      await Promise.all([first, waitForHealth(localUrl, flags.healthTimeout, { ...healthOpts, signal: unpublished.signal })]);
      await report.publish(service, true, `${localUrl} healthy`);
      log.info({ node }, `local ${NAMES[service]} is healthy; waiting for the controller`);
      await awaitMembership({ client, keys, node, condition: CONDITION[service], timeoutMs: flags.timeout, log });
    }
  } finally {
    await report.close();
    await client.close();
  }
  return writeMarker(flags.stateDir, markers[0]!);
}

/** `health-check`: every service this node runs, checked once; true when all are healthy. */
export async function healthCheck(ctx: AgentContext): Promise<boolean> {
  let allHealthy = true;
  for (const service of ['chainfire', 'flaredb', 'iam'] as const) {
    if (!runs(ctx, service)) continue;
    const url = localUrlOf(ctx, service, false);
    const r = await checkHealth(url, ctx.http);
    allHealthy &&= r.healthy;
    const line = { node: ctx.node, checked: service, healthy: r.healthy };
    if (r.healthy) ctx.log.info(line, `${NAMES[service]} healthy: ${r.detail}`);
    else ctx.log.error(line, `${NAMES[service]} unhealthy: ${r.detail}`);
  }
  return allHealthy;
}
