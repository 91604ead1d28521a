/**
 * `first-boot-agent recover chainfire`: quorum loss recovered by one command
 * on a surviving control-plane node, after etcd's disaster-recovery guide.
 *
 * 1. Look: the local member's view of the membership, and every member's
 *    /health. Any member that is healthy means a leader with a quorum exists:
 *    refuse (REJECTED, 65), naming what answered.
 * 2. Confirm: on a terminal, the operator types the node's name; off a
 *    terminal, `--yes` is required (64 without it).
 * 3. Stop the local Chainfire (the stop command) and wait until it no longer
 *    answers.
 * 4. Start it again as a new one-member cluster: from its own data
 *    (CHAINFIRE_FORCE_NEW_CLUSTER=true and CHAINFIRE_EXTRA_ARGS=--force-new-cluster
 *    for the start command: etcd's --force-new-cluster), or from a snapshot
 *    restored with etcdctl into a fresh data dir (the old one moved aside,
 *    nothing deleted). The environment file is one-shot: it is removed once
 *    Chainfire is healthy, so that no later restart forces a new cluster again.
 * 5. Record the recovery in cluster/recovery for the controller (cluster/status
 *    and a metric show it) and say what to do on the lost nodes.
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { promisify } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { MembershipError, errorMessage, isMembershipError } from '../errors.js';
import { healthTarget, judgeHealth } from '../net/health.js';
import { quorumOf } from '../reconcile/quorum.js';
import { API_VERSION } from '../schema/common.js';
import type { ChainfireRecovery } from '../schema/cluster.js';
import { chainfirePeerUrl } from '../schema/node-membership.js';
import { connect, resolveConnection } from '../store/connection.js';
import { DEFAULT_PREFIX, KeyLayout } from '../store/keys.js';
import { connectionDefaults, localUrlOf, runs, type AgentContext } from './context.js';
import { runStartCommand as runCommand } from './start-command.js';
import { rememberMemberId } from './local-data.js';
import { waitForHealth } from './local-health.js';
import { RECOVER_ENV_FILE } from './recover-env.js';
import { serviceAnswers } from './reset.js';

const run = promisify(execFile);

export interface RecoverOptions {
  dataDir: string;
  stateDir: string;
  /** restore from this snapshot file instead of forcing a new cluster from the local data */
  fromSnapshot?: string;
  /** skip the confirmation */
  yes: boolean;
  stopCommand: string;
  startCommand: string;
  /** etcd's own tool, for `snapshot status` and `snapshot restore` */
  etcdctl: string;
  healthTimeoutMs: number;
  /** whether stdin is a terminal (the confirmation is asked there) */
  interactive: boolean;
  /** asks the operator; default: a readline prompt on stdin/stderr */
  ask?: (question: string) => Promise<string>;
  now?: () => Date;
}

export interface MemberView {
  name: string;
  id: string;
  clientUrl: string | undefined;
  isLearner: boolean;
  /** undefined: healthy; otherwise what its /health said or why it did not answer */
  problem: string | undefined;
  /** its etcd answered at all (healthy or not): it runs, and may be part of a quorum */
  answered: boolean;
}

export interface RecoverResult {
  record: ChainfireRecovery;
  /** where the old data dir went (from a snapshot) */
  movedTo?: string;
  /** false when cluster/recovery could not be written (the recovery itself stands) */
  recorded: boolean;
  next: string;
}

export { RECOVER_ENV_FILE };

export async function recoverChainfire(ctx: AgentContext, opts: RecoverOptions): Promise<RecoverResult> {
  const { node, log } = ctx;
  const spec = ctx.membership.spec.chainfire;
  if (!runs(ctx, 'chainfire') || spec === undefined) {
    throw new MembershipError('CONFIG_INVALID', `${ctx.flags.config}: ${node} does not run Chainfire (see services.chainfire.enabled and node_role)`);
  }
  const localUrl = localUrlOf(ctx, 'chainfire');
  const peerUrl = chainfirePeerUrl(spec);
  const snapshot = opts.fromSnapshot !== undefined ? await checkSnapshot(opts.fromSnapshot, opts.etcdctl) : undefined;
  if (snapshot === undefined) await requireData(opts.dataDir);

  const members = await lookAtMembers(ctx, localUrl);
  refuseWhileQuorum(members, localUrl);
  const dropped = members.filter((m) => m.name !== node).map((m) => m.name || m.id);
  log.warn({ node, members: members.map(describeMember) }, `Chainfire has no quorum: ${members.map(describeMember).join('; ')}`);
  await confirm(ctx, opts, dropped, snapshot);

  const now = opts.now ?? (() => new Date());
  const stamp = now().toISOString().replace(/[:.]/g, '-');
  await stopLocal(ctx, opts, localUrl);
  let movedTo: string | undefined;
  const env: Record<string, string> = {
    CHAINFIRE_NAME: node,
    CHAINFIRE_INITIAL_CLUSTER: `${node}=${peerUrl}`,
    CHAINFIRE_INITIAL_CLUSTER_STATE: snapshot ? 'new' : 'existing',
    CHAINFIRE_FORCE_NEW_CLUSTER: snapshot ? 'false' : 'true',
    CHAINFIRE_EXTRA_ARGS: snapshot ? '' : '--force-new-cluster',
  };
  if (snapshot) movedTo = await restoreSnapshot(ctx, opts, snapshot.file, peerUrl, stamp);
  await startRecovered(ctx, opts, localUrl, env);

  const after = await ownMember(ctx, localUrl);
  await rememberMemberId(opts.stateDir, after.memberId);
  const record: ChainfireRecovery = {
    apiVersion: API_VERSION,
    kind: 'ChainfireRecovery',
    recovery: {
      at: now().toISOString(),
      node,
      source: snapshot ? 'snapshot' : 'data',
      ...(snapshot ? { snapshot: { file: snapshot.file, revision: snapshot.revision } } : {}),
      memberId: after.memberId,
      clusterId: after.clusterId,
      dropped,
    },
  };
  const recorded = await recordRecovery(ctx, localUrl, record);
  const next =
    `on each lost node (${dropped.join(', ') || 'none'}): reprovision it, or stop its Chainfire and run ` +
    '`first-boot-agent reset chainfire --config F`; make sure its cluster-config.json says "bootstrap": false; then ' +
    '`systemctl restart chainfire-cluster-join.service`. The controller adds them back one at a time; ' +
    '`membershipctl get` shows each of them Joining until it is a voter again';
  return { record, ...(movedTo !== undefined ? { movedTo } : {}), recorded, next };
}

function describeMember(m: MemberView): string {
  const who = `${m.name || '(unstarted)'} ${m.id}${m.isLearner ? ' (learner)' : ''}`;
  return m.problem === undefined ? `${who} healthy` : `${who} ${m.problem}`;
}

async function requireData(dataDir: string): Promise<void> {
  const member = join(dataDir, 'member');
  try {
    if (!(await stat(member)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new MembershipError(
      'CONFIG_INVALID',
      `--data-dir ${dataDir}: no Chainfire data to recover from (${member}: ${errorMessage(err)}); ` +
        'recover from a snapshot instead: --from-snapshot FILE (see membershipctl snapshots)',
    );
  }
}

/** `etcdctl snapshot status`: a snapshot that etcd's own tool does not accept is refused before anything is stopped. */
export async function checkSnapshot(file: string, etcdctl: string): Promise<{ file: string; revision: number }> {
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    throw new MembershipError('CONFIG_UNREADABLE', `--from-snapshot ${file}: ${errorMessage(err)}`);
  }
  if (!info.isFile()) throw new MembershipError('CONFIG_INVALID', `--from-snapshot ${file}: not a regular file`);
  let out: string;
  try {
    ({ stdout: out } = await run(etcdctl, ['snapshot', 'status', file, '-w', 'json'], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 60_000 }));
  } catch (err) {
    const stderr = ((err as { stderr?: string }).stderr ?? '').trim().split('\n').pop() ?? '';
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new MembershipError('CONFIG_INVALID', `--etcdctl ${etcdctl}: not found (etcd's etcdctl checks and restores the snapshot)`);
    }
    throw new MembershipError('CONFIG_INVALID', `--from-snapshot ${file}: etcd's check refused it (etcdctl snapshot status: ${stderr || errorMessage(err)})`);
  }
  const parsed = JSON.parse(out) as { revision?: number };
  if (typeof parsed.revision !== 'number') {
    throw new MembershipError('CONFIG_INVALID', `--from-snapshot ${file}: etcdctl snapshot status gave no revision (${out.trim()})`);
  }
  return { file, revision: parsed.revision };
}

/** The local member's view of the membership (served without a quorum), and each member's /health. */
async function lookAtMembers(ctx: AgentContext, localUrl: string): Promise<MemberView[]> {
  const client = localClient(ctx, localUrl, false);
  let list;
  try {
    list = await client.cluster.memberList({});
  } catch (err) {
    throw new MembershipError(
      'UNAVAILABLE',
      `the local Chainfire at ${localUrl} does not list its members (${errorMessage(err)}): it must run (without a quorum) for recover to see ` +
        'what is lost; start it (systemctl start chainfire.service) and run recover again',
      { cause: err },
    );
  } finally {
    client.close();
  }
  return Promise.all(
    list.members.map(async (m): Promise<MemberView> => {
      const clientUrl = m.clientURLs[0];
      const health = clientUrl === undefined ? { problem: 'never started', answered: false } : await healthOf(ctx, clientUrl);
      return { name: m.name, id: BigInt(m.ID).toString(16), clientUrl, isLearner: m.isLearner === true, ...health };
    }),
  );
}

async function healthOf(ctx: AgentContext, clientUrl: string): Promise<{ problem: string | undefined; answered: boolean }> {
  const target = healthTarget(clientUrl);
  try {
    const res = await ctx.http.request({ method: 'GET', url: target, signal: AbortSignal.timeout(3000) });
    const result = judgeHealth(target, res.status, await res.text());
    return { problem: result.healthy ? undefined : `answers but is unhealthy (${result.detail})`, answered: true };
  } catch (err) {
    return { problem: `did not answer (${errorMessage(err)})`, answered: false };
  }
}

/**
 * Refused while a quorum may exist: any member healthy, or a majority of the
 * voters still answering (unhealthy for now: an election under way, an alarm,
 * a slow disk). Only a majority of voters that do not answer at all is a
 * quorum lost; forcing a new cluster otherwise would split it.
 */
function refuseWhileQuorum(members: MemberView[], localUrl: string): void {
  const seen = `members seen from ${localUrl}: ${members.map(describeMember).join('; ')}`;
  const healthy = members.filter((m) => m.problem === undefined);
  if (healthy.length > 0) {
    throw new MembershipError(
      'REJECTED',
      `Chainfire still has a quorum: ${healthy.map((m) => m.name || m.id).join(', ')} ${healthy.length === 1 ? 'is' : 'are'} healthy ` +
        `(${seen}). recover is only for a lost quorum; a dead member is replaced by the controller (docs/troubleshooting.md, "Day two")`,
    );
  }
  const voters = members.filter((m) => !m.isLearner);
  const answering = voters.filter((m) => m.answered);
  if (answering.length >= quorumOf(voters.length)) {
    throw new MembershipError(
      'REJECTED',
      `Chainfire may still have a quorum: ${answering.map((m) => m.name || m.id).join(', ')} of ${voters.length} voters answer, though unhealthy ` +
        `(${seen}). A leader election, an alarm (NOSPACE) or a slow disk makes members unhealthy while a quorum of them runs; ` +
        'recover only once a majority of the voters does not answer at all (their machines gone), or the cluster splits',
    );
  }
}

async function confirm(ctx: AgentContext, opts: RecoverOptions, dropped: string[], snapshot: { file: string; revision: number } | undefined): Promise<void> {
  if (opts.yes) return;
  if (!opts.interactive) {
    throw new MembershipError('USAGE', 'recover changes the cluster for good: pass --yes to confirm when stdin is not a terminal');
  }
  const from = snapshot ? `the snapshot ${snapshot.file} (revision ${snapshot.revision}; later writes are lost)` : 'its own data';
  const question =
    `This restarts ${ctx.node}'s Chainfire as a new one-member cluster from ${from}. ` +
    `${dropped.length > 0 ? dropped.join(', ') : 'No other member'} will have to join again with wiped data. ` +
    'If they are only cut off (not gone), this splits the cluster.\n' +
    `Type ${ctx.node} to go on: `;
  const answer = await (opts.ask ?? ask)(question);
  if (answer.trim() !== ctx.node) throw new MembershipError('USAGE', 'not confirmed: nothing was changed');
}

async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

async function stopLocal(ctx: AgentContext, opts: RecoverOptions, localUrl: string): Promise<void> {
  ctx.log.info({ node: ctx.node, command: opts.stopCommand }, 'stopping the local Chainfire');
  await runCommand(opts.stopCommand, { CHAINFIRE_NAME: ctx.node }, 'stop command');
  const deadline = Date.now() + opts.healthTimeoutMs;
  for (;;) {
    const answer = await serviceAnswers(localUrl, ctx.http);
    if (answer === undefined) return;
    if (Date.now() > deadline) {
      throw new MembershipError('TIMEOUT', `the local Chainfire still answers after the stop command (${answer}); nothing was changed`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** etcdctl restores into a fresh sibling of the data dir; the old one is moved aside (nothing deleted). */
async function restoreSnapshot(ctx: AgentContext, opts: RecoverOptions, file: string, peerUrl: string, stamp: string): Promise<string | undefined> {
  const restored = `${opts.dataDir}.restore-${stamp}`;
  await mkdir(dirname(opts.dataDir), { recursive: true });
  const args = [
    'snapshot', 'restore', file,
    '--name', ctx.node,
    '--initial-cluster', `${ctx.node}=${peerUrl}`,
    '--initial-advertise-peer-urls', peerUrl,
    // A new token makes a new cluster id: watchers elsewhere can tell the store changed under them.
    '--initial-cluster-token', `chainfire-recovered-${stamp}`,
    '--data-dir', restored,
  ];
  try {
    await run(opts.etcdctl, args, { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 300_000 });
  } catch (err) {
    await rm(restored, { recursive: true, force: true });
    const stderr = ((err as { stderr?: string }).stderr ?? '').trim().split('\n').pop() ?? '';
    throw new MembershipError('COMMAND_FAILED', `etcdctl snapshot restore ${file} failed (${stderr || errorMessage(err)}); the local data is untouched`);
  }
  let movedTo: string | undefined = `${opts.dataDir}.before-recover-${stamp}`;
  try {
    await rename(opts.dataDir, movedTo);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    movedTo = undefined;
  }
  await rename(restored, opts.dataDir);
  ctx.log.info({ node: ctx.node, snapshot: file, movedTo }, 'snapshot restored into the data dir');
  return movedTo;
}

async function startRecovered(ctx: AgentContext, opts: RecoverOptions, localUrl: string, env: Record<string, string>): Promise<void> {
  await mkdir(opts.stateDir, { recursive: true });
  const envFile = join(opts.stateDir, RECOVER_ENV_FILE);
  const body = Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
  await writeFile(`${envFile}.tmp`, body, { mode: 0o644 });
  await rename(`${envFile}.tmp`, envFile);
  ctx.log.info({ node: ctx.node, command: opts.startCommand, forceNewCluster: env.CHAINFIRE_FORCE_NEW_CLUSTER }, 'starting the local Chainfire as a new one-member cluster');
  // One-shot: a later restart must not force a new cluster again, even if this process is stopped meanwhile
  // (the health-check unit also removes a file left by a recovery that was killed).
  const removeOnSignal = (signal: NodeJS.Signals) => {
    rmSync(envFile, { force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', removeOnSignal);
  process.once('SIGTERM', removeOnSignal);
  try {
    await runCommand(opts.startCommand, { ...env, CHAINFIRE_ENV_FILE: envFile }, 'start command');
    await waitForHealth(localUrl, opts.healthTimeoutMs, {
      http: ctx.http,
      onWaiting: (detail) => ctx.log.info({ node: ctx.node }, `waiting for the recovered Chainfire: ${detail}`),
    });
  } catch (err) {
    if (!isMembershipError(err, 'UNAVAILABLE') || !/Health check timeout/.test(err.message) || env.CHAINFIRE_FORCE_NEW_CLUSTER !== 'true') throw err;
    throw new MembershipError(
      'UNAVAILABLE',
      `${errorMessage(err)}; the start command may not have passed --force-new-cluster to etcd: its unit must read ` +
        `$CHAINFIRE_ENV_FILE (EnvironmentFile=) and add $CHAINFIRE_EXTRA_ARGS to etcd's command line (docs/backup-restore.md)`,
      { cause: err },
    );
  } finally {
    process.removeListener('SIGINT', removeOnSignal);
    process.removeListener('SIGTERM', removeOnSignal);
    await rm(envFile, { force: true });
  }
}

/** The recovered member and cluster ids, from the local member (which now has a quorum of one). */
async function ownMember(ctx: AgentContext, localUrl: string): Promise<{ memberId: string; clusterId: string }> {
  const client = localClient(ctx, localUrl, false);
  try {
    const list = await client.cluster.memberList({});
    const own = list.members.find((m) => m.name === ctx.node) ?? list.members[0];
    if (own === undefined || list.header === undefined) throw new Error('no member listed');
    return { memberId: BigInt(own.ID).toString(16), clusterId: BigInt(list.header.cluster_id).toString(16) };
  } finally {
    client.close();
  }
}

async function recordRecovery(ctx: AgentContext, localUrl: string, record: ChainfireRecovery): Promise<boolean> {
  const client = localClient(ctx, localUrl, true);
  const keys = new KeyLayout(ctx.flags.prefix ?? DEFAULT_PREFIX);
  try {
    await client.put(keys.clusterRecovery()).value(JSON.stringify(record));
    return true;
  } catch (err) {
    ctx.log.warn(
      { node: ctx.node, key: keys.clusterRecovery(), err: errorMessage(err) },
      'Chainfire is recovered, but the recovery could not be recorded for the controller (run recover with credentials that may write cluster/, e.g. root)',
    );
    return false;
  } finally {
    client.close();
  }
}

/** A client of the local member only; without credentials for what a member answers without a quorum. */
function localClient(ctx: AgentContext, localUrl: string, withAuth: boolean): Etcd3 {
  const flags = withAuth ? ctx.flags : { ...ctx.flags, user: undefined, passwordFile: undefined };
  const env = withAuth ? process.env : { ...process.env, CHAINFIRE_PASSWORD: undefined, ETCDCTL_USER: undefined, ETCDCTL_PASSWORD: undefined };
  const connection = resolveConnection({ ...flags, endpoints: localUrl }, env, connectionDefaults(ctx));
  return connect(connection);
}
