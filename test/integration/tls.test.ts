import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, copyFile, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { clientCredentials, makeTestPki, peerTlsClientArgs, tlsMemberStartCommand, type CertPair, type TestPki } from '../support/certs.js';
import { EtcdCluster, type PlannedMember } from '../support/etcd-cluster.js';
import { binPath, runProcess, type ProcessHandle } from '../support/processes.js';
import { eventually, joinerClusterConfig, membershipFor, readStatus, startController, tempDir, voters, writeJson } from '../support/fixtures.js';

/** Single-line JSON log lines that are warnings. */
function warnings(stdout: string): string[] {
  return stdout.split('\n').filter((l) => /"level":"WARN"/.test(l));
}

describe('mTLS: etcd with client-cert-auth, the three programs with --cacert --cert --key', () => {
  let pki: TestPki;
  let cluster: EtcdCluster;
  let client: Etcd3;
  let dir: string;
  let endpoints: string;
  let tlsFlags: (who: string) => string[];
  const controllers: ProcessHandle[] = [];

  const ctl = (args: string[], stdin?: string) =>
    runProcess(process.execPath, [binPath('membershipctl'), ...args], { timeoutMs: 30_000, ...(stdin !== undefined ? { stdin } : {}) });

  /** A copy of a client's key with a loose mode. */
  const looseKey = async (pair: CertPair, mode: number): Promise<string> => {
    const file = join(dir, `loose-${mode.toString(8)}.key`);
    await copyFile(pair.keyFile, file);
    await chmod(file, mode);
    return file;
  };

  before(async () => {
    pki = await makeTestPki(['node04', 'controller', 'operator']);
    cluster = await EtcdCluster.start({
      size: 3,
      tls: { caFile: pki.caFile, certFile: pki.server.certFile, keyFile: pki.server.keyFile, clientCertAuth: true },
      // node04 joins with an https peer URL; the harness's members need peer TLS settings to dial it.
      extraArgs: peerTlsClientArgs(pki),
    });
    endpoints = cluster.endpoints.join(',');
    tlsFlags = (who: string) => ['--cacert', pki.caFile, '--cert', pki.clients[who]!.certFile, '--key', pki.clients[who]!.keyFile];
    client = new Etcd3({
      hosts: cluster.endpoints,
      credentials: await clientCredentials(pki, 'operator'),
    });
    dir = await tempDir('tls-');
  });

  after(async () => {
    for (const c of controllers) c.kill('SIGKILL');
    await Promise.all(controllers.map((c) => c.exited));
    client?.close();
    await cluster?.stop();
    await pki?.cleanup();
    if (dir && !process.env.KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
  });

  it('membershipctl apply and get work over mTLS', async () => {
    const records = cluster.members.map((m) => membershipFor(m, true));
    const applied = await ctl(['apply', '-f', '-', '--endpoints', endpoints, ...tlsFlags('operator')], JSON.stringify(records));
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /nodemembership\/node01 created/);
    const got = await ctl(['get', '-o', 'json', '--endpoints', endpoints, ...tlsFlags('operator')]);
    assert.equal(got.code, 0, got.stderr);
    const names = (JSON.parse(got.stdout) as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name);
    assert.deepEqual(names.sort(), ['node01', 'node02', 'node03']);
  });

  it('an http:// endpoint on the TLS port fails with a message that says to use https, not a gRPC dump', async () => {
    const plain = cluster.endpoints[0]!.replace('https://', 'http://');
    const r = await ctl(['get', '--endpoints', plain]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /it serves TLS, but the endpoint says http:\/\/; use https:\/\/127\.0\.0\.1:\d+ with --cacert/);
    assert.doesNotMatch(r.stderr, /UNAVAILABLE|Resolution note|No connection established/);
  });

  it('https without a client certificate fails with a message that asks for --cert and --key', async () => {
    const r = await ctl(['get', '--endpoints', endpoints, '--cacert', pki.caFile]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /refused the TLS connection \(TLS alert: [a-z ]+\): it requires a client certificate; pass --cert and --key/);
    assert.doesNotMatch(r.stderr, /UNAVAILABLE|Resolution note|SSL routines/);
  });

  it('a certificate from another CA fails naming the certificate; a server CA that does not match fails naming --cacert', async () => {
    const other = await makeTestPki(['stranger']);
    try {
      const stranger = other.clients.stranger!;
      const r = await ctl(['get', '--endpoints', endpoints, '--cacert', pki.caFile, '--cert', stranger.certFile, '--key', stranger.keyFile]);
      assert.notEqual(r.code, 0);
      assert.ok(r.stderr.includes(`refused the client certificate --cert ${stranger.certFile}`), r.stderr);
      const op = pki.clients.operator!;
      const wrongCa = await ctl(['get', '--endpoints', endpoints, '--cacert', other.caFile, '--cert', op.certFile, '--key', op.keyFile]);
      assert.notEqual(wrongCa.code, 0);
      assert.ok(wrongCa.stderr.includes(`cannot verify Chainfire's TLS certificate`) && wrongCa.stderr.includes(`--cacert ${other.caFile}`), wrongCa.stderr);
    } finally {
      await other.cleanup();
    }
  });

  it('the controller refuses a private key that group or others can read (exit 78), naming the file and its mode', async () => {
    const key = await looseKey(pki.clients.controller!, 0o644);
    const r = await runProcess(
      process.execPath,
      [binPath('membership-controller'), '--endpoints', endpoints, '--cacert', pki.caFile, '--cert', pki.clients.controller!.certFile, '--key', key, '--metrics-addr', 'off'],
      { timeoutMs: 30_000 },
    );
    assert.equal(r.code, 78, r.stdout + r.stderr);
    assert.ok(r.stderr.includes(`--key ${key} has mode 0644`), r.stderr);
    assert.match(r.stderr, /chmod 600/);

    const group = await looseKey(pki.clients.operator!, 0o640);
    const c = await ctl(['get', '--endpoints', endpoints, '--cacert', pki.caFile, '--cert', pki.clients.operator!.certFile, '--key', group]);
    assert.equal(c.code, 78, c.stderr);
    assert.ok(c.stderr.includes(`--key ${group} has mode 0640`), c.stderr);
  });

  it('the agent warns about such a key, naming the file and its mode, and still does its job', async () => {
    const key = await looseKey(pki.clients.node04!, 0o644);
    const member = cluster.members[0]!;
    const config = await writeJson(dir, 'bootstrap-node01.json', {
      node_id: 'node01', node_role: 'control-plane', bootstrap: true, cluster_name: 'test-cluster',
      leader_url: member.clientUrl, raft_addr: new URL(member.peerUrl).host,
      // One peer: the others share 127.0.0.1, which the config check would read as this node again.
      initial_peers: [new URL(member.peerUrl).host], flaredb_peers: [], node_ip: '127.0.0.1',
      services: { chainfire: { client_url: member.clientUrl }, flaredb: { enabled: false }, iam: { enabled: false } },
    });
    const stateDir = join(dir, 'bootstrap-state');
    // Bootstrap mode checks the local etcd's /health over mTLS with these files.
    const r = await runProcess(
      process.execPath,
      [binPath('first-boot-agent'), 'join', 'chainfire', '--config', config, '--state-dir', stateDir,
        '--cacert', pki.caFile, '--cert', pki.clients.node04!.certFile, '--key', key, '--health-timeout', '30s'],
      { timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const warned = warnings(r.stdout);
    assert.ok(warned.some((l) => l.includes(`--key ${key} has mode 0644`)), `no warning naming the key:\n${r.stdout}`);
    await readFile(join(stateDir, '.chainfire-initialized'), 'utf8');
  });

  it('node04 joins over TLS: controller, agent and the new etcd member all use certificates', async () => {
    const controller = startController(cluster.endpoints, 'tls-c1', tlsFlags('controller'));
    controllers.push(controller);
    await controller.waitForLine(/became leader/, 30_000);

    const plan: PlannedMember = await cluster.planMember('node04');
    // node04 serves client and peer ports over TLS (plan.startCommand would serve peers over http).
    const startCommand = tlsMemberStartCommand(plan, pki);

    const record = membershipFor(plan, false, { role: 'worker' });
    const applied = await ctl(['apply', '-f', '-', '--endpoints', endpoints, ...tlsFlags('operator')], JSON.stringify(record));
    assert.equal(applied.code, 0, applied.stderr);

    const config = await writeJson(dir, 'node04.json', {
      ...joinerClusterConfig(cluster, plan),
      tls: { ca_file: pki.caFile, cert_file: pki.clients.node04!.certFile, key_file: pki.clients.node04!.keyFile },
    });
    const stateDir = join(dir, 'node04-state');
    const agent = await runProcess(
      process.execPath,
      [binPath('first-boot-agent'), 'join', 'chainfire', '--config', config, '--state-dir', stateDir,
        '--endpoints', endpoints, ...tlsFlags('node04'),
        '--start-command', startCommand, '--local-url', plan.clientUrl, '--timeout', '120s'],
      { timeoutMs: 150_000 },
    );
    assert.equal(agent.code, 0, `agent failed:\n${agent.stdout}\n${agent.stderr}\n${await readFile(plan.logFile, 'utf8').catch(() => '')}`);
    assert.deepEqual(warnings(agent.stdout), [], 'a 0600 key gives no warning');

    assert.deepEqual(await voters(client), { voters: ['node01', 'node02', 'node03', 'node04'], learners: [] });
    const status = await eventually('node04 Ready', async () => {
      const s = await readStatus(client, 'node04');
      return s?.status.phase === 'Ready' ? s : undefined;
    });
    assert.equal(status.status.chainfire.peerUrl, `https://${plan.raftAddr}`);
    await readFile(join(stateDir, '.chainfire-joined'), 'utf8');

    // node04's own client port demands a certificate too.
    const direct = await ctl(['get', 'node04', '--endpoints', plan.clientUrl, ...tlsFlags('operator')]);
    assert.equal(direct.code, 0, direct.stderr);
    assert.match(direct.stdout, /node04\s+worker\s+Present\s+Ready\s+True/);
  });
});
