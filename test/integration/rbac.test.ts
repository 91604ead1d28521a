import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Etcd3, EtcdPermissionDeniedError } from 'etcd3';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { ctl, tempDir } from '../support/fixtures.js';
import { binPath, runProcess } from '../support/processes.js';
import { applyRbac, renderChanges, type RbacChange } from '../../src/ctl/rbac.js';
import { KeyLayout } from '../../src/store/keys.js';

const keys = new KeyLayout();
const ROOT_PASSWORD = 'root-pw-for-this-test-only';

function rbacCli(args: string[], env: Record<string, string>) {
  return runProcess(process.execPath, [binPath('membershipctl'), ...args], { env, timeoutMs: 30_000 });
}

/** Asserts that `fn` fails with etcd's "permission denied". */
async function denied(what: string, fn: () => unknown): Promise<void> {
  await assert.rejects(async () => { await fn(); }, (err: unknown) => {
    assert.ok(err instanceof EtcdPermissionDeniedError, `${what}: expected permission denied, got ${String(err)}`);
    assert.match((err as Error).message, /permission denied/);
    return true;
  }, `${what} should be denied`);
}

describe('least-privilege etcd roles and users (real etcd with authentication on)', () => {
  let cluster: EtcdCluster;
  let outDir: string;
  let first: RbacChange[];
  const clients: Etcd3[] = [];

  const as = async (user: string): Promise<Etcd3> => {
    const password = user === 'root' ? ROOT_PASSWORD : (await readFile(join(outDir, `${user}.password`), 'utf8')).trim();
    const client = new Etcd3({ hosts: cluster.endpoints, auth: { username: user, password } });
    clients.push(client);
    return client;
  };

  before(async () => {
    cluster = await EtcdCluster.start({ size: 1 });
    outDir = join(await tempDir('rbac-'), 'credentials');
    // Authentication is still off: anyone may create roles and users, and the run ends by turning it on.
    const setup = new Etcd3({ hosts: cluster.endpoints });
    try {
      first = await applyRbac(setup, keys, { nodes: ['node04', 'node05'], outDir, enableAuth: true, rootPassword: ROOT_PASSWORD });
    } finally {
      setup.close();
    }
    const root = await as('root');
    for (const node of ['node04', 'node05']) {
      await root.put(keys.desired(node)).value(`{"desired":"${node}"}`);
      await root.put(keys.status(node)).value(`{"status":"${node}"}`);
    }
  });

  after(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
    // The password files go with the cluster they belong to.
    if (outDir && !process.env.KEEP_TEST_DIRS) await rm(dirname(outDir), { recursive: true, force: true });
  });

  it('creates the roles and users, writes each password to a 0600 file, and never prints one', async () => {
    const lines = renderChanges(first);
    for (const name of ['membership-controller', 'membership-operator', 'membership-agent-node04', 'membership-agent-node05']) {
      assert.match(lines, new RegExp(`^role/${name} created`, 'm'));
      assert.match(lines, new RegExp(`^user/${name} created \\(password in `, 'm'));
    }
    assert.match(lines, /^user\/root created/m);
    assert.match(lines, /^auth\/etcd enabled$/m);

    const files = (await readdir(outDir)).sort();
    assert.deepEqual(files, [
      'membership-agent-node04.password',
      'membership-agent-node05.password',
      'membership-controller.password',
      'membership-operator.password',
      'root.password',
    ]);
    assert.equal((await stat(outDir)).mode & 0o777, 0o700);
    for (const f of files) {
      assert.equal((await stat(join(outDir, f))).mode & 0o777, 0o600, `${f} is 0600`);
      const password = (await readFile(join(outDir, f), 'utf8')).trim();
      assert.ok(password.length >= 20, `${f} holds a password`);
      assert.ok(!lines.includes(password), `the output shows the password of ${f}`);
    }
    // Without credentials nothing is readable any more.
    const anonymous = new Etcd3({ hosts: cluster.endpoints });
    clients.push(anonymous);
    await assert.rejects(() => anonymous.get(keys.desired('node04')).string(), /user name is empty|permission denied/);
  });

  it("node04's agent reads only its own records and writes only agents/node04", async () => {
    const agent = await as('membership-agent-node04');
    assert.equal(await agent.get(keys.desired('node04')).string(), '{"desired":"node04"}');
    assert.equal(await agent.get(keys.status('node04')).string(), '{"status":"node04"}');
    // The heartbeat, as the agent publishes it: bound to a lease, revoked at the end.
    const lease = agent.lease(10);
    await lease.put(keys.agent('node04')).value('{"report":{}}');
    assert.equal(await agent.get(keys.agent('node04')).string(), '{"report":{}}');
    await lease.revoke();

    await denied('reading status/node05', () => agent.get(keys.status('node05')).string());
    await denied('reading desired/node05', () => agent.get(keys.desired('node05')).string());
    await denied('listing every desired record', () => agent.getAll().prefix(keys.dir('desired')).keys());
    await denied('writing desired/node04', () => agent.put(keys.desired('node04')).value('{}'));
    await denied('writing desired/node05', () => agent.put(keys.desired('node05')).value('{}'));
    await denied('writing status/node04', () => agent.put(keys.status('node04')).value('{}'));
    await denied('writing status/node05', () => agent.put(keys.status('node05')).value('{}'));
    await denied('writing agents/node05', () => agent.put(keys.agent('node05')).value('{}'));
    await denied('changing membership', () => agent.cluster.memberAdd({ peerURLs: ['http://127.0.0.1:9'], isLearner: true }));
  });

  it("the controller's role writes status, operations and leader keys but no desired record", async () => {
    // Look at the role on its own first: by default the user also holds root (see the next test).
    const root = await as('root');
    const limited = await applyRbac(root, keys, { nodes: ['node04', 'node05'], outDir, controllerMemberAdmin: false });
    assert.match(renderChanges(limited), /^user\/membership-controller updated \(removed role root\)$/m);

    const controller = await as('membership-controller');
    await controller.put(keys.status('node04')).value('{"status":"by the controller"}');
    await controller.put(keys.operation('chainfire')).value('{}');
    await controller.put(keys.clusterStatus()).value('{}');
    const lease = controller.lease(10);
    await lease.put(`${keys.leaderDir()}test`).value('c1');
    assert.equal((await controller.getAll().prefix(`${keys.prefix}/`).keys()).length, 7, 'reads everything under the prefix');
    await lease.revoke();
    await denied('writing desired/node04', () => controller.put(keys.desired('node04')).value('{}'));
    await denied('writing cluster/config', () => controller.put(keys.clusterConfig()).value('{}'));
    await denied('writing agents/node04', () => controller.put(keys.agent('node04')).value('{}'));
    await denied('writing outside the prefix', () => controller.put('/elsewhere').value('x'));
    // etcd 3.4 lets only root add, promote or remove members.
    await denied('adding a member', () => controller.cluster.memberAdd({ peerURLs: ['http://127.0.0.1:9'], isLearner: true }));
  });

  it("by default the controller's user also holds root, because only root may change membership", async () => {
    const root = await as('root');
    const back = await applyRbac(root, keys, { nodes: ['node04', 'node05'], outDir });
    assert.match(renderChanges(back), /^user\/membership-controller updated \(granted role root\)$/m);
    const controller = await as('membership-controller');
    const added = await controller.cluster.memberAdd({ peerURLs: ['http://127.0.0.1:9'], isLearner: true });
    await controller.cluster.memberRemove({ ID: added.member.ID });
    assert.deepEqual((await controller.cluster.memberList({})).members.map((m) => m.name), ['node01']);
  });

  it("the operator's user writes desired records and cluster/config but no status", async () => {
    const operator = await as('membership-operator');
    await operator.put(keys.desired('node06')).value('{}');
    await operator.put(keys.clusterConfig()).value('{"paused":false}');
    assert.equal((await operator.getAll().prefix(`${keys.prefix}/`).keys()).length, 8, 'reads everything under the prefix');
    await denied('writing status/node04', () => operator.put(keys.status('node04')).value('{}'));
    await denied('writing agents/node04', () => operator.put(keys.agent('node04')).value('{}'));
    await denied('writing leader keys', () => operator.put(`${keys.leaderDir()}x`).value('x'));
  });

  it('the real membershipctl works with the operator password file and is refused with the agent password', async () => {
    const record = {
      apiVersion: 'membership.photoncloud.io/v1alpha1',
      kind: 'NodeMembership',
      metadata: { name: 'node07' },
      spec: { role: 'worker', nodeIp: '127.0.0.1', chainfire: { raftAddr: '127.0.0.1:2380', clientUrl: 'http://127.0.0.1:2379' } },
    };
    const asOperator = ['--user', 'membership-operator', '--password-file', join(outDir, 'membership-operator.password')];
    const applied = await ctl(cluster.endpoints, ['apply', '-f', '-', ...asOperator], JSON.stringify(record));
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /nodemembership\/node07 created/);

    const asAgent = ['--user', 'membership-agent-node04', '--password-file', join(outDir, 'membership-agent-node04.password')];
    const got = await ctl(cluster.endpoints, ['get', ...asAgent]);
    assert.notEqual(got.code, 0);
    assert.match(got.stderr, /permission denied/);
  });

  it('running it again changes nothing, and a permission added by hand is taken away', async () => {
    const root = await as('root');
    const before = await readFile(join(outDir, 'membership-operator.password'), 'utf8');
    const again = await applyRbac(root, keys, { nodes: ['node04', 'node05'], outDir, enableAuth: true });
    for (const change of again.filter((c) => c.kind !== 'auth')) {
      assert.equal(change.outcome, 'unchanged', `${change.kind}/${change.name} ${change.outcome} ${change.detail ?? ''}`);
    }
    assert.equal(await readFile(join(outDir, 'membership-operator.password'), 'utf8'), before, 'passwords are kept');

    // Someone widens the operator role by hand; apply narrows it again.
    await root.role('membership-operator').grant({ permission: 'Readwrite', key: keys.status('node04') });
    const operator = await as('membership-operator');
    await operator.put(keys.status('node04')).value('{"widened":true}');
    const fixed = await applyRbac(root, keys, { nodes: ['node04', 'node05'], outDir });
    const line = renderChanges(fixed).split('\n').find((l) => l.startsWith('role/membership-operator'));
    assert.match(line ?? '', /updated \(revoked readwrite .*status\/node04\)/);
    const operatorAgain = await as('membership-operator');
    await denied('writing status after the role was narrowed', () => operatorAgain.put(keys.status('node04')).value('{}'));
  });

  it('membershipctl rbac apply adds a node as root, prints no password, and needs root', async () => {
    const endpoints = ['--endpoints', cluster.endpoints.join(',')];
    const asRoot = await rbacCli(['rbac', 'apply', '--nodes', 'node08', '--out-dir', outDir, '--user', 'root', ...endpoints], {
      CHAINFIRE_PASSWORD: ROOT_PASSWORD,
    });
    assert.equal(asRoot.code, 0, asRoot.stdout + asRoot.stderr);
    assert.match(asRoot.stdout, /^role\/membership-agent-node08 created \(read .*desired\/node08, read .*status\/node08, readwrite .*agents\/node08, readwrite .*disruptions\/node08\)$/m);
    assert.match(asRoot.stdout, /^user\/membership-agent-node08 created \(password in .*membership-agent-node08\.password; roles membership-agent-node08\)$/m);
    assert.match(asRoot.stdout, /^role\/membership-operator unchanged$/m);
    const password = (await readFile(join(outDir, 'membership-agent-node08.password'), 'utf8')).trim();
    assert.ok(!(asRoot.stdout + asRoot.stderr).includes(password), 'the new password is not printed');

    const asOperator = await rbacCli(
      ['rbac', 'apply', '--nodes', 'node09', '--out-dir', outDir, '--user', 'membership-operator', '--password-file', join(outDir, 'membership-operator.password'), ...endpoints],
      {},
    );
    assert.equal(asOperator.code, 77, asOperator.stdout + asOperator.stderr);
    assert.match(asOperator.stderr, /permission denied.*run rbac apply as root/);

    const badName = await rbacCli(['rbac', 'apply', '--nodes', 'node08,Bad_Name', '--out-dir', outDir, ...endpoints], {});
    assert.equal(badName.code, 64);
    assert.match(badName.stderr, /--nodes: .*Bad_Name/);
  });

  it('rejects a node name that is not a DNS-1123 label before touching etcd', async () => {
    const root = await as('root');
    await assert.rejects(() => applyRbac(root, keys, { nodes: ['Node_04'], outDir }), /--nodes: .*Node_04|DNS-1123/);
    await assert.rejects(() => applyRbac(root, keys, { nodes: [], outDir }), /--nodes/);
  });
});
