/**
 * zod schemas as structural OpenAPI v3.0 schemas, the form a Kubernetes CRD
 * takes: every node typed, no references, no logical junctors, objects closed
 * by pruning rather than by `additionalProperties: false`.
 *
 * zod's own converter, `z.toJSONSchema(schema, { target: 'openapi-3.0' })`,
 * writes the dialect: `nullable: true` for null, boolean exclusiveMinimum and
 * exclusiveMaximum, one-value enums for literals, no `$schema`. `toStructural`
 * is the pass after it, by hand, for what OpenAPI v3.0 allows and a structural
 * schema does not:
 *
 * - objects: zod closes a strict object with `additionalProperties: false`,
 *   which the API server refuses beside `properties`; pruning closes it anyway,
 *   so it is dropped. A map of anything (`additionalProperties: {}`) becomes
 *   `x-kubernetes-preserve-unknown-fields: true`; a typed map keeps its schema;
 *   properties beside a typed map (a catchall) are refused.
 * - unions: zod writes a union of literals as an anyOf of one-value enums; it
 *   becomes one enum. A junctor with one branch is flattened, and a null branch
 *   becomes `nullable: true`. Any other union is refused, naming the field.
 * - references: a schema registered with an id, or a recursive one, is written
 *   once under `definitions` and referenced; a CRD takes no references, so it
 *   is inlined, and recursion is refused.
 * - annotations Kubernetes has no field for are dropped; `examples` becomes
 *   `example`.
 *
 * Tuples are refused before zod writes them: OpenAPI v3.0 has no
 * `prefixItems`, so zod spells `[a, b]` as an array of `a | b`, which would
 * accept the items in any order.
 */
import { z } from 'zod';
import { CrdSchemaError, isObject, joinPath, PRESERVE, type SchemaNode } from './schema-node.js';

/**
 * Keywords zod may emit that Kubernetes has no field for. They carry no
 * validation the API server would apply, so dropping them loses nothing.
 */
const DROPPED_KEYWORDS = [
  '$schema', '$id', 'id', '$comment', '$anchor', '$defs', 'definitions', 'contentEncoding', 'contentMediaType',
  'readOnly', 'writeOnly', 'deprecated',
  // Object keys are strings already; key constraints (patterns, enums) cannot be expressed in a CRD.
  'propertyNames',
];

/** Keywords that say nothing about shape: a node made only of these accepts anything. */
const ANNOTATIONS = new Set(['description', 'title', 'default', 'example', PRESERVE]);

const JUNCTORS = ['anyOf', 'oneOf', 'allOf'] as const;
type Junctor = (typeof JUNCTORS)[number];

/** Where a node sits: the document's root (for references), its path, the references being inlined. */
interface Scope {
  root: SchemaNode;
  path: string;
  refs: string[];
}

/**
 * A zod schema as a structural schema. `io: 'input'` describes what a writer
 * may send: fields with a zod default are optional and carry that `default`,
 * which the API server applies on write, so a stored object has the same shape
 * zod's parse produces. (`io: 'output'` would mark them required and make
 * `kubectl explain` tell operators to write fields they may leave out.)
 */
export function zodToStructural(schema: z.ZodType): SchemaNode {
  const openapi = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io: 'input',
    unrepresentable: 'throw',
    override: ({ zodSchema, path }) => {
      if (zodSchema._zod.def.type === 'tuple') {
        throw new CrdSchemaError(joinPath('', ...path.map(String)), 'tuples have no structural equivalent; use an array of one item type');
      }
    },
  });
  return toStructural(openapi);
}

/**
 * Rewrites an OpenAPI v3.0 schema as zod writes it into a structural schema
 * the Kubernetes API server accepts. Constructs with no structural equivalent
 * throw a CrdSchemaError naming the field, rather than being approximated.
 */
export function toStructural(schema: unknown): SchemaNode {
  if (!isObject(schema)) throw new CrdSchemaError('', 'a schema must be an object');
  return convert(schema, { root: schema, path: '', refs: [] });
}

function convert(raw: unknown, scope: Scope): SchemaNode {
  // The boolean schema `true` accepts anything: the structural spelling of that is preserve-unknown-fields.
  if (raw === true) return { [PRESERVE]: true };
  if (!isObject(raw)) throw new CrdSchemaError(scope.path, `expected a schema object, got ${JSON.stringify(raw)}`);
  const { node, refs } = standAlone(raw, scope);
  const inner = { ...scope, refs };
  refuseUnstructural(node, scope.path);
  dropAnnotations(node);
  nullOutOfEnum(node, scope.path);
  if (isObject(node.properties)) node.properties = convertEach(node.properties, inner, 'properties');
  closeObject(node, inner);
  if (isObject(node.items)) node.items = convert(node.items, within(inner, 'items'));
  else if (typeof node.items === 'boolean') delete node.items;
  inferType(node);
  kubernetesFormats(node);
  return leadWith(node, ['description', 'type', 'format']);
}

function within(scope: Scope, ...segments: string[]): Scope {
  return { ...scope, path: joinPath(scope.path, ...segments) };
}

function convertEach(properties: SchemaNode, scope: Scope, keyword: string): SchemaNode {
  const out: SchemaNode = {};
  for (const [name, sub] of Object.entries(properties)) out[name] = convert(sub, within(scope, keyword, name));
  return out;
}

/**
 * Inlines references and resolves junctors until the node stands on its own.
 * Keywords written next to them (description, default, nullable) win over the
 * branch's. Returns the references inlined on the way, for the children.
 */
function standAlone(raw: SchemaNode, scope: Scope): { node: SchemaNode; refs: string[] } {
  let node: SchemaNode = { ...raw };
  let refs = scope.refs;
  for (;;) {
    if (typeof node.$ref === 'string') {
      const { $ref: ref, ...siblings } = node as SchemaNode & { $ref: string };
      node = { ...resolveRef(ref, { ...scope, refs }), ...siblings };
      refs = [...refs, ref];
      continue;
    }
    const junctor = JUNCTORS.find((k) => k in node);
    if (junctor === undefined) return { node, refs };
    const next = resolveJunctor(node, junctor, { ...scope, refs });
    node = next.node;
    if (next.resolved) return { node, refs };
  }
}

function resolveRef(ref: string, scope: Scope): SchemaNode {
  if (scope.refs.includes(ref)) {
    throw new CrdSchemaError(scope.path, `recursive $ref ${ref}: a structural schema cannot describe recursive data`);
  }
  const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
  if (!m) throw new CrdSchemaError(scope.path, `$ref ${JSON.stringify(ref)} is not a local definition; cannot inline it`);
  const table = scope.root[m[1]!];
  const target = isObject(table) ? table[m[2]!.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  if (target === undefined) throw new CrdSchemaError(scope.path, `$ref ${JSON.stringify(ref)} points at nothing`);
  if (!isObject(target)) throw new CrdSchemaError(scope.path, `$ref ${ref} is not a schema object`);
  return target;
}

/**
 * One junctor: a single branch (after null branches become `nullable`) is
 * merged into the node, to be looked at again; a union of same-typed enums is
 * one enum (resolved); anything else is refused.
 */
function resolveJunctor(node: SchemaNode, junctor: Junctor, scope: Scope): { node: SchemaNode; resolved: boolean } {
  const { [junctor]: branches, ...rest } = node;
  if (!Array.isArray(branches) || branches.length === 0) {
    throw new CrdSchemaError(scope.path, `${junctor} must be a non-empty array`);
  }
  const nonNull = junctor === 'allOf' ? branches : branches.filter((b) => !isNullSchema(b));
  if (nonNull.length < branches.length) rest.nullable = true;
  if (nonNull.length === 1) {
    const only: unknown = nonNull[0];
    if (only === true) return { node: { ...rest, [PRESERVE]: true }, resolved: false };
    if (!isObject(only)) throw new CrdSchemaError(scope.path, `${junctor} branch is not a schema object`);
    return { node: { ...only, ...rest }, resolved: false };
  }
  if (junctor === 'allOf') {
    throw new CrdSchemaError(scope.path, 'allOf (an intersection) has no structural equivalent; merge the objects instead');
  }
  const converted = nonNull.map((b, i) => convert(b, within(scope, junctor, String(i))));
  const enums = converted.map(scalarEnum);
  const first = enums[0];
  if (first && enums.every((e) => e !== undefined && e.type === first.type)) {
    return { node: { ...rest, type: first.type, enum: [...new Set(enums.flatMap((e) => e?.values ?? []))] }, resolved: true };
  }
  throw new CrdSchemaError(
    scope.path,
    `${junctor} with ${nonNull.length} alternatives has no structural equivalent; use one object with optional fields, or an enum`,
  );
}

function isNullSchema(v: unknown): boolean {
  if (!isObject(v)) return false;
  if (v.type === 'null') return true;
  return Array.isArray(v.enum) && v.enum.length === 1 && v.enum[0] === null;
}

/** A converted node that only describes scalar enum values: `{type, enum}` plus a description. */
function scalarEnum(node: SchemaNode): { type: string; values: unknown[] } | undefined {
  if (typeof node.type !== 'string' || !Array.isArray(node.enum)) return undefined;
  if (!['string', 'integer', 'number', 'boolean'].includes(node.type)) return undefined;
  const extra = Object.keys(node).filter((k) => k !== 'type' && k !== 'enum' && k !== 'description');
  return extra.length === 0 ? { type: node.type, values: node.enum } : undefined;
}

function refuseUnstructural(node: SchemaNode, path: string): void {
  if ('not' in node) throw new CrdSchemaError(path, '`not` has no structural equivalent');
  if ('prefixItems' in node || Array.isArray(node.items)) {
    throw new CrdSchemaError(path, 'tuples have no structural equivalent; use an array of one item type');
  }
  if ('patternProperties' in node) throw new CrdSchemaError(path, 'patternProperties is not supported by Kubernetes');
  if (node.type === 'null') throw new CrdSchemaError(path, 'a field that can only be null has no structural equivalent');
}

function dropAnnotations(node: SchemaNode): void {
  for (const k of DROPPED_KEYWORDS) delete node[k];
  // OpenAPI v3.0 has a single `example`, JSON Schema a list of `examples`.
  if ('examples' in node) {
    const ex = node.examples;
    delete node.examples;
    if (Array.isArray(ex) && ex.length > 0 && !('example' in node)) node.example = ex[0];
  }
}

/** zod writes `z.null()` as a nullable string whose only value is null: nothing a field can hold. */
function nullOutOfEnum(node: SchemaNode, path: string): void {
  if (!Array.isArray(node.enum)) return;
  const values = node.enum.filter((v) => v !== null);
  if (values.length === node.enum.length) return;
  if (values.length === 0) throw new CrdSchemaError(path, 'a field that can only be null has no structural equivalent');
  node.nullable = true;
  node.enum = values;
}

/**
 * Objects are closed by pruning in Kubernetes, so `additionalProperties: false`
 * is implied, and the API server refuses it next to `properties`. An open map
 * of anything is spelt with preserve-unknown-fields; a typed map keeps its
 * additionalProperties schema.
 */
function closeObject(node: SchemaNode, scope: Scope): void {
  if (!('additionalProperties' in node)) return;
  const ap = node.additionalProperties;
  delete node.additionalProperties;
  if (ap === false) return;
  if (ap === true || (isObject(ap) && Object.keys(ap).every((k) => ANNOTATIONS.has(k)))) {
    node[PRESERVE] = true;
    return;
  }
  if (!isObject(ap)) {
    throw new CrdSchemaError(scope.path, `additionalProperties must be a boolean or a schema, got ${JSON.stringify(ap)}`);
  }
  if (isObject(node.properties) && Object.keys(node.properties).length > 0) {
    throw new CrdSchemaError(scope.path, 'properties together with a typed additionalProperties (a catchall) has no structural equivalent');
  }
  delete node.properties;
  const values = convert(ap, within(scope, 'additionalProperties'));
  if (Object.keys(values).every((k) => ANNOTATIONS.has(k))) node[PRESERVE] = true;
  else node.additionalProperties = values;
}

function inferType(node: SchemaNode): void {
  if (node.type !== undefined) return;
  const enumTypes = new Set(Array.isArray(node.enum) ? node.enum.map(jsonTypeOf) : []);
  const [only] = enumTypes;
  if (enumTypes.size === 1 && only !== undefined) node.type = only;
  else if ('properties' in node || 'additionalProperties' in node) node.type = 'object';
  else if ('items' in node) node.type = 'array';
  else if (Object.keys(node).every((k) => ANNOTATIONS.has(k) || k === 'nullable')) node[PRESERVE] = true;
}

/**
 * The formats Kubernetes types carry: integers are int64 (zod's bounds are
 * the safe-integer range, which int64 holds); a date-time string keeps its
 * format and drops the long pattern zod spells it out with, which the API
 * server's own date-time check makes redundant.
 */
function kubernetesFormats(node: SchemaNode): void {
  if (node.type === 'integer' && node.format === undefined) node.format = 'int64';
  if (node.type === 'string' && node.format === 'date-time') delete node.pattern;
}

function jsonTypeOf(v: unknown): string | undefined {
  if (typeof v === 'string' || typeof v === 'boolean') return typeof v;
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (Array.isArray(v)) return 'array';
  return isObject(v) ? 'object' : undefined;
}

/** The same node with `first` keys first, so every field in the YAML opens with what it is. */
function leadWith(node: SchemaNode, first: string[]): SchemaNode {
  const out: SchemaNode = {};
  for (const k of first) if (k in node) out[k] = node[k];
  for (const [k, v] of Object.entries(node)) if (!(k in out)) out[k] = v;
  return out;
}
