// What the agent reports of its local data (report.data), and how that decides
// which status it accepts: a real etcd, real agents, and the status records a
// controller would write, written here by the test.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { binPath, startProcess, type ProcessHandle } from '../support/processes.js';
import { eventually, tempDir, writeJson } from '../support/fixtures.js';
import { API_VERSION } from '../../src/schema/common.js';
import type { AgentReport } from '../../src/schema/agent-report.js';
import { KeyLayout } from '../../src/store/keys.js';

const keys = new KeyLayout();

/** A local service's /health that answers 503 until `healthy` is set. */
class FakeLocal {
  healthy = false;
  private server!: Server;
  url = '';
  async start(): Promise<void> {
    this.server = createServer((_req, res) => {
      res.statusCode = this.healthy ? 200 : 503;
      res.end(JSON.stringify({ health: String(this.healthy) }));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }
  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe('the agent reports its local data, and waits past a member of an earlier incarnation', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let dir: string;
  let local: FakeLocal;
  const agents: ProcessHandle[] = [];

  before(async () => {
    cluster = await EtcdCluster.start({ size: 1 });
    client = new Etcd3({ hosts: cluster.endpoints });
    dir = await tempDir('agent-data-');
    local = new FakeLocal();
    await local.start();
  });
  after(async () => {
    for (const a of agents) a.kill('SIGKILL');
    await Promise.all(agents.map((a) => a.exited));
    client?.close();
    await cluster?.stop();
    await local?.stop();
  });

  async function applyDesired(node: string, spec: Record<string, unknown>): Promise<number> {
    const put = await client.put(keys.desired(node)).value(JSON.stringify({ apiVersion: API_VERSION, kind: 'NodeMembership', metadata: { name: node }, spec }));
    return Number(put.header.revision);
  }

  /** A status as the controller writes it, for the generation given. */
  async function writeStatus(node: string, generation: number, condition: { type: string; status: string; reason: string }, chainfire: Record<string, unknown> = {}) {
    await client.put(keys.status(node)).value(JSON.stringify({
      apiVersion: API_VERSION, kind: 'NodeMembershipStatus', metadata: { name: node },
      status: {
        observedGeneration: generation, phase: condition.status === 'True' ? 'Ready' : 'Joining',
        conditions: [{ ...condition, message: `${condition.reason} (written by the test)`, lastTransitionTime: new Date().toISOString(), observedGeneration: generation }],
        chainfire, flaredb: {}, iam: {},
      },
    }));
  }

  async function report(node: string): Promise<AgentReport | undefined> {
    const raw = await client.get(keys.agent(node)).string();
    return raw === null ? undefined : (JSON.parse(raw) as AgentReport);
  }

  function config(node: string, extra: Record<string, unknown>) {
    return writeJson(dir, `${node}.json`, {
      node_id: node, node_role: 'worker', bootstrap: false, cluster_name: 'test-cluster', leader_url: cluster.endpoints[0],
      raft_addr: '127.0.0.1:12380', initial_peers: ['127.0.0.1:2380'], flaredb_peers: [], node_ip: '127.0.0.1',
      services: { chainfire: { client_url: local.url }, flaredb: { enabled: false }, iam: { enabled: false } },
      ...extra,
    });
  }

  it('join chainfire on empty data: reports present false, waits past an old member\'s True, remembers and reports the learner it starts, accepts only that member', async () => {
    const node = 'node04';
    local.healthy = false;
    const generation = await applyDesired(node, { role: 'worker', nodeIp: '127.0.0.1', chainfire: { raftAddr: '127.0.0.1:12380', clientUrl: local.url } });
    // The status the node's earlier incarnation left: a voter, member aaaa.
    await writeStatus(node, generation, { type: 'ChainfireMember', status: 'True', reason: 'Promoted' }, { memberId: 'aaaa', role: 'voter', initialCluster: 'node01=http://127.0.0.1:2380,node04=http://127.0.0.1:12380' });
    const stateDir = join(dir, 'state-04');
    const dataDir = join(dir, 'chainfire-04');
    const started = join(dir, 'started-04');
    const go = join(dir, 'go-04');
    const agent = startProcess(process.execPath, [
      binPath('first-boot-agent'), 'join', 'chainfire', '--config', await config(node, {}), '--state-dir', stateDir, '--data-dir', dataDir,
      '--endpoints', cluster.endpoints.join(','), '--local-url', local.url, '--timeout', '60s', '--health-timeout', '30s',
      '--start-command', `cp "${stateDir}/.chainfire-member" '${started}'; while [ ! -f '${go}' ]; do sleep 0.1; done`,
    ]);
    agents.push(agent);

    await agent.waitForLine(/status names member aaaa from before; waiting for the controller to replace it/, 30_000);
    const first = await report(node);
    assert.equal(first?.report.data?.chainfire?.present, false);
    assert.equal(first?.report.data?.chainfire?.memberId, undefined);
    await new Promise((r) => setTimeout(r, 500));
    await assert.rejects(stat(started), 'no start for the old member');

    // A learner that has started (so holds data elsewhere) is no more this incarnation's than a voter.
    await writeStatus(node, generation, { type: 'ChainfireMember', status: 'False', reason: 'LearnerCatchingUp' }, { memberId: 'dddd', role: 'learner', initialCluster: 'node01=http://127.0.0.1:2380,node04=http://127.0.0.1:12380' });
    await agent.waitForLine(/status names member dddd from before/, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    await assert.rejects(stat(started), 'no start for a learner that started before');

    // The controller replaced it: learner bbbb, not started yet.
    await writeStatus(node, generation, { type: 'ChainfireMember', status: 'False', reason: 'LearnerAdded' }, { memberId: 'bbbb', role: 'learner', initialCluster: 'node01=http://127.0.0.1:2380,node04=http://127.0.0.1:12380' });
    await eventually('the start command to run', async () => ((await stat(started).catch(() => undefined)) ? true : undefined), 30_000, 50);
    // The id was remembered before the command ran, and the report said so before it ran too.
    assert.equal((await readFile(started, 'utf8')).trim(), 'bbbb');
    const before = await report(node);
    assert.equal(before?.report.data?.chainfire?.memberId, 'bbbb');
    assert.equal(before?.report.data?.chainfire?.present, false);

    // etcd starts (its member dir appears) and answers; the controller promotes it.
    await mkdir(join(dataDir, 'member'), { recursive: true });
    local.healthy = true;
    await writeFile(go, 'go');
    await agent.waitForLine(/local Chainfire is healthy/, 30_000);
    const healthy = await report(node);
    assert.deepEqual([healthy?.report.data?.chainfire?.present, healthy?.report.data?.chainfire?.memberId], [true, 'bbbb']);
    await writeStatus(node, generation, { type: 'ChainfireMember', status: 'True', reason: 'Promoted' }, { memberId: 'bbbb', role: 'voter' });
    const exit = await agent.exited;
    assert.equal(exit.code, 0, agent.lines.join('\n'));
    await stat(join(stateDir, '.chainfire-joined'));
  });

  it('join chainfire with data present (a restart): a True for its member is accepted as before', async () => {
    const node = 'node05';
    local.healthy = true;
    const generation = await applyDesired(node, { role: 'worker', nodeIp: '127.0.0.1', chainfire: { raftAddr: '127.0.0.1:12381', clientUrl: local.url } });
    await writeStatus(node, generation, { type: 'ChainfireMember', status: 'True', reason: 'Promoted' }, { memberId: 'cccc', role: 'voter' });
    const dataDir = join(dir, 'chainfire-05');
    await mkdir(join(dataDir, 'member', 'snap'), { recursive: true });
    const agent = startProcess(process.execPath, [
      binPath('first-boot-agent'), 'join', 'chainfire', '--config', await config(node, { raft_addr: '127.0.0.1:12381' }), '--state-dir', join(dir, 'state-05'),
      '--data-dir', dataDir, '--endpoints', cluster.endpoints.join(','), '--local-url', local.url, '--timeout', '30s', '--start-command', 'false',
    ]);
    agents.push(agent);
    const exit = await agent.exited;
    assert.equal(exit.code, 0, agent.lines.join('\n'));
  });

  it('join flaredb reports whether its data dir holds data, before it waits', async () => {
    const node = 'node06';
    local.healthy = true;
    const generation = await applyDesired(node, { role: 'worker', nodeIp: '127.0.0.1', flaredb: { raftAddr: '127.0.0.1:12480', apiUrl: local.url } });
    const dataDir = join(dir, 'flaredb-06');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'CURRENT'), 'MANIFEST-000001\n');
    const agent = startProcess(process.execPath, [
      binPath('first-boot-agent'), 'join', 'flaredb', '--config', await config(node, {
        raft_addr: '127.0.0.1:12381', flaredb_peers: ['127.0.0.1:2480'],
        services: { chainfire: { enabled: false }, flaredb: { raft_addr: '127.0.0.1:12480', api_url: local.url }, iam: { enabled: false } },
      }), '--state-dir', join(dir, 'state-06'), '--data-dir', dataDir, '--endpoints', cluster.endpoints.join(','), '--timeout', '30s',
    ]);
    agents.push(agent);
    await agent.waitForLine(/waiting for the controller/, 30_000);
    const r = await report(node);
    assert.equal(r?.report.data?.flaredb?.present, true);
    assert.equal(r?.report.data?.flaredb?.memberId, undefined);
    assert.equal(r?.report.data?.chainfire, undefined);
    await writeStatus(node, generation, { type: 'FlareDBMember', status: 'True', reason: 'Joined' });
    const exit = await agent.exited;
    assert.equal(exit.code, 0, agent.lines.join('\n'));
  });
});
