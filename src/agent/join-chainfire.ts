import { spawn } from 'node:child_process';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MembershipError } from '../errors.js';
import type { Logger } from '../log.js';
import type { HttpClient } from '../net/http-client.js';
import type { StatusBody } from '../schema/status.js';
import type { EtcdLite } from '../store/etcd-lite/client.js';
import type { KeyLayout } from '../store/keys.js';
import { awaitMembership } from './await-membership.js';
import { checkHealth, waitForHealth } from './local-health.js';
import type { ReportPublisher } from './report.js';

export interface ChainfireJoinOptions {
  client: EtcdLite;
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
  /** for the local etcd's health endpoint */
  http: HttpClient;
  report: ReportPublisher;
  log: Logger;
}

/**
 * Join mode for Chainfire: the local etcd cannot run before it is a member, so
 * the agent waits for the controller to add it as a learner and publish the
 * initial cluster, starts it (once), and returns when the controller reports
 * the node a voting member.
 */
export async function joinChainfire(opts: ChainfireJoinOptions): Promise<void> {
  const { node, log, report } = opts;
  const local = await checkHealth(opts.localUrl, opts.http);
  await report.publish('chainfire', local.healthy, local.detail);
  log.info({ node }, `waiting for the controller to add ${node} to Chainfire`);
  let started = local.healthy;
  await awaitMembership({
    client: opts.client,
    keys: opts.keys,
    node,
    condition: 'ChainfireMember',
    timeoutMs: opts.timeoutMs,
    log,
    onProgress: async (st: StatusBody) => {
      const initialCluster = st.chainfire.initialCluster;
      if (started || st.chainfire.role !== 'learner' || initialCluster === undefined) return;
      started = true;
      await startLocal(opts, initialCluster);
    },
  });
}

async function startLocal(opts: ChainfireJoinOptions, initialCluster: string): Promise<void> {
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
    http: opts.http,
    onWaiting: (detail) => log.info({ node }, `waiting for local Chainfire: ${detail}`),
  });
  await opts.report.publish('chainfire', true, 'local Chainfire healthy');
  log.info({ node }, 'local Chainfire is healthy; waiting for promotion to voter');
}

function runCommand(command: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    // The agent's stdout carries only JSON log lines: the command's output goes to stderr.
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', 2, 2] });
    child.on('error', (err) => reject(new MembershipError('COMMAND_FAILED', `cannot run start command: ${err.message}`)));
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new MembershipError('COMMAND_FAILED', `start command exited with ${code ?? signal}: ${command}`));
    });
  });
}
