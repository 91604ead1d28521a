import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { HttpClient } from '../net/http-client.js';
import type { StatusBody } from '../schema/status.js';
import type { EtcdLite } from '../store/etcd-lite/client.js';
import type { KeyLayout } from '../store/keys.js';
import { awaitMembership, type MembershipOutcome } from './await-membership.js';
import { readLocalData, rememberMemberId, sameMember } from './local-data.js';
import { checkHealth, waitForHealth } from './local-health.js';
import { runStartCommand } from './start-command.js';
import type { ReportPublisher } from './report.js';

export interface ChainfireJoinOptions {
  client: EtcdLite;
  keys: KeyLayout;
  node: string;
  stateDir: string;
  /** the agent's --timeout, and the moment (epoch ms) it ends */
  timeoutMs: number;
  deadline: number;
  /** the local etcd's data directory (--data-dir) */
  dataDir: string;
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

/** Reasons that say the node's learner has started (so holds data somewhere). */
const STARTED_LEARNER_REASONS = new Set(['LearnerCatchingUp', 'LearnerNotCatchingUp', 'MemberUnhealthy']);

/**
 * Join mode for Chainfire: the local etcd cannot run before it is a member, so
 * the agent waits for the controller to add it as a learner and publish the
 * initial cluster, starts it (once), and returns when the controller reports
 * the node a voting member, or that the voter policy keeps it a client of
 * Chainfire (VoterLimitReached: outcome `settled`).
 *
 * With no local data (`<dataDir>/member` absent), a member the status names
 * counts only if the agent started the local etcd as that member
 * (`.chainfire-member`): any other is of an earlier incarnation of the node,
 * which the controller replaces; the agent waits for that.
 */
export async function joinChainfire(opts: ChainfireJoinOptions): Promise<MembershipOutcome> {
  const { node, log, report } = opts;
  const read = () => readLocalData('chainfire', opts.dataDir, opts.stateDir, log);
  let data = await read();
  const local = await checkHealth(opts.localUrl, opts.http);
  if (local.healthy && data?.present === false) {
    // A running etcd without data where the agent looks: the agent cannot tell what it holds, so it says nothing.
    log.warn({ node, dataDir: opts.dataDir }, `the local Chainfire answers, but ${opts.dataDir}/member does not exist: is --data-dir the directory it runs on? The report leaves its data out`);
    data = undefined;
  } else {
    report.useData({ service: 'chainfire', read });
  }
  await report.publish('chainfire', local.healthy, local.detail);
  log.info({ node, ...(data ? { dataPresent: data.present, memberId: data.memberId } : {}) }, `waiting for the controller to add ${node} to Chainfire`);
  // No data: only the member this agent starts the local etcd as is this incarnation's.
  const fresh = data?.present === false;
  let own = data?.memberId;
  let started = local.healthy;
  const fromBefore = (memberId: string | undefined) =>
    `status names member ${memberId ?? '(none)'} from before; waiting for the controller to replace it`;
  const noted = new Set<string>();
  return awaitMembership({
    client: opts.client,
    keys: opts.keys,
    node,
    condition: 'ChainfireMember',
    timeoutMs: opts.timeoutMs,
    deadline: opts.deadline,
    log,
    settledReasons: ['VoterLimitReached'],
    judgeTrue: (st) => (fresh && !sameMember(st.chainfire.memberId, own) ? fromBefore(st.chainfire.memberId) : undefined),
    onProgress: async (st: StatusBody) => {
      const { initialCluster, memberId } = st.chainfire;
      if (started || st.chainfire.role !== 'learner' || initialCluster === undefined || memberId === undefined) return;
      const reason = st.conditions.find((c) => c.type === 'ChainfireMember')?.reason ?? '';
      if (fresh && !sameMember(memberId, own) && STARTED_LEARNER_REASONS.has(reason)) {
        const message = fromBefore(memberId);
        if (!noted.has(message)) log.info({ node }, message);
        noted.add(message);
        return;
      }
      started = true;
      // Remembered, and reported, before the start: a crash after it still tells which member the data is of.
      await rememberMemberId(opts.stateDir, memberId);
      own = memberId;
      await report.publish('chainfire', false, `starting the local Chainfire as member ${memberId}`);
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
  await runStartCommand(opts.startCommand, { ...env, CHAINFIRE_ENV_FILE: envFile });
  await waitForHealth(opts.localUrl, opts.healthTimeoutMs, {
    http: opts.http,
    onWaiting: (detail) => log.info({ node }, `waiting for local Chainfire: ${detail}`),
  });
  await opts.report.publish('chainfire', true, 'local Chainfire healthy');
  log.info({ node }, 'local Chainfire is healthy; waiting for promotion to voter');
}
