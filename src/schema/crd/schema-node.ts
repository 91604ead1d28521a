/** What the converter, the structural check and the CRD builder share: the node type and its paths. */

/** One node of a JSON Schema / OpenAPI v3.0 schema. */
export type SchemaNode = { [key: string]: unknown };

export const PRESERVE = 'x-kubernetes-preserve-unknown-fields';

export function isObject(v: unknown): v is SchemaNode {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A field path as the messages show it: `properties.spec.properties.role`. */
export function joinPath(path: string, ...segments: string[]): string {
  return [path, ...segments].filter((s) => s !== '').join('.');
}

/** Thrown when a schema uses a construct that has no structural equivalent. */
export class CrdSchemaError extends Error {
  constructor(path: string, problem: string) {
    super(`${path || '(root)'}: ${problem}`);
    this.name = 'CrdSchemaError';
  }
}
