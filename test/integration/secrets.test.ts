import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { clientCredentials, makeTestPki, peerTlsClientArgs, tlsMemberStartCommand, type TestPki } from '../support/certs.js';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { IAMSimulator } from '../support/iam-simulator.js';
import { binPath, runProcess, startProcess, type ProcessHandle, type RunResult } from '../support/processes.js';
import { controllerStateDir, eventually, joinerClusterConfig, membershipFor, readStatus, tempDir, voters, writeJson } from '../support/fixtures.js';
import { applyRbac } from '../../src/ctl/rbac.js';
import { KeyLayout } from '../../src/store/keys.js';

const secret = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;

/** The base64 lines of a PEM file, without its BEGIN/END lines. */
async function pemBody(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('-----'));
}

describe('secrets never appear in what the programs write', () => {
  let pki: TestPki;
  let cluster: EtcdCluster;
  let iam: IAMSimulator;
  let dir: string;
  let credentials: string;
  let admin: Etcd3;
  let controller: ProcessHandle;
  const rootPassword = secret('root');
  const iamPassword = secret('iam-admin');
  const wrongPassword = secret('wrong');
  /** Every line any of our processes wrote, by process. */
  const output: { who: string; lines: string[] }[] = [];

  const record = (who: string, r: RunResult): RunResult => {
    output.push({ who, lines: `${r.stdout}\n${r.stderr}`.split('\n') });
    return r;
  };
  const passwordOf = async (user: string) => (await readFile(join(credentials, `${user}.password`), 'utf8')).trim();
  const tls = (who: string) => ['--cacert', pki.caFile, '--cert', pki.clients[who]!.certFile, '--key', pki.clients[who]!.keyFile];

  before(async () => {
    pki = await makeTestPki(['node04', 'controller', 'operator']);
    cluster = await EtcdCluster.start({
      size: 1,
      tls: { caFile: pki.caFile, certFile: pki.server.certFile, keyFile: pki.server.keyFile, clientCertAuth: true },
      extraArgs: peerTlsClientArgs(pki),
    });
    dir = await tempDir('secrets-');
    credentials = join(dir, 'credentials');
    const tlsCredentials = await clientCredentials(pki, 'operator');
    const setup = new Etcd3({ hosts: cluster.endpoints, credentials: tlsCredentials });
    try {
      await applyRbac(setup, new KeyLayout(), { nodes: ['node01', 'node04'], outDir: credentials, enableAuth: true, rootPassword });
    } finally {
      setup.close();
    }
    admin = new Etcd3({ hosts: cluster.endpoints, credentials: tlsCredentials, auth: { username: 'root', password: rootPassword } });

    // IAM over mTLS too, with the controller's key.
    iam = await IAMSimulator.start({
      tls: { cert: await readFile(pki.server.certFile), key: await readFile(pki.server.keyFile), ca: await readFile(pki.caFile), requireClientCert: true },
    });
  });

  after(async () => {
    controller?.kill('SIGKILL');
    await controller?.exited;
    admin?.close();
    await cluster?.stop();
    await iam?.stop();
    await pki?.cleanup();
    // Password files and the IAM admin secret.
    if (dir && !process.env.KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
  });

  it('runs the controller, membershipctl and the agent with passwords, an IAM admin secret and private keys', async () => {
    const endpoints = ['--endpoints', cluster.endpoints.join(',')];
    const adminSecret = join(dir, 'iam-admin.json');
    await writeFile(adminSecret, JSON.stringify({ user: 'admin', password: iamPassword }));
    await chmod(adminSecret, 0o600);
    const controllerKey = pki.clients.controller!;
    const config = await writeJson(dir, 'controller.json', {
      iam: {
        endpoints: iam.urls,
        tls: { caFile: pki.caFile, certFile: controllerKey.certFile, keyFile: controllerKey.keyFile },
        adminSecretFile: adminSecret,
        requestTimeoutMs: 1000,
        retries: 1,
      },
    });
    // IAM fails the first setups, echoing the password back in its error body.
    iam.failNext(2, 500, { route: 'POST /admin/bootstrap', body: { error: `cannot set up admin with password ${iamPassword}` } });

    // The controller: password from a file, debug logging.
    controller = startProcess(process.execPath, [
      binPath('membership-controller'), ...endpoints, ...tls('controller'),
      '--user', 'membership-controller', '--password-file', join(credentials, 'membership-controller.password'),
      '--config', config, '--identity', 'secrets-c1', '--lease-ttl', '3', '--resync-period', '2s',
      '--metrics-addr', '127.0.0.1:0', '--log-level', 'debug', '--state-dir', controllerStateDir(),
    ]);
    await controller.waitForLine(/became leader/, 30_000);
    await eventually('IAM initial setup', async () => (iam.bootstrapCount === 1 ? true : undefined));
    const cmdline = await readFile(`/proc/${controller.pid}/cmdline`, 'utf8');
    assert.ok(!cmdline.includes(await passwordOf('membership-controller')), 'the password is not on the command line');

    // membershipctl: password from CHAINFIRE_PASSWORD.
    const operatorEnv = { CHAINFIRE_PASSWORD: await passwordOf('membership-operator') };
    const asOperator = ['--user', 'membership-operator', ...tls('operator'), ...endpoints];
    const plan = await cluster.planMember('node04');
    const records = [membershipFor(cluster.members[0]!, true), membershipFor(plan, false, { role: 'worker' })];
    const applied = record('membershipctl apply', await runProcess(process.execPath, [binPath('membershipctl'), 'apply', '-f', '-', ...asOperator], {
      env: operatorEnv, stdin: JSON.stringify(records), timeoutMs: 30_000,
    }));
    assert.equal(applied.code, 0, applied.stderr);

    // The agent: its own least-privilege user, password from CHAINFIRE_PASSWORD, debug logging.
    const agentConfig = await writeJson(dir, 'node04.json', {
      ...joinerClusterConfig(cluster, plan),
      tls: { ca_file: pki.caFile, cert_file: pki.clients.node04!.certFile, key_file: pki.clients.node04!.keyFile },
    });
    const agent = record('first-boot-agent join chainfire', await runProcess(process.execPath, [
      binPath('first-boot-agent'), 'join', 'chainfire', '--config', agentConfig, '--state-dir', join(dir, 'state'),
      ...endpoints, ...tls('node04'), '--user', 'membership-agent-node04',
      '--start-command', tlsMemberStartCommand(plan, pki), '--local-url', plan.clientUrl, '--timeout', '120s', '--log-level', 'debug',
    ], { env: { CHAINFIRE_PASSWORD: await passwordOf('membership-agent-node04') }, timeoutMs: 150_000 }));
    assert.equal(agent.code, 0, agent.stdout + agent.stderr);
    assert.deepEqual(await voters(admin), { voters: ['node01', 'node04'], learners: [] });
    await eventually('node04 Ready', async () => ((await readStatus(admin, 'node04'))?.status.phase === 'Ready' ? true : undefined));

    for (const args of [['get'], ['get', 'node04', '-o', 'json'], ['describe', 'node04']]) {
      const r = record(`membershipctl ${args.join(' ')}`, await runProcess(process.execPath, [binPath('membershipctl'), ...args, ...asOperator], {
        env: operatorEnv, timeoutMs: 30_000,
      }));
      assert.equal(r.code, 0, r.stderr);
    }

    // Failures must not echo what they were given either.
    const wrong = record('membershipctl get (wrong password)', await runProcess(process.execPath, [binPath('membershipctl'), 'get', ...asOperator], {
      env: { CHAINFIRE_PASSWORD: wrongPassword }, timeoutMs: 30_000,
    }));
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /authentication failed/);
    const wrongFile = join(dir, 'wrong.password');
    await writeFile(wrongFile, wrongPassword, { mode: 0o600 });
    const wrongAgent = record('first-boot-agent join chainfire (wrong password)', await runProcess(process.execPath, [
      binPath('first-boot-agent'), 'join', 'chainfire', '--config', agentConfig, '--state-dir', join(dir, 'state-2'),
      ...endpoints, ...tls('node04'), '--user', 'membership-agent-node04', '--password-file', wrongFile,
      '--local-url', plan.clientUrl, '--timeout', '5s', '--log-level', 'debug',
    ], { timeoutMs: 60_000 }));
    assert.notEqual(wrongAgent.code, 0);

    controller.kill('SIGTERM');
    await controller.exited;
    output.push({ who: 'membership-controller', lines: controller.lines });
    // The failed setups were logged, with the echoed password cut out.
    assert.ok(controller.lines.some((l) => l.includes('cannot set up admin with password [redacted]')), 'the IAM failure was logged');
  });

  it('no line contains a password, the IAM admin secret or a private key', async () => {
    const passwords: Record<string, string> = { root: rootPassword, 'IAM admin': iamPassword, 'wrong password': wrongPassword };
    for (const user of ['membership-controller', 'membership-operator', 'membership-agent-node01', 'membership-agent-node04']) {
      passwords[user] = await passwordOf(user);
    }
    const keyLines: Record<string, string[]> = {};
    for (const who of ['controller', 'node04', 'operator']) keyLines[who] = await pemBody(pki.clients[who]!.keyFile);

    const total = output.reduce((n, o) => n + o.lines.length, 0);
    assert.ok(total > 50, `expected plenty of output to search, got ${total} lines`);
    assert.ok(output.find((o) => o.who === 'membership-controller')!.lines.some((l) => /"level":"DEBUG"/.test(l)), 'debug lines were written');
    for (const { who, lines } of output) {
      for (const line of lines) {
        for (const [name, value] of Object.entries(passwords)) {
          assert.ok(!line.includes(value), `${who} wrote the ${name} password: ${line}`);
        }
        for (const [name, body] of Object.entries(keyLines)) {
          for (const chunk of body) assert.ok(!line.includes(chunk), `${who} wrote part of ${name}'s private key: ${line}`);
        }
        assert.ok(!/PRIVATE KEY/.test(line), `${who} wrote a PEM block: ${line}`);
      }
    }
  });
});
