import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import {
  assertStructural,
  buildNodeMembershipCrd,
  CrdSchemaError,
  toStructural,
  type SchemaNode,
} from './crd.js';
import { CRD_FILE, firstDifferentLine, renderCrdYaml } from './generate-crd.js';
import { roleEnum } from './common.js';
import { nodeMembershipSpec } from './node-membership.js';
import { PHASES } from './status.js';
import { contractSpec } from '../../test/support/node-records.js';

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

/** A resource-root schema with one field `x`, for testing the rules on a small bad node. */
function withField(x: unknown): SchemaNode {
  return { type: 'object', properties: { x } };
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

describe('buildNodeMembershipCrd', () => {
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
        ['Age', 'date', '.metadata.creationTimestamp'],
      ],
    );
  });

  it('has a structural schema', () => {
    assert.deepEqual(assertStructural(openAPIV3Schema()), []);
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

describe('toStructural', () => {
  it('inlines $ref and drops $schema and $defs', () => {
    const out = toStructural({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: { a: { $ref: '#/$defs/A', description: 'the a' } },
      $defs: { A: { type: 'string', minLength: 1 } },
    });
    assert.deepEqual(out, { type: 'object', properties: { a: { description: 'the a', type: 'string', minLength: 1 } } });
  });

  it('refuses recursive references', () => {
    assert.throws(
      () => toStructural({ type: 'object', properties: { n: { $ref: '#/$defs/N' } }, $defs: { N: { type: 'object', properties: { n: { $ref: '#/$defs/N' } } } } }),
      (err: unknown) => err instanceof CrdSchemaError && /recursive/.test(err.message),
    );
  });

  it('turns const into a one-value enum and a literal union into an enum', () => {
    const out = toStructural(
      z.toJSONSchema(z.object({ c: z.literal('x'), u: z.union([z.literal('a'), z.literal('b')]) })),
    );
    assert.deepEqual((out.properties as Record<string, SchemaNode>).c, { type: 'string', enum: ['x'] });
    assert.deepEqual((out.properties as Record<string, SchemaNode>).u, { type: 'string', enum: ['a', 'b'] });
  });

  it('turns numeric exclusive bounds into OpenAPI v3.0 booleans', () => {
    const out = toStructural(z.toJSONSchema(z.object({ p: z.number().positive(), l: z.number().lt(5) })));
    const props = out.properties as Record<string, SchemaNode>;
    assert.deepEqual(props.p, { type: 'number', minimum: 0, exclusiveMinimum: true });
    assert.deepEqual(props.l, { type: 'number', maximum: 5, exclusiveMaximum: true });
  });

  it('spells null as nullable', () => {
    const out = toStructural(z.toJSONSchema(z.object({ n: z.string().nullable() })));
    assert.deepEqual((out.properties as Record<string, SchemaNode>).n, { type: 'string', nullable: true });
  });

  it('keeps typed maps and turns maps of anything into preserve-unknown-fields', () => {
    const out = toStructural(
      z.toJSONSchema(z.object({ s: z.record(z.string(), z.string()), u: z.record(z.string(), z.unknown()) })),
    );
    const props = out.properties as Record<string, SchemaNode>;
    assert.deepEqual(props.s, { type: 'object', additionalProperties: { type: 'string' } });
    assert.deepEqual(props.u, { type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
    assert.ok(!('additionalProperties' in out), 'a strict object is closed by pruning, not additionalProperties');
  });

  it('refuses unions that are not enums, tuples and catch-alls, naming the field', () => {
    const cases: Array<[string, z.ZodType]> = [
      ['u', z.object({ u: z.union([z.string(), z.number()]) })],
      ['t', z.object({ t: z.tuple([z.string(), z.number()]) })],
      ['c', z.object({ c: z.object({ a: z.string() }).catchall(z.number()) })],
    ];
    for (const [field, schema] of cases) {
      assert.throws(
        () => toStructural(z.toJSONSchema(schema)),
        (err: unknown) => err instanceof CrdSchemaError && err.message.startsWith(`properties.${field}`),
        `expected a CrdSchemaError for field ${field}`,
      );
    }
  });
});

describe('assertStructural catches', () => {
  const cases: Array<[string, unknown, string]> = [
    ['$schema', { ...withField({ type: 'string' }), $schema: 'https://json-schema.org/draft/2020-12/schema' }, 'root'],
    ['$schema inside', withField({ type: 'string', $schema: 'x' }), 'forbidden-keyword'],
    ['$ref', withField({ $ref: '#/definitions/X' }), 'forbidden-keyword'],
    ['definitions', withField({ type: 'object', definitions: { X: { type: 'string' } } }), 'forbidden-keyword'],
    ['$defs', withField({ type: 'object', $defs: { X: { type: 'string' } } }), 'unknown-keyword'],
    ['const', withField({ type: 'string', const: 'a' }), 'unknown-keyword'],
    ['propertyNames', withField({ type: 'object', propertyNames: { type: 'string' }, additionalProperties: { type: 'string' } }), 'unknown-keyword'],
    ['additionalProperties: false beside properties', withField({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false }), 'additionalProperties-with-properties'],
    ['typed additionalProperties beside properties', withField({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'string' } }), 'additionalProperties-with-properties'],
    ['additionalProperties: true', withField({ type: 'object', additionalProperties: true }), 'additionalProperties-boolean'],
    ['anyOf', withField({ type: 'string', anyOf: [{ type: 'string' }, { type: 'number' }] }), 'junctor'],
    ['oneOf', withField({ type: 'string', oneOf: [{ enum: ['a'] }, { enum: ['b'] }] }), 'junctor'],
    ['allOf', withField({ type: 'object', allOf: [{ type: 'object' }] }), 'junctor'],
    ['not', withField({ type: 'string', not: { enum: ['a'] } }), 'junctor'],
    ['missing type', withField({ properties: { a: { type: 'string' } } }), 'missing-type'],
    ['missing type deep', withField({ type: 'array', items: { minLength: 1 } }), 'missing-type'],
    ['type null', withField({ type: 'null' }), 'invalid-type'],
    ['type list', withField({ type: ['string', 'null'] }), 'invalid-type'],
    ['numeric exclusiveMinimum', withField({ type: 'number', exclusiveMinimum: 0 }), 'exclusive-bound'],
    ['exclusiveMaximum without maximum', withField({ type: 'number', exclusiveMaximum: true }), 'exclusive-bound'],
    ['preserve-unknown-fields false', withField({ type: 'object', 'x-kubernetes-preserve-unknown-fields': false }), 'preserve-unknown-fields'],
    ['uniqueItems', withField({ type: 'array', items: { type: 'string' }, uniqueItems: true }), 'unique-items'],
    ['array without items', withField({ type: 'array' }), 'array-without-items'],
    ['tuple items', withField({ type: 'array', items: [{ type: 'string' }] }), 'items-not-schema'],
    ['prefixItems', withField({ type: 'array', items: { type: 'string' }, prefixItems: [{ type: 'string' }] }), 'unknown-keyword'],
    ['properties on a string', withField({ type: 'string', properties: { a: { type: 'string' } } }), 'properties-on-non-object'],
    ['enum value of the wrong type', withField({ type: 'string', enum: ['a', 1] }), 'enum-value'],
    ['default of the wrong type', withField({ type: 'boolean', default: 'no' }), 'default-value'],
    ['lookahead pattern', withField({ type: 'string', pattern: '^(?!-)[a-z]+$' }), 'pattern-not-re2'],
    ['patternProperties', withField({ type: 'object', patternProperties: { '^a': { type: 'string' } } }), 'forbidden-keyword'],
    ['root not an object', { type: 'string' }, 'root'],
    ['additionalProperties at the root', { type: 'object', additionalProperties: { type: 'string' } }, 'root'],
    ['default at the root', { type: 'object', default: {}, properties: {} }, 'root'],
    ['metadata described further', { type: 'object', properties: { metadata: { type: 'object', properties: { labels: { type: 'object' } } } } }, 'metadata'],
    ['default in metadata', { type: 'object', properties: { metadata: { type: 'object', properties: { name: { type: 'string', default: 'n' } } } } }, 'default-forbidden'],
  ];

  for (const [name, schema, rule] of cases) {
    it(name, () => {
      const violations = assertStructural(schema);
      assert.ok(
        violations.some((v) => v.includes(`[${rule}]`)),
        `expected a [${rule}] violation, got ${JSON.stringify(violations)}`,
      );
    });
  }

  it('names the offending path', () => {
    const violations = assertStructural({
      type: 'object',
      properties: { spec: { type: 'object', properties: { a: { type: 'object', properties: {}, additionalProperties: false } } } },
    });
    assert.deepEqual(violations.length, 2); // beside properties, and boolean
    assert.ok(violations.every((v) => v.startsWith('properties.spec.properties.a.additionalProperties: ')), violations.join('\n'));
  });

  it('accepts the forms Kubernetes allows', () => {
    const ok = {
      type: 'object',
      properties: {
        metadata: { type: 'object', properties: { name: { type: 'string', maxLength: 63 } } },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        anything: { 'x-kubernetes-preserve-unknown-fields': true },
        open: { type: 'object', properties: { a: { type: 'string' } }, 'x-kubernetes-preserve-unknown-fields': true },
        n: { type: 'number', minimum: 0, exclusiveMinimum: true, nullable: true, default: null },
        at: { type: 'string', format: 'date-time', pattern: '^[0-9]{4}-' },
        list: { type: 'array', items: { type: 'string', enum: ['a', 'b'] }, default: ['a'] },
      },
    };
    assert.deepEqual(assertStructural(ok), []);
  });
});
