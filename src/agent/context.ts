/**
 * What every subcommand of the agent starts from: its flags, the validated
 * cluster-config.json and what follows from it. Loads no Chainfire client, so
 * that `reset` and the marker check stay light.
 */
import { MembershipError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { HttpClient } from '../net/http-client.js';
import type { Service } from '../schema/agent-report.js';
import { clusterConfigToMembership, loadClusterConfig, type ClusterConfig } from '../schema/cluster-config.js';
import type { NodeMembershipInput } from '../schema/node-membership.js';
import type { ConnectionDefaults, RawConnectionFlags } from '../store/connection-options.js';
import { localHttpClient, type NamedFile, type TlsFiles } from './local-health.js';

export interface AgentFlags extends RawConnectionFlags {
  config: string;
  stateDir: string;
  timeout: number;
  healthTimeout: number;
  localUrl?: string;
  startCommand: string;
  heartbeatTtl: number;
  /** the local data directory of the service joined (--data-dir); default: the seed's (/var/lib/chainfire, /var/lib/flaredb) */
  dataDir?: string;
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

/**
 * What the connection to Chainfire falls back to when neither a flag nor a
 * variable (CHAINFIRE_*, then ETCDCTL_*) gives it: the config's leader_url
 * and tls.ca_file.
 */
export function connectionDefaults(ctx: AgentContext): ConnectionDefaults {
  const caFile = ctx.config.tls?.ca_file;
  return {
    endpoints: [ctx.config.leader_url],
    endpointsFrom: `leader_url of ${ctx.flags.config}`,
    ...(caFile ? { cacert: caFile, cacertFrom: `tls.ca_file of ${ctx.flags.config}` } : {}),
  };
}

/** Whether the node runs a service at all (per its config). */
export function runs(ctx: AgentContext, service: Service): boolean {
  const spec = ctx.membership.spec;
  return service === 'chainfire' ? spec.chainfire !== undefined : service === 'flaredb' ? spec.flaredb !== undefined : spec.iam !== undefined;
}

/** IAM's API port (the contract's vocabulary). */
const IAM_PORT = 8080;
