// The three programs reach Chainfire the way etcdctl users address it: a bare
// host:port endpoint (`--endpoints 127.0.0.1:2379`), and etcdctl's
// environment alone (ETCDCTL_ENDPOINTS, ETCDCTL_CACERT) with no flag and no
// CHAINFIRE_ENDPOINTS. Each case reaches a real etcd and shows it: a record
// read, leadership won, a held disruption released. --log-level debug says
// where the endpoints came from.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { Etcd3 } from 'etcd3';
import { clientCredentials, makeTestPki, type TestPki } from '../support/certs.js';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { controllerStateDir, membershipFor, tempDir, writeJson } from '../support/fixtures.js';
import { binPath, runProcess, startProcess, type RunResult } from '../support/processes.js';
import { KeyLayout } from '../../src/store/keys.js';

/** No connection setting from the test's own environment: each case sets what it tests. */
const CLEAN_ENV = {
  CHAINFIRE_ENDPOINTS: undefined,
  CHAINFIRE_PASSWORD: undefined,
  ETCDCTL_ENDPOINTS: undefined,
  ETCDCTL_CACERT: undefined,
  ETCDCTL_CERT: undefined,
  ETCDCTL_KEY: undefined,
  ETCDCTL_USER: undefined,
  ETCDCTL_PASSWORD: undefined,
};

/** A port nothing listens on: where a program would go if it ignored the setting under test. */
const DEAD = 'http://127.0.0.1:1';

function run(bin: 'membershipctl' | 'first-boot-agent', args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  return runProcess(process.execPath, [binPath(bin), ...args], { env: { ...CLEAN_ENV, ...env }, timeoutMs: 60_000 });
}

function shown(r: RunResult): string {
  return `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

/** The host:port of an endpoint URL, as etcdctl users type it. */
function hostPort(url: string): string {
  return new URL(url).host;
}

describe('etcdctl habits: host:port endpoints and ETCDCTL_* reach a real etcd from each program', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let bare: string;
  let dir: string;
  let config: string;
  let prefixes = 0;

  before(async () => {
    cluster = await EtcdCluster.start({ size: 1 });
    client = new Etcd3({ hosts: cluster.endpoints });
    bare = hostPort(cluster.endpoints[0]!);
    await client.put(new KeyLayout().desired('node04')).value(
      JSON.stringify(membershipFor({ name: 'node04', peerUrl: 'http://127.0.0.1:1', clientUrl: 'http://127.0.0.1:1' }, false, { role: 'worker' })),
    );
    dir = await tempDir('etcdctl-habits-');
    // The agent's config points leader_url at a dead port: Chainfire is reached only through the setting tested.
    // Its local Chainfire (the health check) is the test's etcd.
    config = await writeJson(dir, 'cluster-config.json', {
      node_id: 'node04',
      node_role: 'worker',
      bootstrap: false,
      cluster_name: 'test-cluster',
      leader_url: DEAD,
      raft_addr: '127.0.0.1:1',
      initial_peers: [new URL(cluster.members[0]!.peerUrl).host],
      flaredb_peers: [],
      node_ip: '127.0.0.1',
      services: { chainfire: { client_url: cluster.endpoints[0] }, flaredb: { enabled: false }, iam: { enabled: false } },
    });
  });

  after(async () => {
    client?.close();
    await cluster?.stop();
    if (dir && !process.env.KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
  });

  const ways: Array<{ name: string; flags: () => string[]; env: () => Record<string, string>; from: string }> = [
    { name: `a bare host:port --endpoints`, flags: () => ['--endpoints', bare], env: () => ({}), from: '--endpoints' },
    { name: 'ETCDCTL_ENDPOINTS alone (host:port, no flag, no CHAINFIRE_ENDPOINTS)', flags: () => [], env: () => ({ ETCDCTL_ENDPOINTS: bare }), from: 'ETCDCTL_ENDPOINTS' },
  ];

  for (const way of ways) {
    describe(way.name, () => {
      it('membershipctl get reads the records', async () => {
        const r = await run('membershipctl', ['get', '-o', 'name', ...way.flags()], way.env());
        assert.equal(r.code, 0, shown(r));
        assert.match(r.stdout, /node04/, shown(r));
        assert.equal(r.stderr, '', 'nothing on stderr below --log-level debug');
      });

      it('membershipctl get --log-level debug says where the endpoints came from', async () => {
        const r = await run('membershipctl', ['get', '-o', 'name', '--log-level', 'debug', ...way.flags()], way.env());
        assert.equal(r.code, 0, shown(r));
        assert.match(r.stderr, new RegExp(`endpoints from ${way.from}`), shown(r));
        assert.ok(r.stderr.includes(`"endpoints":["http://${bare}"]`), shown(r));
      });

      it('membership-controller reaches it and becomes leader', async () => {
        const controller = startProcess(
          process.execPath,
          [
            binPath('membership-controller'),
            ...way.flags(),
            '--prefix', `/etcdctl-habits/controller${prefixes++}`,
            '--identity', 'habits',
            '--state-dir', controllerStateDir(),
            '--lease-ttl', '3',
            '--resync-period', '5s',
            '--metrics-addr', '127.0.0.1:0',
            '--log-level', 'debug',
          ],
          { env: { ...CLEAN_ENV, ...way.env() } },
        );
        try {
          await controller.waitForLine(/became leader/, 60_000);
          assert.ok(controller.lines.some((l) => l.includes(`endpoints from ${way.from}`)), controller.lines.join('\n'));
        } finally {
          controller.kill('SIGKILL');
          await controller.exited;
        }
      });

      it('first-boot-agent health-check releases the node\'s held disruption in Chainfire', async () => {
        const key = new KeyLayout().disruption('node04');
        await client.put(key).value(JSON.stringify({ held: 'by the test' }));
        const r = await run('first-boot-agent', ['health-check', '--config', config, '--log-level', 'debug', ...way.flags()], way.env());
        assert.equal(r.code, 0, shown(r));
        assert.equal(await client.get(key).string(), null, `disruptions/node04 is still held:\n${shown(r)}`);
        assert.match(r.stdout, new RegExp(`endpoints from ${way.from}`), shown(r));
      });
    });
  }

  it('durations in Go\'s form: membershipctl get -w --watch-timeout 1s500ms, the controller --lease-ttl 3s --resync-period 1m30s', async () => {
    const watched = await run('membershipctl', ['get', '-w', '--watch-timeout', '1s500ms', '-o', 'name', '--endpoints', bare]);
    assert.equal(watched.code, 0, shown(watched));
    assert.match(watched.stdout, /node04/, shown(watched));
    const controller = startProcess(
      process.execPath,
      [
        binPath('membership-controller'),
        '--endpoints', bare,
        '--prefix', `/etcdctl-habits/controller${prefixes++}`,
        '--state-dir', controllerStateDir(),
        '--lease-ttl', '3s',
        '--resync-period', '1m30s',
        '--metrics-addr', '127.0.0.1:0',
      ],
      { env: CLEAN_ENV },
    );
    try {
      await controller.waitForLine(/became leader/, 60_000);
    } finally {
      controller.kill('SIGKILL');
      await controller.exited;
    }
  });

  it('CHAINFIRE_ENDPOINTS wins over ETCDCTL_ENDPOINTS, and debug says so', async () => {
    const r = await run('membershipctl', ['get', '-o', 'name', '--log-level', 'debug'], { CHAINFIRE_ENDPOINTS: bare, ETCDCTL_ENDPOINTS: DEAD });
    assert.equal(r.code, 0, shown(r));
    assert.match(r.stdout, /node04/, shown(r));
    assert.match(r.stderr, /endpoints from CHAINFIRE_ENDPOINTS/, shown(r));
  });

  it('a host:port with no port, or a port out of range, is still refused with 64, naming the setting', async () => {
    const noPort = await run('membershipctl', ['get', '--endpoints', '127.0.0.1']);
    assert.equal(noPort.code, 64, shown(noPort));
    assert.match(noPort.stderr, /--endpoints: "127\.0\.0\.1" is neither a URL nor host:port: no port/);
    const outOfRange = await run('first-boot-agent', ['health-check', '--config', config], { ETCDCTL_ENDPOINTS: '127.0.0.1:65536' });
    // The agent's health-check goes on without Chainfire: the refusal is a warning naming the variable.
    assert.match(outOfRange.stdout, /ETCDCTL_ENDPOINTS: \\"127\.0\.0\.1:65536\\" is neither a URL nor host:port: port 65536 is out of range/, shown(outOfRange));
    const controller = await runProcess(process.execPath, [binPath('membership-controller'), '--endpoints', 'ftp://127.0.0.1:2379', '--metrics-addr', 'off'], {
      env: CLEAN_ENV,
      timeoutMs: 30_000,
    });
    assert.equal(controller.code, 64, shown(controller));
    assert.match(controller.stderr, /--endpoints: ftp:\/\/127\.0\.0\.1:2379 must use http:\/\/ or https:\/\//);
  });
});

describe('etcdctl habits over TLS: host:port with TLS files is https://', () => {
  let pki: TestPki;
  let cluster: EtcdCluster;
  let client: Etcd3 | undefined;
  let bare: string;

  before(async () => {
    pki = await makeTestPki(['operator']);
    // etcd with a trusted CA asks for client certificates.
    cluster = await EtcdCluster.start({ size: 1, tls: { caFile: pki.caFile, certFile: pki.server.certFile, keyFile: pki.server.keyFile, clientCertAuth: true } });
    bare = hostPort(cluster.endpoints[0]!);
    client = new Etcd3({
      hosts: cluster.endpoints,
      credentials: await clientCredentials(pki, 'operator'),
    });
    await client.put(new KeyLayout().desired('node05')).value(
      JSON.stringify(membershipFor({ name: 'node05', peerUrl: 'http://127.0.0.1:1', clientUrl: 'http://127.0.0.1:1' }, false, { role: 'worker' })),
    );
  });

  after(async () => {
    client?.close();
    await cluster?.stop();
    await pki?.cleanup();
  });

  const tlsEnv = () => ({
    ETCDCTL_ENDPOINTS: bare, ETCDCTL_CACERT: pki.caFile, ETCDCTL_CERT: pki.clients.operator!.certFile, ETCDCTL_KEY: pki.clients.operator!.keyFile,
  });

  it('membershipctl get --endpoints host:port --cacert --cert --key reaches it', async () => {
    const op = pki.clients.operator!;
    const r = await run('membershipctl', ['get', '-o', 'name', '--endpoints', bare, '--cacert', pki.caFile, '--cert', op.certFile, '--key', op.keyFile]);
    assert.equal(r.code, 0, shown(r));
    assert.match(r.stdout, /node05/, shown(r));
  });

  it('membershipctl get with only ETCDCTL_ENDPOINTS, ETCDCTL_CACERT, ETCDCTL_CERT and ETCDCTL_KEY, as an etcdctl shell has them', async () => {
    const r = await run('membershipctl', ['get', '-o', 'name'], tlsEnv());
    assert.equal(r.code, 0, shown(r));
    assert.match(r.stdout, /node05/, shown(r));
  });

  it('--log-level debug shows the host:port taken as https:// and each TLS file\'s source', async () => {
    const r = await run('membershipctl', ['get', '-o', 'name', '--log-level', 'debug'], tlsEnv());
    assert.equal(r.code, 0, shown(r));
    assert.ok(r.stderr.includes(`"endpoints":["https://${bare}"]`), shown(r));
    assert.match(r.stderr, /endpoints from ETCDCTL_ENDPOINTS; CA certificate from ETCDCTL_CACERT; client certificate and key from ETCDCTL_CERT\/ETCDCTL_KEY/, shown(r));
  });
});
