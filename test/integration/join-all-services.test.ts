import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdCluster, type PlannedMember } from '../support/etcd-cluster.js';
import { FlareDBSimulator } from '../support/flaredb-simulator.js';
import { IAMSimulator } from '../support/iam-simulator.js';
import { binPath, runProcess, type ProcessHandle } from '../support/processes.js';
import { ctl, eventually, membershipFor, readStatus, startController, tempDir, voters, writeJson } from '../support/fixtures.js';
import { KeyLayout } from '../../src/store/keys.js';
import type { ClusterStatus } from '../../src/schema/cluster.js';

describe('node04 joins Chainfire (real etcd), FlareDB and IAM (simulators) in order', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let flaredb: FlareDBSimulator;
  let iam: IAMSimulator;
  let dir: string;
  let configPath: string;
  let plan: PlannedMember;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const controllers: ProcessHandle[] = [];
  const keys = new KeyLayout();

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    client = new Etcd3({ hosts: cluster.endpoints });
    flaredb = await FlareDBSimulator.start({
      replicas: 3,
      leader: 1,
      members: cluster.members.map((m, i) => ({ id: m.name, raft_addr: `127.0.0.1:${24800 + i}` })),
    });
    iam = await IAMSimulator.start();
    dir = await tempDir('join-all-');
    const secret = join(dir, 'iam-admin.json');
    await writeFile(secret, JSON.stringify({ user: 'admin', password }));
    await chmod(secret, 0o600);
    configPath = await writeJson(dir, 'controller.json', {
      // The first endpoint is a follower: the driver must follow it to the leader.
      flaredb: { endpoints: flaredb.urls, requestTimeoutMs: 1000, retries: 5 },
      iam: { endpoints: iam.urls, requestTimeoutMs: 1000, retries: 5, adminSecretFile: secret },
    });
    plan = await cluster.planMember('node04');
  });

  after(async () => {
    for (const c of controllers) c.kill('SIGKILL');
    await Promise.all(controllers.map((c) => c.exited));
    client?.close();
    await cluster?.stop();
    await flaredb?.stop();
    await iam?.stop();
  });

  it('sets IAM up once, then joins node04 to all three despite 503s, a lost answer and slow responses', async () => {
    const c1 = startController(cluster.endpoints, 'c1', ['--config', configPath, '--resync-period', '10m']);
    controllers.push(c1);
    await c1.waitForLine(/became leader/, 30_000);
    await eventually('IAM initial setup', async () => (iam.bootstrapCount === 1 ? true : undefined));
    assert.equal(iam.adminUser, 'admin');

    const bootstrap = cluster.members.map((m, i) =>
      membershipFor(m, true, { flaredb: { raftAddr: `127.0.0.1:${24800 + i}`, apiUrl: flaredb.urls[0]! }, iam: {} }),
    );
    const node04 = membershipFor(plan, false, {
      role: 'control-plane',
      flaredb: { raftAddr: '127.0.0.1:24813', apiUrl: flaredb.urls[2]! },
      iam: {},
    });
    const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify([...bootstrap, node04]));
    assert.equal(applied.code, 0, applied.stderr);

    // FlareDB misbehaves on the add: two 503s, then an add whose answer is lost
    // (the retry then gets 409), and every answer is slow.
    flaredb.failNext(2, 503, { route: 'POST /admin/member/add' });
    flaredb.dropAfterApplyNext(1, { route: 'POST /admin/member/add' });
    flaredb.latencyMs = 150;

    const config = await writeJson(dir, 'node04.json', {
      node_id: 'node04', node_role: 'control-plane', bootstrap: false, cluster_name: 'test-cluster',
      leader_url: cluster.endpoints[0], raft_addr: plan.raftAddr, initial_peers: cluster.members.map((m) => new URL(m.peerUrl).host),
      flaredb_peers: ['127.0.0.1:24800'], node_ip: '127.0.0.1',
      services: {
        chainfire: { client_url: plan.clientUrl },
        flaredb: { raft_addr: '127.0.0.1:24813', api_url: flaredb.urls[2] },
        iam: { api_url: iam.urls[0] },
      },
    });
    const stateDir = join(dir, 'state');
    const common = ['--config', config, '--state-dir', stateDir, '--endpoints', cluster.endpoints.join(','), '--timeout', '120s'];
    const agent = (args: string[]) => runProcess(process.execPath, [binPath('first-boot-agent'), ...args, ...common], { timeoutMs: 150_000 });

    // As systemd runs the units: chainfire, then flaredb, then iam.
    const cf = await agent(['join', 'chainfire', '--start-command', plan.startCommand, '--local-url', plan.clientUrl]);
    assert.equal(cf.code, 0, cf.stdout + cf.stderr);
    const fd = await agent(['join', 'flaredb']);
    assert.equal(fd.code, 0, fd.stdout + fd.stderr);
    const im = await agent(['iam-setup']);
    assert.equal(im.code, 0, im.stdout + im.stderr);

    assert.deepEqual(await voters(client), { voters: ['node01', 'node02', 'node03', 'node04'], learners: [] });
    const members = flaredb.members().filter((m) => m.id === 'node04');
    assert.deepEqual(members.map((m) => [m.id, m.raft_addr]), [['node04', '127.0.0.1:24813']], 'node04 is a FlareDB member exactly once');
    assert.ok(flaredb.count('POST', '/admin/member/add') >= 4, 'the faults were exercised');
    assert.ok(iam.nodes.has('node04'), 'node04 is registered with IAM');

    const status = await eventually('node04 Ready', async () => {
      const s = await readStatus(client, 'node04');
      return s?.status.phase === 'Ready' ? s : undefined;
    });
    const at = (type: string) => {
      const c = status.status.conditions.find((x) => x.type === type);
      assert.equal(c?.status, 'True', `${type} is True`);
      return Date.parse(c!.lastTransitionTime);
    };
    assert.ok(at('ChainfireMember') <= at('FlareDBMember'), 'Chainfire before FlareDB');
    assert.ok(at('FlareDBMember') <= at('IAMRegistered'), 'FlareDB before IAM');
  });

  it('IAM\'s initial setup is not repeated by the next leader, even if its record was lost', async () => {
    const [c1] = controllers;
    c1!.kill('SIGKILL');
    await c1!.exited;
    await client.delete().key(keys.clusterStatus());
    const c2 = startController(cluster.endpoints, 'c2', ['--config', configPath]);
    controllers.push(c2);
    await c2.waitForLine(/became leader/, 30_000);
    const record = await eventually('cluster/status rewritten by c2', async () => {
      const raw = await client.get(keys.clusterStatus()).string();
      return raw === null ? undefined : (JSON.parse(raw) as ClusterStatus);
    });
    assert.equal(record.status.iam?.outcome, 'already-initialized');
    assert.match(record.status.iam?.by ?? '', /^c2 /);
    assert.equal(iam.bootstrapCount, 1);
    assert.equal(iam.count('POST', '/admin/bootstrap'), 1, 'one setup call in all');
  });

  it('nodes that found FlareDB down are looked at again as soon as it answers, not after their own retry', async () => {
    for (const earlier of controllers) earlier.kill('SIGTERM');
    await Promise.all(controllers.map((earlier) => earlier.exited));
    const c = startController(cluster.endpoints, 'c-recovery', ['--config', configPath]);
    controllers.push(c);
    await c.waitForLine(/became leader/, 30_000);
    await flaredb.down();
    const nodes = ['fdb-r1', 'fdb-r2', 'fdb-r3'];
    for (const [i, node] of nodes.entries()) {
      await client.put(keys.desired(node)).value(JSON.stringify({
        apiVersion: 'membership.photoncloud.io/v1alpha1', kind: 'NodeMembership', metadata: { name: node },
        spec: { role: 'worker', flaredb: { raftAddr: `127.0.0.1:${24900 + i}`, apiUrl: 'http://127.0.0.1:1' } },
      }));
      await client.put(keys.agent(node)).value(JSON.stringify({
        apiVersion: 'membership.photoncloud.io/v1alpha1', kind: 'AgentReport', metadata: { name: node },
        report: { agentVersion: 't', pid: 1, hostname: 'h', startedAt: new Date().toISOString(), mode: 'join', waitingFor: 'flaredb',
          services: { flaredb: { healthy: true, checkedAt: new Date().toISOString() } } },
      }));
    }
    for (const node of nodes) {
      await eventually(`${node} to say FlareDB is unavailable`, async () => {
        const st = await readStatus(client, node);
        return st?.status.conditions.some((x) => x.type === 'FlareDBMember' && x.reason === 'ServiceUnavailable') ? true : undefined;
      }, 30_000);
    }
    // Past the moment each node looked: only the controller's probe can notice the return in time.
    await new Promise((r) => setTimeout(r, 1000));
    const upAt = Date.now();
    await flaredb.up();
    for (const node of nodes) {
      await eventually(`${node} Ready`, async () => ((await readStatus(client, node))?.status.phase === 'Ready' ? true : undefined), 30_000, 50);
    }
    const tookMs = Date.now() - upAt;
    // A node's own retry after finding a service unavailable is 10 s (UNAVAILABLE_RETRY_MS): this bound
    // fails without the probe, and is generous for a machine under load.
    assert.ok(tookMs < 8000, `all three Ready ${tookMs} ms after FlareDB came back`);
    assert.ok(await c.waitForLine(/service answers again; looking at the nodes that waited for it/, 1000));
    for (const node of nodes) assert.equal(flaredb.members().filter((m) => m.id === node).length, 1, `${node} is a FlareDB member once`);
    c.kill('SIGTERM');
    await c.exited;
  });
});
