// membershipctl's kubectl habits against a real etcd: apply -f of YAML (get -o yaml | apply -f - round trip,
// several documents, Lists, refusals with line and column), and get -o jsonpath / custom-columns / -l / --sort-by.
// No controller runs: the status records are written here, so that what get prints is known exactly.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { stringify as toYaml } from 'yaml';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { ctl, tempDir } from '../support/fixtures.js';
import { binPath, runProcess, startProcess } from '../support/processes.js';
import { API_VERSION } from '../../src/schema/common.js';
import { KeyLayout } from '../../src/store/keys.js';

const keys = new KeyLayout();

const record = (name: string, labels: Record<string, string>, spec: Record<string, unknown> = {}) => ({
  apiVersion: API_VERSION,
  kind: 'NodeMembership',
  metadata: { name, ...(Object.keys(labels).length > 0 ? { labels } : {}) },
  spec: { role: 'worker', nodeIp: '127.0.0.1', ...spec },
});

const status = (name: string, phase: string, observedGeneration: number, ready: 'True' | 'False') => ({
  apiVersion: API_VERSION,
  kind: 'NodeMembershipStatus',
  metadata: { name },
  status: {
    observedGeneration,
    phase,
    conditions: [
      { type: 'AgentReady', status: 'True', reason: 'Reporting', message: 'reporting', lastTransitionTime: '2026-11-24T10:00:00.000Z', observedGeneration },
      { type: 'Ready', status: ready, reason: ready === 'True' ? 'Joined' : 'LearnerAdded', message: 'm', lastTransitionTime: '2026-11-24T10:00:00.000Z', observedGeneration },
    ],
    chainfire: {},
  },
});

describe('membershipctl apply -f YAML and get\'s kubectl output forms, against a real etcd', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let ep: string[];
  let dir: string;
  const modRevision = async (node: string) => Number((await client.get(keys.desired(node)).exec()).kvs[0]?.mod_revision ?? 0);
  const stored = async (node: string) => JSON.parse((await client.get(keys.desired(node)).string())!) as ReturnType<typeof record> & { metadata: { annotations: Record<string, string> } };
  /** membershipctl with the input piped in, as `a | membershipctl apply -f -` does. */
  const apply = (input: string, ...more: string[]) => ctl(ep, ['apply', '-f', '-', ...more], input);

  before(async () => {
    cluster = await EtcdCluster.start({ size: 1 });
    ep = cluster.endpoints;
    client = new Etcd3({ hosts: ep });
    dir = await tempDir('ctl-output-');
    const records = [
      record('node01', { zone: 'a', tier: 'db' }, { rack: 'r1', datacenter: 'dc1' }),
      record('node02', { zone: 'b' }),
      record('node03', { zone: 'a' }, { state: 'Present' }),
      record('node10', {}),
    ];
    const applied = await ctl(ep, ['apply', '-f', '-'], JSON.stringify(records));
    assert.equal(applied.code, 0, applied.stderr);
    // Statuses as the controller writes them; node10 has none. observedGeneration sorts 9 < 10 < 100 as numbers only.
    await client.put(keys.status('node01')).value(JSON.stringify(status('node01', 'Ready', 9, 'True')));
    await client.put(keys.status('node02')).value(JSON.stringify(status('node02', 'Joining', 100, 'False')));
    await client.put(keys.status('node03')).value(JSON.stringify(status('node03', 'Degraded', 10, 'False')));
  });

  after(async () => {
    client?.close();
    await cluster?.stop();
  });

  it('get NAME -o yaml | apply -f - changes nothing and says unchanged; so do get -o yaml and get -o json of all', async () => {
    const before = await modRevision('node01');
    const yaml = await ctl(ep, ['get', 'node01', '-o', 'yaml']);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.match(yaml.stdout, /\nstatus:\n {2}observedGeneration: 9\n/, 'get prints the status, which apply must take back');
    assert.match(yaml.stdout, /\n {2}generation: \d+\n/);
    const r = await apply(yaml.stdout);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'nodemembership/node01 unchanged\n');
    assert.equal(await modRevision('node01'), before, 'nothing was written');

    const all = await ctl(ep, ['get', '-o', 'yaml']);
    const rAll = await apply(all.stdout);
    assert.equal(rAll.code, 0, rAll.stderr);
    assert.equal(rAll.stdout, ['node01', 'node02', 'node03', 'node10'].map((n) => `nodemembership/${n} unchanged\n`).join(''));
    const json = await ctl(ep, ['get', '-o', 'json']);
    const rJson = await apply(json.stdout);
    assert.equal(rJson.code, 0, rJson.stderr);
    assert.equal(rJson.stdout, rAll.stdout);
    assert.equal(await modRevision('node01'), before);
  });

  it('an edited field in get -o yaml output applies as configured; the creation time is kept', async () => {
    const yaml = (await ctl(ep, ['get', 'node03', '-o', 'yaml'])).stdout;
    const createdAt = (await stored('node03')).metadata.annotations['membership.photoncloud.io/created-at'];
    const edited = yaml.replace(/\n {2}nodeIp: 127\.0\.0\.1\n/, '\n  nodeIp: 127.0.0.1\n  rack: r7\n');
    assert.notEqual(edited, yaml);
    const r = await apply(edited);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'nodemembership/node03 configured\n');
    const now = await stored('node03');
    assert.equal((now.spec as { rack?: string }).rack, 'r7');
    assert.equal(now.metadata.annotations['membership.photoncloud.io/created-at'], createdAt);
    assert.equal((now as { status?: unknown }).status, undefined, 'status is never written to the desired record');
    assert.equal((now.metadata as { generation?: unknown }).generation, undefined);
  });

  it('several YAML documents and a List in one file; one bad document writes nothing and names the document and line', async () => {
    const file = join(dir, 'nodes.yaml');
    const list = { apiVersion: 'v1', kind: 'List', items: [record('node21', { zone: 'c' }), record('node22', {})] };
    await writeFile(file, `# workers\n${toYaml(record('node20', { zone: 'c' }))}---\n${toYaml(list)}---\n`);
    const r = await ctl(ep, ['apply', '-f', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'nodemembership/node20 created\nnodemembership/node21 created\nnodemembership/node22 created\n');
    assert.deepEqual((await stored('node21')).metadata.labels, { zone: 'c' });
    for (const n of ['node20', 'node21', 'node22']) await client.delete().key(keys.desired(n));

    const bad = `${toYaml(record('node23', {}))}---\napiVersion: ${API_VERSION}\nkind: NodeMembership\nmetadata:\n  name: node24\nspec:\n  role: boss\n`;
    const refused = await apply(bad);
    assert.equal(refused.code, 78, refused.stderr);
    assert.match(refused.stderr, /^error: stdin \(document 2, line 9, column 1\): spec\.role: .*"control-plane"/);
    assert.match(refused.stderr, /\nnothing was applied\n$/);
    assert.equal(await modRevision('node23'), 0, 'the good document was not written either');
  });

  it('YAML that is not valid, an alias bomb and a duplicate key are refused (78) with line and column; nothing is written', async () => {
    const before = (await client.get(keys.desired('node01')).exec()).header.revision;
    const syntax = await apply(`apiVersion: ${API_VERSION}\nkind: NodeMembership\nmetadata:\n  name: [node05\nspec:\n  role: worker\n`);
    assert.equal(syntax.code, 78);
    assert.match(syntax.stderr, /^error: stdin: not valid YAML at line 5, column 1: /);
    const duplicate = await apply(`apiVersion: ${API_VERSION}\nkind: NodeMembership\nmetadata:\n  name: node05\n  name: node06\nspec:\n  role: worker\n`);
    assert.equal(duplicate.code, 78);
    assert.equal(duplicate.stderr, 'error: stdin: not valid YAML at line 5, column 3: Map keys must be unique\n');
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [name, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e'], ['g', 'f']]) {
      laughs.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    const bomb = join(dir, 'bomb.yaml');
    await writeFile(bomb, `${laughs.join('\n')}\n`);
    const r = await ctl(ep, ['apply', '-f', bomb]);
    assert.equal(r.code, 78, r.stderr);
    assert.equal(r.stderr, `error: ${bomb} (line 1, column 1): its aliases expand to more than 1000 copies; refused as an alias bomb\n`);
    assert.equal((await client.get(keys.desired('node01')).exec()).header.revision, before, 'nothing was written');
  });

  it('get -o jsonpath: fields of a List of every node, range with tab and newline literals, filters, one node\'s object', async () => {
    const names = await ctl(ep, ['get', '-o', 'jsonpath={.items[*].metadata.name}']);
    assert.equal(names.code, 0, names.stderr);
    assert.equal(names.stdout, 'node01 node02 node03 node10');
    const rows = await ctl(ep, ['get', '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}']);
    assert.equal(rows.stdout, 'node01\tReady\nnode02\tJoining\nnode03\tDegraded\nnode10\t\n');
    const ready = await ctl(ep, ['get', '-o', 'jsonpath={.items[?(@.status.phase=="Ready")].metadata.name}']);
    assert.equal(ready.stdout, 'node01');
    const conditions = await ctl(ep, ['get', 'node02', '-o=jsonpath={.status.conditions[?(@.type=="Ready")].reason} {.metadata.labels.zone}']);
    assert.equal(conditions.code, 0, conditions.stderr);
    assert.equal(conditions.stdout, 'LearnerAdded b');
    const generation = await ctl(ep, ['get', 'node01', '-o', 'jsonpath={.metadata.generation}']);
    assert.equal(generation.stdout, String(await modRevision('node01')));
  });

  it('get -o custom-columns: a header and a column per path, <none> where a node has no value', async () => {
    // Fields no other case changes: the case stands on its own.
    const r = await ctl(ep, ['get', '-o', 'custom-columns=NAME:.metadata.name,PHASE:.status.phase,ZONE:.metadata.labels.zone,DC:.spec.datacenter']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, [
      'NAME     PHASE      ZONE     DC',
      'node01   Ready      a        dc1',
      'node02   Joining    b        <none>',
      'node03   Degraded   a        <none>',
      'node10   <none>     <none>   <none>',
      '',
    ].join('\n'));
  });

  it('get -l selects by labels, --sort-by orders (numbers as numbers), both with any -o', async () => {
    const name = (args: string[]) => ctl(ep, ['get', '-o', 'name', ...args]);
    assert.equal((await name(['-l', 'zone=a'])).stdout, 'nodemembership/node01\nnodemembership/node03\n');
    assert.equal((await name(['-l', 'zone!=a'])).stdout, 'nodemembership/node02\nnodemembership/node10\n');
    assert.equal((await name(['-l', '!zone'])).stdout, 'nodemembership/node10\n');
    assert.equal((await name(['-l', 'zone,tier==db'])).stdout, 'nodemembership/node01\n');
    assert.equal((await name(['-l', 'zone=z'])).stdout, '');
    const sorted = await ctl(ep, ['get', '--sort-by', '.status.observedGeneration', '-o', 'custom-columns=NAME:.metadata.name,OBSERVED:.status.observedGeneration']);
    assert.equal(sorted.code, 0, sorted.stderr);
    assert.equal(sorted.stdout, 'NAME     OBSERVED\nnode10   <none>\nnode01   9\nnode03   10\nnode02   100\n');
    const byPhase = await ctl(ep, ['get', '-l', 'zone', '--sort-by', '{.status.phase}']);
    assert.equal(byPhase.code, 0, byPhase.stderr);
    assert.deepEqual(byPhase.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/).slice(0, 4).join(' ')), [
      'NAME ROLE STATE PHASE', 'node03 worker Present Degraded', 'node02 worker Present Joining', 'node01 worker Present Ready',
    ]);
    const json = JSON.parse((await ctl(ep, ['get', '-o', 'json', '-l', 'zone=a', '--sort-by', '.spec.rack'])).stdout) as { items: Array<{ metadata: { name: string } }> };
    assert.deepEqual(json.items.map((i) => i.metadata.name), ['node01', 'node03']);
  });

  it('bad -o, templates, selectors and --sort-by exit 64 before connecting, saying what is wrong', async () => {
    // An endpoint nothing listens on: a usage error is found before any connection.
    const run = (args: string[]) => runProcess(process.execPath, [binPath('membershipctl'), ...args, '--endpoints', 'http://127.0.0.1:1'], { timeoutMs: 30_000 });
    const format = await run(['get', '-o', 'xml']);
    assert.equal(format.code, 64);
    assert.equal(format.stderr, 'error: -o, --output "xml": unknown output format; valid formats: table, wide, json, yaml, name, jsonpath=TEMPLATE, custom-columns=SPEC\n');
    const template = await run(['get', '-o', 'jsonpath={.items[*.metadata.name}']);
    assert.equal(template.code, 64);
    assert.match(template.stderr, /^error: -o jsonpath: unexpected "\." in \[\.\.\.\] at position 10 of the template:\n {2}\{\.items\[\*\.metadata\.name\}\n {11}\^\n/);
    const columns = await run(['get', '-o', 'custom-columns=NAME']);
    assert.equal(columns.code, 64);
    assert.match(columns.stderr, /"NAME" is not HEADER:PATH/);
    const selector = await run(['get', '-l', 'zone in (a,b)']);
    assert.equal(selector.code, 64);
    assert.match(selector.stderr, /set-based requirements .* are not supported/);
    const both = await run(['get', 'node01', '-l', 'zone=a']);
    assert.equal(both.code, 64);
    const sortBy = await ctl(ep, ['get', '--sort-by', '.status.conditions[*].type']);
    assert.equal(sortBy.code, 64);
    assert.match(sortBy.stderr, /--sort-by \.status\.conditions\[\*\]\.type: selects 2 values in nodemembership\/node01; it must name one field/);
  });

  it('get -w -o jsonpath prints the template for each node, then for each change; -l filters the watch', async () => {
    const watch = startProcess(process.execPath, [
      binPath('membershipctl'), 'get', '-w', '-l', 'zone=a', '-o', 'jsonpath={.metadata.name} {.status.phase}{"\\n"}', '--endpoints', ep.join(','),
    ]);
    try {
      await watch.waitForLine(/^node03 Degraded$/, 15_000);
      // node02 gets zone=a: it enters the watch; node01 loses it: it leaves as a deleted node does (jsonpath of its stub).
      const relabeled = await apply(JSON.stringify([record('node02', { zone: 'a' }), record('node01', { zone: 'b' }, { rack: 'r1', datacenter: 'dc1' })]));
      assert.equal(relabeled.code, 0, relabeled.stderr);
      await watch.waitForLine(/^node02 Joining$/, 15_000);
      await watch.waitForLine(/^node01 $/, 15_000);
      watch.kill('SIGINT');
      assert.deepEqual(await watch.exited, { code: 0, signal: null });
    } finally {
      watch.kill('SIGKILL');
    }
    assert.deepEqual(watch.stdout, ['node01 Ready', 'node03 Degraded', 'node01 ', 'node02 Joining']);
  });
});
