// The first-boot agent against a Chainfire in trouble: etcd's Raft leader killed
// while agents publish their reports and start their watches, and a control-plane
// node that the voter policy keeps out of Chainfire. Real etcd, real agents, the
// real controller; FlareDB and IAM simulated.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdCluster, type EtcdMember } from '../support/etcd-cluster.js';
import { FlareDBSimulator } from '../support/flaredb-simulator.js';
import { IAMSimulator } from '../support/iam-simulator.js';
import { binPath, runProcess, type ProcessHandle, type RunResult } from '../support/processes.js';
import { bootstrapRecords, ctl, eventually, readStatus, startController, tempDir, voters, withControllerLog, writeJson } from '../support/fixtures.js';
import { API_VERSION } from '../../src/schema/common.js';
import { KeyLayout } from '../../src/store/keys.js';

const keys = new KeyLayout();

/** The member that etcd's own gauge names the Raft leader. */
async function raftLeader(cluster: EtcdCluster): Promise<EtcdMember> {
  return eventually('a Raft leader', async () => {
    for (const m of cluster.members) {
      if (m.pid === undefined) continue;
      try {
        const res = await fetch(`${m.clientUrl}/metrics`, { signal: AbortSignal.timeout(1000) });
        if (/^etcd_server_is_leader 1$/m.test(await res.text())) return m;
      } catch {
        // not answering: not the leader
      }
    }
    return undefined;
  }, 30_000, 50);
}

/** The agent's JSON lines at WARN. */
function warnings(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.includes('"level":"WARN"'));
}

/** A simulated FlareDB and IAM, and a controller configured with both (IAM's initial setup done). */
async function servicesAndController(cluster: EtcdCluster, dir: string, identity: string) {
  const flaredb = await FlareDBSimulator.start({
    replicas: 1,
    members: cluster.members.map((m, i) => ({ id: m.name, raft_addr: `127.0.0.1:${25800 + i}` })),
  });
  const iam = await IAMSimulator.start();
  const secret = join(dir, 'iam-admin.json');
  await writeFile(secret, JSON.stringify({ user: 'admin', password: `pw-${randomBytes(8).toString('hex')}` }));
  await chmod(secret, 0o600);
  const config = await writeJson(dir, 'controller.json', {
    flaredb: { endpoints: flaredb.urls, requestTimeoutMs: 1000, retries: 3 },
    iam: { endpoints: iam.urls, requestTimeoutMs: 1000, retries: 3, adminSecretFile: secret },
  });
  const controller = startController(cluster.endpoints, identity, ['--config', config]);
  await controller.waitForLine(/became leader/, 30_000);
  await eventually('IAM initial setup', async () => (iam.bootstrapCount === 1 ? true : undefined));
  return { flaredb, iam, controller };
}

describe('agents ride out Chainfire leader changes within --timeout', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let flaredb: FlareDBSimulator;
  let iam: IAMSimulator;
  let controller: ProcessHandle;
  let dir: string;

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    client = new Etcd3({ hosts: cluster.endpoints });
    dir = await tempDir('agent-transient-');
    ({ flaredb, iam, controller } = await servicesAndController(cluster, dir, 'transient-c1'));
  });
  after(async () => {
    controller?.kill('SIGKILL');
    await controller?.exited;
    client?.close();
    await cluster?.stop();
    await flaredb?.stop();
    await iam?.stop();
  });

  it('three joiners, each started as etcd\'s Raft leader is killed (three kills): every agent exits 0 on its first run', async () => {
    await withControllerLog(controller, async () => {
      const nodes = ['iam01', 'iam02', 'iam03'];
      const records = nodes.map((name) => ({
        apiVersion: API_VERSION,
        kind: 'NodeMembership',
        metadata: { name },
        spec: { role: 'worker', state: 'Present', nodeIp: '127.0.0.1', iam: {} },
      }));
      const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify([...bootstrapRecords(cluster), ...records]));
      assert.equal(applied.code, 0, applied.stderr);

      // Every agent is given all three endpoints, the killed one too, as a node's config would.
      const endpoints = cluster.endpoints.join(',');
      const runs: Promise<RunResult>[] = [];
      for (const [i, node] of nodes.entries()) {
        const config = await writeJson(dir, `${node}.json`, {
          node_id: node, node_role: 'worker', bootstrap: false, cluster_name: 'test-cluster',
          leader_url: cluster.endpoints[0], raft_addr: `127.0.0.1:${26380 + i}`,
          initial_peers: cluster.members.map((m) => new URL(m.peerUrl).host), flaredb_peers: [], node_ip: '127.0.0.1',
          services: { chainfire: { enabled: false }, flaredb: { enabled: false }, iam: { enabled: true, api_url: iam.urls[0] } },
        });
        const leader = await raftLeader(cluster);
        await cluster.kill(leader.name, 'SIGKILL');
        // The agent starts while the survivors still follow the dead leader: its first report, its health
        // report and its first list+watch land in the election.
        runs.push(runProcess(process.execPath, [
          binPath('first-boot-agent'), 'iam-setup', '--config', config, '--state-dir', join(dir, node),
          '--endpoints', endpoints, '--timeout', '120s', '--heartbeat-ttl', '3',
        ], { timeoutMs: 150_000 }));
        const next = await raftLeader(cluster);
        assert.notEqual(next.name, leader.name);
        await cluster.restart(leader.name);
      }

      const results = await Promise.all(runs);
      for (const [i, r] of results.entries()) {
        assert.equal(r.code, 0, `${nodes[i]}'s agent exited ${r.code} on its first run:\n${r.stdout}\n${r.stderr}`);
        await stat(join(dir, nodes[i]!, '.iam-initialized'));
      }
      // The kills reached the agents: at least one of them retried a call, and said why at WARN.
      const retried = results.flatMap((r) => warnings(r.stdout)).filter((l) => /retrying/.test(l));
      assert.ok(retried.length > 0, `no agent retried anything:\n${results.map((r) => r.stdout).join('\n')}`);
      for (const node of nodes) assert.ok(iam.nodes.has(node), `${node} is registered with IAM`);
    });
  });
});

describe('a control-plane node beyond maxVoters finishes its units without a restart', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let flaredb: FlareDBSimulator;
  let iam: IAMSimulator;
  let controller: ProcessHandle;
  let dir: string;

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    client = new Etcd3({ hosts: cluster.endpoints });
    dir = await tempDir('agent-voter-limit-');
    // Three voters, and three is the most cluster/config allows.
    await client.put(keys.clusterConfig()).value(JSON.stringify({ spec: { maxVoters: 3 } }));
    ({ flaredb, iam, controller } = await servicesAndController(cluster, dir, 'voter-limit-c1'));
  });
  after(async () => {
    controller?.kill('SIGKILL');
    await controller?.exited;
    client?.close();
    await cluster?.stop();
    await flaredb?.stop();
    await iam?.stop();
  });

  it('join chainfire exits 0 (VoterLimitReached: a Chainfire client, no marker), then join flaredb and iam-setup finish', async () => {
    await withControllerLog(controller, async () => {
      const plan = await cluster.planMember('node05');
      const bootstrap = cluster.members.map((m, i) => ({
        apiVersion: API_VERSION, kind: 'NodeMembership', metadata: { name: m.name },
        spec: {
          role: 'control-plane', bootstrap: true, state: 'Present', nodeIp: '127.0.0.1',
          chainfire: { raftAddr: new URL(m.peerUrl).host, clientUrl: m.clientUrl },
          flaredb: { raftAddr: `127.0.0.1:${25800 + i}`, apiUrl: flaredb.urls[0] }, iam: {},
        },
      }));
      const config = {
        node_id: 'node05', node_role: 'control-plane', bootstrap: false, cluster_name: 'test-cluster',
        leader_url: cluster.endpoints[0], raft_addr: plan.raftAddr,
        initial_peers: cluster.members.map((m) => new URL(m.peerUrl).host), flaredb_peers: ['127.0.0.1:25800'], node_ip: '127.0.0.1',
        services: {
          chainfire: { client_url: plan.clientUrl },
          flaredb: { raft_addr: '127.0.0.1:25815', api_url: flaredb.urls[0] },
          iam: { api_url: iam.urls[0] },
        },
      };
      const configPath = await writeJson(dir, 'node05.json', config);
      const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(bootstrap));
      assert.equal(applied.code, 0, applied.stderr);
      const node05 = await ctl(cluster.endpoints, ['apply', '--from-cluster-config', configPath]);
      assert.equal(node05.code, 0, node05.stdout + node05.stderr);

      const stateDir = join(dir, 'state');
      const common = ['--config', configPath, '--state-dir', stateDir, '--endpoints', cluster.endpoints.join(','), '--timeout', '30s'];
      const agent = (args: string[]) => runProcess(process.execPath, [binPath('first-boot-agent'), ...args, ...common], { timeoutMs: 60_000 });

      // As systemd runs the units, each once: chainfire, then flaredb, then iam.
      const cf = await agent(['join', 'chainfire', '--start-command', 'echo must-not-run >&2; exit 1', '--local-url', plan.clientUrl]);
      assert.equal(cf.code, 0, cf.stdout + cf.stderr);
      assert.match(cf.stdout, /"level":"INFO".*VoterLimitReached.*stays a client of Chainfire/);
      assert.doesNotMatch(cf.stderr, /must-not-run/);
      await assert.rejects(stat(join(stateDir, '.chainfire-joined')), 'no marker: a later boot looks again');

      const fd = await agent(['join', 'flaredb']);
      assert.equal(fd.code, 0, fd.stdout + fd.stderr);
      await readFile(join(stateDir, '.flaredb-joined'), 'utf8');
      const im = await agent(['iam-setup']);
      assert.equal(im.code, 0, im.stdout + im.stderr);
      await readFile(join(stateDir, '.iam-initialized'), 'utf8');

      assert.deepEqual(flaredb.members().filter((m) => m.id === 'node05').map((m) => m.raft_addr), ['127.0.0.1:25815']);
      assert.ok(iam.nodes.has('node05'), 'node05 is registered with IAM');
      assert.deepEqual(await voters(client), { voters: ['node01', 'node02', 'node03'], learners: [] }, 'Chainfire unchanged');
      const status = await readStatus(client, 'node05');
      assert.equal(status?.status.conditions.find((c) => c.type === 'FlareDBMember')?.status, 'True', JSON.stringify(status?.status.conditions));
    });
  });
});
