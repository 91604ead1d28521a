import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { parse as parseYaml } from 'yaml';
import { EtcdCluster, type PlannedMember } from '../support/etcd-cluster.js';
import { FlareDBSimulator } from '../support/flaredb-simulator.js';
import { binPath, runProcess, startProcess, type ProcessHandle } from '../support/processes.js';
import { ctl, eventually, membershipFor, readStatus, startController, tempDir, writeJson } from '../support/fixtures.js';
import { API_VERSION } from '../../src/schema/common.js';
import type { NodeMembershipStatus } from '../../src/schema/status.js';
import { KeyLayout } from '../../src/store/keys.js';

const keys = new KeyLayout();
const AGE = /^\d+[smhd]$/;

/**
 * The cells of a kubectl-style table, after checking that every cell of every
 * row starts exactly where its header starts (the columns line up).
 */
function cells(table: string): string[][] {
  const lines = table.trimEnd().split('\n');
  const header = lines[0]!;
  const starts = [...header.matchAll(/\S+/g)].map((m) => m.index);
  return lines.map((line, n) => {
    return starts.map((start, i) => {
      const end = starts[i + 1];
      const cell = end === undefined ? line.slice(start) : line.slice(start, end);
      assert.ok(start === 0 || line[start - 1] === ' ', `line ${n} cell ${i} does not start at its column:\n${table}`);
      assert.notEqual(cell[0], ' ', `line ${n} cell ${i} does not start at its column:\n${table}`);
      if (end !== undefined) assert.ok(cell.endsWith(' '), `line ${n} cell ${i} runs into the next column:\n${table}`);
      return cell.trim();
    });
  });
}

/** Rows of an expected table written out by hand: cells separated by two or more spaces. */
function expected(text: string): string[][] {
  return text
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/ {2,}/));
}

/** The AGE column of a table must hold an age; it is then compared as "<age>". */
function withAge(rows: string[][], column: number): string[][] {
  return rows.map((r, i) => {
    if (i === 0) return r;
    assert.match(r[column]!, AGE, `AGE of ${r[0]}`);
    return r.map((c, j) => (j === column ? '<age>' : c));
  });
}

describe('membershipctl against a real 3-member Chainfire and a running controller', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let controller: ProcessHandle;
  let node05: PlannedMember;
  let node06: PlannedMember;
  let flaredb: FlareDBSimulator;
  let dir: string;
  let ep: string[];
  /** member ids (hex) and peer URLs by name, as etcd reports them */
  const ids = new Map<string, string>();
  const peers = new Map<string, string>();
  const generation = async (node: string) => Number((await client.get(keys.desired(node)).exec()).kvs[0]!.mod_revision);

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    ep = cluster.endpoints;
    client = new Etcd3({ hosts: ep });
    dir = await tempDir('ctl-');
    controller = startController(ep, 'c1', ['--log-format', 'pretty']);
    await controller.waitForLine(/became leader/, 30_000);
    // A learner whose etcd never starts stays in flight for the whole file.
    await client.put(keys.clusterConfig()).value(JSON.stringify({ spec: { learnerStartTimeoutSeconds: 3600 } }));
    node05 = await cluster.planMember('node05');
    node06 = await cluster.planMember('node06');
    const [m1, m2] = cluster.members;
    const records = [
      membershipFor(m1!, true, { datacenter: 'dc1', rack: 'r1' }),
      membershipFor(m2!, true),
      membershipFor(node05, false, { role: 'worker', flaredb: { raftAddr: '127.0.0.1:24805', apiUrl: 'http://127.0.0.1:24795' } }),
      membershipFor(node06, false, { role: 'worker', flaredb: { raftAddr: '127.0.0.1:24806', apiUrl: 'http://127.0.0.1:24796' } }),
    ];
    const applied = await ctl(ep, ['apply', '-f', '-'], JSON.stringify(records));
    assert.equal(applied.code, 0, applied.stderr);
    // node05's agent reports (written by hand: no etcd is ever started for it), so the controller adds it as a learner.
    await client.put(keys.agent('node05')).value(JSON.stringify({
      apiVersion: API_VERSION, kind: 'AgentReport', metadata: { name: 'node05' },
      report: { agentVersion: 'test', pid: 4242, hostname: 'node05-host', startedAt: new Date().toISOString(), mode: 'join', waitingFor: 'chainfire', services: {} },
    }));
    await eventually('node05 learner added', async () => ((await readStatus(client, 'node05'))?.status.chainfire.memberId ? true : undefined));
    for (const n of ['node01', 'node02']) {
      await eventually(`${n} Ready`, async () => ((await readStatus(client, n))?.status.phase === 'Ready' ? true : undefined));
    }
    await eventually('node06 WaitingForAgent', async () =>
      (await readStatus(client, 'node06'))?.status.conditions.some((c) => c.reason === 'WaitingForAgent') ? true : undefined,
    );
    for (const m of (await client.cluster.memberList({})).members) {
      const id = BigInt(String(m.ID)).toString(16);
      const name = m.name || 'node05';
      ids.set(name, id);
      peers.set(name, m.peerURLs[0]!);
    }
    flaredb = await FlareDBSimulator.start({
      replicas: 1,
      members: [{ id: 'node06', raft_addr: '127.0.0.1:24806' }, { id: 'node09', raft_addr: '127.0.0.1:24809' }],
    });
  });

  after(async () => {
    controller?.kill('SIGKILL');
    await controller?.exited;
    client?.close();
    await flaredb?.stop();
    await cluster?.stop();
  });

  it('get: the table', async () => {
    const r = await ctl(ep, ['get']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(withAge(cells(r.stdout), 7), expected(`
      NAME     ROLE            STATE     PHASE     CHAINFIRE                FLAREDB                IAM   AGE
      node01   control-plane   Present   Ready     True                     -                      -     <age>
      node02   control-plane   Present   Ready     True                     -                      -     <age>
      node05   worker          Present   Joining   False(LearnerAdded)      False(NotConfigured)   -     <age>
      node06   worker          Present   Pending   False(WaitingForAgent)   False(NotConfigured)   -     <age>
    `));
  });

  it('get -o wide: node IP, location, member id, generation and observed generation', async () => {
    const r = await ctl(ep, ['get', '-o', 'wide']);
    assert.equal(r.code, 0, r.stderr);
    const g = await generation('node01');
    const observed = async (n: string) => String((await readStatus(client, n))!.status.observedGeneration);
    const rows = withAge(cells(r.stdout), 7).map((row) => row.map((c) => c.replace(/^[0-9a-f]{12,16}$/, (id) => `<id:${[...ids].find(([, v]) => v === id)?.[0]}>`)));
    assert.deepEqual(rows, expected(`
      NAME     ROLE            STATE     PHASE     CHAINFIRE                FLAREDB                IAM   AGE     NODE-IP     DATACENTER/RACK   MEMBER-ID        GENERATION   OBSERVED
      node01   control-plane   Present   Ready     True                     -                      -     <age>   127.0.0.1   dc1/r1            <id:node01>      ${g}   ${await observed('node01')}
      node02   control-plane   Present   Ready     True                     -                      -     <age>   127.0.0.1   -                 <id:node02>      ${g}   ${await observed('node02')}
      node05   worker          Present   Joining   False(LearnerAdded)      False(NotConfigured)   -     <age>   127.0.0.1   -                 <id:node05>      ${g}   ${await observed('node05')}
      node06   worker          Present   Pending   False(WaitingForAgent)   False(NotConfigured)   -     <age>   127.0.0.1   -                 -                ${g}   ${await observed('node06')}
    `));
    // One apply: one generation, and the controller has observed it.
    assert.deepEqual(new Set(rows.slice(1).flatMap((row) => [row[11], row[12]])), new Set([String(g)]));
  });

  it('get -o json: the records as stored, with generation and status; -o yaml: the same document', async () => {
    const json = await ctl(ep, ['get', '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const list = JSON.parse(json.stdout) as { apiVersion: string; kind: string; items: unknown[] };
    const want = [];
    for (const n of ['node01', 'node02', 'node05', 'node06']) {
      const desired = JSON.parse((await client.get(keys.desired(n)).string())!) as { metadata: Record<string, unknown> };
      const status = JSON.parse((await client.get(keys.status(n)).string())!) as NodeMembershipStatus;
      want.push({ ...desired, metadata: { labels: {}, ...desired.metadata, generation: await generation(n) }, status: status.status });
    }
    assert.deepEqual(list, { apiVersion: 'v1', kind: 'List', items: want });

    const yaml = await ctl(ep, ['get', '-o', 'yaml']);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.match(yaml.stdout, /^apiVersion: v1\nkind: List\nitems:\n {2}- apiVersion: membership\.photoncloud\.io\/v1alpha1\n {4}kind: NodeMembership\n/);
    assert.deepEqual(parseYaml(yaml.stdout), list);

    const one = await ctl(ep, ['get', 'node01', '-o', 'yaml']);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^apiVersion: membership\.photoncloud\.io\/v1alpha1\nkind: NodeMembership\nmetadata:\n {2}name: node01\n/);
    assert.deepEqual(parseYaml(one.stdout), want[0]);
  });

  it('get -o name, and get of a node that does not exist', async () => {
    const names = await ctl(ep, ['get', '-o', 'name']);
    assert.equal(names.stdout, 'nodemembership/node01\nnodemembership/node02\nnodemembership/node05\nnodemembership/node06\n');
    const missing = await ctl(ep, ['get', 'node09']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'error: nodemembership node09 not found (membershipctl get lists all)\n');
    const invalid = await ctl(ep, ['get', 'Node_9']);
    assert.equal(invalid.code, 64);
    assert.match(invalid.stderr, /DNS-1123/);
  });

  it('describe: spec, status, conditions with ages, the change in flight, the agent report', async () => {
    const r = await ctl(ep, ['describe', 'node05']);
    assert.equal(r.code, 0, r.stderr);
    const st = (await readStatus(client, 'node05'))!.status;
    const g = await generation('node05');
    const initialCluster = ['node01', 'node02', 'node03', 'node05'].map((n) => `${n}=${peers.get(n)}`).join(',');
    // Ages and the creation time vary; so does the width of columns holding them.
    const normalize = (text: string) => text.replace(/\b\d+[smhd]\b/g, '<age>').replace(/ {2,}/g, '  ');
    // The Events section (the controller's history of node05) follows; its lines depend on timing.
    const [described, eventsSection] = r.stdout.split(/\nEvents:/);
    assert.match(eventsSection ?? '', /^( \(latest 10 of \d+; membershipctl events node05\))?\n\s+AGE\s+TYPE\s+REASON\s+TERM\s+MESSAGE\n[\s\S]*LearnerAdded/);
    const normalized = normalize(`${described}\n`.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/, '<time>'))
      .split('\n')
      .map((l) => l.trimEnd());
    assert.deepEqual(normalized, [
      'Name:  node05',
      `Generation:  ${g}`,
      'Created:  <time> (<age> ago)',
      'Role:  worker',
      'Bootstrap:  false',
      'State:  Present',
      'Node IP:  127.0.0.1',
      `Chainfire:  raft ${node05.raftAddr}, client ${node05.clientUrl}`,
      `FlareDB:  raft 127.0.0.1:24805, api http://127.0.0.1:24795`,
      'Phase:  Joining',
      `Observed:  generation ${g}`,
      `Chainfire member: ${ids.get('node05')} (learner) ${node05.peerUrl}`,
      `Initial cluster:  ${initialCluster}`,
      `Written by:  c1 (term ${st.controller!.term})`,
      'Conditions:',
      '  TYPE  STATUS  REASON  AGE  MESSAGE',
      ...st.conditions.map((c) => normalize(`  ${c.type}  ${c.status}  ${c.reason}  <age>  ${c.message}`)),
      `In flight:  chainfire join, started <age> ago by c1 (term ${st.controller!.term})`,
      'Agent:  pid 4242 on node05-host, join mode, waiting for chainfire, up <age>',
      '',
    ]);
    assert.deepEqual(st.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`), [
      'AgentReady=True/Reporting', 'ChainfireMember=False/LearnerAdded', 'FlareDBMember=False/NotConfigured', 'Ready=False/LearnerAdded',
    ]);

    const other = await ctl(ep, ['describe', 'node06']);
    assert.match(other.stdout, /^In flight: {4}chainfire join of node05, started \d+s ago by c1 \(term \d+\) \(node06's chainfire changes wait for it\)$/m);
    assert.match(other.stdout, /^Agent: {8}<not reporting>$/m);
  });

  it('members chainfire: etcd\'s members marked with the claiming record, an orphan, an unstarted learner and a missing member', async () => {
    const r = await ctl(ep, ['members', 'chainfire']);
    assert.equal(r.code, 0, r.stderr);
    const [table, footer] = r.stdout.split(/\n(?=Raft leader)/);
    const byId = new Map([...ids].map(([n, id]) => [id, n]));
    const byPeer = new Map([...peers].map(([n, url]) => [url, n]));
    byPeer.set(node06.peerUrl, 'node06');
    const rows = cells(table!).map((row) => row.map((c) => (byId.has(c) ? `<id:${byId.get(c)}>` : byPeer.has(c) ? `<peer:${byPeer.get(c)}>` : c)));
    assert.deepEqual(rows, expected(`
      ID            NAME          ROLE      PEER-URLS       HEALTH    DESIRED
      <id:node01>   node01        voter     <peer:node01>   healthy   node01
      <id:node02>   node02        voter     <peer:node02>   healthy   node02
      <id:node03>   node03        voter     <peer:node03>   healthy   <orphan>
      <id:node05>   <unstarted>   learner   <peer:node05>   unknown   node05
      <missing>     -             -         <peer:node06>   -         node06
    `));
    const leader = BigInt(String((await client.maintenance.status()).leader)).toString(16);
    assert.equal(footer, `Raft leader: ${leader} (${byId.get(leader)})\n`);

    const json = JSON.parse((await ctl(ep, ['members', 'chainfire', '-o', 'json'])).stdout) as { id: string; desired: string; role: string }[];
    assert.deepEqual(json.map((m) => [m.desired, m.role]), [['node01', 'voter'], ['node02', 'voter'], ['<orphan>', 'voter'], ['node05', 'learner'], ['node06', '-']]);
  });

  it('members flaredb: FlareDB\'s members from the controller config, marked against the records', async () => {
    const config = await writeJson(dir, 'controller.json', { flaredb: { endpoints: flaredb.urls, retries: 0 } });
    const r = await ctl(ep, ['members', 'flaredb', '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(cells(r.stdout), expected(`
      ID          RAFT-ADDR         STATUS    DESIRED
      node06      127.0.0.1:24806   healthy   node06
      node09      127.0.0.1:24809   healthy   <orphan>
      <missing>   127.0.0.1:24805   -         node05
    `));
    const noConfig = await ctl(ep, ['members', 'flaredb']);
    assert.equal(noConfig.code, 64);
    assert.match(noConfig.stderr, /members flaredb needs --config FILE/);
    const noSection = await writeJson(dir, 'empty.json', {});
    const r78 = await ctl(ep, ['members', 'flaredb', '--config', noSection]);
    assert.equal(r78.code, 78);
    assert.match(r78.stderr, /no "flaredb" section/);
    await flaredb.down();
    const down = await ctl(ep, ['members', 'flaredb', '--config', config]);
    await flaredb.up();
    assert.equal(down.code, 69, down.stderr);
    assert.match(down.stderr, /check flaredb\.endpoints in --config/);
  });

  it('wait exits 0 once the condition is met, printing one line per change when piped', async () => {
    const r = await ctl(ep, ['wait', 'node01', '--for', 'condition=Ready', '--timeout', '20s']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'nodemembership/node01 condition met\n');
    assert.equal(r.stderr, 'node01: phase Ready; ChainfireMember=True Ready=True\n');
    const phase = await ctl(ep, ['wait', 'node02', '--for', 'phase=Ready', '--timeout', '20s']);
    assert.equal(phase.stdout, 'nodemembership/node02 phase Ready\n');
  });

  it('wait exits 69 on timeout, showing the last conditions seen', async () => {
    const r = await ctl(ep, ['wait', 'node06', '--for', 'condition=ChainfireMember', '--timeout', '2s']);
    assert.equal(r.code, 69, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n').map((l) => l.replace(/ {2,}/g, '  '));
    const g = await generation('node06');
    assert.deepEqual(lines.slice(0, 4), [
      'node06: phase Pending; AgentReady=False/WaitingForAgent ChainfireMember=False/WaitingForAgent FlareDBMember=False/NotConfigured Ready=False/WaitingForAgent',
      'error: timed out after 2s waiting for node06 condition=ChainfireMember; last seen:',
      `  phase Pending, observed generation ${g} (desired generation ${g})`,
      '  TYPE  STATUS  REASON  AGE  MESSAGE',
    ]);
    assert.match(lines[5]!, /^ {2}ChainfireMember {2}False {2}WaitingForAgent {2}\d+s {2}waiting for node06's first-boot agent/);
    assert.equal(lines.at(-1), '(membershipctl describe node06 shows more; wait longer with --timeout)');
  });

  it('wait --for phase=Removed and --for delete follow a decommission to its end', async () => {
    const node07 = { apiVersion: API_VERSION, kind: 'NodeMembership', metadata: { name: 'node07' }, spec: { role: 'worker', nodeIp: '127.0.0.1' } };
    assert.equal((await ctl(ep, ['apply', '-f', '-'], JSON.stringify(node07))).code, 0);
    await eventually('node07 status', async () => (await readStatus(client, 'node07')) ?? undefined);
    const deleted = runProcess(process.execPath, [binPath('membershipctl'), 'wait', 'node07', '--for', 'delete', '--timeout', '60s', '--endpoints', ep.join(',')], { timeoutMs: 90_000 });
    assert.equal((await ctl(ep, ['delete', 'node07', '--no-wait'])).stdout, 'nodemembership/node07 marked Absent\n');
    const removed = await ctl(ep, ['wait', 'node07', '--for', 'phase=Removed', '--timeout', '25s']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(removed.stdout, 'nodemembership/node07 phase Removed\n');
    assert.equal((await ctl(ep, ['delete', 'node07', '--timeout', '20s'])).code, 0);
    const d = await deleted;
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.stdout, 'nodemembership/node07 deleted\n');
    const progress = d.stderr.trimEnd().split('\n');
    assert.match(progress[0]!, /^node07: desired record present \(generation \d+\), phase \w+$/);
    assert.ok(progress.some((l) => /phase Removed$/.test(l)), d.stderr);
    assert.equal(progress.at(-1), 'node07: deleted');
  });

  it('wait: a bad --for exits 64 naming the accepted forms; an unknown node exits 1', async () => {
    const bad = await ctl(ep, ['wait', 'node01', '--for', 'ready']);
    assert.equal(bad.code, 64);
    assert.equal(
      bad.stderr,
      'error: --for "ready": not a known form; accepted forms: condition=<type>[=True|False|Unknown] ' +
        '(type: AgentReady, ChainfireMember, FlareDBMember, IAMRegistered, Ready); ' +
        'phase=<phase> (Pending, Joining, Ready, Degraded, Removing, Removed, Failed); delete ' +
        '(e.g. --for condition=Ready, --for phase=Removed, --for delete)\n',
    );
    const missingFor = await ctl(ep, ['wait', 'node01']);
    assert.equal(missingFor.code, 64);
    assert.match(missingFor.stderr, /required option '--for <what>' not specified/);
    const unknown = await ctl(ep, ['wait', 'node09', '--for', 'condition=Ready']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /nodemembership node09 not found/);
    assert.equal((await ctl(ep, ['wait', 'node09', '--for', 'delete'])).stdout, 'nodemembership/node09 deleted\n');
  });

  it('wait on a terminal shows one line, updated in place', { skip: !existsSync('/usr/bin/script') && 'needs script(1) for a pseudo-terminal' }, async () => {
    const cmd = [process.execPath, binPath('membershipctl'), 'wait', 'node06', '--for', 'condition=Ready', '--timeout', '3s', '--endpoints', ep.join(',')].join(' ');
    const r = await runProcess('/usr/bin/script', ['-qec', cmd, '/dev/null'], { timeoutMs: 30_000 });
    assert.match(r.stdout, /\r\x1b\[K\[0s\] node06: phase Pending; AgentReady=False\/WaitingForAgent/);
    assert.match(r.stdout, /\r\x1b\[K\[[12]s\] node06: phase Pending/, 'the line is redrawn with the time waited');
    assert.match(r.stdout, /\nerror: timed out after 3s waiting for node06 condition=Ready/);
  });

  it('get -w prints the table, then a line per change, and ends on Ctrl-C', async () => {
    const watch = startProcess(process.execPath, [binPath('membershipctl'), 'get', '-w', '--endpoints', ep.join(',')]);
    try {
      await watch.waitForLine(/^node06 /, 15_000);
      const node08 = { apiVersion: API_VERSION, kind: 'NodeMembership', metadata: { name: 'node08' }, spec: { role: 'worker' } };
      assert.equal((await ctl(ep, ['apply', '-f', '-'], JSON.stringify(node08))).code, 0);
      await watch.waitForLine(/^node08 .* Ready /, 20_000);
      // As membershipctl delete does: both records in one transaction.
      await client.if(keys.desired('node08'), 'Create', '>', 0).then(client.delete().key(keys.desired('node08')), client.delete().key(keys.status('node08'))).commit();
      await watch.waitForLine(/^node08 .*<deleted>/, 10_000);
      watch.kill('SIGINT');
      assert.deepEqual(await watch.exited, { code: 0, signal: null });
    } finally {
      watch.kill('SIGKILL');
    }
    const rows = cells(watch.stdout.join('\n'));
    assert.deepEqual(rows.slice(0, 5).map((r) => r.slice(0, 7)), expected(`
      NAME     ROLE            STATE     PHASE     CHAINFIRE                FLAREDB                IAM
      node01   control-plane   Present   Ready     True                     -                      -
      node02   control-plane   Present   Ready     True                     -                      -
      node05   worker          Present   Joining   False(LearnerAdded)      False(NotConfigured)   -
      node06   worker          Present   Pending   False(WaitingForAgent)   False(NotConfigured)   -
    `));
    // Then only node08's lines: created (Pending until its first status, unless both came at once), Ready, deleted.
    const changes = rows.slice(5);
    assert.ok(changes.every((r) => r[0] === 'node08'), JSON.stringify(changes));
    assert.deepEqual(changes.map((r) => r[3]).join(' ').replace(/^Pending /, ''), 'Ready <deleted>', JSON.stringify(changes));
    for (const r of changes.slice(0, -1)) {
      assert.deepEqual([...r.slice(0, 3), ...r.slice(4, 7)], ['node08', 'worker', 'Present', '-', '-', '-']);
      assert.match(r[7]!, AGE);
    }
    assert.deepEqual(changes.at(-1), ['node08', '-', '-', '<deleted>', '-', '-', '-', '-']);
    assert.equal(watch.stderr.join('\n'), '');

    const timed = await ctl(ep, ['get', 'node01', '-w', '--watch-timeout', '1s', '-o', 'name']);
    assert.equal(timed.code, 0, timed.stderr);
    assert.equal(timed.stdout, 'nodemembership/node01\n');
  });

  it('completion bash: the commands, and node names completed from get -o name', async () => {
    const run = (args: string[]) => runProcess(process.execPath, [binPath('membershipctl'), ...args], { timeoutMs: 30_000 });
    const r = await run(['completion', 'bash']);
    assert.equal(r.code, 0, r.stderr);
    for (const c of ['apply', 'get', 'describe', 'wait', 'members', 'delete', 'pause', 'resume', 'plan', 'rbac', 'completion', 'help']) {
      assert.match(r.stdout, new RegExp(`\\b${c}\\b`), c);
    }
    assert.match(r.stdout, /complete -F _membershipctl membershipctl/);
    const bin = join(dir, 'bin');
    await runProcess('mkdir', ['-p', bin], { timeoutMs: 5000 });
    await writeFile(join(bin, 'membershipctl'), `#!/bin/sh\nexec ${process.execPath} ${binPath('membershipctl')} "$@"\n`);
    await chmod(join(bin, 'membershipctl'), 0o755);
    const script = join(dir, 'completion.bash');
    await writeFile(script, r.stdout);
    // What the completion runs for node names, run directly first: a failure here says why.
    const direct = await runProcess(join(bin, 'membershipctl'), ['get', '-o', 'name', '--endpoints', ep.join(',')], { timeoutMs: 30_000 });
    assert.equal(direct.stdout, 'nodemembership/node01\nnodemembership/node02\nnodemembership/node05\nnodemembership/node06\n', direct.stderr);
    const complete = async (line: string) => {
      const b = await runProcess('bash', ['-c', `source ${script}; COMP_LINE="$1"; COMP_POINT=\${#COMP_LINE}; _membershipctl; echo "\${COMPREPLY[*]}"`, 'bash', line], {
        timeoutMs: 30_000,
        env: { PATH: `${bin}:${process.env.PATH}` },
      });
      assert.equal(b.code, 0, b.stderr);
      return b.stdout.trim();
    };
    assert.equal(await complete(`membershipctl describe --endpoints ${ep.join(',')} no`), 'node01 node02 node05 node06');
    assert.equal(await complete(`membershipctl wait --endpoints=${ep[0]} node0`), 'node01 node02 node05 node06');
    assert.equal(await complete('membershipctl mem'), 'members');
    assert.equal(await complete('membershipctl wait node01 --for condition=Chain'), 'ChainfireMember');
    const zsh = await run(['completion', 'zsh']);
    assert.match(zsh.stdout, /^#compdef membershipctl\n/);
  });

  it('every command rejects an unknown flag with exit 64 and says so; every command\'s help has examples', async () => {
    // Without --endpoints: parsing fails before anything connects.
    const run = (args: string[]) => runProcess(process.execPath, [binPath('membershipctl'), ...args], { timeoutMs: 30_000 });
    const help = await run(['--help']);
    const listed = [...help.stdout.split('Commands:\n')[1]!.split('\n\n')[0]!.matchAll(/^ {2}([a-z]+)/gm)].map((m) => m[1]!);
    const args: Record<string, string[]> = {
      apply: ['apply'], get: ['get'], describe: ['describe', 'node01'], wait: ['wait', 'node01', '--for', 'delete'],
      members: ['members', 'chainfire'], delete: ['delete', 'node01'], pause: ['pause'], resume: ['resume'], plan: ['plan'],
      rbac: ['rbac'], completion: ['completion', 'bash'], help: ['help'], snapshots: ['snapshots'],
      disruption: ['disruption', 'list'], events: ['events'],
    };
    assert.deepEqual(listed.sort(), Object.keys(args).sort(), 'every command of --help is covered');
    const all = [
      ...Object.values(args), ['rbac', 'apply', '--nodes', 'node01', '--out-dir', dir], [],
      ['disruption', 'acquire', 'node01', '--reason', 'x'], ['disruption', 'release', 'node01'],
    ];
    const bogus = await Promise.all(all.map((a) => run([...a, '--bogus-flag'])));
    all.forEach((a, i) => {
      const r = bogus[i]!;
      assert.equal(r.code, 64, `${a.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, "error: unknown option '--bogus-flag'\n(run with --help for usage)\n", a.join(' '));
      assert.equal(r.stdout, '');
    });
    const helps = [...Object.keys(args).map((c) => [c]), ['rbac', 'apply'], ['disruption', 'acquire'], ['disruption', 'release'], ['disruption', 'list']];
    const helped = await Promise.all(helps.map((a) => run([...a, '--help'])));
    helps.forEach((a, i) => {
      const h = helped[i]!;
      assert.equal(h.code, 0, a.join(' '));
      assert.match(h.stdout, /\nExamples:\n {2}(membershipctl|source|cat) /, `${a.join(' ')} --help has examples`);
    });
    const typo = await run(['gte']);
    assert.equal(typo.code, 64);
    assert.match(typo.stderr, /unknown command 'gte'\n\(Did you mean get\?\)/);
  });

  it('errors say what to do next: Chainfire unreachable exits 69', async () => {
    const r = await runProcess(process.execPath, [binPath('membershipctl'), 'get', '--endpoints', 'http://127.0.0.1:1'], { timeoutMs: 30_000 });
    assert.equal(r.code, 69, r.stderr);
    assert.equal(r.stderr, 'error: cannot connect to Chainfire at http://127.0.0.1:1: connection refused (is it running, and listening on that address?)\n');
  });

  it('the controller logs readable lines with --log-format pretty; the agent too, JSON by default', async () => {
    const line = controller.lines.find((l) => /became leader/.test(l))!;
    assert.match(line, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO {2}membership-controller: became leader (\w+=\S+ ?)+$/);
    assert.match(line, / identity=c1\b/);
    const agentArgs = [binPath('first-boot-agent'), 'join', 'chainfire', '--config', join(dir, 'missing.json'), '--endpoints', ep.join(',')];
    const pretty = await runProcess(process.execPath, [...agentArgs, '--log-format', 'pretty'], { timeoutMs: 30_000 });
    assert.equal(pretty.code, 78);
    assert.match(pretty.stdout, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ERROR chainfire\/cluster-join: --config: cannot read .*missing\.json: not found\n$/);
    const json = await runProcess(process.execPath, agentArgs, { timeoutMs: 30_000 });
    const entry = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(entry.level, 'ERROR');
    assert.equal(entry.service, 'chainfire');
    const bad = await runProcess(process.execPath, [...agentArgs, '--log-format', 'xml'], { timeoutMs: 30_000 });
    assert.equal(bad.code, 64);
    assert.match(bad.stderr, /argument 'xml' is invalid\. Allowed choices are json, pretty/);
  });
});
