import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { FlareDBSimulator } from '../support/flaredb-simulator.js';
import { IAMSimulator } from '../support/iam-simulator.js';
import { binPath, startProcess, type ProcessHandle } from '../support/processes.js';
import { controllerStateDir, eventually, tempDir, writeJson } from '../support/fixtures.js';
import { KeyLayout } from '../../src/store/keys.js';
import { API_VERSION } from '../../src/schema/common.js';

const keys = new KeyLayout();

/** The highest mod revision among the keys only a leader writes. */
async function lastLeaderWrite(client: Etcd3): Promise<number> {
  let max = 0;
  for (const prefix of [keys.dir('status'), `${keys.prefix}/operations/`, keys.clusterStatus()]) {
    const res = await client.getAll().prefix(prefix).exec();
    for (const kv of res.kvs) max = Math.max(max, Number(kv.mod_revision));
  }
  return max;
}

describe('a leader paused with SIGSTOP and resumed after a standby took over', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let flaredb: FlareDBSimulator;
  let iam: IAMSimulator;
  const procs: ProcessHandle[] = [];

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    client = new Etcd3({ hosts: cluster.endpoints });
    flaredb = await FlareDBSimulator.start({ replicas: 1, members: [{ id: 'node01', raft_addr: '127.0.0.1:24800' }] });
    iam = await IAMSimulator.start();
  });
  after(async () => {
    for (const p of procs) {
      p.kill('SIGCONT');
      p.kill('SIGKILL');
    }
    await Promise.all(procs.map((p) => p.exited));
    client?.close();
    await cluster?.stop();
    await flaredb?.stop();
    await iam?.stop();
  });

  it('makes no write that lands and no call to FlareDB or IAM', async () => {
    const dir = await tempDir('sigstop-');
    const secret = join(dir, 'admin.json');
    await writeFile(secret, JSON.stringify({ user: 'admin', password: 'pw-sigstop' }));
    await chmod(secret, 0o600);
    const config = await writeJson(dir, 'controller.json', {
      flaredb: { endpoints: flaredb.urls, requestTimeoutMs: 1000, retries: 1 },
      iam: { endpoints: iam.urls, adminSecretFile: secret },
    });
    const start = (identity: string, ttl: string) => {
      const p = startProcess(process.execPath, [
        binPath('membership-controller'), '--endpoints', cluster.endpoints.join(','), '--identity', identity, '--config', config,
        '--lease-ttl', ttl, '--resync-period', '1s', '--metrics-addr', 'off', '--state-dir', controllerStateDir(),
      ]);
      procs.push(p);
      return p;
    };
    const a = start('a', '2');
    await a.waitForLine(/became leader/, 30_000);
    // The standby's lease is long, so that the paused leader cannot win back within the test's window.
    const b = start('b', '20');
    await b.waitForLine(/standing by/, 30_000);

    // Work that keeps a leader calling FlareDB: a join whose add always fails.
    flaredb.failNext(1_000_000, 503, { route: 'POST /admin/member/add' });
    await client.put(keys.desired('node04')).value(JSON.stringify({
      apiVersion: API_VERSION, kind: 'NodeMembership', metadata: { name: 'node04' },
      spec: { role: 'worker', flaredb: { raftAddr: '127.0.0.1:24804', apiUrl: flaredb.urls[0] } },
    }));
    await client.put(keys.agent('node04')).value(JSON.stringify({
      apiVersion: API_VERSION, kind: 'AgentReport', metadata: { name: 'node04' },
      report: { agentVersion: 't', pid: 1, hostname: 'h', startedAt: new Date().toISOString(), mode: 'join', waitingFor: 'flaredb',
        services: { flaredb: { healthy: true, checkedAt: new Date().toISOString() } } },
    }));
    const adds = () => flaredb.count('POST', '/admin/member/add');
    await eventually('the leader to try the add', async () => (adds() > 0 ? true : undefined));

    a.kill('SIGSTOP');
    await b.waitForLine(/became leader/, 30_000);
    const before = adds();
    await eventually('the new leader to try the add', async () => (adds() > before ? true : undefined));
    b.kill('SIGSTOP');
    // Let answers to requests already sent arrive.
    await new Promise((r) => setTimeout(r, 1500));
    const flaredbCalls = flaredb.calls.length;
    const iamCalls = iam.calls.length;
    const lastWrite = await lastLeaderWrite(client);

    a.kill('SIGCONT');
    await a.waitForLine(/leadership lost/, 15_000);
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal(flaredb.calls.length, flaredbCalls, 'the resumed former leader called FlareDB');
    assert.equal(iam.calls.length, iamCalls, 'the resumed former leader called IAM');
    assert.equal(await lastLeaderWrite(client), lastWrite, 'a write of the resumed former leader landed');
    b.kill('SIGCONT');
  });
});
