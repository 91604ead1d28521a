// Quorum loss and its recovery, shared by test/integration/recover.test.ts and the bench's quorum scenario:
// two of three voters killed for good, `first-boot-agent recover chainfire` on the survivor (node01), the
// lost nodes brought back reprovisioned through their join units, and the wait for three healthy voters.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { describeMembers, describeStatus, healthyVoters, makeJoiner, readStatusBody, startJoin, until, type Joiner } from './day-two.js';
import { checkHealth, type EtcdCluster } from './etcd-cluster.js';
import { joinerClusterConfig, writeJson } from './fixtures.js';
import { binPath, runProcess, type ProcessHandle, type RunResult } from './processes.js';

export const ETCDCTL = process.env.ETCDCTL_BIN ?? 'etcdctl';
export const LOST = ['node02', 'node03'];

/** node01's cluster-config.json and state dir in `dir`: the survivor of the quorum loss. */
export async function survivorOf(cluster: EtcdCluster, dir: string): Promise<Joiner> {
  const node01 = cluster.asNode('node01');
  // (Several nodes share 127.0.0.1 here, which a bootstrap config's initial_peers cannot tell apart: its join-mode form.)
  const config = await writeJson(dir, 'node01-cluster-config.json', {
    ...joinerClusterConfig(cluster, node01), node_role: 'control-plane', leader_url: cluster.member('node02').clientUrl,
  });
  return { plan: node01, config, stateDir: join(dir, 'node01-state') };
}

export function recoverArgs(cluster: EtcdCluster, survivor: Joiner, extra: string[] = []): string[] {
  const node = cluster.asNode('node01');
  return [
    binPath('first-boot-agent'), 'recover', 'chainfire',
    '--config', survivor.config,
    '--state-dir', survivor.stateDir,
    '--data-dir', node.dataDir,
    '--local-url', node.clientUrl,
    '--stop-command', node.stopCommand,
    '--start-command', node.startCommand,
    '--etcdctl', ETCDCTL,
    '--health-timeout', '60s',
    ...extra,
  ];
}

export function runRecover(cluster: EtcdCluster, survivor: Joiner, extra: string[] = []): Promise<RunResult> {
  return runProcess(process.execPath, recoverArgs(cluster, survivor, extra), { timeoutMs: 120_000 });
}

/** Kills node02 and node03 for good (their data dirs gone) and waits until node01 has no leader. */
export async function loseQuorum(cluster: EtcdCluster): Promise<void> {
  for (const n of LOST) {
    await cluster.kill(n, 'SIGKILL');
    await rm(cluster.member(n).dataDir, { recursive: true, force: true });
  }
  const url = cluster.member('node01').clientUrl;
  await until('node01 without a leader', async () => ((await checkHealth(url)) === true ? { seen: 'healthy' } : { done: true }), 30_000, 100);
}

/** The lost nodes come back reprovisioned (wiped data, join mode) and their join units run. */
export async function bringBack(cluster: EtcdCluster, dir: string, endpoints: string[]): Promise<ProcessHandle[]> {
  const agents: ProcessHandle[] = [];
  for (const n of LOST) {
    const j = await makeJoiner(cluster, cluster.asNode(n), dir, 'control-plane');
    await rm(j.stateDir, { recursive: true, force: true });
    agents.push(await startJoin(j, endpoints, '150s'));
  }
  return agents;
}

/** Three healthy voters named node01..node03, no learner, no stale member, and each of `ready` Ready. */
export async function threeHealthyVoters(endpoint: string, ready: string[], timeoutMs = 150_000, everyMs = 250): Promise<void> {
  const client = new Etcd3({ hosts: [endpoint] });
  try {
    await until('three healthy voters, no learner, no stale member', async () => {
      const { healthy, rows, problems } = await healthyVoters(client);
      const names = rows.map((r) => r.name).sort().join(',');
      const ok = healthy.length === 3 && rows.length === 3 && rows.every((r) => !r.isLearner) && names === 'node01,node02,node03';
      return ok ? { done: true } : { seen: `${describeMembers(rows)} ${problems.join('; ')}` };
    }, timeoutMs, everyMs);
    for (const n of ready) {
      await until(`${n} Ready after the recovery`, async () => {
        const st = await readStatusBody(client, n);
        return st?.phase === 'Ready' ? { done: true } : { seen: describeStatus(st) };
      }, 60_000, everyMs);
    }
  } finally {
    client.close();
  }
}
