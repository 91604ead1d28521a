import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyLayout } from './keys.js';
import { canonicalJson, decodeAgentReport, decodeDesired, decodeStatus, encodeRecord, type RawKv } from './records.js';

const API = 'membership.photoncloud.io/v1alpha1';
const keys = new KeyLayout();

function desiredJson(name = 'node04', over: { metadata?: object; spec?: object } = {}): string {
  return JSON.stringify({
    apiVersion: API,
    kind: 'NodeMembership',
    metadata: { name, ...over.metadata },
    spec: {
      role: 'control-plane',
      chainfire: { raftAddr: '10.0.1.13:2380', clientUrl: 'https://10.0.1.13:2379' },
      ...over.spec,
    },
  });
}

const statusJson = (name = 'node04') =>
  JSON.stringify({
    apiVersion: API,
    kind: 'NodeMembershipStatus',
    metadata: { name },
    status: { observedGeneration: 3, phase: 'Pending', conditions: [] },
  });

const agentJson = (over: object = {}) =>
  JSON.stringify({
    apiVersion: API,
    kind: 'AgentReport',
    metadata: { name: 'node04' },
    report: {
      agentVersion: '0.1.0',
      pid: 4312,
      hostname: 'node04',
      startedAt: '2026-11-24T10:29:00Z',
      mode: 'join',
      waitingFor: 'chainfire',
      services: {},
      ...over,
    },
  });

const kv = (key: string, value: string, modRevision = 118, createRevision = 100): RawKv => ({ key, value, modRevision, createRevision });

describe('decodeDesired', () => {
  it('decodes a valid record, applies defaults, and carries key and revisions', () => {
    const rec = decodeDesired(keys, kv(keys.desired('node04'), desiredJson()));
    assert.equal(rec.problem, undefined);
    assert.equal(rec.nameProblem, undefined);
    assert.equal(rec.key, '/photoncloud/membership/v1/desired/node04');
    assert.equal(rec.node, 'node04');
    assert.equal(rec.modRevision, 118);
    assert.equal(rec.createRevision, 100);
    assert.equal(rec.value?.spec.bootstrap, false);
    assert.equal(rec.value?.spec.state, 'Present');
    assert.deepEqual(rec.value?.metadata.labels, {});
  });

  it('makes a record with a reserved key invalid, naming the field (it was dropped silently before)', () => {
    const raw = desiredJson().replace('"metadata":{', '"metadata":{"labels":{"__proto__":{"team":"a"}},');
    const rec = decodeDesired(keys, kv(keys.desired('node04'), raw));
    assert.equal(rec.value, undefined);
    assert.equal(rec.problem, 'desired record node04: metadata.labels.__proto__: "__proto__" is not allowed as a key (__proto__, constructor, prototype are reserved)');
  });

  it('makes a record nested 10,000 levels deep invalid without walking it', () => {
    const rec = decodeDesired(keys, kv(keys.desired('node04'), `{"x":${'['.repeat(10_000)}`));
    assert.equal(rec.value, undefined);
    assert.match(rec.problem ?? '', /^desired record node04 is nested more than 64 levels deep/);
  });

  it('sets metadata.generation to the key\'s mod revision', () => {
    assert.equal(decodeDesired(keys, kv(keys.desired('node04'), desiredJson(), 57)).value?.metadata.generation, 57);
  });

  it('overwrites a generation the writer put in the record', () => {
    const rec = decodeDesired(keys, kv(keys.desired('node04'), desiredJson('node04', { metadata: { generation: 3 } }), 57));
    assert.equal(rec.value?.metadata.generation, 57);
  });

  it('keeps a record that is not JSON, with a problem saying so', () => {
    const rec = decodeDesired(keys, kv(keys.desired('node04'), '{"apiVersion":'));
    assert.equal(rec.value, undefined);
    assert.match(rec.problem ?? '', /^desired record node04 is not valid JSON: /);
    assert.equal(rec.node, 'node04');
    assert.equal(rec.modRevision, 118);
  });

  it('names the field path of a schema violation', () => {
    const rec = decodeDesired(
      keys,
      kv(keys.desired('node04'), desiredJson('node04', { spec: { chainfire: { raftAddr: 'nope', clientUrl: 'https://10.0.1.13:2379' } } })),
    );
    assert.equal(rec.value, undefined);
    assert.match(rec.problem ?? '', /^desired record node04 does not match the schema: spec\.chainfire\.raftAddr: must be host:port/);
  });

  it('names the object holding an unknown field', () => {
    const rec = decodeDesired(keys, kv(keys.desired('node04'), desiredJson('node04', { spec: { replicas: 3 } })));
    assert.match(rec.problem ?? '', /spec: .*"replicas"/);
  });

  it('names an invalid enum value by its path', () => {
    const rec = decodeDesired(keys, kv(keys.desired('node04'), desiredJson('node04', { spec: { state: 'Gone' } })));
    assert.match(rec.problem ?? '', /spec\.state: /);
  });

  it('rejects a metadata.name that differs from the key\'s node name', () => {
    const rec = decodeDesired(keys, kv(keys.desired('node04'), desiredJson('node05')));
    assert.equal(rec.value, undefined);
    assert.equal(rec.problem, 'desired record node04: metadata.name "node05" does not match the key\'s node name "node04"');
    assert.equal(rec.node, 'node04');
  });

  it('marks a key whose node part is not a DNS-1123 label, and never yields a value for it', () => {
    const rec = decodeDesired(keys, kv(keys.desired('Node_04'), desiredJson('node04')));
    assert.equal(rec.node, 'Node_04');
    assert.match(rec.nameProblem ?? '', /"Node_04" is not a DNS-1123 label/);
    assert.equal(rec.value, undefined);
    assert.match(rec.problem ?? '', /metadata\.name "node04" does not match the key's node name "Node_04"/);
  });
});

describe('decodeStatus', () => {
  it('decodes a valid status and fills the default blocks', () => {
    const rec = decodeStatus(keys, kv(keys.status('node04'), statusJson()));
    assert.equal(rec.problem, undefined);
    assert.equal(rec.value?.status.phase, 'Pending');
    assert.deepEqual(rec.value?.status.chainfire, {});
  });

  it('keeps an unparsable status with its problem', () => {
    const rec = decodeStatus(keys, kv(keys.status('node04'), 'not json'));
    assert.equal(rec.value, undefined);
    assert.match(rec.problem ?? '', /^status record node04 is not valid JSON/);
  });

  it('names the path of an invalid condition reason', () => {
    const bad = JSON.parse(statusJson()) as { status: { conditions: unknown[] } };
    bad.status.conditions.push({
      type: 'Ready',
      status: 'False',
      reason: 'not camel case',
      message: '',
      lastTransitionTime: '2026-11-24T10:30:45Z',
      observedGeneration: 3,
    });
    const rec = decodeStatus(keys, kv(keys.status('node04'), JSON.stringify(bad)));
    assert.match(rec.problem ?? '', /status\.conditions\.0\.reason: reason must be a CamelCase word/);
  });

  it('marks an invalid node name in the key', () => {
    const rec = decodeStatus(keys, kv(keys.status('-bad'), statusJson()));
    assert.match(rec.nameProblem ?? '', /"-bad"/);
  });
});

describe('decodeAgentReport', () => {
  it('decodes a valid report', () => {
    const rec = decodeAgentReport(keys, kv(keys.agent('node04'), agentJson()));
    assert.equal(rec.problem, undefined);
    assert.equal(rec.value?.report.waitingFor, 'chainfire');
    assert.equal(rec.node, 'node04');
  });

  it('names the field of a schema violation', () => {
    const rec = decodeAgentReport(keys, kv(keys.agent('node04'), agentJson({ pid: 0 })));
    assert.equal(rec.value, undefined);
    assert.match(rec.problem ?? '', /^agent report node04 does not match the schema: report\.pid: /);
  });

  it('refuses a key that is not under agents/', () => {
    assert.throws(() => decodeAgentReport(keys, kv(keys.desired('node04'), agentJson())), /is not under \/photoncloud\/membership\/v1\/agents\//);
  });
});

describe('canonicalJson', () => {
  it('gives equal strings for equal records whatever the key order, at every depth', () => {
    const a = { b: 1, a: { y: [{ q: 1, p: 2 }], x: null } };
    const b = { a: { x: null, y: [{ p: 2, q: 1 }] }, b: 1 };
    assert.equal(canonicalJson(a), canonicalJson(b));
    assert.equal(canonicalJson(a), '{"a":{"x":null,"y":[{"p":2,"q":1}]},"b":1}');
  });

  it('keeps array order significant', () => {
    assert.notEqual(canonicalJson({ l: [1, 2] }), canonicalJson({ l: [2, 1] }));
  });

  it('treats an undefined field like an absent one', () => {
    assert.equal(canonicalJson({ a: 1, b: undefined }), canonicalJson({ a: 1 }));
  });
});

describe('encodeRecord', () => {
  it('writes JSON that decodes back to the same record', () => {
    const rec = decodeDesired(keys, kv(keys.desired('node04'), desiredJson(), 9));
    const again = decodeDesired(keys, kv(keys.desired('node04'), encodeRecord(rec.value), 9));
    assert.deepEqual(again.value, rec.value);
  });
});

describe('records name the node their key names', () => {
  const keys = new KeyLayout();
  it('rejects an agent report stored under another node\'s key', () => {
    const report = {
      apiVersion: 'membership.photoncloud.io/v1alpha1',
      kind: 'AgentReport',
      metadata: { name: 'node05' },
      report: { agentVersion: '1', pid: 1, hostname: 'h', startedAt: 't', mode: 'join', waitingFor: 'chainfire', services: {} },
    };
    const rec = decodeAgentReport(keys, kv(keys.agent('node04'), JSON.stringify(report)));
    assert.equal(rec.value, undefined);
    assert.match(rec.problem ?? '', /agent report node04: metadata\.name "node05" does not match/);
  });
  it('ignores a bad metadata.generation written by an operator: the mod revision wins', () => {
    const json = JSON.parse(desiredJson('node04')) as { metadata: Record<string, unknown> };
    json.metadata.generation = 'seven';
    const rec = decodeDesired(keys, kv(keys.desired('node04'), JSON.stringify(json)));
    assert.equal(rec.problem, undefined);
    assert.equal(rec.value?.metadata.generation, rec.modRevision);
  });
});
