/**
 * The rules the Kubernetes API server applies to a CRD's schema (a structural
 * apiextensions.k8s.io/v1 schema), checked here so that a schema it would
 * refuse fails in a unit test, and when crds/ is generated, instead of at
 * `kubectl apply` time.
 */
import { isObject, joinPath, PRESERVE, type SchemaNode } from './schema-node.js';

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

type Report = (path: string, rule: string, detail: string) => void;

/** What the place of a node forbids: defaults in metadata. */
interface Context {
  defaultsForbidden?: string;
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
export function structuralViolations(schema: unknown, options: StructuralOptions = {}): string[] {
  const violations: string[] = [];
  const report: Report = (path, rule, detail) => {
    violations.push(`${path || '(root)'}: [${rule}] ${detail}`);
  };
  if (options.root === false) walk(schema, '', {}, report);
  else checkResourceRoot(schema, report);
  return violations;
}

function checkResourceRoot(schema: unknown, report: Report): void {
  if (!isObject(schema)) {
    report('', 'not-a-schema', 'the root schema must be an object');
    return;
  }
  if (schema.type !== 'object') report('type', 'root', 'the root schema must have type: object');
  for (const key of Object.keys(schema)) {
    if (!ROOT_ALLOWED.has(key)) report(key, 'root', `${key} is not allowed at the root of openAPIV3Schema`);
  }
  // Walk the root without its properties (a default there is already reported
  // above), then each property: metadata has its own rules.
  const { properties, ...rootOnly } = schema;
  walk(rootOnly, '', {}, report);
  if (!isObject(properties)) {
    if (properties !== undefined) report('properties', 'not-a-schema', 'properties must be an object');
    return;
  }
  for (const [name, sub] of Object.entries(properties)) {
    const path = joinPath('properties', name);
    if (name === 'metadata') {
      checkMetadata(sub, path, report);
      walk(sub, path, { defaultsForbidden: 'in top-level metadata' }, report);
    } else {
      walk(sub, path, {}, report);
    }
  }
}

/** The API server owns ObjectMeta: a CRD may only restrict metadata.name and metadata.generateName. */
function checkMetadata(node: unknown, path: string, report: Report): void {
  if (!isObject(node)) return;
  if (node.type !== 'object') report(joinPath(path, 'type'), 'metadata', 'metadata must have type: object');
  if (!isObject(node.properties)) return;
  for (const [name, sub] of Object.entries(node.properties)) {
    if (name !== 'name' && name !== 'generateName') {
      report(joinPath(path, 'properties', name), 'metadata', 'only metadata.name and metadata.generateName may be restricted');
    } else if (!isObject(sub) || sub.type !== 'string') {
      report(joinPath(path, 'properties', name), 'metadata', `metadata.${name} must have type: string`);
    }
  }
}

function walk(node: unknown, path: string, ctx: Context, report: Report): void {
  if (!isObject(node)) {
    report(path, 'not-a-schema', `expected a schema object, got ${JSON.stringify(node)}`);
    return;
  }
  checkKeywords(node, path, report);
  checkType(node, path, report);
  checkObject(node, path, report);
  checkArray(node, path, report);
  checkListType(node, path, report);
  checkBounds(node, path, report);
  checkValues(node, path, ctx, report);
  checkPattern(node, path, report);

  if (isObject(node.properties)) {
    for (const [name, sub] of Object.entries(node.properties)) walk(sub, joinPath(path, 'properties', name), ctx, report);
  }
  if (isObject(node.additionalProperties)) walk(node.additionalProperties, joinPath(path, 'additionalProperties'), ctx, report);
  if (isObject(node.items)) walk(node.items, joinPath(path, 'items'), ctx, report);
  for (const key of ['anyOf', 'oneOf', 'allOf']) {
    const branches = node[key];
    if (Array.isArray(branches)) branches.forEach((b, i) => walk(b, joinPath(path, key, String(i)), ctx, report));
  }
  if (isObject(node.not)) walk(node.not, joinPath(path, 'not'), ctx, report);
}

function checkKeywords(node: SchemaNode, path: string, report: Report): void {
  for (const key of Object.keys(node)) {
    if (!JSON_SCHEMA_PROPS.has(key)) {
      const hint = key === 'const' ? '; use a one-value enum' : key === '$defs' ? '; inline the definitions' : '';
      report(joinPath(path, key), 'unknown-keyword', `${key} is not a Kubernetes JSONSchemaProps field${hint}`);
    } else if (key in FORBIDDEN_IN_V1) {
      report(joinPath(path, key), 'forbidden-keyword', `${key}: ${FORBIDDEN_IN_V1[key]}`);
    }
  }
  for (const key of ['anyOf', 'oneOf', 'allOf', 'not']) {
    if (key in node) report(joinPath(path, key), 'junctor', `${key} is not used in this CRD; express it structurally`);
  }
  const preserve = node[PRESERVE];
  if (preserve !== undefined && preserve !== true) {
    report(joinPath(path, PRESERVE), 'preserve-unknown-fields', 'must be true or absent');
  }
}

function checkType(node: SchemaNode, path: string, report: Report): void {
  const type = node.type;
  if (type === undefined) {
    if (node[PRESERVE] !== true && node['x-kubernetes-int-or-string'] !== true) {
      report(path, 'missing-type', 'every node needs a type (or x-kubernetes-preserve-unknown-fields: true)');
    }
  } else if (typeof type !== 'string' || !TYPES.has(type)) {
    report(joinPath(path, 'type'), 'invalid-type', `${JSON.stringify(type)} is not one of ${[...TYPES].join(', ')} (use nullable: true for null)`);
  }
}

function checkObject(node: SchemaNode, path: string, report: Report): void {
  const type = node.type;
  const hasProperties = 'properties' in node;
  if (hasProperties) {
    if (!isObject(node.properties)) report(joinPath(path, 'properties'), 'not-a-schema', 'properties must be an object');
    if (type !== undefined && type !== 'object') {
      report(joinPath(path, 'properties'), 'properties-on-non-object', `properties on a node of type ${String(type)}`);
    }
  }
  if (!('additionalProperties' in node)) return;
  const ap = node.additionalProperties;
  const at = joinPath(path, 'additionalProperties');
  if (hasProperties) {
    report(at, 'additionalProperties-with-properties', 'additionalProperties and properties are mutually exclusive; unknown fields are pruned anyway');
  }
  if (typeof ap === 'boolean') {
    report(at, 'additionalProperties-boolean', `additionalProperties: ${ap}; omit it (pruning closes objects) or use x-kubernetes-preserve-unknown-fields: true`);
  } else if (type !== undefined && type !== 'object') {
    report(at, 'properties-on-non-object', `additionalProperties on a ${String(type)}`);
  }
}

function checkArray(node: SchemaNode, path: string, report: Report): void {
  const type = node.type;
  if (type === 'array' && !('items' in node)) report(path, 'array-without-items', 'an array needs an items schema');
  if ('items' in node) {
    if (!isObject(node.items)) report(joinPath(path, 'items'), 'items-not-schema', 'items must be one schema object');
    if (type !== undefined && type !== 'array') {
      report(joinPath(path, 'items'), 'items-on-non-array', `items on a node of type ${String(type)}`);
    }
  }
  if (node.uniqueItems === true) {
    report(joinPath(path, 'uniqueItems'), 'unique-items', 'uniqueItems: true is forbidden (quadratic to check)');
  }
}

const LIST_TYPES = new Set(['atomic', 'set', 'map']);
const SCALARS = new Set(['string', 'integer', 'number', 'boolean']);

/**
 * x-kubernetes-list-type and its map keys, as the API server checks them: a
 * list type only on arrays; `set` of scalars; `map` of objects whose every key
 * field is a scalar the item must have (required, or defaulted).
 */
function checkListType(node: SchemaNode, path: string, report: Report): void {
  const listType = node['x-kubernetes-list-type'];
  const keys = node['x-kubernetes-list-map-keys'];
  if (keys !== undefined && listType !== 'map') {
    report(joinPath(path, 'x-kubernetes-list-map-keys'), 'list-map-keys', 'map keys need x-kubernetes-list-type: map');
  }
  if (listType === undefined) return;
  const at = joinPath(path, 'x-kubernetes-list-type');
  if (typeof listType !== 'string' || !LIST_TYPES.has(listType)) {
    report(at, 'list-type', `${JSON.stringify(listType)} is not one of ${[...LIST_TYPES].join(', ')}`);
    return;
  }
  if (node.type !== 'array') {
    report(at, 'list-type', `a list type on a node of type ${String(node.type)}`);
    return;
  }
  const items = isObject(node.items) ? node.items : {};
  if (listType === 'set' && !SCALARS.has(String(items.type))) report(at, 'list-type', 'a set holds scalar items');
  if (listType !== 'map') return;
  if (items.type !== 'object') report(at, 'list-type', 'a map list holds object items');
  if (!Array.isArray(keys) || keys.length === 0) {
    report(joinPath(path, 'x-kubernetes-list-map-keys'), 'list-map-keys', 'a map list names its key fields');
    return;
  }
  const properties = isObject(items.properties) ? items.properties : {};
  const required = Array.isArray(items.required) ? items.required : [];
  for (const key of keys) {
    const field = properties[String(key)];
    const keyAt = joinPath(path, 'items', 'properties', String(key));
    if (!isObject(field)) report(keyAt, 'list-map-keys', `map key ${String(key)} is not a field of the items`);
    else if (!SCALARS.has(String(field.type))) report(keyAt, 'list-map-keys', `map key ${String(key)} must be a scalar`);
    else if (!required.includes(key) && !('default' in field)) {
      report(keyAt, 'list-map-keys', `map key ${String(key)} must be required or have a default`);
    }
  }
}

/** OpenAPI v3.0 (and so Kubernetes) writes exclusive bounds as booleans qualifying minimum/maximum. */
function checkBounds(node: SchemaNode, path: string, report: Report): void {
  for (const [exclusive, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    if (!(exclusive in node)) continue;
    const value = node[exclusive];
    if (typeof value !== 'boolean') {
      report(joinPath(path, exclusive), 'exclusive-bound', `${exclusive} must be a boolean qualifying ${bound} in OpenAPI v3.0, got ${JSON.stringify(value)}`);
    } else if (value && typeof node[bound] !== 'number') {
      report(joinPath(path, exclusive), 'exclusive-bound', `${exclusive}: true without ${bound}`);
    }
  }
}

function checkValues(node: SchemaNode, path: string, ctx: Context, report: Report): void {
  const type = String(node.type);
  if ('enum' in node) {
    if (!Array.isArray(node.enum)) {
      report(joinPath(path, 'enum'), 'enum-value', 'enum must be an array');
    } else {
      node.enum.forEach((v, i) => {
        if (!valueMatches(v, node)) report(joinPath(path, 'enum', String(i)), 'enum-value', `${JSON.stringify(v)} is not a ${type}`);
      });
    }
  }
  if (!('default' in node)) return;
  if (ctx.defaultsForbidden) {
    report(joinPath(path, 'default'), 'default-forbidden', `defaults are not allowed ${ctx.defaultsForbidden}`);
  } else if (!valueMatches(node.default, node)) {
    report(joinPath(path, 'default'), 'default-value', `${JSON.stringify(node.default)} is not a ${type}`);
  }
}

function valueMatches(value: unknown, node: SchemaNode): boolean {
  if (value === null) return node.nullable === true;
  switch (node.type) {
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

function checkPattern(node: SchemaNode, path: string, report: Report): void {
  if (!('pattern' in node)) return;
  const pattern = node.pattern;
  const problem = typeof pattern === 'string' ? re2Problem(pattern) : 'not a string';
  if (problem) report(joinPath(path, 'pattern'), 'pattern-not-re2', `pattern uses ${problem}, which Go's RE2 lacks`);
}

/** Why a pattern would not compile with Go's RE2 engine (what the API server uses), if it would not. */
function re2Problem(pattern: string): string | undefined {
  if (/\(\?<?[=!]/.test(pattern)) return 'lookaround assertions';
  if (/\\[1-9]|\\k</.test(pattern)) return 'backreferences';
  if (/\(\?>/.test(pattern)) return 'atomic groups';
  if (/[*+?}][+]/.test(pattern.replace(/\\./g, ''))) return 'possessive quantifiers';
  return undefined;
}
