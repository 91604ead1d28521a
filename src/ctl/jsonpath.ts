/**
 * kubectl's JSONPath templates (`-o jsonpath=...`, and the expressions of
 * `-o custom-columns` and `--sort-by`): text with `{...}` expressions.
 *
 *   {.metadata.name}  {.items[*].metadata.name}  {range .items[*]}...{end}
 *   {"\t"} {"\n"}  {.status.conditions[?(@.type=="Ready")].status}
 *   {.items[0]} {.items[-1:]} {.items[0,2]} {..name} {$.kind} {@}
 *   {.metadata.labels.kubernetes\.io/role}  {.metadata.labels['a.b/c']}
 *
 * Results of one expression are joined by a space; strings print as they are,
 * numbers and booleans as JSON, objects and arrays as compact JSON. A field
 * that does not exist prints nothing (kubectl's --allow-missing-template-keys).
 * Syntax outside this subset is refused with its position in the template.
 */
import { MembershipError } from '../errors.js';

type Scalar = string | number | boolean | null;

export type Segment =
  | { t: 'field'; names: string[] }
  | { t: 'wildcard' }
  | { t: 'recurse' }
  | { t: 'index'; indices: number[] }
  | { t: 'slice'; start?: number; end?: number; step: number }
  | { t: 'filter'; left: JsonPath; op?: Comparison; right?: Operand };

export type Comparison = '==' | '!=' | '<' | '<=' | '>' | '>=';
type Operand = { t: 'path'; path: JsonPath } | { t: 'literal'; value: Scalar };

export interface JsonPath {
  /** `$` the whole input, `@` the current object (the item of the enclosing range; the input outside one) */
  root: '$' | '@';
  segments: Segment[];
}

export type TemplateNode =
  | { t: 'text'; text: string }
  | { t: 'path'; path: JsonPath }
  | { t: 'range'; path: JsonPath; body: TemplateNode[] };

export interface Template {
  source: string;
  nodes: TemplateNode[];
}

/** A template that does not parse: the problem and its position (1-based) in the template. */
export class TemplateError extends Error {
  constructor(
    readonly problem: string,
    readonly position: number,
  ) {
    super(`${problem} at position ${position}`);
  }
}

/** The USAGE error of a bad template given to `flag`: the problem, the template, and a caret under the position. */
export function templateUsageError(flag: string, source: string, err: TemplateError): MembershipError {
  return new MembershipError(
    'USAGE',
    `${flag}: ${err.problem} at position ${err.position} of the template:\n  ${source}\n  ${' '.repeat(Math.max(0, err.position - 1))}^\n` +
      'supported: {.field}, {.a.b}, {[*]}, {[n]}, {[start:end]}, {[n,m]}, {[\'key\']}, {..field}, {[?(@.f=="v")]}, ' +
      '{range ...}...{end}, {"literal"}; see docs/membershipctl.md',
  );
}

const FIELD_END = new Set(['.', '[', ']', '{', '}', '(', ')', ' ', '\t', '\n', '\r', '=', '!', '<', '>', ',', '"', '\'', '@', '$', '&', '|']);

/** Parses text between braces: a path, `range PATH`, `end`, or a quoted literal. */
class ExpressionParser {
  pos = 0;

  constructor(
    private readonly text: string,
    /** where `text` starts in the whole template (0-based) */
    private readonly offset: number,
  ) {}

  fail(problem: string, at = this.pos): never {
    throw new TemplateError(problem, this.offset + at + 1);
  }

  peek(n = 0): string {
    return this.text[this.pos + n] ?? '';
  }

  done(): boolean {
    return this.pos >= this.text.length;
  }

  skipSpaces(): void {
    while (/\s/.test(this.peek())) this.pos++;
  }

  /** A path: `$...`, `@...`, or `.` / `[` (relative to the current object). */
  path(): JsonPath {
    let root: '$' | '@' = '@';
    if (this.peek() === '$' || this.peek() === '@') {
      root = this.peek() as '$' | '@';
      this.pos++;
    } else if (this.peek() !== '.' && this.peek() !== '[') {
      this.fail(this.done() ? 'expected a path such as .metadata.name' : `unexpected ${JSON.stringify(this.peek())}; a path starts with "." or "["`);
    }
    const segments: Segment[] = [];
    for (;;) {
      const ch = this.peek();
      if (ch === '.') {
        if (this.peek(1) === '.') {
          this.pos += 2;
          segments.push({ t: 'recurse' });
          if (this.peek() === '[') continue;
        } else this.pos++;
        if (this.peek() === '*') {
          this.pos++;
          segments.push({ t: 'wildcard' });
          continue;
        }
        const name = this.fieldName();
        // `{.}` and `{..}` alone name the current object.
        if (name === '') {
          if (!this.done() && !/[\s)=!<>]/.test(this.peek())) this.fail(`unexpected ${JSON.stringify(this.peek())} after "."`);
          continue;
        }
        segments.push({ t: 'field', names: [name] });
      } else if (ch === '[') segments.push(this.subscript());
      else return { root, segments };
    }
  }

  /** A field name after ".": up to the next delimiter; `\.` (or any `\x`) keeps the character. */
  fieldName(): string {
    let name = '';
    while (!this.done()) {
      const ch = this.peek();
      if (ch === '\\') {
        if (this.pos + 1 >= this.text.length) this.fail('"\\" at the end of a field name');
        name += this.text[this.pos + 1];
        this.pos += 2;
        continue;
      }
      if (FIELD_END.has(ch)) break;
      name += ch;
      this.pos++;
    }
    return name;
  }

  subscript(): Segment {
    const open = this.pos;
    this.pos++; // [
    this.skipSpaces();
    let seg: Segment;
    if (this.peek() === '*') {
      this.pos++;
      seg = { t: 'wildcard' };
    } else if (this.peek() === '?') {
      seg = this.filter();
    } else if (this.peek() === '\'' || this.peek() === '"') {
      const names = [this.quoted()];
      for (this.skipSpaces(); this.peek() === ','; this.skipSpaces()) {
        this.pos++;
        this.skipSpaces();
        names.push(this.quoted());
      }
      seg = { t: 'field', names };
    } else seg = this.indexOrSlice();
    this.skipSpaces();
    if (this.done()) this.fail('"[" is not closed with "]"', open);
    if (this.peek() !== ']') this.fail(`unexpected ${JSON.stringify(this.peek())} in [...]`);
    this.pos++;
    return seg;
  }

  integer(): number | undefined {
    const m = /^-?\d+/.exec(this.text.slice(this.pos));
    if (m === null) return undefined;
    this.pos += m[0].length;
    const n = Number(m[0]);
    if (!Number.isSafeInteger(n)) this.fail(`${m[0]} is too large`, this.pos - m[0].length);
    return n;
  }

  indexOrSlice(): Segment {
    const first = this.integer();
    this.skipSpaces();
    if (this.peek() === ':') {
      this.pos++;
      this.skipSpaces();
      const end = this.integer();
      this.skipSpaces();
      let step = 1;
      if (this.peek() === ':') {
        this.pos++;
        this.skipSpaces();
        const at = this.pos;
        const s = this.integer();
        if (s !== undefined && s <= 0) this.fail('the step of a slice must be more than 0', at);
        step = s ?? 1;
      }
      return { t: 'slice', ...(first !== undefined ? { start: first } : {}), ...(end !== undefined ? { end } : {}), step };
    }
    if (first === undefined) this.fail(this.done() ? '"[" is not closed' : `unexpected ${JSON.stringify(this.peek())} in [...]: expected *, an index, a slice, a quoted key or ?(...)`);
    const indices = [first];
    while (this.peek() === ',') {
      this.pos++;
      this.skipSpaces();
      const n = this.integer();
      if (n === undefined) this.fail('expected an index after ","');
      indices.push(n);
      this.skipSpaces();
    }
    return { t: 'index', indices };
  }

  /** `?(@.type=="Ready")`, `?(@.count > 2)`, `?(@.labels.zone)` (exists). */
  filter(): Segment {
    this.pos++; // ?
    if (this.peek() !== '(') this.fail('expected "(" after "?"');
    this.pos++;
    this.skipSpaces();
    if (this.peek() !== '@' && this.peek() !== '$') this.fail('a filter starts with @ (the element), e.g. [?(@.type=="Ready")]');
    const left = this.path();
    this.skipSpaces();
    let seg: Segment = { t: 'filter', left };
    const op = /^(==|!=|<=|>=|<|>)/.exec(this.text.slice(this.pos))?.[1] as Comparison | undefined;
    if (op !== undefined) {
      this.pos += op.length;
      this.skipSpaces();
      seg = { t: 'filter', left, op, right: this.operand() };
      this.skipSpaces();
    }
    if (this.peek() !== ')') {
      if (this.text.startsWith('&&', this.pos) || this.text.startsWith('||', this.pos)) this.fail('&& and || are not supported in filters');
      this.fail(this.done() ? 'the filter is not closed with ")"' : `unexpected ${JSON.stringify(this.peek())} in the filter; comparisons: == != < <= > >=`);
    }
    this.pos++;
    return seg;
  }

  operand(): Operand {
    const ch = this.peek();
    if (ch === '\'' || ch === '"') return { t: 'literal', value: this.quoted() };
    if (ch === '@' || ch === '$') return { t: 'path', path: this.path() };
    const m = /^(-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null)/.exec(this.text.slice(this.pos));
    if (m === null) this.fail('expected a quoted string, a number, true, false, null or a path after the comparison');
    this.pos += m[0].length;
    return { t: 'literal', value: m[0] === 'true' ? true : m[0] === 'false' ? false : m[0] === 'null' ? null : Number(m[0]) };
  }

  /** A single- or double-quoted string; \n \t \r \\ \" \' \uXXXX are escapes. */
  quoted(): string {
    const quote = this.peek();
    const start = this.pos;
    this.pos++;
    let out = '';
    for (;;) {
      if (this.done()) this.fail('the string is not closed', start);
      const ch = this.text[this.pos]!;
      this.pos++;
      if (ch === quote) return out;
      if (ch !== '\\') {
        out += ch;
        continue;
      }
      const esc = this.text[this.pos];
      this.pos++;
      if (esc === 'n') out += '\n';
      else if (esc === 't') out += '\t';
      else if (esc === 'r') out += '\r';
      else if (esc === '\\' || esc === '"' || esc === '\'') out += esc;
      else if (esc === 'u' && /^[0-9a-fA-F]{4}/.test(this.text.slice(this.pos))) {
        out += String.fromCharCode(parseInt(this.text.slice(this.pos, this.pos + 4), 16));
        this.pos += 4;
      } else this.fail(`unknown escape "\\${esc ?? ''}"`, this.pos - 2);
    }
  }
}

/** Parses a kubectl JSONPath template; throws TemplateError with the position of the problem. */
export function parseTemplate(source: string): Template {
  const root: TemplateNode[] = [];
  // The open ranges, innermost last, with where each started.
  const stack: Array<{ node: Extract<TemplateNode, { t: 'range' }>; at: number }> = [];
  const out = () => stack.at(-1)?.node.body ?? root;
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{', i);
    if (open < 0) {
      out().push({ t: 'text', text: source.slice(i) });
      break;
    }
    if (open > i) out().push({ t: 'text', text: source.slice(i, open) });
    const close = closingBrace(source, open);
    const inner = source.slice(open + 1, close);
    const p = new ExpressionParser(inner, open + 1);
    p.skipSpaces();
    if (p.done()) throw new TemplateError('empty {}', open + 1);
    const word = /^(range|end)\b/.exec(inner.slice(p.pos))?.[1];
    if (word === 'end') {
      p.pos += 3;
      p.skipSpaces();
      if (!p.done()) p.fail('{end} takes nothing');
      if (stack.length === 0) throw new TemplateError('{end} without {range ...}', open + 1);
      stack.pop();
    } else if (word === 'range') {
      p.pos += 5;
      p.skipSpaces();
      const path = p.path();
      p.skipSpaces();
      if (!p.done()) p.fail(`unexpected ${JSON.stringify(p.peek())} after the range's path`);
      const node = { t: 'range' as const, path, body: [] };
      out().push(node);
      stack.push({ node, at: open + 1 });
    } else if (p.peek() === '"' || p.peek() === '\'') {
      const text = p.quoted();
      p.skipSpaces();
      if (!p.done()) p.fail(`unexpected ${JSON.stringify(p.peek())} after the string; one thing per {}`);
      out().push({ t: 'text', text });
    } else {
      const path = p.path();
      p.skipSpaces();
      if (!p.done()) {
        if (p.peek() === '(') p.fail('functions are not supported');
        p.fail(`unexpected ${JSON.stringify(p.peek())}; one path per {}`);
      }
      out().push({ t: 'path', path });
    }
    i = close + 1;
  }
  const unclosed = stack.at(-1);
  if (unclosed !== undefined) throw new TemplateError('{range ...} without {end}', unclosed.at);
  return { source, nodes: root };
}

/** The index of the "}" that closes the "{" at `open`, skipping quoted strings. */
function closingBrace(source: string, open: number): number {
  let quote: string | undefined;
  for (let i = open + 1; i < source.length; i++) {
    const ch = source[i];
    if (quote !== undefined) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === '\'') quote = ch;
    else if (ch === '{') throw new TemplateError('"{" inside {...}', i + 1);
    else if (ch === '}') return i;
  }
  throw new TemplateError('"{" is not closed with "}"', open + 1);
}

/**
 * A lone path as custom-columns and --sort-by take it, kubectl's "relaxed"
 * form: `.metadata.name`, `metadata.name` or `{.metadata.name}`.
 */
export function parseRelaxedPath(source: string): JsonPath {
  let text = source.trim();
  let offset = source.indexOf(text);
  if (text.startsWith('{') && text.endsWith('}')) {
    text = text.slice(1, -1);
    offset++;
  }
  if (text === '') throw new TemplateError('expected a path such as .metadata.name', offset + 1);
  if (!/^[.[$@]/.test(text)) {
    text = `.${text}`;
    offset--;
  }
  const p = new ExpressionParser(text, offset);
  const path = p.path();
  if (!p.done()) p.fail(`unexpected ${JSON.stringify(p.peek())}; one path only`);
  return path;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: Record<string, unknown>, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** The values `path` selects, in document order; `root` is `$`, `current` is `@`. */
export function evaluate(path: JsonPath, root: unknown, current: unknown = root): unknown[] {
  let values = [path.root === '$' ? root : current];
  for (const seg of path.segments) values = values.flatMap((v) => step(seg, v, root));
  return values;
}

function step(seg: Segment, v: unknown, root: unknown): unknown[] {
  switch (seg.t) {
    case 'field':
      return isObject(v) ? seg.names.filter((n) => own(v, n)).map((n) => v[n]) : [];
    case 'wildcard':
      return Array.isArray(v) ? v : isObject(v) ? Object.values(v) : [];
    case 'recurse':
      return descendants(v);
    case 'index':
      if (!Array.isArray(v)) return [];
      return seg.indices.flatMap((i) => {
        const at = i < 0 ? v.length + i : i;
        return at >= 0 && at < v.length ? [v[at]] : [];
      });
    case 'slice': {
      if (!Array.isArray(v)) return [];
      const clamp = (n: number) => Math.min(v.length, Math.max(0, n < 0 ? v.length + n : n));
      const start = clamp(seg.start ?? 0);
      const end = clamp(seg.end ?? v.length);
      const out: unknown[] = [];
      for (let i = start; i < end; i += seg.step) out.push(v[i]);
      return out;
    }
    case 'filter': {
      const items = Array.isArray(v) ? v : [];
      return items.filter((item) => matches(seg, item, root));
    }
  }
}

/** `v` and everything below it, parents before children. */
function descendants(v: unknown): unknown[] {
  const out: unknown[] = [];
  const stack = [v];
  while (stack.length > 0) {
    const x = stack.pop();
    out.push(x);
    const children = Array.isArray(x) ? x : isObject(x) ? Object.values(x) : [];
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
  return out;
}

function matches(seg: Extract<Segment, { t: 'filter' }>, item: unknown, root: unknown): boolean {
  const left = evaluate(seg.left, root, item);
  if (seg.op === undefined || seg.right === undefined) return left.length > 0 && left.some((x) => x !== false && x !== null);
  const right = seg.right.t === 'literal' ? [seg.right.value] : evaluate(seg.right.path, root, item);
  const op = seg.op;
  return left.some((l) => right.some((r) => compare(l, op, r)));
}

function compare(l: unknown, op: Comparison, r: unknown): boolean {
  if (op === '==') return l === r;
  if (op === '!=') return l !== r;
  const bothNumbers = typeof l === 'number' && typeof r === 'number';
  const bothStrings = typeof l === 'string' && typeof r === 'string';
  if (!bothNumbers && !bothStrings) return false;
  const a = l as number | string;
  const b = r as number | string;
  return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
}

/** One value as the template prints it. */
export function formatValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined) return '';
  return JSON.stringify(v);
}

/** Runs a template over `input`. */
export function executeTemplate(template: Template, input: unknown): string {
  let out = '';
  const run = (nodes: TemplateNode[], current: unknown) => {
    for (const node of nodes) {
      if (node.t === 'text') out += node.text;
      else if (node.t === 'path') out += evaluate(node.path, input, current).map(formatValue).join(' ');
      else {
        let items = evaluate(node.path, input, current);
        // {range .items} iterates over the list as {range .items[*]} does.
        if (items.length === 1 && Array.isArray(items[0])) items = items[0];
        for (const item of items) run(node.body, item);
      }
    }
  };
  run(template.nodes, input);
  return out;
}
