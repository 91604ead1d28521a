// FlareDB and IAM that lie, against real etcd, the simulators and the real
// controller: every kind of wrong answer the admin APIs could give (HTML,
// cut-off JSON, bodies of the wrong shape, huge and endless bodies, leader
// hints and redirects to a host nobody configured), on every route the
// controller uses. For each case: the controller does not crash, the node's
// status (or, for IAM's initial setup, the log) names the problem, nothing is
// taken as success, nothing reaches the foreign host (least of all the IAM
// admin password), and the node joins (or is removed) once the service tells
// the truth again. The counts are printed as a diagnostic.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { FlareDBSimulator } from '../support/flaredb-simulator.js';
import { IAMSimulator } from '../support/iam-simulator.js';
import { ForeignHost, lies, type Lie } from '../support/lies.js';
import type { ProcessHandle } from '../support/processes.js';
import { eventually, readStatus, startController, tempDir, writeJson } from '../support/fixtures.js';
import { API_VERSION } from '../../src/schema/common.js';
import { REMOVE_NOW_ANNOTATION } from '../../src/schema/node-membership.js';
import { KeyLayout } from '../../src/store/keys.js';
import { IAM_LIST_MAX_AGE_MS } from '../../src/controller/node-ports.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterStatus } from '../../src/schema/cluster.js';

const keys = new KeyLayout();
const MiB = 1024 * 1024;

interface World {
  flaredb: FlareDBSimulator;
  iam: IAMSimulator;
  foreign: ForeignHost;
}

type Kind = 'flaredb-join' | 'flaredb-remove' | 'iam-join' | 'iam-remove' | 'iam-setup';

interface ServiceCase {
  what: string;
  kind: Kind;
  lies: (w: World, node: string) => Lie[];
  /** whether a message (the node's condition, or a log line for the setup) names the problem */
  names: (w: World) => (message: string) => boolean;
  /** the lie is in a hint the controller must ignore, not in what it needs: the join goes through meanwhile */
  joinsWhileLying?: true;
}

const notJson = () => (m: string) => /answered badly/.test(m) && /not JSON/.test(m);
const empty = () => (m: string) => /answered badly/.test(m) && /empty/.test(m);
const tooBig = () => (m: string) => /answered badly/.test(m) && /1 MiB/.test(m);
const shape = (field: RegExp) => () => (m: string) => /answered badly/.test(m) && field.test(m);
const foreignRefused = (w: World) => (m: string) => m.includes(`127.0.0.1:${w.foreign.port}`) && /not followed/.test(m);
const plain = (re: RegExp) => () => (m: string) => re.test(m);

const LIST = 'GET /admin/cluster/members';
const ADD = 'POST /admin/member/add';
const REMOVE = 'DELETE /admin/member/';
const NODES = 'GET /admin/nodes';
const REGISTER = 'PUT /admin/nodes/';
const DEREGISTER = 'DELETE /admin/nodes/';
const SETUP = 'POST /admin/bootstrap';
const SETUP_STATE = 'GET /admin/bootstrap';

const fdb = (what: string, names: ServiceCase['names'], lie: (w: World, node: string) => Lie | Lie[], extra: Partial<ServiceCase> = {}): ServiceCase => ({
  what: `FlareDB ${what}`,
  kind: 'flaredb-join',
  lies: (w, n) => [lie(w, n)].flat(),
  names,
  ...extra,
});
const iamCase = (what: string, names: ServiceCase['names'], lie: (w: World, node: string) => Lie | Lie[], extra: Partial<ServiceCase> = {}): ServiceCase => ({
  what: `IAM ${what}`,
  kind: 'iam-join',
  lies: (w, n) => [lie(w, n)].flat(),
  names,
  ...extra,
});

const CASES: ServiceCase[] = [
  // FlareDB's member list
  fdb('member list as an HTML page', notJson, () => lies.html(LIST)),
  fdb('member list as cut-off JSON', notJson, (w) => lies.truncated(LIST, { members: w.flaredb.members() })),
  fdb('member list as an empty 200', empty, () => lies.empty(LIST)),
  fdb('member list as JSON null', shape(/body|members/), () => lies.shaped(LIST, null as unknown as object)),
  fdb('member list under another field', shape(/members/), () => lies.shaped(LIST, { nodes: [] })),
  fdb('member list with a member without raft_addr', shape(/raft_addr/), () => lies.shaped(LIST, { members: [{ id: 'node01' }] })),
  fdb('member list of 2 MiB', tooBig, () => lies.huge(LIST, 2 * MiB)),
  fdb('member list that never ends', tooBig, () => lies.endless(LIST)),
  fdb('member list redirected (307) to another host', foreignRefused, (w) => lies.redirect(LIST, 307, `${w.foreign.url}/admin/cluster/members`)),
  fdb('member list answered 503 naming a leader on another host', foreignRefused, (w) => lies.leaderHint(LIST, w.foreign.url)),
  fdb('member list naming a leader on another host', foreignRefused, (w) => ({ route: LIST, status: 200, body: () => ({ members: w.flaredb.members(), leader: w.foreign.url }) }), { joinsWhileLying: true }),
  // FlareDB's add
  fdb('add answered 201 with an HTML page', notJson, () => lies.html(ADD, 201)),
  fdb('add answered 201 with cut-off JSON', notJson, (_w, n) => lies.truncated(ADD, { id: n, raft_addr: '127.0.0.1:1' }, 201)),
  fdb('add answered 200 with an empty body', empty, () => lies.empty(ADD, 200)),
  fdb('add answered 201 with the wrong fields', shape(/raft_addr|id/), () => lies.shaped(ADD, { ok: true }, 201)),
  fdb('add answered 201 naming another member', shape(/node99/), () => lies.shaped(ADD, { id: 'node99', raft_addr: '10.9.9.9:2480' }, 201)),
  fdb('add answered 201 with 2 MiB', tooBig, () => lies.huge(ADD, 2 * MiB, { status: 201 })),
  fdb('add answered 503 naming a leader on another host', foreignRefused, (w) => lies.leaderHint(ADD, w.foreign.url)),
  fdb('add redirected (307) to another host', foreignRefused, (w) => lies.redirect(ADD, 307, `${w.foreign.url}/admin/member/add`)),
  fdb('add redirected (308) to another host', foreignRefused, (w) => lies.redirect(ADD, 308, `${w.foreign.url}/admin/member/add`)),
  fdb('add redirected (302) to another host', plain(/HTTP 302/), (w) => lies.redirect(ADD, 302, `${w.foreign.url}/admin/member/add`)),
  fdb('add answered 503 naming a leader that is no URL', plain(/HTTP 503 .*javascript:alert/), () => lies.leaderHint(ADD, 'javascript:alert(1)')),
  fdb('add where every replica names another replica as leader, round and round', plain(/leader hints in one call|not followed/), (w) => [
    { ...lies.leaderHint(ADD, w.flaredb.urls[1]!), replica: 0 },
    { ...lies.leaderHint(ADD, w.flaredb.urls[2]!), replica: 1 },
    { ...lies.leaderHint(ADD, w.flaredb.urls[0]!), replica: 2 },
  ]),
  // FlareDB's remove (the node joined first with the truth)
  { ...fdb('remove answered 200 with an HTML page', notJson, () => lies.html(REMOVE, 200)), kind: 'flaredb-remove' },
  { ...fdb('remove answered 503 naming a leader on another host', foreignRefused, (w) => lies.leaderHint(REMOVE, w.foreign.url)), kind: 'flaredb-remove' },
  { ...fdb('remove redirected (307) to another host', foreignRefused, (w) => lies.redirect(REMOVE, 307, `${w.foreign.url}/admin/member/x`)), kind: 'flaredb-remove' },
  // IAM's registrations
  iamCase('registration list as an HTML page', notJson, () => lies.html(NODES)),
  iamCase('registration list as cut-off JSON', notJson, (w) => lies.truncated(NODES, { nodes: [...w.iam.nodes.values()] })),
  iamCase('registration list under another field', shape(/nodes/), () => lies.shaped(NODES, { items: [] })),
  iamCase('registration list with a node without role', shape(/role/), () => lies.shaped(NODES, { nodes: [{ id: 'node01' }] })),
  iamCase('registration list of 2 MiB, chunked', tooBig, () => lies.huge(NODES, 2 * MiB, { chunked: true })),
  iamCase('registration list answered 503 naming a leader on another host', foreignRefused, (w) => lies.leaderHint(NODES, w.foreign.url)),
  iamCase('registration answered 200 with an HTML page', notJson, () => lies.html(REGISTER, 200)),
  iamCase('registration answered 200 with cut-off JSON', notJson, (_w, n) => lies.truncated(REGISTER, { id: n, role: 'worker' }, 200)),
  iamCase('registration answered 200 with an empty body', empty, () => lies.empty(REGISTER, 200)),
  iamCase('registration answered 200 with the wrong fields', shape(/id|role/), () => lies.shaped(REGISTER, { registered: true }, 200)),
  iamCase('registration answered 201 echoing another node', shape(/node99/), () => lies.shaped(REGISTER, { id: 'node99', role: 'worker' }, 201)),
  iamCase('registration answered 200 echoing another role', shape(/control-plane/), (_w, n) => lies.shaped(REGISTER, { id: n, role: 'control-plane' }, 200)),
  iamCase('registration answered 200 with a body that never ends', tooBig, () => lies.endless(REGISTER, 200)),
  iamCase('registration answered 503 naming a leader on another host', foreignRefused, (w) => lies.leaderHint(REGISTER, w.foreign.url)),
  iamCase('registration redirected (307) to another host', foreignRefused, (w) => lies.redirect(REGISTER, 307, `${w.foreign.url}/admin/nodes/x`)),
  // IAM's deregistration (the node registered first with the truth)
  { ...iamCase('deregistration answered 200 with an HTML page', notJson, () => lies.html(DEREGISTER, 200)), kind: 'iam-remove' },
  { ...iamCase('deregistration redirected (308) to another host', foreignRefused, (w) => lies.redirect(DEREGISTER, 308, `${w.foreign.url}/admin/nodes/x`)), kind: 'iam-remove' },
  // IAM's initial admin setup (a fresh IAM, a fresh controller term)
  { ...iamCase('setup answered 201 with an HTML page', notJson, () => lies.html(SETUP, 201)), kind: 'iam-setup' },
  { ...iamCase('setup answered 201 {"initialized": false}', shape(/initialized/), () => lies.shaped(SETUP, { initialized: false }, 201)), kind: 'iam-setup' },
  { ...iamCase('setup answered 503 naming a leader on another host', foreignRefused, (w) => lies.leaderHint(SETUP, w.foreign.url)), kind: 'iam-setup' },
  { ...iamCase('setup redirected (307) to another host', foreignRefused, (w) => lies.redirect(SETUP, 307, `${w.foreign.url}/admin/bootstrap`)), kind: 'iam-setup' },
  { ...iamCase('setup state as an HTML page', notJson, () => lies.html(SETUP_STATE, 200)), kind: 'iam-setup' },
];

const CONDITION: Record<Kind, 'FlareDBMember' | 'IAMRegistered'> = {
  'flaredb-join': 'FlareDBMember',
  'flaredb-remove': 'FlareDBMember',
  'iam-join': 'IAMRegistered',
  'iam-remove': 'IAMRegistered',
  'iam-setup': 'IAMRegistered',
};

function desired(node: string, kind: Kind, raftAddr: string, absent = false): Record<string, unknown> {
  const flaredb = kind.startsWith('flaredb');
  return {
    apiVersion: API_VERSION,
    kind: 'NodeMembership',
    metadata: { name: node, ...(absent ? { annotations: { [REMOVE_NOW_ANNOTATION]: 'true' } } : {}) },
    spec: {
      role: 'worker',
      state: absent ? 'Absent' : 'Present',
      nodeIp: '127.0.0.1',
      ...(flaredb ? { flaredb: { raftAddr, apiUrl: 'http://127.0.0.1:1' } } : { iam: {} }),
    },
  };
}

function agentReport(node: string): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    apiVersion: API_VERSION, kind: 'AgentReport', metadata: { name: node },
    report: { agentVersion: 't', pid: 1, hostname: 'h', startedAt: now, mode: 'join', waitingFor: 'flaredb',
      services: { flaredb: { healthy: true, checkedAt: now } } },
  };
}

describe('FlareDB and IAM that lie: nothing is taken as success, nothing goes to another host, the node joins once they tell the truth', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let world: World;
  let controller: ProcessHandle;
  let configPath: string;
  let generation = 0;
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const failed: string[] = [];
  const stacks: string[] = [];

  const start = async () => {
    generation += 1;
    controller = startController(cluster.endpoints, `c${generation}`, ['--config', configPath, '--resync-period', '3s']);
    await controller.waitForLine(/became leader/, 30_000);
  };
  const stop = async () => {
    collectStacks();
    controller.kill('SIGTERM');
    await controller.exited;
  };
  const collectStacks = () => {
    stacks.push(...controller.lines.filter((l) => /\n\s+at |"stack":|Uncaught|unhandled/i.test(l)));
  };

  before(async () => {
    cluster = await EtcdCluster.start({ size: 1 });
    client = new Etcd3({ hosts: cluster.endpoints });
    world = {
      flaredb: await FlareDBSimulator.start({ replicas: 3, leader: 1, members: [{ id: 'node01', raft_addr: '127.0.0.1:24800' }] }),
      iam: await IAMSimulator.start({ endpoints: 2 }),
      foreign: await ForeignHost.start(),
    };
    const dir = await tempDir('hostile-services-');
    const secret = join(dir, 'iam-admin.json');
    await writeFile(secret, JSON.stringify({ user: 'admin', password }));
    await chmod(secret, 0o600);
    configPath = await writeJson(dir, 'controller.json', {
      flaredb: { endpoints: world.flaredb.urls, requestTimeoutMs: 2000, retries: 2 },
      iam: { endpoints: world.iam.urls, requestTimeoutMs: 2000, retries: 2, adminSecretFile: secret },
    });
    await start();
    await eventually('IAM initial setup', async () => (world.iam.bootstrapCount === 1 ? true : undefined));
  });

  after(async () => {
    if (controller) {
      controller.kill('SIGKILL');
      await controller.exited;
    }
    client?.close();
    await cluster?.stop();
    await world?.flaredb.stop();
    await world?.iam.stop();
    await world?.foreign.stop();
  });

  const put = (node: string, value: Record<string, unknown>) => client.put(keys.desired(node)).value(JSON.stringify(value));
  const condition = async (node: string, type: string) => (await readStatus(client, node))?.status.conditions.find((c) => c.type === type);
  const isMember = (kind: Kind, node: string) =>
    kind.startsWith('flaredb') ? world.flaredb.members().some((m) => m.id === node) : world.iam.nodes.has(node);

  const joined = async (node: string, kind: Kind, timeoutMs: number) => {
    await eventually(`${node} ${CONDITION[kind]}=True`, async () => ((await condition(node, CONDITION[kind]))?.status === 'True' ? true : undefined), timeoutMs);
    assert.ok(isMember(kind, node), `${node} is really a member of the service`);
    if (kind.startsWith('flaredb')) assert.equal(world.flaredb.members().filter((m) => m.id === node).length, 1, `${node} is a FlareDB member once`);
  };

  /** A fresh IAM and a fresh controller term: the initial setup is made again. */
  const freshSetup = async () => {
    await stop();
    world.iam.resetSetup();
    await client.delete().key(keys.clusterStatus());
  };

  for (const [i, c] of CASES.entries()) {
    it(`${i + 1}. ${c.what}`, async (t) => {
      const node = `lie${i + 1}`;
      const kind = c.kind;
      const raftAddr = `127.0.0.1:${25000 + i}`;
      const foreignBefore = world.foreign.requests.length;
      const from = controller.lines.length;
      let ok = false;
      try {
        if (kind === 'flaredb-join' || kind === 'flaredb-remove') await client.put(keys.agent(node)).value(JSON.stringify(agentReport(node)));
        if (kind.endsWith('remove')) {
          await put(node, desired(node, kind, raftAddr));
          await joined(node, kind, 60_000);
        }
        if (kind === 'iam-setup') await freshSetup();
        const told = c.lies(world, node);
        for (const l of told) (kind.startsWith('flaredb') ? world.flaredb : world.iam).lie(l);
        // A member list read before the lie may be reused for a while (IAM's for 2 s): let it age out, so
        // that the node meets the lie from its first look (otherwise it may join on the true list first).
        if (told.some((l) => l.route.startsWith('GET '))) await sleep(IAM_LIST_MAX_AGE_MS + 500);
        if (kind === 'iam-setup') await start();
        const logFrom = kind === 'iam-setup' ? 0 : from;
        await put(node, desired(node, kind, raftAddr, kind.endsWith('remove')));

        // The problem is named: in the node's condition, or (the cluster's IAM setup) the log.
        const names = c.names(world);
        if (c.joinsWhileLying) {
          await joined(node, kind, 60_000);
          await eventually('a log line naming the refused hint', async () => (controller.lines.slice(logFrom).some(names) ? true : undefined), 30_000);
        } else {
          const said = await eventually(`a message naming the problem (${c.what})`, async () => {
            const cond = await condition(node, CONDITION[kind]);
            if (cond !== undefined && names(cond.message)) return `${cond.reason}: ${cond.message}`;
            return kind === 'iam-setup' ? controller.lines.slice(logFrom).find(names) : undefined;
          }, 30_000).catch(async (err: unknown) => {
            const cond = await condition(node, CONDITION[kind]);
            throw new Error(`${(err as Error).message}; the condition says: ${cond?.reason}: ${cond?.message}`);
          });
          t.diagnostic(said.length > 400 ? `${said.slice(0, 400)}…` : said);
          // Nothing taken as success.
          const cond = await condition(node, CONDITION[kind]);
          if (kind.endsWith('remove')) {
            assert.notEqual(cond?.reason, 'Removed', `${c.what}: not recorded as removed`);
            assert.ok(isMember(kind, node), `${c.what}: still a member, as the service says`);
          } else {
            assert.notEqual(cond?.status, 'True', `${c.what}: not recorded as joined`);
            assert.ok(!isMember(kind, node), `${c.what}: the service did not take it`);
          }
          if (kind === 'iam-setup') {
            const raw = await client.get(keys.clusterStatus()).string();
            const recorded = raw === null ? undefined : (JSON.parse(raw) as ClusterStatus).status.iam?.bootstrapped;
            assert.notEqual(recorded, true, `${c.what}: the setup is not recorded as done`);
            assert.equal(world.iam.adminUser, undefined, 'IAM has no admin yet');
          }
        }
        // Nothing went to the other host; the admin password least of all.
        assert.equal(world.foreign.requests.length, foreignBefore, `${c.what}: no request to 127.0.0.1:${world.foreign.port}: ` +
          world.foreign.requests.slice(foreignBefore).map((r) => `${r.method} ${r.path}`).join(', '));
        assert.ok(!world.foreign.sawSecret(password), `${c.what}: the admin password never reached another host`);
        assert.ok(!world.foreign.sawCredentials(), `${c.what}: no credential reached another host`);
        assert.doesNotThrow(() => process.kill(controller.pid, 0), 'the controller still runs');

        // The truth again: the node gets where it was going.
        world.flaredb.tellTruth();
        world.iam.tellTruth();
        if (kind.endsWith('remove')) {
          await eventually(`${node} removed`, async () => ((await condition(node, CONDITION[kind]))?.reason === 'Removed' ? true : undefined), 60_000);
          assert.ok(!isMember(kind, node), `${node} is no longer a member`);
        } else {
          await joined(node, kind, 90_000);
        }
        if (kind === 'iam-setup') assert.equal(world.iam.adminUser, 'admin', 'the setup was made once IAM told the truth');
        ok = true;
      } finally {
        world.flaredb.tellTruth();
        world.iam.tellTruth();
        if (!ok) {
          failed.push(c.what);
          // A node stuck in the lie must not hold FlareDB's one-change lock for the cases after it.
          await client.delete().key(keys.desired(node)).catch(() => undefined);
        }
      }
    });
  }

  it('summary: the controller never crashed and logged no stack trace', (t) => {
    collectStacks();
    t.diagnostic(`service cases: ${CASES.length} cases, ${failed.length} failed${failed.length > 0 ? `: ${failed.join('; ')}` : ''}`);
    assert.doesNotThrow(() => process.kill(controller.pid, 0), 'the controller still runs');
    assert.deepEqual(stacks, [], 'no stack trace in any controller log');
    assert.equal(world.foreign.requests.length, 0, 'the other host never got a request');
  });
});
