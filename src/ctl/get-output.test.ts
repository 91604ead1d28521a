import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipError } from '../errors.js';
import { NOW, desiredRecord, sampleViews, statusRecord } from '../../test/support/ctl-records.js';
import { compareSortKeys, parseCustomColumns, parseOutput, parseSortBy, renderGet, selectViews, sortViewsBy } from './get-output.js';
import { parseSelector, selects } from './selector.js';
import type { NodeView } from './view.js';

function usage(fn: () => unknown, ...fragments: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MembershipError, String(err));
    assert.equal(err.code, 'USAGE');
    for (const f of fragments) assert.match(err.message, f);
    return true;
  });
}

/** node07: labelled, no status; with sampleViews' node01 (Ready, observed 7) and node04 (Joining, observed 12). */
function views(): NodeView[] {
  const [node01, node04] = sampleViews();
  const desired = desiredRecord('node07', { role: 'worker', rack: 'r2' }, 130);
  const node07: NodeView = { node: 'node07', desired: { ...desired, value: { ...desired.value!, metadata: { ...desired.value!.metadata, labels: { zone: 'b', tier: 'db' } } } } };
  const labelled01: NodeView = { ...node01!, desired: { ...node01!.desired!, value: { ...node01!.desired!.value!, metadata: { ...node01!.desired!.value!.metadata, labels: { zone: 'a' } } } } };
  return [labelled01, node04!, node07];
}

describe('get -o: the formats and their errors', () => {
  it('takes the fixed formats, jsonpath= and custom-columns= (also as -o=...), and lists the valid ones otherwise', () => {
    assert.deepEqual(parseOutput('wide'), { kind: 'wide' });
    assert.deepEqual(parseOutput('=name'), { kind: 'name' });
    assert.equal(parseOutput('jsonpath={.kind}').kind, 'jsonpath');
    assert.equal(parseOutput('=jsonpath={.kind}').kind, 'jsonpath');
    assert.equal(parseOutput('custom-columns=A:.a').kind, 'custom-columns');
    usage(() => parseOutput('xml'), /^-o, --output "xml": unknown output format; valid formats: table, wide, json, yaml, name, jsonpath=TEMPLATE, custom-columns=SPEC$/);
    usage(() => parseOutput('go-template={{.kind}}'), /not supported; valid formats:/);
    usage(() => parseOutput('jsonpath'), /-o jsonpath needs a template/);
    usage(() => parseOutput('jsonpath='), /-o jsonpath needs a template/);
    usage(() => parseOutput('custom-columns='), /needs columns/);
    usage(() => parseOutput('jsonpath={.items[*}'), /^-o jsonpath: "\[" is not closed with "\]" at position 8 of the template:\n {2}\{\.items\[\*\}\n {9}\^\nsupported: /);
  });

  it('custom-columns: HEADER:PATH pairs, refused when a pair or its path is bad', () => {
    const cols = parseCustomColumns('NAME:.metadata.name,PHASE:status.phase,GEN:{.metadata.generation}');
    assert.deepEqual(cols.map((c) => c.header), ['NAME', 'PHASE', 'GEN']);
    usage(() => parseCustomColumns('NAME'), /"NAME" is not HEADER:PATH/);
    usage(() => parseCustomColumns(':.a'), /":\.a" is not HEADER:PATH/);
    usage(() => parseCustomColumns('A:'), /"A:" is not HEADER:PATH/);
    usage(() => parseCustomColumns('A:.a[x]'), /^-o custom-columns: column A: unexpected "x" in \[\.\.\.\]/);
  });

  it('renders custom columns with <none> for missing values and "," between several; jsonpath over a List or the one node', () => {
    const all = views();
    const out = renderGet(all, parseOutput('custom-columns=NAME:.metadata.name,PHASE:.status.phase,CONDITIONS:.status.conditions[*].type,ZONE:.metadata.labels.zone'), false, NOW);
    assert.equal(out, [
      'NAME     PHASE     CONDITIONS                                       ZONE',
      'node01   Ready     ChainfireMember,Ready                            a',
      'node04   Joining   AgentReady,ChainfireMember,FlareDBMember,Ready   <none>',
      'node07   <none>    <none>                                           b',
      '',
    ].join('\n'));
    assert.equal(renderGet([], parseOutput('custom-columns=NAME:.metadata.name'), false), 'NAME\n', 'no nodes: the header alone');
    assert.equal(renderGet(all, parseOutput('jsonpath={.kind} {.items[*].metadata.name}'), false), 'List node01 node04 node07');
    assert.equal(renderGet(all.slice(1, 2), parseOutput('jsonpath={.kind} {.metadata.name} {.metadata.generation}'), true), 'NodeMembership node04 12');
    assert.equal(renderGet(all, parseOutput('name'), false), 'nodemembership/node01\nnodemembership/node04\nnodemembership/node07\n');
  });

  it('--sort-by orders by the value (numbers as numbers, missing first, stable), and refuses a path with several values', () => {
    const all = views();
    const names = (vs: NodeView[]) => vs.map((v) => v.node);
    assert.deepEqual(names(sortViewsBy(all, parseSortBy('.metadata.generation'), '.metadata.generation')), ['node01', 'node04', 'node07'], '7 < 12 < 130');
    assert.deepEqual(names(sortViewsBy(all, parseSortBy('{.status.phase}'), '{.status.phase}')), ['node07', 'node04', 'node01']);
    assert.deepEqual(names(sortViewsBy(all, parseSortBy('spec.role'), 'spec.role')), ['node01', 'node04', 'node07']);
    assert.deepEqual(names(sortViewsBy(all, parseSortBy('.spec.nothing'), '.spec.nothing')), ['node01', 'node04', 'node07'], 'all equal: name order kept');
    usage(() => sortViewsBy(all, parseSortBy('.status.conditions[*].type'), '.status.conditions[*].type'), /selects 2 values in nodemembership\/node01; it must name one field/);
    usage(() => parseSortBy('.a['), /^--sort-by: /);
    assert.ok(compareSortKeys(undefined, 0) < 0 && compareSortKeys(2, 10) < 0 && compareSortKeys(10, 'a') < 0 && compareSortKeys('b', 'a') > 0 && compareSortKeys('a', true) < 0);
  });
});

describe('get -l: label selectors', () => {
  it('key=value, key==value, key!=value, key, !key; all must hold; a missing label differs from any value', () => {
    const labels = { zone: 'a', 'topology.example.io/rack': 'r1' };
    const t = (s: string) => selects(parseSelector(s), labels);
    assert.ok(t('zone=a') && t('zone==a') && t('zone!=b') && t('zone') && t('!tier') && t('topology.example.io/rack=r1'));
    assert.ok(t('zone=a, topology.example.io/rack') && !t('zone=a,tier') && !t('zone=b') && !t('!zone') && t('tier!=db'));
    assert.ok(t('zone!=') && !t('zone='), 'an empty value is a value');
    assert.deepEqual(selectViews(views(), parseSelector('zone')).map((v) => v.node), ['node01', 'node07']);
    assert.deepEqual(selectViews(views(), parseSelector('!zone')).map((v) => v.node), ['node04']);
    assert.deepEqual(selectViews(views(), parseSelector('zone!=a')).map((v) => v.node), ['node04', 'node07']);
  });

  it('an invalid record or a lone status has no labels: only !key and key!=value select it', () => {
    const lone: NodeView = { node: 'node08', status: statusRecord('node08', { observedGeneration: 1, phase: 'Removed', conditions: [], chainfire: {} }, 3) };
    assert.deepEqual(selectViews([lone], parseSelector('!zone')).length, 1);
    assert.deepEqual(selectViews([lone], parseSelector('zone')).length, 0);
  });

  it('refuses what is not an equality-based requirement, naming the position', () => {
    usage(() => parseSelector('zone in (a,b)'), /set-based requirements \(zone in \(a\) are not supported \(at position 1\)/);
    usage(() => parseSelector('zone=a,,x'), /an empty requirement \(at position 8\)/);
    usage(() => parseSelector('zone=a b'), /"a b" is not a label value \(at position 6\)/);
    usage(() => parseSelector('-zone'), /"-zone" is not a label key/);
    usage(() => parseSelector('!zone=a'), /"!" goes with a key alone/);
    usage(() => parseSelector('zone=a,x>1'), /"x>1" is not a label key|is not a requirement/);
    usage(() => parseSelector(''), /an empty requirement/);
  });
});
