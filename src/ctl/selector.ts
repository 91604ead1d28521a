/**
 * Label selectors of `get -l`, kubectl's equality-based form:
 * `key=value`, `key==value`, `key!=value`, `key` (has it), `!key` (has it
 * not), comma-separated, all of which must hold.
 */
import { MembershipError } from '../errors.js';

export type Requirement =
  | { key: string; op: 'exists' | 'absent' }
  | { key: string; op: 'equals' | 'differs'; value: string };

/** A label key as Kubernetes has them: an optional DNS prefix and "/", then a name of letters, digits, "-", "_", ".". */
const KEY_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE_RE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function usage(selector: string, at: number, problem: string): MembershipError {
  return new MembershipError(
    'USAGE',
    `-l ${JSON.stringify(selector)}: ${problem} (at position ${at}); a selector is key=value, key!=value, key or !key, comma-separated`,
  );
}

/** Parses `-l`; every problem names its position (1-based) in the selector. */
export function parseSelector(selector: string): Requirement[] {
  const out: Requirement[] = [];
  let at = 1;
  for (const part of selector.split(',')) {
    const start = at + (part.length - part.trimStart().length);
    at += part.length + 1;
    const text = part.trim();
    if (text === '') throw usage(selector, start, 'an empty requirement');
    if (/\s(in|notin)\s*\(/.test(` ${text}`) || text.includes('(')) {
      throw usage(selector, start, `set-based requirements (${text}) are not supported`);
    }
    const m = /^(!?)([^=!]*)(?:(==|=|!=)(.*))?$/.exec(text);
    if (m === null) throw usage(selector, start, `${JSON.stringify(text)} is not a requirement`);
    const [, not, rawKey, op, value] = m;
    const key = rawKey!.trim();
    if (!KEY_RE.test(key) || key.length > 316) throw usage(selector, start + (not ? 1 : 0), `${JSON.stringify(key)} is not a label key`);
    if (op === undefined) {
      out.push({ key, op: not ? 'absent' : 'exists' });
      continue;
    }
    if (not) throw usage(selector, start, `"!" goes with a key alone (!${key}), not with ${op}`);
    const v = value!.trim();
    if (!VALUE_RE.test(v) || v.length > 63) throw usage(selector, start + text.indexOf(op) + op.length, `${JSON.stringify(v)} is not a label value`);
    out.push({ key, op: op === '!=' ? 'differs' : 'equals', value: v });
  }
  return out;
}

/** Whether labels satisfy every requirement (a missing label differs from any value, as kubectl has it). */
export function selects(requirements: Requirement[], labels: Readonly<Record<string, string>>): boolean {
  return requirements.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case 'absent':
        return !has;
      case 'equals':
        return has && labels[r.key] === r.value;
      case 'differs':
        return !has || labels[r.key] !== r.value;
    }
  });
}
