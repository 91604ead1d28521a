import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { toStructural, zodToStructural } from './convert.js';
import { CrdSchemaError, type SchemaNode } from './schema-node.js';
import { structuralViolations } from './structural.js';

/** The converted fields of `z.object(shape)`. */
function fields(shape: z.ZodRawShape): Record<string, SchemaNode> {
  return zodToStructural(z.object(shape)).properties as Record<string, SchemaNode>;
}

function refusedAt(field: string, pattern: RegExp) {
  return (err: unknown) => err instanceof CrdSchemaError && err.message.startsWith(`properties.${field}`) && pattern.test(err.message);
}

describe('zodToStructural', () => {
  it('leaves the OpenAPI v3.0 dialect to zod: one-value enums, boolean exclusive bounds, nullable', () => {
    const out = fields({ c: z.literal('x'), p: z.number().positive(), l: z.number().lt(5), n: z.string().nullable() });
    assert.deepEqual(out.c, { type: 'string', enum: ['x'] });
    assert.deepEqual(out.p, { type: 'number', minimum: 0, exclusiveMinimum: true });
    assert.deepEqual(out.l, { type: 'number', maximum: 5, exclusiveMaximum: true });
    assert.deepEqual(out.n, { type: 'string', nullable: true });
  });

  it('turns a union of literals, which zod writes as anyOf, into one enum; a null literal into nullable', () => {
    const out = fields({
      u: z.union([z.literal('a'), z.literal('b')]).describe('the u'),
      n: z.union([z.literal('a'), z.literal('b'), z.null()]),
    });
    assert.deepEqual(out.u, { description: 'the u', type: 'string', enum: ['a', 'b'] });
    assert.deepEqual(out.n, { type: 'string', nullable: true, enum: ['a', 'b'] });
  });

  it('closes strict objects by pruning, keeps typed maps and turns maps of anything into preserve-unknown-fields', () => {
    const schema = z.strictObject({
      o: z.strictObject({ a: z.string() }),
      s: z.record(z.string(), z.string()),
      u: z.record(z.string(), z.unknown()).default({}),
      loose: z.looseObject({ a: z.string() }),
    });
    const out = zodToStructural(schema);
    const props = out.properties as Record<string, SchemaNode>;
    assert.deepEqual(props.o, { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] });
    assert.deepEqual(props.s, { type: 'object', additionalProperties: { type: 'string' } });
    assert.deepEqual(props.u, { type: 'object', default: {}, 'x-kubernetes-preserve-unknown-fields': true });
    assert.deepEqual(props.loose, { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], 'x-kubernetes-preserve-unknown-fields': true });
    assert.ok(!('additionalProperties' in out), 'a strict object is closed by pruning, not additionalProperties');
    assert.deepEqual(structuralViolations(out, { root: false }), []);
  });

  it('describes the input: a field with a default is optional and carries the default', () => {
    const out = zodToStructural(z.object({ a: z.string(), b: z.boolean().default(false) }));
    assert.deepEqual(out.required, ['a']);
    assert.deepEqual((out.properties as Record<string, SchemaNode>).b, { type: 'boolean', default: false });
  });

  it('inlines a schema registered with an id, which zod writes as a reference', () => {
    const id = z.string().min(2).meta({ id: 'crd-convert-test-reused', description: 'two or more' });
    const out = zodToStructural(z.object({ a: id, b: id.optional() }));
    assert.deepEqual(out.properties, {
      a: { description: 'two or more', type: 'string', minLength: 2 },
      b: { description: 'two or more', type: 'string', minLength: 2 },
    });
  });

  it('refuses recursion, unions that are not enums, tuples, catch-alls and null-only fields, naming the field', () => {
    const node: z.ZodType = z.object({ get n() { return node.optional(); } });
    assert.throws(() => zodToStructural(z.object({ r: node })), refusedAt('r', /recursive/));
    assert.throws(() => zodToStructural(z.object({ u: z.union([z.string(), z.number()]) })), refusedAt('u', /anyOf with 2 alternatives/));
    assert.throws(() => zodToStructural(z.object({ t: z.tuple([z.literal('a'), z.literal('b')]) })), refusedAt('t', /tuples/));
    assert.throws(() => zodToStructural(z.object({ c: z.object({ a: z.string() }).catchall(z.number()) })), refusedAt('c', /catchall/));
    assert.throws(() => zodToStructural(z.object({ z: z.null() })), refusedAt('z', /only be null/));
  });
});

describe('toStructural', () => {
  it('inlines $ref and drops $schema and the definitions', () => {
    const out = toStructural({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: { a: { $ref: '#/definitions/A', description: 'the a' }, b: { $ref: '#/$defs/B' } },
      definitions: { A: { type: 'string', minLength: 1 } },
      $defs: { B: { type: 'integer' } },
    });
    assert.deepEqual(out, {
      type: 'object',
      properties: { a: { description: 'the a', type: 'string', minLength: 1 }, b: { type: 'integer', format: 'int64' } },
    });
  });

  it('refuses recursive references', () => {
    const N = { type: 'object', properties: { n: { $ref: '#/definitions/N' } } };
    assert.throws(
      () => toStructural({ type: 'object', properties: { n: { $ref: '#/definitions/N' } }, definitions: { N } }),
      (err: unknown) => err instanceof CrdSchemaError && /recursive/.test(err.message),
    );
  });

  it('drops annotations Kubernetes has no field for and keeps the first example', () => {
    const out = toStructural({ type: 'string', readOnly: true, deprecated: true, examples: ['a', 'b'], $comment: 'c' });
    assert.deepEqual(out, { type: 'string', example: 'a' });
  });
});
