// Credentials, table-driven, against a real etcd with authentication on and
// the roles of `membershipctl rbac apply`: passwords and keys never appear in
// anything a program writes (at debug level too), on its command line or in
// its start command's environment; credentials inside endpoint URLs are
// refused; password and key files with loose modes are refused (warned about
// by the agent); a wrong password is 77 naming the user; a node's agent
// credentials are denied on other nodes' keys.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { membershipFor, tempDir, writeJson } from '../support/fixtures.js';
import { assertOutcome, literal, run, shown, type Outcome, type RunOptions } from '../support/hardening.js';
import type { BinName } from '../support/processes.js';
import { applyRbac } from '../../src/ctl/rbac.js';
import { API_VERSION } from '../../src/schema/common.js';
import { KeyLayout } from '../../src/store/keys.js';

const keys = new KeyLayout();
const secret = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;

interface CredCase {
  name: string;
  bin: BinName;
  args: () => string[];
  env?: () => Record<string, string>;
  code: number;
  messages: () => RegExp[];
  opts?: () => RunOptions;
  /** after the common checks: what must not have happened */
  check?: (o: Outcome) => Promise<void> | void;
}

describe('credentials: never shown, never passed on, refused when misplaced, denied beyond their reach', () => {
  let cluster: EtcdCluster;
  let root: Etcd3;
  let pki: TestPki;
  let dir: string;
  let credentials: string;
  let ep: string;
  const rootPassword = secret('root');
  const wrong = secret('wrong');
  const inUrl = secret('s3cr3t-in-url');
  const keyMarker = secret('inside-the-key');
  /** every secret of the test: none may appear in anything a program writes */
  const secrets: string[] = [rootPassword, wrong, inUrl, keyMarker];
  const password: Record<string, string> = {};
  const file: Record<string, string> = {};

  before(async () => {
    cluster = await EtcdCluster.start({ size: 1 });
    ep = cluster.endpoints.join(',');
    dir = await tempDir('credentials-');
    credentials = join(dir, 'credentials');
    const setup = new Etcd3({ hosts: cluster.endpoints });
    try {
      await applyRbac(setup, keys, { nodes: ['node04', 'node05'], outDir: credentials, enableAuth: true, rootPassword });
    } finally {
      setup.close();
    }
    for (const user of ['membership-controller', 'membership-operator', 'membership-agent-node04', 'membership-agent-node05']) {
      password[user] = (await readFile(join(credentials, `${user}.password`), 'utf8')).trim();
      secrets.push(password[user]!);
      file[user] = join(credentials, `${user}.password`);
    }
    root = new Etcd3({ hosts: cluster.endpoints, auth: { username: 'root', password: rootPassword } });
    const m = cluster.members[0]!;
    await root.put(keys.desired('node01')).value(JSON.stringify(membershipFor(m, true)));
    for (const n of ['node04', 'node05']) {
      await root.put(keys.desired(n)).value(JSON.stringify(membershipFor({ name: n, peerUrl: 'http://127.0.0.1:1', clientUrl: 'http://127.0.0.1:1' }, false, { role: 'worker' })));
    }
    const config = (node: string) => ({
      node_id: node, node_role: 'worker', bootstrap: false, cluster_name: 'test-cluster', leader_url: m.clientUrl,
      raft_addr: '127.0.0.1:1', initial_peers: [new URL(m.peerUrl).host], flaredb_peers: [], node_ip: '127.0.0.1',
      services: { chainfire: { client_url: 'http://127.0.0.1:1' }, flaredb: { enabled: false }, iam: { enabled: false } },
    });
    file.config04 = await writeJson(dir, 'node04.json', config('node04'));
    file.config05 = await writeJson(dir, 'node05.json', config('node05'));
    file.wrong = join(dir, 'wrong.password');
    await writeFile(file.wrong, `${wrong}\n`, { mode: 0o600 });
    for (const [name, mode] of [['loose644', 0o644], ['loose640', 0o640], ['owner400', 0o400], ['owner600', 0o600]] as const) {
      file[name] = join(dir, `operator-${name}.password`);
      await writeFile(file[name]!, `${password['membership-operator']}\n`);
      await chmod(file[name]!, mode);
    }
    file.controller644 = join(dir, 'controller-644.password');
    await writeFile(file.controller644, password['membership-controller']!);
    await chmod(file.controller644, 0o644);
    file.agent644 = join(dir, 'agent-644.password');
    await writeFile(file.agent644, password['membership-agent-node04']!);
    await chmod(file.agent644, 0o644);

    pki = await makeTestPki(['operator']);
    const keyPem = await readFile(pki.clients.operator!.keyFile, 'utf8');
    secrets.push(...keyPem.split('\n').filter((l) => l !== '' && !l.startsWith('-----')));
    file.key644 = join(dir, 'operator-644.key');
    await writeFile(file.key644, keyPem);
    await chmod(file.key644, 0o644);
    file.keyWithMarker = join(dir, 'marker.key');
    await writeFile(file.keyWithMarker, `-----BEGIN PRIVATE KEY-----\n${Buffer.from(keyMarker).toString('base64')}\n${keyMarker}\n-----END PRIVATE KEY-----\n`, { mode: 0o600 });
  });

  after(async () => {
    root?.close();
    await cluster?.stop();
    await pki?.cleanup();
    if (dir && !process.env.KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
  });

  const as = (user: string, passwordFile?: string) => ['--user', user, ...(passwordFile ? ['--password-file', passwordFile] : [])];
  const ctl = (name: string, args: () => string[], code: number, messages: () => RegExp[], extra: Partial<CredCase> = {}): CredCase => ({
    name: `membershipctl ${name}`, bin: 'membershipctl', args: () => [...args(), ...(args().includes('--endpoints') ? [] : ['--endpoints', ep])], code, messages, ...extra,
  });
  // A start command that does nothing, so that no case runs the default (systemctl start chainfire.service) on this machine.
  const agentJoin = (node: '04' | '05') => [
    'join', 'chainfire', '--config', node === '04' ? file.config04! : file.config05!, '--log-level', 'debug', '--timeout', '4s', '--start-command', 'true',
  ];
  const nothingUnder = (key: string) => async () => assert.equal(await root.get(key).string(), null, `${key} was written`);

  const cases: CredCase[] = [
    ctl('get with a wrong CHAINFIRE_PASSWORD: 77 naming the user', () => ['get', ...as('membership-operator')], 77, () => [/membership-operator/, /refused the credentials/], { env: () => ({ CHAINFIRE_PASSWORD: wrong }) }),
    ctl('get with a wrong --password-file: 77 naming the user', () => ['get', ...as('membership-operator', file.wrong)], 77, () => [/membership-operator/, /refused the credentials/]),
    ctl('get as a user that does not exist: 77 naming it', () => ['get', ...as('ghost')], 77, () => [/ghost/], { env: () => ({ CHAINFIRE_PASSWORD: wrong }) }),
    ctl('get with the right password prints records, no password', () => ['get', ...as('membership-operator', file.owner600)], 0, () => [/node04/]),
    ctl('get with a password file of mode 0400', () => ['get', ...as('membership-operator', file.owner400)], 0, () => [/node05/]),
    ctl('get with a password file of mode 0644: refused', () => ['get', ...as('membership-operator', file.loose644)], 78, () => [literal(`--password-file ${file.loose644} has mode 0644`)]),
    ctl('get with a password file of mode 0640: refused', () => ['get', ...as('membership-operator', file.loose640)], 78, () => [literal(`--password-file ${file.loose640} has mode 0640`)]),
    ctl("apply as node04's agent: no desired record may be written", () => ['apply', '-f', '-', ...as('membership-agent-node04', file['membership-agent-node04'])], 77, () => [/membership-agent-node04/, /permission denied/],
      { opts: () => ({ stdin: JSON.stringify(membershipFor({ name: 'node06', peerUrl: 'http://127.0.0.1:6', clientUrl: 'http://127.0.0.1:6' }, false)) }), check: nothingUnder(keys.desired('node06')) }),
    ctl("pause as node04's agent: cluster/config stays unwritten", () => ['pause', ...as('membership-agent-node04', file['membership-agent-node04'])], 77, () => [/membership-agent-node04/],
      { check: nothingUnder(keys.clusterConfig()) }),
    ctl("describe node05 as node04's agent: denied", () => ['describe', 'node05', ...as('membership-agent-node04', file['membership-agent-node04'])], 77, () => [/membership-agent-node04/, /permission denied/]),
    ctl("get (every record) as node04's agent: denied", () => ['get', ...as('membership-agent-node04', file['membership-agent-node04'])], 77, () => [/membership-agent-node04/, /permission denied/]),
    ctl('rbac apply as the operator: denied, no role made', () => ['rbac', 'apply', '--nodes', 'node06', '--out-dir', join(dir, 'out-operator'), ...as('membership-operator', file.owner600)], 77, () => [/root/],
      { check: async () => assert.ok(!(await root.getRoles()).some((r) => r.name === 'membership-agent-node06'), 'a role was made') }),
    ctl('get --endpoints with user:password@ in the URL: refused, never echoed', () => ['get', '--endpoints', `http://u:${inUrl}@127.0.0.1:1`], 64, () => [/--endpoints/, /credentials/]),
    ctl('get --endpoints with a user@ in the URL: refused', () => ['get', '--endpoints', 'http://operator@127.0.0.1:1'], 64, () => [/--endpoints/, /credentials/]),
    ctl('get --endpoints u:password@host:port without a scheme: refused, never echoed', () => ['get', '--endpoints', `u:${inUrl}@127.0.0.1:2379`], 64, () => [/--endpoints/, /credentials/]),
    ctl('get with CHAINFIRE_ENDPOINTS holding a password: refused, naming the variable', () => ['get'], 64, () => [/CHAINFIRE_ENDPOINTS/, /credentials/],
      { args: () => ['get'], env: () => ({ CHAINFIRE_ENDPOINTS: `http://u:${inUrl}@127.0.0.1:1` }) }),
    ctl('get with --key of mode 0644: refused, the key never shown', () => ['get', '--endpoints', 'https://127.0.0.1:1', '--cacert', pki.caFile, '--cert', pki.clients.operator!.certFile, '--key', file.key644!], 78, () => [literal(`--key ${file.key644} has mode 0644`)]),
    ctl('get with a --key whose armour holds no key: refused, its content never shown', () => ['get', '--endpoints', 'https://127.0.0.1:1', '--cacert', pki.caFile, '--cert', pki.clients.operator!.certFile, '--key', file.keyWithMarker!], 78, () => [literal(`--key: ${file.keyWithMarker}`)]),
    ctl('get with --cacert naming a private key: refused, the key never shown', () => ['get', '--endpoints', 'https://127.0.0.1:1', '--cacert', pki.clients.operator!.keyFile], 78, () => [literal(`--cacert: ${pki.clients.operator!.keyFile}`)]),
    ctl('rbac apply as root: a new user, its password only in its file', () => ['rbac', 'apply', '--nodes', 'node04,node05,node07', '--out-dir', credentials, ...as('root')], 0, () => [/user\/membership-agent-node07 created/],
      { env: () => ({ CHAINFIRE_PASSWORD: rootPassword }), check: async (o) => {
        const created = (await readFile(join(credentials, 'membership-agent-node07.password'), 'utf8')).trim();
        assert.ok(!`${o.stdout}${o.stderr}`.includes(created), 'the new password was printed');
      } }),
    {
      name: "first-boot-agent with node04's credentials joining as node05: denied, no report under agents/node05",
      bin: 'first-boot-agent',
      args: () => [...agentJoin('05'), '--state-dir', join(dir, 'state-05'), '--endpoints', ep, ...as('membership-agent-node04', file['membership-agent-node04'])],
      code: 69,
      messages: () => [/membership-agent-node04/, /permission denied/],
      check: nothingUnder(keys.agent('node05')),
    },
    {
      name: 'first-boot-agent with a wrong password (debug logging): 69 naming the user, not the password',
      bin: 'first-boot-agent',
      args: () => [...agentJoin('04'), '--state-dir', join(dir, 'state-wrong'), '--endpoints', ep, ...as('membership-agent-node04', file.wrong)],
      code: 69,
      messages: () => [/membership-agent-node04/],
    },
    {
      name: 'first-boot-agent with a password file of mode 0644: warned about, and it goes on',
      bin: 'first-boot-agent',
      args: () => [...agentJoin('04'), '--state-dir', join(dir, 'state-644'), '--endpoints', ep, ...as('membership-agent-node04', file.agent644)],
      code: 69,
      messages: () => [literal(`--password-file ${file.agent644} has mode 0644`), /"level":"WARN"/, /timed out/],
    },
    {
      name: 'first-boot-agent --endpoints with a password in the URL: refused, never echoed',
      bin: 'first-boot-agent',
      args: () => [...agentJoin('04'), '--state-dir', join(dir, 'state-url'), '--endpoints', `http://u:${inUrl}@127.0.0.1:1`],
      code: 64,
      messages: () => [/--endpoints/, /credentials/],
    },
    {
      name: 'membership-controller with a wrong password (debug logging): 77 naming the user, not the password',
      bin: 'membership-controller',
      args: () => ['--endpoints', ep, ...as('membership-controller', file.wrong), '--log-level', 'debug', '--metrics-addr', '127.0.0.1:0'],
      code: 77,
      messages: () => [/membership-controller/, /refused the credentials/],
    },
    {
      name: 'membership-controller with a password file of mode 0644: refused',
      bin: 'membership-controller',
      args: () => ['--endpoints', ep, ...as('membership-controller', file.controller644), '--metrics-addr', '127.0.0.1:0'],
      code: 78,
      messages: () => [literal(`--password-file ${file.controller644} has mode 0644`)],
    },
    {
      name: 'membership-controller --endpoints with a password in the URL: refused, never echoed',
      bin: 'membership-controller',
      args: () => ['--endpoints', `http://u:${inUrl}@127.0.0.1:1`, '--metrics-addr', '127.0.0.1:0'],
      code: 64,
      messages: () => [/--endpoints/, /credentials/],
    },
  ];

  it(`has at least 30 cases with the ones below (${cases.length} + 4)`, () => assert.ok(cases.length + 4 >= 30));

  const noSecret = (o: Outcome, where = 'the output') => {
    const all = `${o.stdout}\n${o.stderr}`;
    for (const s of secrets) assert.ok(!all.includes(s), `a secret (${s.slice(0, 12)}…) in ${where}\n${shown(o)}`);
  };

  for (const c of cases) {
    it(c.name, async () => {
      const o = await run(c.bin, c.args(), { timeoutMs: 30_000, ...(c.env ? { env: c.env() } : {}), ...c.opts?.() });
      assertOutcome(o, c.code, ...c.messages());
      noSecret(o);
      await c.check?.(o);
    });
  }

  it('membership-controller at debug level with a password file: no password in its log or its command line', async () => {
    let cmdline = '';
    const o = await run(
      'membership-controller',
      ['--endpoints', ep, ...as('membership-controller', file['membership-controller']), '--log-level', 'debug', '--metrics-addr', '127.0.0.1:0', '--resync-period', '1s'],
      {
        timeoutMs: 40_000,
        stopWhen: /became leader/,
        // Read as soon as the program runs (the pid is the forked node until it has exec'd).
        onStart: async (pid) => {
          for (let i = 0; i < 100 && !cmdline.includes('membership-controller'); i++) {
            cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
            await new Promise((r) => setTimeout(r, 50));
          }
        },
      },
    );
    assertOutcome(o, 0, /became leader/, /"level":"DEBUG"/);
    noSecret(o);
    assert.match(cmdline, /membership-controller/);
    for (const s of secrets) assert.ok(!cmdline.includes(s), 'a secret on the command line');
  });

  it("the agent's --start-command gets a scrubbed environment: no CHAINFIRE_PASSWORD, no other secret", async () => {
    const envDump = join(dir, 'start-command.env');
    const stateDir = join(dir, 'state-start');
    // The controller's part, played by hand: node04 is a learner with an initial cluster; the agent starts its etcd.
    const gen = Number((await root.get(keys.desired('node04')).exec()).kvs[0]!.mod_revision);
    await root.put(keys.status('node04')).value(JSON.stringify({
      apiVersion: API_VERSION, kind: 'NodeMembershipStatus', metadata: { name: 'node04' },
      status: {
        observedGeneration: gen, phase: 'Joining',
        conditions: [{ type: 'ChainfireMember', status: 'False', reason: 'LearnerAdded', message: 'learner added', lastTransitionTime: new Date().toISOString(), observedGeneration: gen }],
        chainfire: { memberId: 'abc123', role: 'learner', initialCluster: `node01=${cluster.members[0]!.peerUrl},node04=http://127.0.0.1:1` },
      },
    }));
    const awsKey = secret('aws');
    const etcdctlPassword = secret('etcdctl');
    secrets.push(awsKey, etcdctlPassword);
    const o = await run('first-boot-agent', [
      'join', 'chainfire', '--config', file.config04!, '--state-dir', stateDir, '--data-dir', join(dir, 'no-data'), '--timeout', '20s',
      '--log-level', 'debug', '--endpoints', ep, '--user', 'membership-agent-node04',
      '--start-command', `env > '${envDump}'; exit 3`,
    ], {
      timeoutMs: 40_000,
      env: { CHAINFIRE_PASSWORD: password['membership-agent-node04']!, AWS_SECRET_ACCESS_KEY: awsKey, ETCDCTL_PASSWORD: etcdctlPassword, API_TOKEN: awsKey },
    });
    assertOutcome(o, 69, /start command exited with 3/);
    noSecret(o);
    const env = await readFile(envDump, 'utf8');
    for (const s of secrets) assert.ok(!env.includes(s), `a secret in the start command's environment:\n${env}`);
    assert.doesNotMatch(env, /^(CHAINFIRE_PASSWORD|AWS_SECRET_ACCESS_KEY|ETCDCTL_PASSWORD|API_TOKEN)=/m);
    assert.match(env, /^CHAINFIRE_NAME=node04$/m);
    assert.match(env, /^CHAINFIRE_INITIAL_CLUSTER=node01=/m);
    assert.match(env, /^CHAINFIRE_INITIAL_CLUSTER_STATE=existing$/m);
    assert.match(env, /^PATH=/m);
    const envFile = await readFile(join(stateDir, 'chainfire-join.env'), 'utf8');
    for (const s of secrets) assert.ok(!envFile.includes(s), 'a secret in chainfire-join.env');
  });

  it('membershipctl with a wrong password full of quotes and regex characters: 77, never echoed', async () => {
    const odd = `${secret('odd')}'"$(\\)[.*]`;
    secrets.push(odd);
    const o = await run('membershipctl', ['get', ...as('membership-operator'), '--endpoints', ep], { env: { CHAINFIRE_PASSWORD: odd } });
    assertOutcome(o, 77, /membership-operator/);
    noSecret(o);
  });

  it('an agent at debug level with the right password: no password in any line', async () => {
    const o = await run('first-boot-agent', [...agentJoin('04'), '--state-dir', join(dir, 'state-right'), '--endpoints', ep, ...as('membership-agent-node04')], {
      env: { CHAINFIRE_PASSWORD: password['membership-agent-node04']! }, timeoutMs: 30_000,
    });
    // The status record of node04 names a learner the agent does not start here (no --start-command run): it times out.
    assert.ok(o.code === 69 || o.code === 0, shown(o));
    assert.match(o.stdout, /"level":"DEBUG"|"level":"INFO"/);
    noSecret(o);
  });
});
