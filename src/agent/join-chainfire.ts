import { spawn } from 'node:child_process';
import { writeFile, rename, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { RecordCache } from '../cache/record-cache.js';
import { MembershipError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { NodeMembership } from '../schema/node-membership.js';
import { TERMINAL_REASONS, type NodeMembershipStatus } from '../schema/status.js';
import { KeyLayout } from '../store/keys.js';
import { decodeDesired, decodeStatus, type StoredRecord } from '../store/records.js';
import { checkHealth, waitForHealth } from './health.js';
import { ReportPublisher } from './report.js';
import type { Dispatcher } from 'undici';

export interface ChainfireJoinOptions {
  client: Etcd3;
  keys: KeyLayout;
  node: string;
  stateDir: string;
  /** overall bound on waiting for the controller */
  timeoutMs: number;
  /** bound on waiting for the local etcd to become healthy once started */
  healthTimeoutMs: number;
  /** shell command that starts the local etcd with CHAINFIRE_INITIAL_CLUSTER etc. in its environment */
  startCommand: string;
  localUrl: string;
  dispatcher?: Dispatcher;
  heartbeatTtlSeconds: number;
  log: Logger;
}

/**
 * Join mode for Chainfire: publish the heartbeat, then block on a watch of
 * this node's status record (never a polling loop). Once the controller has
 * added the node as a learner and published the initial cluster, start the
 * local etcd with it (once), and return when the controller reports the node
 * a voting member. Throws REJECTED on a terminal reason, TIMEOUT at the bound.
 */
export async function joinChainfire(opts: ChainfireJoinOptions): Promise<void> {
  const { client, keys, node, log } = opts;
  const report = new ReportPublisher({ client, keys, node, waitingFor: 'chainfire', mode: 'join', ttlSeconds: opts.heartbeatTtlSeconds, log });
  const local = await checkHealth(opts.localUrl, opts.dispatcher ? { dispatcher: opts.dispatcher } : {});
  await report.publish('chainfire', local.healthy, local.detail);
  log.info({ node }, `waiting for the controller to add ${node} to Chainfire`);

  const desired = new RecordCache<StoredRecord<NodeMembership>>({
    client, prefix: keys.desired(node), exact: true, resource: 'desired', log,
    decode: (kv) => decodeDesired(keys, kv),
  });
  const status = new RecordCache<StoredRecord<NodeMembershipStatus>>({
    client, prefix: keys.status(node), exact: true, resource: 'status', log,
    decode: (kv) => decodeStatus(keys, kv),
  });

  let started = local.healthy;
  let starting: Promise<void> | undefined;
  let lastSeen = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new MembershipError('TIMEOUT', `timed out after ${Math.round(opts.timeoutMs / 1000)}s waiting for Chainfire membership; last seen: ${lastSeen || 'no status record'}`)),
        opts.timeoutMs,
      );
      const finish = (err?: unknown) => {
        clearTimeout(timer);
        if (err === undefined) resolve();
        else reject(err);
      };
      const evaluate = () => {
        const want = desired.get(keys.desired(node));
        const st = status.get(keys.status(node))?.value?.status;
        if (want === undefined) {
          note(`no desired record ${keys.desired(node)} yet (apply one with membershipctl apply)`);
          return;
        }
        if (st === undefined || st.observedGeneration < want.modRevision) {
          note(`waiting for the controller to observe generation ${want.modRevision}`);
          return;
        }
        const terminal = st.conditions.find((c) => (TERMINAL_REASONS as readonly string[]).includes(c.reason));
        if (terminal !== undefined) {
          finish(new MembershipError('REJECTED', `the controller rejected ${node}: ${terminal.type} ${terminal.reason}: ${terminal.message}`));
          return;
        }
        const member = st.conditions.find((c) => c.type === 'ChainfireMember');
        if (member !== undefined) note(`ChainfireMember=${member.status} ${member.reason}: ${member.message}`);
        if (member?.status === 'True') {
          finish();
          return;
        }
        const initialCluster = st.chainfire.initialCluster;
        if (st.chainfire.role === 'learner' && initialCluster !== undefined && !started && starting === undefined) {
          starting = startLocal(opts, initialCluster, report).then(
            () => {
              started = true;
            },
            (err: unknown) => finish(err),
          );
        }
      };
      const note = (what: string) => {
        if (what === lastSeen) return;
        lastSeen = what;
        log.info({ node }, what);
      };
      desired.on('event', evaluate);
      status.on('event', evaluate);
      Promise.all([desired.start(), status.start()]).then(evaluate, (err: unknown) =>
        finish(new MembershipError('UNAVAILABLE', `cannot watch ${node}'s records in Chainfire: ${errorMessage(err)}`)),
      );
    });
    await starting;
  } finally {
    await Promise.all([desired.stop(), status.stop()]);
    await report.close();
  }
}

async function startLocal(opts: ChainfireJoinOptions, initialCluster: string, report: ReportPublisher): Promise<void> {
  const { log, node } = opts;
  const env = {
    CHAINFIRE_NAME: node,
    CHAINFIRE_INITIAL_CLUSTER: initialCluster,
    CHAINFIRE_INITIAL_CLUSTER_STATE: 'existing',
  };
  // Also as an EnvironmentFile for a systemd unit started by the command.
  await mkdir(opts.stateDir, { recursive: true });
  const envFile = join(opts.stateDir, 'chainfire-join.env');
  const body = Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
  await writeFile(`${envFile}.tmp`, body, { mode: 0o644 });
  await rename(`${envFile}.tmp`, envFile);

  log.info({ node, initialCluster, command: opts.startCommand }, 'learner added: starting local Chainfire');
  await runCommand(opts.startCommand, { ...env, CHAINFIRE_ENV_FILE: envFile });
  await waitForHealth(opts.localUrl, opts.healthTimeoutMs, {
    ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
    onWaiting: (detail) => log.info({ node }, `waiting for local Chainfire: ${detail}`),
  });
  await report.publish('chainfire', true, 'local Chainfire healthy');
  log.info({ node }, 'local Chainfire is healthy; waiting for promotion to voter');
}

function runCommand(command: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', 2, 2] });
    child.on('error', (err) => reject(new MembershipError('COMMAND_FAILED', `cannot run start command: ${err.message}`)));
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new MembershipError('COMMAND_FAILED', `start command exited with ${code ?? signal}: ${command}`));
    });
  });
}
