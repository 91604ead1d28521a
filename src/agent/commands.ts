import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MembershipError, errorMessage } from '../errors.js';
import { RECOVER_ENV_FILE } from './recover-env.js';
import type { Service } from '../schema/agent-report.js';
import type { Condition, ConditionType } from '../schema/status.js';
import { resolveConnection, type KeyFileCheck } from '../store/connection-options.js';
import { EtcdLite } from '../store/etcd-lite/client.js';
import { KeyLayout } from '../store/keys.js';
import { awaitMembership } from './await-membership.js';
import { connectionDefaults, localUrlOf, runs, type AgentContext } from './context.js';
import { checkHealth, waitForHealth } from './local-health.js';
import { DEFAULT_DATA_DIRS, readLocalData } from './local-data.js';
import { joinChainfire } from './join-chainfire.js';
import { markersOf, writeMarker } from './markers.js';
import { ReportPublisher } from './report.js';

export { loadContext, localUrlOf, runs, type AgentContext, type AgentFlags } from './context.js';

const CONDITION: Record<Service, ConditionType> = { chainfire: 'ChainfireMember', flaredb: 'FlareDBMember', iam: 'IAMRegistered' };
const NAMES: Record<Service, string> = { chainfire: 'Chainfire', flaredb: 'FlareDB', iam: 'IAM' };

/**
 * How a join ended: the marker written, or no marker because the controller
 * settled the node elsewhere by policy (Chainfire's VoterLimitReached: a
 * client of Chainfire, no voter seat), so that a later boot looks again.
 */
export type JoinResult = { marker: string } | { settled: Condition };

/**
 * `join chainfire|flaredb` and `iam-setup`: done if the marker exists; in
 * bootstrap mode wait only for local health; in join mode publish the
 * heartbeat and block on the status record. Every call to Chainfire rides out
 * transient failures until the --timeout deadline.
 */
export async function joinService(ctx: AgentContext, service: Service): Promise<JoinResult> {
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
    return { marker: await writeMarker(flags.stateDir, markers[markers.length - 1]!) };
  }
  // The --timeout bounds all of the work with Chainfire and the controller from here on.
  const deadline = Date.now() + flags.timeout;

  // A loose private key or password file is warned about, not refused: the node must still boot.
  const keyCheck: KeyFileCheck = { insecureKey: 'warn', warn: (m) => log.warn({ node }, m) };
  const connection = resolveConnection(flags, process.env, connectionDefaults(ctx), keyCheck, log);
  const client = EtcdLite.connect(connection, keyCheck);
  const keys = new KeyLayout(connection.prefix);
  const dataDir = service === 'iam' ? undefined : (flags.dataDir ?? DEFAULT_DATA_DIRS[service]);
  const report = new ReportPublisher({
    client, keys, node, waitingFor: service, mode: 'join', ttlSeconds: Math.max(2, Math.round(flags.heartbeatTtl)), log, deadline,
    ...(service === 'flaredb' ? { data: { service, read: () => readLocalData(service, dataDir!, flags.stateDir, log) } } : {}),
  });
  try {
    let outcome;
    if (service === 'chainfire') {
      outcome = await joinChainfire({
        client, keys, node, stateDir: flags.stateDir, timeoutMs: flags.timeout, deadline, dataDir: dataDir!,
        healthTimeoutMs: flags.healthTimeout, startCommand: flags.startCommand, localUrl, http: ctx.http, report, log,
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
      outcome = await awaitMembership({ client, keys, node, condition: CONDITION[service], timeoutMs: flags.timeout, deadline, log });
    }
    if (outcome.outcome === 'settled') return { settled: outcome.condition };
  } finally {
    await report.close();
    await client.close();
  }
  return { marker: await writeMarker(flags.stateDir, markers[0]!) };
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
  if (allHealthy) await releaseOwnDisruption(ctx);
  if (allHealthy && runs(ctx, 'chainfire')) await removeLeftoverRecoverEnv(ctx);
  return allHealthy;
}

/**
 * A recovery's one-shot environment file (--force-new-cluster) left behind by
 * a recover that was killed: once Chainfire is healthy it must go, or the next
 * restart of chainfire.service would force a new cluster again.
 */
async function removeLeftoverRecoverEnv(ctx: AgentContext): Promise<void> {
  const file = join(ctx.flags.stateDir, RECOVER_ENV_FILE);
  try {
    await unlink(file);
    ctx.log.warn({ node: ctx.node, file }, `removed ${file}, left by a recovery that did not finish: the next Chainfire restart must not force a new cluster`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') ctx.log.warn({ node: ctx.node, file, err: errorMessage(err) }, `cannot remove ${file}`);
  }
}

/**
 * The node is back from a planned disruption (a reboot) once every service it
 * runs is healthy: its own disruptions/<node> is released, so that the next
 * node may go. Nothing held, nothing done; a failure is a warning only (the
 * disruption then lapses at twice its TTL, or an operator releases it).
 */
async function releaseOwnDisruption(ctx: AgentContext): Promise<void> {
  const { flags, log, node } = ctx;
  const keyCheck: KeyFileCheck = { insecureKey: 'warn', warn: (m) => log.warn({ node }, m) };
  let client: EtcdLite | undefined;
  try {
    const connection = resolveConnection(flags, process.env, connectionDefaults(ctx), keyCheck, log);
    client = EtcdLite.connect(connection, keyCheck);
    const key = new KeyLayout(connection.prefix).disruption(node);
    const held = await client.range(key);
    if (held.kvs.length === 0) return;
    await client.delete(key);
    log.info({ node, key }, `${node} is healthy again: its planned disruption is released`);
  } catch (err) {
    log.warn({ node, err: errorMessage(err) }, `cannot release ${node}'s planned disruption (membershipctl disruption release ${node} does it by hand)`);
  } finally {
    await client?.close();
  }
}
