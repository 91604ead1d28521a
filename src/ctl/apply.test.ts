import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipError } from '../errors.js';
import { API_VERSION } from '../schema/common.js';
import { stringify as toYaml } from 'yaml';
import { MAX_RECORD_BYTES, parseRecords } from './apply.js';
import { MAX_ALIAS_COUNT, MAX_DOCUMENTS, MAX_YAML_BYTES, MAX_YAML_TOKENS } from './input-documents.js';

const record = (name: string, metadata: Record<string, unknown> = {}) => ({
  apiVersion: API_VERSION,
  kind: 'NodeMembership',
  metadata: { name, ...metadata },
  spec: { role: 'worker' },
});

function refused(text: string, ...fragments: string[]): void {
  refusedAs('nodes.json', text, ...fragments);
}

function refusedAs(source: string, text: string, ...fragments: string[]): void {
  assert.throws(() => parseRecords(text, source), (err: unknown) => {
    assert.ok(err instanceof MembershipError, String(err));
    assert.equal(err.code, 'CONFIG_INVALID');
    for (const f of fragments) assert.ok(err.message.includes(f), `${JSON.stringify(err.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

describe('parseRecords: what the store would refuse or JavaScript would drop is refused up front', () => {
  it('refuses labels: {"__proto__": ...} (dropped silently before), naming the field and the record', () => {
    refused('{"apiVersion":"membership.photoncloud.io/v1alpha1","kind":"NodeMembership","metadata":{"name":"node04","labels":{"__proto__":{"a":"b"}}},"spec":{"role":"worker"}}',
      'nodes.json: metadata.labels.__proto__: "__proto__" is not allowed as a key');
    refused(JSON.stringify([record('node04'), record('node05', { annotations: { constructor: 'x' } })]), 'nodes.json[1]: metadata.annotations.constructor');
    refused(JSON.stringify([record('node04', { labels: { prototype: 'x' } })]), 'metadata.labels.prototype', 'nothing was applied');
  });

  it('refuses a record larger than Chainfire accepts, naming it, and keeps a large but acceptable one', () => {
    const big = record('node08', { labels: { big: 'y'.repeat(MAX_RECORD_BYTES) } });
    refused(JSON.stringify([record('node04'), big]), 'nodes.json[1]: record node08 is', 'at most 1 MiB per record', 'nothing was applied');
    const fine = record('node09', { labels: { big: 'y'.repeat(MAX_RECORD_BYTES - 1000) } });
    assert.equal(parseRecords(JSON.stringify(fine), 'nodes.json')[0]!.metadata.name, 'node09');
  });

  it('refuses input nested deeper than any record, before parsing it', () => {
    refused(`[${'{"a":'.repeat(10_000)}`, 'nodes.json: nested more than 64 levels deep (at line 1 column 317)');
  });
});

describe('parseRecords: YAML, as get -o yaml prints it, and its guards', () => {
  const names = (text: string) => parseRecords(text, 'nodes.yaml').map((r) => r.metadata.name);
  const status = { observedGeneration: 12, phase: 'Ready', conditions: [] };

  it('reads what get -o yaml and get -o json print: status, statusProblem and metadata.generation are dropped', () => {
    const printed = { ...record('node04', { generation: 12, labels: {}, annotations: { 'membership.photoncloud.io/created-at': '2026-11-24T10:00:00.000Z' } }), status };
    const [fromYaml] = parseRecords(toYaml(printed), 'stdin');
    const [fromJson] = parseRecords(JSON.stringify(printed, null, 2), 'stdin');
    assert.deepEqual(fromYaml, fromJson);
    assert.equal(fromYaml!.metadata.generation, undefined);
    assert.equal((fromYaml as Record<string, unknown>).status, undefined);
    assert.equal(fromYaml!.metadata.annotations['membership.photoncloud.io/created-at'], '2026-11-24T10:00:00.000Z', 'a timestamp stays a string');
    assert.deepEqual(names(toYaml({ apiVersion: 'v1', kind: 'List', items: [{ ...record('node01'), status }, { ...record('node02'), statusProblem: 'x' }] })), ['node01', 'node02']);
  });

  it('several documents (empty ones skipped), arrays and Lists in them; flow style that looks like JSON', () => {
    const text = `---\n${toYaml(record('node01'))}---\n---\n${toYaml([record('node02'), record('node03')])}...\n---\n${toYaml({ kind: 'List', items: [record('node04')] })}`;
    assert.deepEqual(names(text), ['node01', 'node02', 'node03', 'node04']);
    assert.deepEqual(names('{apiVersion: membership.photoncloud.io/v1alpha1, kind: NodeMembership, metadata: {name: node09}, spec: {role: worker}}'), ['node09']);
    assert.deepEqual(names('# a comment\n' + toYaml(record('node05'))), ['node05']);
    refusedAs('nodes.yaml', '# nothing here\n---\n', 'nodes.yaml: no records in the input');
  });

  it('a schema problem names the document, the item and the line; a duplicate across documents is refused; nothing applies', () => {
    const bad = { ...record('node02'), spec: { role: 'boss' } };
    refusedAs('nodes.yaml', `${toYaml(record('node01'))}---\n${toYaml(bad)}`, 'nodes.yaml (document 2, line 8, column 1): spec.role: ', 'nothing was applied');
    refusedAs('nodes.yaml', toYaml({ kind: 'List', items: [record('node01'), bad] }), 'nodes.yaml[1] (line 9, column 5): spec.role: ');
    refusedAs('nodes.yaml', `${toYaml(record('node01'))}---\n${toYaml(record('node01'))}`, 'nodes.yaml (document 2, line 8, column 1): node node01 appears more than once');
    refusedAs('nodes.yaml', toYaml({ ...record('node01'), spec: { role: 'worker', rack: 12 } }), 'nodes.yaml: spec.rack: Invalid input: expected string, received number');
  });

  it('syntax errors, duplicate keys and unknown tags are refused with line and column', () => {
    refusedAs('n.yaml', 'metadata:\n  name: [node04\nspec: {}\n', 'n.yaml: not valid YAML at line 3, column 1: ');
    refusedAs('n.yaml', 'metadata:\n  name: a\n  name: b\n', 'n.yaml: not valid YAML at line 3, column 3: Map keys must be unique');
    refusedAs('n.yaml', toYaml(record('node04')).replace('role: worker', 'role: !!binary d29ya2Vy'), 'not valid YAML at line 6, column 9: Unresolved tag');
    refusedAs('n.yaml', 'a: !custom x\n', 'not valid YAML at line 1, column 4: Unresolved tag: !custom');
    refusedAs('n.yaml', 'a: 1\nb: *nowhere\n', 'n.yaml (line 2, column 4): Unresolved alias (the anchor must be set before the alias): nowhere');
    refusedAs('n.json', '{"a": 1,\n  "b": 2,,\n}', 'n.json: not valid JSON or YAML at line 2, column 10');
    refusedAs('bin', 'a: 1\nb: \u001b[2J\u0000\n', 'bin: not valid JSON or YAML: control character at line 2, column 4 (binary data?): "\u001b[2J\u0000"');
    refusedAs('bin', '\u001b[2J{"x": 1}', 'bin: not valid JSON or YAML: control character at line 1, column 1 (binary data?): "\u001b[2J{"x": 1}"');
    refusedAs('bin.json', '{"x": "\u0007"}', 'bin.json: not valid JSON or YAML: control character at line 1, column 8');
  });

  it('refuses alias bombs, an alias inside what it names, and alias expansion past the nesting limit; allows a few aliases', () => {
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    'bcdefghi'.split('').forEach((name, i) => laughs.push(`${name}: &${name} [${Array(10).fill(`*${'abcdefghi'[i]}`).join(', ')}]`));
    const started = Date.now();
    refusedAs('bomb.yaml', laughs.join('\n'), `bomb.yaml (line 1, column 1): its aliases expand to more than ${MAX_ALIAS_COUNT} copies; refused as an alias bomb`);
    assert.ok(Date.now() - started < 10_000, 'refused without expanding it');
    refusedAs('cycle.yaml', 'a: &a [1, *a]\n', 'cycle.yaml (line 1, column 1): an alias refers to a node that contains it (a cycle)');
    const deep = `a: &a ${'['.repeat(40)}${']'.repeat(40)}\nb: ${'['.repeat(40)}*a${']'.repeat(40)}\n`;
    refusedAs('deep.yaml', deep, 'deep.yaml (line 1, column 1): nested more than 64 levels deep once its aliases are expanded');
    const shared = `kind: List\nitems:\n${['node01', 'node02', 'node03'].map((n, i) => `- apiVersion: ${API_VERSION}\n  kind: NodeMembership\n  metadata: {name: ${n}}\n  spec: ${i === 0 ? '&worker ' : '*worker'}${i === 0 ? '{role: worker, rack: r1}' : ''}\n`).join('')}`;
    const recs = parseRecords(shared, 'shared.yaml');
    assert.deepEqual(recs.map((r) => [r.metadata.name, r.spec.rack]), [['node01', 'r1'], ['node02', 'r1'], ['node03', 'r1']]);
  });

  it('refuses deep nesting before the parser recurses, as JSON is; __proto__ in YAML as in JSON', () => {
    refusedAs('d.yaml', `a: ${'['.repeat(100_000)}`, 'd.yaml: nested more than 64 levels deep (at line 1, column 67)');
    refusedAs('d.yaml', Array.from({ length: 200 }, (_, i) => `${' '.repeat(i)}k:`).join('\n'), 'd.yaml: nested more than 64 levels deep (at line 65, column 65)');
    refusedAs('d.yaml', `[${'{"a":'.repeat(100)}`, 'd.yaml: nested more than 64 levels deep (at line 1 column 317)');
    refusedAs('p.yaml', toYaml(record('node04')).replace('metadata:\n', 'metadata:\n  labels:\n    __proto__: x\n'), 'p.yaml: metadata.labels.__proto__: "__proto__" is not allowed as a key');
  });

  it('caps the size of YAML and the number of documents, counting documents before building them', () => {
    const big = `# ${'x'.repeat(MAX_YAML_BYTES)}\n${toYaml(record('node01'))}`;
    refusedAs('big.yaml', big, `big.yaml: ${Buffer.byteLength(big)} bytes of YAML; at most 4 MiB of YAML is read`);
    const bigJson = JSON.stringify([record('node01', { labels: { pad: 'y'.repeat(MAX_YAML_BYTES) } })]);
    assert.throws(() => parseRecords(bigJson, 'big.json'), /record node01 is \d+ bytes/, 'JSON past the YAML cap is still read (as JSON)');
    refusedAs('big.json', `${bigJson.slice(0, -1)},}`, 'big.json: not valid JSON: ');
    const started = Date.now();
    refusedAs('docs.yaml', '---\n'.repeat(MAX_DOCUMENTS + 5), `docs.yaml: more than ${MAX_DOCUMENTS} YAML documents (document ${MAX_DOCUMENTS + 1} starts at line ${MAX_DOCUMENTS + 1}, column 1)`);
    assert.ok(Date.now() - started < 20_000);
  });

  it('refuses a map key that is a map or a list, naming where', () => {
    refusedAs('k.yaml', toYaml(record('node04')).replace('metadata:\n', 'metadata:\n  labels:\n    ? [a, b]\n    : c\n'), 'k.yaml (line 5, column 7): a map key that is itself a map or a list; keys are strings');
  });

  it('counts YAML tokens before building a tree: dense input within the byte cap is refused, a thousand records are read', () => {
    const dense = `spec: [${'1,'.repeat(1_500_000)}1]\n`;
    assert.ok(Buffer.byteLength(dense) < MAX_YAML_BYTES, 'within the byte cap');
    refusedAs('dense.yaml', dense, `dense.yaml: more than ${MAX_YAML_TOKENS} YAML tokens (some 1,000 records as get -o yaml prints them); apply it as JSON`);
    const many = Array.from({ length: 1000 }, (_, i) => toYaml(record(`node${String(i).padStart(4, '0')}`))).join('---\n');
    assert.equal(parseRecords(many, 'many.yaml').length, 1000);
  });
});
