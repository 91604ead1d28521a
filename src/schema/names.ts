/**
 * Node names, without zod: what the key layout needs is loaded on every path
 * of the programs, the schemas only where records are validated.
 */

/** DNS-1123 label: what every `<node>` in a key must be. */
export const NODE_NAME_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function isValidNodeName(name: string): boolean {
  return NODE_NAME_RE.test(name);
}

/** Explains why a name is not a node name, or returns undefined when it is one. */
export function nodeNameProblem(name: string): string | undefined {
  if (isValidNodeName(name)) return undefined;
  if (name.length === 0) return 'node name is empty';
  if (name.length > 63) return `node name "${name.slice(0, 20)}…" is ${name.length} characters long (at most 63)`;
  return `node name ${JSON.stringify(name)} is not a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit)`;
}
