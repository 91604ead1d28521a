/**
 * JSON as it enters the programs (config files, records on the command line
 * or in Chainfire), checked for what a schema cannot see: nesting so deep
 * that walking it overflows the stack (a 10,000-deep unknown field ended the
 * agent with "Maximum call stack size exceeded"), and keys that JavaScript
 * objects treat specially (`__proto__` is dropped by every parser on the way,
 * silently losing what the operator wrote).
 */
import { MembershipError } from '../errors.js';

/** No config file or record nests deeper; the deepest the schemas allow is a few levels. */
export const MAX_JSON_DEPTH = 64;

/** Keys refused anywhere in a record or config file. */
export const RESERVED_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

/**
 * Where `text` first nests deeper than `max` arrays and objects, as line and
 * column; undefined when it does not. One pass over the text, without
 * recursion, so that it works on any input, valid JSON or not.
 */
export function excessiveNesting(text: string, max = MAX_JSON_DEPTH): { line: number; column: number } | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
      continue;
    }
    if (ch === 0x22) inString = true;
    else if (ch === 0x7b || ch === 0x5b) {
      if (++depth > max) {
        const before = text.slice(0, i);
        return { line: before.split('\n').length, column: i - before.lastIndexOf('\n') };
      }
    } else if (ch === 0x7d || ch === 0x5d) depth--;
  }
  return undefined;
}

/** The CONFIG_INVALID error for `source` nesting deeper than MAX_JSON_DEPTH, or undefined. */
export function nestingError(text: string, source: string): MembershipError | undefined {
  const at = excessiveNesting(text);
  if (at === undefined) return undefined;
  return new MembershipError(
    'CONFIG_INVALID',
    `${source}: nested more than ${MAX_JSON_DEPTH} levels deep (at line ${at.line} column ${at.column}); no config file or record nests that deep`,
  );
}

/** The path (`metadata.labels.__proto__`) of the first reserved key in a parsed value, or undefined. */
export function reservedKeyPath(value: unknown, path: string[] = []): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.keys(value).map((k) => [k, (value as Record<string, unknown>)[k]]);
  for (const [key, child] of entries) {
    if (!Array.isArray(value) && RESERVED_KEYS.includes(key)) return [...path, key].join('.');
    const found = reservedKeyPath(child, [...path, key]);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The problem of a reserved key at `path`, naming the field. */
export function reservedKeyProblem(path: string): string {
  const key = path.slice(path.lastIndexOf('.') + 1);
  return `${path}: ${JSON.stringify(key)} is not allowed as a key (${RESERVED_KEYS.join(', ')} are reserved)`;
}
