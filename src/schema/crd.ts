/**
 * The NodeMembership CustomResourceDefinition, derived from the zod schemas the
 * programs validate with, so that `crds/` can never drift from the code.
 *
 * zod emits JSON Schema 2020-12; Kubernetes wants a *structural* OpenAPI v3.0
 * schema (every node typed, no references, no logical junctors, objects closed
 * by pruning rather than by `additionalProperties: false`). `toStructural`
 * bridges the two, and `assertStructural` checks the result against the rules
 * the API server applies, so that a schema it would refuse fails here, in a
 * unit test, instead of at `kubectl apply` time.
 */
import { z } from 'zod';
import { API_VERSION } from './common.js';
import { nodeMembershipSpec } from './node-membership.js';
import { nodeMembershipStatus } from './status.js';

export type SchemaNode = { [key: string]: unknown };

const [GROUP = '', VERSION = ''] = API_VERSION.split('/');
/** API group of the resource; taken from API_VERSION so the records and the CRD agree. */
export const CRD_GROUP = GROUP;
export const CRD_VERSION = VERSION;
export const CRD_KIND = 'NodeMembership';
export const CRD_PLURAL = 'nodememberships';
export const CRD_NAME = `${CRD_PLURAL}.${CRD_GROUP}`;

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[] };
    scope: 'Cluster' | 'Namespaced';
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: SchemaNode };
    }>;
  };
}

/** Thrown when a JSON Schema uses a construct that has no structural equivalent. */
export class CrdSchemaError extends Error {
  constructor(path: string, problem: string) {
    super(`${path || '(root)'}: ${problem}`);
    this.name = 'CrdSchemaError';
  }
}

function isObject(v: unknown): v is SchemaNode {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function join(path: string, ...segments: string[]): string {
  return [path, ...segments].filter((s) => s !== '').join('.');
}

const PRESERVE = 'x-kubernetes-preserve-unknown-fields';

/**
 * Annotation-only keywords zod may emit that Kubernetes has no field for. They
 * carry no validation, so dropping them loses nothing the API server would check.
 */
const DROPPED_KEYWORDS = [
  '$schema',
  '$id',
  'id',
  '$comment',
  '$anchor',
  '$defs',
  'definitions',
  'contentEncoding',
  'contentMediaType',
  'readOnly',
  'writeOnly',
  'deprecated',
  // Object keys are strings already; key constraints (patterns, enums) cannot be expressed in a CRD.
  'propertyNames',
];

/** Keywords that say nothing about shape: a node made only of these accepts anything. */
const ANNOTATIONS = new Set(['description', 'title', 'default', 'example', PRESERVE]);

function jsonTypeOf(v: unknown): string | undefined {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (Array.isArray(v)) return 'array';
  if (isObject(v)) return 'object';
  return undefined;
}

function isNullSchema(v: unknown): boolean {
  if (!isObject(v)) return false;
  if (v.type === 'null') return true;
  if ('const' in v && v.const === null) return true;
  return Array.isArray(v.enum) && v.enum.length === 1 && v.enum[0] === null;
}

function resolveRef(ref: string, root: SchemaNode, path: string): unknown {
  const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
  if (!m) {
    throw new CrdSchemaError(path, `$ref ${JSON.stringify(ref)} is not a local definition; cannot inline it`);
  }
  const table = root[m[1] as string];
  const name = (m[2] as string).replace(/~1/g, '/').replace(/~0/g, '~');
  const target = isObject(table) ? table[name] : undefined;
  if (target === undefined) throw new CrdSchemaError(path, `$ref ${JSON.stringify(ref)} points at nothing`);
  return target;
}

/** A converted node that only describes scalar enum values: `{type, enum}` plus annotations. */
function scalarEnum(node: SchemaNode): { type: string; values: unknown[] } | undefined {
  if (typeof node.type !== 'string' || !Array.isArray(node.enum)) return undefined;
  if (!['string', 'integer', 'number', 'boolean'].includes(node.type)) return undefined;
  const extra = Object.keys(node).filter((k) => k !== 'type' && k !== 'enum' && k !== 'description');
  return extra.length === 0 ? { type: node.type, values: node.enum } : undefined;
}

/**
 * Rewrites a JSON Schema (as `z.toJSONSchema` emits it) into a structural
 * OpenAPI v3.0 schema that the Kubernetes API server accepts. Constructs with
 * no structural equivalent (general unions, tuples, recursion, catch-alls next
 * to properties) throw a CrdSchemaError naming the field, rather than being
 * approximated silently.
 */
export function toStructural(schema: unknown): SchemaNode {
  if (!isObject(schema)) throw new CrdSchemaError('', 'a schema must be an object');
  return convert(schema, schema, '', []);
}

function convert(raw: unknown, root: SchemaNode, path: string, refStack: string[]): SchemaNode {
  // The boolean schema `true` accepts anything: the structural spelling of that is preserve-unknown-fields.
  if (raw === true) return { [PRESERVE]: true };
  if (!isObject(raw)) throw new CrdSchemaError(path, `expected a schema object, got ${JSON.stringify(raw)}`);

  let node: SchemaNode = { ...raw };
  let stack = refStack;

  // Flatten references and single-branch junctors until the node stands on its own.
  // Keywords written next to them (description, default) win over the branch's.
  for (;;) {
    if (typeof node.$ref === 'string') {
      const ref = node.$ref;
      if (stack.includes(ref)) {
        throw new CrdSchemaError(path, `recursive $ref ${ref}: a structural schema cannot describe recursive data`);
      }
      const target = resolveRef(ref, root, path);
      if (!isObject(target)) throw new CrdSchemaError(path, `$ref ${ref} is not a schema object`);
      const { $ref: _ref, ...siblings } = node;
      node = { ...target, ...siblings };
      stack = [...stack, ref];
      continue;
    }
    const junctor = (['anyOf', 'oneOf', 'allOf'] as const).find((k) => k in node);
    if (junctor === undefined) break;
    const branches = node[junctor];
    const { [junctor]: _junctor, ...rest } = node;
    if (!Array.isArray(branches) || branches.length === 0) {
      throw new CrdSchemaError(path, `${junctor} must be a non-empty array`);
    }
    // `X | null` becomes X with `nullable: true`, the OpenAPI v3.0 spelling.
    const nonNull = junctor === 'allOf' ? branches : branches.filter((b) => !isNullSchema(b));
    if (nonNull.length < branches.length) rest.nullable = true;
    if (nonNull.length === 1) {
      const only = nonNull[0];
      if (only === true) {
        node = { ...rest, [PRESERVE]: true };
        continue;
      }
      if (!isObject(only)) throw new CrdSchemaError(path, `${junctor} branch is not a schema object`);
      node = { ...only, ...rest };
      continue;
    }
    if (junctor === 'allOf') {
      throw new CrdSchemaError(path, 'allOf (an intersection) has no structural equivalent; merge the objects instead');
    }
    // A union of literals (`z.union([z.literal('a'), z.literal('b')])`) is an enum in disguise.
    const converted = nonNull.map((b, i) => convert(b, root, join(path, junctor, String(i)), stack));
    const enums = converted.map(scalarEnum);
    const first = enums[0];
    if (first && enums.every((e) => e !== undefined && e.type === first.type)) {
      const values = enums.flatMap((e) => e?.values ?? []);
      node = { ...rest, type: first.type, enum: [...new Set(values)] };
      break;
    }
    throw new CrdSchemaError(
      path,
      `${junctor} with ${nonNull.length} alternatives has no structural equivalent; use one object with optional fields, or an enum`,
    );
  }

  if ('not' in node) throw new CrdSchemaError(path, '`not` has no structural equivalent');
  if ('prefixItems' in node || Array.isArray(node.items)) {
    throw new CrdSchemaError(path, 'tuples have no structural equivalent; use an array of one item type');
  }
  if ('patternProperties' in node) {
    throw new CrdSchemaError(path, 'patternProperties is not supported by Kubernetes');
  }

  for (const k of DROPPED_KEYWORDS) delete node[k];

  // OpenAPI v3.0 has a single `example`, JSON Schema a list of `examples`.
  if ('examples' in node) {
    const ex = node.examples;
    delete node.examples;
    if (Array.isArray(ex) && ex.length > 0 && !('example' in node)) node.example = ex[0];
  }

  // `type: [T, "null"]` (JSON Schema) is `type: T, nullable: true` (OpenAPI v3.0).
  if (Array.isArray(node.type)) {
    const types = node.type.filter((t) => t !== 'null');
    if (types.length < node.type.length) node.nullable = true;
    if (types.length !== 1) {
      throw new CrdSchemaError(path, `a field needs exactly one type, got ${JSON.stringify(node.type)}`);
    }
    node.type = types[0];
  }
  if (node.type === 'null') throw new CrdSchemaError(path, 'a field that can only be null has no structural equivalent');

  // OpenAPI v3.0 has no `const`; a one-value enum says the same.
  if ('const' in node) {
    const value = node.const;
    delete node.const;
    if (value === null) throw new CrdSchemaError(path, 'const null has no structural equivalent');
    node.enum = [value];
  }
  if (Array.isArray(node.enum)) {
    const values = node.enum.filter((v) => v !== null);
    if (values.length < node.enum.length) node.nullable = true;
    node.enum = values;
    if (node.type === undefined) {
      const types = new Set(values.map(jsonTypeOf));
      const [only] = types;
      if (types.size === 1 && only !== undefined) node.type = only;
    }
  }

  // JSON Schema 2019+ writes exclusive bounds as numbers; OpenAPI v3.0 (and so
  // Kubernetes) as a boolean qualifying minimum/maximum.
  for (const [exclusive, bound, stricter] of [
    ['exclusiveMinimum', 'minimum', (a: number, b: number) => a >= b],
    ['exclusiveMaximum', 'maximum', (a: number, b: number) => a <= b],
  ] as const) {
    const value = node[exclusive];
    if (typeof value !== 'number') continue;
    const current = node[bound];
    if (typeof current !== 'number' || stricter(value, current)) {
      node[bound] = value;
      node[exclusive] = true;
    } else {
      delete node[exclusive];
    }
  }

  const hasProperties = isObject(node.properties);
  if (hasProperties) {
    const props: SchemaNode = {};
    for (const [name, sub] of Object.entries(node.properties as SchemaNode)) {
      props[name] = convert(sub, root, join(path, 'properties', name), stack);
    }
    node.properties = props;
  }

  // Objects are closed by pruning in Kubernetes, so `additionalProperties: false`
  // is implied, and the API server refuses it next to `properties`. An open map
  // of anything is spelt with preserve-unknown-fields; a typed map keeps its
  // additionalProperties schema.
  if ('additionalProperties' in node) {
    const ap = node.additionalProperties;
    delete node.additionalProperties;
    if (ap === true || (isObject(ap) && Object.keys(ap).every((k) => ANNOTATIONS.has(k)))) {
      node[PRESERVE] = true;
    } else if (isObject(ap)) {
      if (hasProperties && Object.keys(node.properties as SchemaNode).length > 0) {
        throw new CrdSchemaError(
          path,
          'properties together with a typed additionalProperties (a catchall) has no structural equivalent',
        );
      }
      delete node.properties;
      const values = convert(ap, root, join(path, 'additionalProperties'), stack);
      if (Object.keys(values).every((k) => ANNOTATIONS.has(k))) node[PRESERVE] = true;
      else node.additionalProperties = values;
    } else if (ap !== false) {
      throw new CrdSchemaError(path, `additionalProperties must be a boolean or a schema, got ${JSON.stringify(ap)}`);
    }
  }

  if (isObject(node.items)) node.items = convert(node.items, root, join(path, 'items'), stack);
  else if (node.items === false || node.items === true) delete node.items;

  if (node.type === undefined) {
    if ('properties' in node || 'additionalProperties' in node) node.type = 'object';
    else if ('items' in node) node.type = 'array';
    else if (Object.keys(node).every((k) => ANNOTATIONS.has(k) || k === 'nullable')) node[PRESERVE] = true;
  }
  return leadWith(node, ['description', 'type']);
}

/** The same node with `first` keys first, so every field in the YAML opens with what it is. */
function leadWith(node: SchemaNode, first: string[]): SchemaNode {
  const out: SchemaNode = {};
  for (const k of first) if (k in node) out[k] = node[k];
  for (const [k, v] of Object.entries(node)) if (!(k in out)) out[k] = v;
  return out;
}

// ---------------------------------------------------------------------------
// Structural checks

/** Every field of apiextensions.k8s.io/v1 JSONSchemaProps, by its JSON name. */
const JSON_SCHEMA_PROPS = new Set([
  'id', '$schema', '$ref', 'description', 'type', 'format', 'title', 'default', 'maximum', 'exclusiveMaximum',
  'minimum', 'exclusiveMinimum', 'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems',
  'multipleOf', 'enum', 'maxProperties', 'minProperties', 'required', 'items', 'allOf', 'oneOf', 'anyOf', 'not',
  'properties', 'additionalProperties', 'patternProperties', 'dependencies', 'additionalItems', 'definitions',
  'externalDocs', 'example', 'nullable', PRESERVE, 'x-kubernetes-embedded-resource', 'x-kubernetes-int-or-string',
  'x-kubernetes-list-map-keys', 'x-kubernetes-list-type', 'x-kubernetes-map-type', 'x-kubernetes-validations',
]);

/** JSONSchemaProps fields the API server forbids in an apiextensions.k8s.io/v1 schema. */
const FORBIDDEN_IN_V1: Record<string, string> = {
  $schema: 'drop it: the CRD API fixes the dialect',
  $ref: 'references are not supported; inline the schema',
  definitions: 'definitions are not supported; inline them',
  id: 'id is not supported',
  patternProperties: 'patternProperties is not supported',
  dependencies: 'dependencies is not supported',
  additionalItems: 'additionalItems is not supported',
};

const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);

/** What the API server allows at the root of openAPIV3Schema (allowedFieldsAtRootSchema). */
const ROOT_ALLOWED = new Set([
  'description', 'type', 'format', 'title', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum',
  'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems', 'multipleOf', 'required', 'items',
  'properties', 'externalDocs', 'example', PRESERVE, 'x-kubernetes-validations',
]);

function valueMatches(value: unknown, node: SchemaNode): boolean {
  if (value === null) return node.nullable === true;
  const type = node.type;
  if (typeof type !== 'string') return true;
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isObject(value);
    default:
      return true;
  }
}

/** Why a pattern would not compile with Go's RE2 engine (what the API server uses), if it would not. */
function re2Problem(pattern: string): string | undefined {
  if (/\(\?<?[=!]/.test(pattern)) return 'lookaround assertions';
  if (/\\[1-9]|\\k</.test(pattern)) return 'backreferences';
  if (/\(\?>/.test(pattern)) return 'atomic groups';
  if (/[*+?}][+]/.test(pattern.replace(/\\./g, ''))) return 'possessive quantifiers';
  return undefined;
}

export interface StructuralOptions {
  /** Apply the resource-root rules (type object, restricted keywords, metadata). Default true. */
  root?: boolean;
}

/**
 * Lists the ways `schema` breaks the rules for a structural apiextensions.k8s.io/v1
 * schema, as `path: [rule] detail` strings; empty when the API server would accept it.
 *
 * Stricter than the API server in one place on purpose: it rejects anyOf/oneOf/allOf/not
 * outright instead of checking the narrow forms Kubernetes tolerates, because none is needed.
 */
export function assertStructural(schema: unknown, options: StructuralOptions = {}): string[] {
  const violations: string[] = [];
  const report = (path: string, rule: string, detail: string): void => {
    violations.push(`${path || '(root)'}: [${rule}] ${detail}`);
  };

  const walk = (node: unknown, path: string, ctx: { defaultsForbidden?: string }): void => {
    if (!isObject(node)) {
      report(path, 'not-a-schema', `expected a schema object, got ${JSON.stringify(node)}`);
      return;
    }

    for (const key of Object.keys(node)) {
      if (!JSON_SCHEMA_PROPS.has(key)) {
        const hint =
          key === 'const' ? '; use a one-value enum' : key === '$defs' ? '; inline the definitions' : '';
        report(join(path, key), 'unknown-keyword', `${key} is not a Kubernetes JSONSchemaProps field${hint}`);
      } else if (key in FORBIDDEN_IN_V1) {
        report(join(path, key), 'forbidden-keyword', `${key}: ${FORBIDDEN_IN_V1[key]}`);
      }
    }

    for (const key of ['anyOf', 'oneOf', 'allOf', 'not']) {
      if (key in node) report(join(path, key), 'junctor', `${key} is not used in this CRD; express it structurally`);
    }

    const preserve = node[PRESERVE];
    if (preserve !== undefined && preserve !== true) {
      report(join(path, PRESERVE), 'preserve-unknown-fields', 'must be true or absent');
    }
    const intOrString = node['x-kubernetes-int-or-string'] === true;

    const type = node.type;
    if (type === undefined) {
      if (preserve !== true && !intOrString) {
        report(path, 'missing-type', 'every node needs a type (or x-kubernetes-preserve-unknown-fields: true)');
      }
    } else if (typeof type !== 'string' || !TYPES.has(type)) {
      report(
        join(path, 'type'),
        'invalid-type',
        `${JSON.stringify(type)} is not one of ${[...TYPES].join(', ')} (use nullable: true for null)`,
      );
    }

    const hasProperties = 'properties' in node;
    if (hasProperties) {
      if (!isObject(node.properties)) report(join(path, 'properties'), 'not-a-schema', 'properties must be an object');
      if (type !== undefined && type !== 'object') {
        report(join(path, 'properties'), 'properties-on-non-object', `properties on a node of type ${String(type)}`);
      }
    }

    if ('additionalProperties' in node) {
      const ap = node.additionalProperties;
      if (hasProperties) {
        report(
          join(path, 'additionalProperties'),
          'additionalProperties-with-properties',
          'additionalProperties and properties are mutually exclusive; unknown fields are pruned anyway',
        );
      }
      if (typeof ap === 'boolean') {
        report(
          join(path, 'additionalProperties'),
          'additionalProperties-boolean',
          `additionalProperties: ${ap}; omit it (pruning closes objects) or use x-kubernetes-preserve-unknown-fields: true`,
        );
      } else if (type !== undefined && type !== 'object') {
        report(join(path, 'additionalProperties'), 'properties-on-non-object', `additionalProperties on a ${String(type)}`);
      }
    }

    if (type === 'array' && !('items' in node)) {
      report(path, 'array-without-items', 'an array needs an items schema');
    }
    if ('items' in node) {
      if (!isObject(node.items)) report(join(path, 'items'), 'items-not-schema', 'items must be one schema object');
      if (type !== undefined && type !== 'array') {
        report(join(path, 'items'), 'items-on-non-array', `items on a node of type ${String(type)}`);
      }
    }

    if (node.uniqueItems === true) {
      report(join(path, 'uniqueItems'), 'unique-items', 'uniqueItems: true is forbidden (quadratic to check)');
    }

    for (const [exclusive, bound] of [
      ['exclusiveMinimum', 'minimum'],
      ['exclusiveMaximum', 'maximum'],
    ] as const) {
      if (!(exclusive in node)) continue;
      const value = node[exclusive];
      if (typeof value !== 'boolean') {
        report(
          join(path, exclusive),
          'exclusive-bound',
          `${exclusive} must be a boolean qualifying ${bound} in OpenAPI v3.0, got ${JSON.stringify(value)}`,
        );
      } else if (value && typeof node[bound] !== 'number') {
        report(join(path, exclusive), 'exclusive-bound', `${exclusive}: true without ${bound}`);
      }
    }

    if ('enum' in node) {
      if (!Array.isArray(node.enum)) {
        report(join(path, 'enum'), 'enum-value', 'enum must be an array');
      } else {
        node.enum.forEach((v, i) => {
          if (!valueMatches(v, node)) {
            report(join(path, 'enum', String(i)), 'enum-value', `${JSON.stringify(v)} is not a ${String(type)}`);
          }
        });
      }
    }

    if ('default' in node) {
      if (ctx.defaultsForbidden) {
        report(join(path, 'default'), 'default-forbidden', `defaults are not allowed ${ctx.defaultsForbidden}`);
      } else if (!valueMatches(node.default, node)) {
        report(join(path, 'default'), 'default-value', `${JSON.stringify(node.default)} is not a ${String(type)}`);
      }
    }

    if ('pattern' in node) {
      const pattern = node.pattern;
      const problem = typeof pattern === 'string' ? re2Problem(pattern) : 'not a string';
      if (problem) report(join(path, 'pattern'), 'pattern-not-re2', `pattern uses ${problem}, which Go's RE2 lacks`);
    }

    if (isObject(node.properties)) {
      for (const [name, sub] of Object.entries(node.properties)) walk(sub, join(path, 'properties', name), ctx);
    }
    if (isObject(node.additionalProperties)) walk(node.additionalProperties, join(path, 'additionalProperties'), ctx);
    if (isObject(node.items)) walk(node.items, join(path, 'items'), ctx);
    for (const key of ['anyOf', 'oneOf', 'allOf']) {
      const branches = node[key];
      if (Array.isArray(branches)) branches.forEach((b, i) => walk(b, join(path, key, String(i)), ctx));
    }
    if (isObject(node.not)) walk(node.not, join(path, 'not'), ctx);
  };

  if (options.root === false) {
    walk(schema, '', {});
    return violations;
  }

  if (!isObject(schema)) {
    report('', 'not-a-schema', 'the root schema must be an object');
    return violations;
  }
  if (schema.type !== 'object') report('type', 'root', 'the root schema must have type: object');
  for (const key of Object.keys(schema)) {
    if (!ROOT_ALLOWED.has(key)) report(key, 'root', `${key} is not allowed at the root of openAPIV3Schema`);
  }
  // Walk the root without its properties (a default there is already reported
  // above), then each property: metadata has its own rules.
  const { properties, ...rootOnly } = schema;
  walk(rootOnly, '', {});
  if (isObject(properties)) {
    for (const [name, sub] of Object.entries(properties)) {
      const path = join('properties', name);
      if (name === 'metadata') {
        checkMetadata(sub, path, report);
        walk(sub, path, { defaultsForbidden: 'in top-level metadata' });
      } else {
        walk(sub, path, {});
      }
    }
  } else if (properties !== undefined) {
    report('properties', 'not-a-schema', 'properties must be an object');
  }
  return violations;
}

/** The API server owns ObjectMeta: a CRD may only restrict metadata.name and metadata.generateName. */
function checkMetadata(node: unknown, path: string, report: (p: string, rule: string, detail: string) => void): void {
  if (!isObject(node)) return;
  if (node.type !== 'object') report(join(path, 'type'), 'metadata', 'metadata must have type: object');
  if (!isObject(node.properties)) return;
  for (const [name, sub] of Object.entries(node.properties)) {
    if (name !== 'name' && name !== 'generateName') {
      report(join(path, 'properties', name), 'metadata', 'only metadata.name and metadata.generateName may be restricted');
    } else if (!isObject(sub) || sub.type !== 'string') {
      report(join(path, 'properties', name), 'metadata', `metadata.${name} must have type: string`);
    }
  }
}

// ---------------------------------------------------------------------------
// The CRD

/**
 * A zod schema as a structural schema. `io: 'input'` describes what a writer
 * may send: fields with a zod default are optional and carry that `default`,
 * which the API server applies on write, so a stored object has the same shape
 * zod's parse produces. (`io: 'output'` would mark them required and make
 * `kubectl explain` tell operators to write fields they may leave out.)
 */
export function zodToStructural(schema: z.ZodType): SchemaNode {
  return toStructural(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'throw' }));
}

function withDescription(node: SchemaNode, description: string): SchemaNode {
  // A description set in zod wins over this one.
  return { description, ...node };
}

export function buildNodeMembershipSchema(): SchemaNode {
  const spec = withDescription(
    zodToStructural(nodeMembershipSpec),
    'Desired membership of one node in Chainfire, FlareDB and IAM. A service block present means the node should be a member of that service; absent means it should not.',
  );
  const status = withDescription(
    zodToStructural(nodeMembershipStatus.shape.status),
    'What the membership controller observed and did for this node. Written only by the leader.',
  );
  return {
    description:
      'NodeMembership is the desired membership record of one PhotonCloud node. metadata.name is the node name (a DNS-1123 label).',
    type: 'object',
    required: ['spec'],
    properties: {
      apiVersion: {
        description:
          'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.',
        type: 'string',
      },
      kind: {
        description:
          'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to.',
        type: 'string',
      },
      // The API server validates ObjectMeta itself; a CRD may not describe it further.
      metadata: { type: 'object' },
      spec,
      status,
    },
  };
}

export function buildNodeMembershipCrd(): CustomResourceDefinition {
  const openAPIV3Schema = buildNodeMembershipSchema();
  const violations = assertStructural(openAPIV3Schema);
  if (violations.length > 0) {
    throw new Error(`the generated NodeMembership schema is not structural:\n  ${violations.join('\n  ')}`);
  }
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME },
    spec: {
      group: CRD_GROUP,
      names: {
        kind: CRD_KIND,
        listKind: `${CRD_KIND}List`,
        plural: CRD_PLURAL,
        singular: CRD_KIND.toLowerCase(),
        shortNames: ['nm'],
      },
      scope: 'Cluster',
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Role', type: 'string', jsonPath: '.spec.role' },
            { name: 'State', type: 'string', jsonPath: '.spec.state' },
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema },
        },
      ],
    },
  };
}
