import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { buildNodeMembershipCrd } from './build.js';
import { CRD_FILE, firstDifferentLine, renderCrdYaml } from './generate.js';
import type { SchemaNode } from './schema-node.js';
import { structuralViolations } from './structural.js';
import { roleEnum } from '../common.js';
import { nodeMembershipSpec } from '../node-membership.js';
import { CONDITION_TYPES, PHASES } from '../status.js';
import { contractSpec } from '../../../test/support/node-records.js';

function openAPIV3Schema(): SchemaNode {
  const version = buildNodeMembershipCrd().spec.versions[0];
  assert.ok(version, 'the CRD has a version');
  return version.schema.openAPIV3Schema;
}

/** Follows `properties` by field names: at(schema, 'spec', 'chainfire'). */
function at(schema: SchemaNode, ...fields: string[]): SchemaNode {
  let node = schema;
  for (const f of fields) {
    const next = (node.properties as Record<string, SchemaNode> | undefined)?.[f];
    assert.ok(next, `schema has no field ${fields.join('.')} (stopped at ${f})`);
    node = next;
  }
  return node;
}

describe('committed CRD', () => {
  it('equals what the generator renders from the zod schemas', () => {
    let committed: string;
    try {
      committed = readFileSync(CRD_FILE, 'utf8');
    } catch {
      assert.fail(`${CRD_FILE} is missing: run \`npm run gen:crd\` and commit it`);
    }
    const rendered = renderCrdYaml();
    assert.ok(
      committed === rendered,
      `${CRD_FILE} is out of date (first difference at line ${firstDifferentLine(committed, rendered)}): ` +
        'run `npm run gen:crd` and commit the result',
    );
  });

  it('says it is generated and how to regenerate it', () => {
    const head = renderCrdYaml().split('\n').slice(0, 4).join('\n');
    assert.match(head, /^# Generated/);
    assert.match(head, /npm run gen:crd/);
    assert.match(head, /Do not edit by hand/);
  });

  it('parses back to exactly the object it was rendered from', () => {
    assert.deepEqual(parse(renderCrdYaml()), JSON.parse(JSON.stringify(buildNodeMembershipCrd())));
  });
});

describe('buildNodeMembershipCrd: the resource', () => {
  const crd = buildNodeMembershipCrd();

  it('names the resource as the contract says', () => {
    assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
    assert.equal(crd.kind, 'CustomResourceDefinition');
    assert.equal(crd.metadata.name, 'nodememberships.membership.photoncloud.io');
    assert.equal(crd.spec.group, 'membership.photoncloud.io');
    assert.equal(crd.spec.scope, 'Cluster');
    assert.deepEqual(crd.spec.names, {
      kind: 'NodeMembership',
      listKind: 'NodeMembershipList',
      plural: 'nodememberships',
      singular: 'nodemembership',
      shortNames: ['nm'],
    });
  });

  it('serves and stores v1alpha1 with a status subresource and printer columns', () => {
    assert.equal(crd.spec.versions.length, 1);
    const v = crd.spec.versions[0];
    assert.ok(v);
    assert.equal(v.name, 'v1alpha1');
    assert.equal(v.served, true);
    assert.equal(v.storage, true);
    assert.deepEqual(v.subresources, { status: {} });
    assert.deepEqual(
      v.additionalPrinterColumns.map((c) => [c.name, c.type, c.jsonPath]),
      [
        ['Role', 'string', '.spec.role'],
        ['State', 'string', '.spec.state'],
        ['Phase', 'string', '.status.phase'],
        ['Chainfire', 'string', '.status.conditions[?(@.type=="ChainfireMember")].status'],
        ['FlareDB', 'string', '.status.conditions[?(@.type=="FlareDBMember")].status'],
        ['IAM', 'string', '.status.conditions[?(@.type=="IAMRegistered")].status'],
        ['Agent', 'string', '.status.conditions[?(@.type=="AgentReady")].status'],
        ['Reason', 'string', '.status.conditions[?(@.type=="Ready")].reason'],
        ['Age', 'date', '.metadata.creationTimestamp'],
      ],
    );
    // kubectl get shows the services' columns; -o wide adds the agent and the reason.
    assert.deepEqual(
      v.additionalPrinterColumns.filter((c) => (c.priority ?? 0) > 0).map((c) => c.name),
      ['Agent', 'Reason'],
    );
  });

  it('has a printer column for every condition type but Ready (the phase says that)', () => {
    const v = crd.spec.versions[0];
    assert.ok(v);
    const shown = v.additionalPrinterColumns.flatMap((c) => /@\.type=="(\w+)"\)\]\.status$/.exec(c.jsonPath)?.[1] ?? []);
    assert.deepEqual(shown.sort(), CONDITION_TYPES.filter((t) => t !== 'Ready').sort());
  });

});

describe('buildNodeMembershipCrd: the schema', () => {
  it('has a structural schema', () => {
    assert.deepEqual(structuralViolations(openAPIV3Schema()), []);
  });

  it('keys conditions by type, as Kubernetes lists of conditions are', () => {
    const conditions = at(openAPIV3Schema(), 'status', 'conditions');
    assert.equal(conditions['x-kubernetes-list-type'], 'map');
    assert.deepEqual(conditions['x-kubernetes-list-map-keys'], ['type']);
    const items = conditions.items as SchemaNode;
    assert.ok((items.required as string[]).includes('type'), 'the key is required');
  });

  it('gives times format date-time and integers format int64', () => {
    const schema = openAPIV3Schema();
    const condition = at(schema, 'status', 'conditions').items as SchemaNode;
    const lastTransitionTime = (condition.properties as Record<string, SchemaNode>).lastTransitionTime;
    assert.deepEqual(lastTransitionTime, { type: 'string', format: 'date-time' });
    assert.equal(at(schema, 'status', 'chainfire', 'unhealthySince').format, 'date-time');
    const integers: string[] = [];
    const visit = (node: SchemaNode, path: string): void => {
      if (node.type === 'integer') integers.push(`${path}:${String(node.format)}`);
      for (const [k, v] of Object.entries((node.properties as Record<string, SchemaNode> | undefined) ?? {})) visit(v, `${path}.${k}`);
      if (node.items) visit(node.items as SchemaNode, `${path}[]`);
    };
    visit(schema, '');
    assert.ok(integers.length >= 4, `integers found: ${integers.join(' ')}`);
    assert.deepEqual(integers.filter((i) => !i.endsWith(':int64')), []);
  });

  it('has the resource fields at the top, with metadata left to the API server', () => {
    const schema = openAPIV3Schema();
    assert.equal(schema.type, 'object');
    assert.deepEqual(Object.keys(schema.properties as object), ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
    assert.deepEqual(at(schema, 'metadata'), { type: 'object' });
    assert.deepEqual(schema.required, ['spec']);
  });

  it('carries no JSON Schema leftovers anywhere', () => {
    const text = JSON.stringify(openAPIV3Schema());
    for (const word of ['$schema', '$ref', '$defs', '"const"', 'anyOf', 'oneOf', 'allOf', 'propertyNames', '"additionalProperties":false']) {
      assert.ok(!text.includes(word), `schema contains ${word}`);
    }
  });

  it('has every field of a sample spec under spec.properties', () => {
    const sample = nodeMembershipSpec.parse(contractSpec());
    const spec = at(openAPIV3Schema(), 'spec');
    const fields = Object.keys(spec.properties as object);
    for (const key of Object.keys(sample)) assert.ok(fields.includes(key), `spec.properties lacks ${key}`);
    // ...and the schema's own field list is the zod object's, no more, no less.
    assert.deepEqual(fields.sort(), Object.keys(nodeMembershipSpec.shape).sort());
    assert.deepEqual(Object.keys(at(spec, 'chainfire').properties as object), ['raftAddr', 'clientUrl']);
    assert.deepEqual(Object.keys(at(spec, 'flaredb').properties as object), ['raftAddr', 'apiUrl']);
  });

  it('has the enums for role, state and phase', () => {
    const schema = openAPIV3Schema();
    assert.deepEqual(at(schema, 'spec', 'role').enum, roleEnum.options);
    assert.deepEqual(at(schema, 'spec', 'state').enum, ['Present', 'Absent']);
    assert.deepEqual(at(schema, 'status', 'phase').enum, [...PHASES]);
  });

  it('makes fields with a zod default optional and lets the API server fill them in', () => {
    const spec = at(openAPIV3Schema(), 'spec');
    assert.deepEqual(spec.required, ['role']);
    assert.equal(at(spec, 'bootstrap').default, false);
    assert.equal(at(spec, 'state').default, 'Present');
  });

  it('keeps descriptions given with .describe()', () => {
    const spec = at(openAPIV3Schema(), 'spec');
    assert.match(String(at(spec, 'bootstrap').description), /initial cluster/);
    assert.match(String(at(spec, 'chainfire', 'raftAddr').description), /host:port/);
  });

  it('keeps free-form status records and drops closed-object markers', () => {
    const status = at(openAPIV3Schema(), 'status');
    for (const service of ['flaredb', 'iam']) {
      const node = at(status, service);
      assert.equal(node.type, 'object');
      assert.equal(node['x-kubernetes-preserve-unknown-fields'], true);
      assert.ok(!('additionalProperties' in node));
    }
    assert.equal(at(status, 'conditions').type, 'array');
    assert.equal((at(status, 'conditions').items as SchemaNode).type, 'object');
  });
});

