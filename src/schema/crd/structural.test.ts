import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SchemaNode } from './schema-node.js';
import { structuralViolations } from './structural.js';

/** A resource-root schema with one field `x`, for testing the rules on a small bad node. */
function withField(x: unknown): SchemaNode {
  return { type: 'object', properties: { x } };
}

describe('structuralViolations catches', () => {
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
    ['unknown list type', withField({ type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'bag' }), 'list-type'],
    ['list type on an object', withField({ type: 'object', 'x-kubernetes-list-type': 'atomic' }), 'list-type'],
    ['set of objects', withField({ type: 'array', items: { type: 'object' }, 'x-kubernetes-list-type': 'set' }), 'list-type'],
    ['map keys without map', withField({ type: 'array', items: { type: 'string' }, 'x-kubernetes-list-map-keys': ['a'] }), 'list-map-keys'],
    ['map list without keys', withField({ type: 'array', items: { type: 'object', properties: { a: { type: 'string' } } }, 'x-kubernetes-list-type': 'map' }), 'list-map-keys'],
    ['map key not a field', withField({ type: 'array', items: { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] }, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['b'] }), 'list-map-keys'],
    ['map key optional', withField({ type: 'array', items: { type: 'object', properties: { a: { type: 'string' } } }, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['a'] }), 'list-map-keys'],
    ['map key not a scalar', withField({ type: 'array', items: { type: 'object', properties: { a: { type: 'object' } }, required: ['a'] }, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['a'] }), 'list-map-keys'],
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
      const violations = structuralViolations(schema);
      assert.ok(
        violations.some((v) => v.includes(`[${rule}]`)),
        `expected a [${rule}] violation, got ${JSON.stringify(violations)}`,
      );
    });
  }

  it('names the offending path', () => {
    const violations = structuralViolations({
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
        set: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
        keyed: {
          type: 'array',
          items: { type: 'object', properties: { type: { type: 'string' }, n: { type: 'integer', format: 'int64' } }, required: ['type'] },
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['type'],
        },
      },
    };
    assert.deepEqual(structuralViolations(ok), []);
  });
});
