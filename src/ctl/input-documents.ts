/**
 * What `apply -f` reads: JSON, or YAML (one or more documents separated by
 * `---`), each document one record, an array of records or a
 * `{kind: List, items: [...]}` — so that `get -o yaml` and `get -o json`
 * output can be applied back.
 *
 * YAML is parsed with bounds, since the file may come from anyone: at most
 * MAX_YAML_BYTES of text and MAX_YAML_TOKENS tokens (counted before any
 * tree is built), MAX_DOCUMENTS documents (counted before they are
 * built), no nesting deeper than MAX_JSON_DEPTH (checked on the parser's
 * tokens, before the recursive part runs), aliases expanded at most
 * MAX_ALIAS_COUNT times per document and to at most MAX_VALUES values in all
 * (an alias "bomb" of nested aliases is refused, as is an alias inside the
 * node it names), duplicate keys and unknown tags refused. Every syntax
 * problem names its line and column.
 */
import { Composer, Lexer, LineCounter, Parser, isCollection, isMap, isSeq, visit, type CST, type Document } from 'yaml';
import { MembershipError, errorMessage } from '../errors.js';
import { MAX_JSON_DEPTH, nestingError } from '../schema/json.js';

/** YAML text larger than this is refused (JSON is taken up to the -f cap). */
export const MAX_YAML_BYTES = 4 * 1024 * 1024;
/**
 * YAML with more lexical tokens than this is refused, counted by the yaml
 * library's lexer (cheap: no tree) before the parser builds its syntax tree,
 * which costs some 300 bytes per token: dense input such as `[1,1,1,...]`
 * would otherwise take gigabytes within the byte cap. A record as `get -o
 * yaml` prints it (status included) is some 500 tokens, so this is about
 * 1,000 such records (several times more as written by hand, without status).
 */
export const MAX_YAML_TOKENS = 500_000;
/** More documents than this in one input are refused, before they are built. */
export const MAX_DOCUMENTS = 10_000;
/** How often aliases may be expanded in one document (the yaml library's count: uses times the aliases inside what they name). */
export const MAX_ALIAS_COUNT = 1000;
/** Values (objects, arrays, scalars) in all documents once aliases are expanded. */
export const MAX_VALUES = 2_000_000;

/** One candidate record and where it came from, for messages: `nodes.yaml[2] (document 3, line 40)`. */
export interface InputItem {
  value: unknown;
  where: string;
}

const invalid = (message: string) => new MembershipError('CONFIG_INVALID', message);

/** The records in `text` (not yet validated), each with where it is. */
export function parseInputDocuments(text: string, source: string): InputItem[] {
  const looksLikeJson = /^\s*[[{]/.test(text);
  if (looksLikeJson) {
    const tooDeep = nestingError(text, source);
    if (tooDeep !== undefined) throw tooDeep;
    let json: unknown;
    let jsonError: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      jsonError = err;
    }
    if (jsonError === undefined) return itemsOf(json).map((value, i, all) => ({ value, where: all.length > 1 ? `${source}[${i}]` : source }));
    // YAML's flow style looks like JSON ({name: node04}): read it as YAML, unless it is too large for that.
    if (Buffer.byteLength(text) > MAX_YAML_BYTES) throw invalid(`${source}: not valid JSON: ${jsonProblem(text, jsonError)}`);
  }
  const what = looksLikeJson ? 'not valid JSON or YAML' : 'not valid YAML';
  // The yaml library reads control characters as text: binary data would become one long string.
  const control = NOT_YAML.exec(text);
  if (control !== null) {
    const at = lineColumn(text, control.index);
    const rest = text.slice(control.index, text.indexOf('\n', control.index) >>> 0).slice(0, 40);
    throw invalid(`${source}: not valid JSON or YAML: control character at line ${at.line}, column ${at.col} (binary data?): "${rest}"`);
  }
  return parseYaml(text, source, what);
}

/** Characters YAML 1.2 does not allow in a stream (C0 controls but tab, LF and CR; DEL; C1 controls but NEL; U+FFFE, U+FFFF). */
const NOT_YAML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u0084\u0086-\u009f\ufffe\uffff]/;

/** The records of one parsed document: an array, a List's items, or the document itself. */
function itemsOf(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (isList(value)) return Array.isArray(value.items) ? value.items : [];
  return [value];
}

function isList(value: unknown): value is { kind: 'List'; items?: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { kind?: unknown }).kind === 'List';
}

/** JSON.parse's message with the line and column of its "position N". */
function jsonProblem(text: string, err: unknown): string {
  const message = errorMessage(err);
  const m = /position (\d+)/.exec(message);
  if (m === null) return message;
  const at = lineColumn(text, Number(m[1]));
  return `${message.replace(/\s*\(line \d+ column \d+\)/, '')} (line ${at.line}, column ${at.col})`;
}

function lineColumn(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, col: offset - before.lastIndexOf('\n') };
}

function parseYaml(text: string, source: string, what: string): InputItem[] {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_YAML_BYTES) {
    throw invalid(`${source}: ${bytes} bytes of YAML; at most ${MAX_YAML_BYTES / 1024 / 1024} MiB of YAML is read (JSON up to 64 MiB: membershipctl get -o json)`);
  }
  let tokens = 0;
  for (const _token of new Lexer().lex(text)) {
    if (++tokens > MAX_YAML_TOKENS) {
      throw invalid(
        `${source}: more than ${MAX_YAML_TOKENS} YAML tokens (some 1,000 records as get -o yaml prints them); ` +
          'apply it as JSON (membershipctl get -o json prints that) or in several files',
      );
    }
  }
  const lines = new LineCounter();
  const at = (offset: number) => {
    const p = lines.linePos(offset);
    return `line ${p.line}, column ${p.col}`;
  };
  const composer = new Composer({ version: '1.2', uniqueKeys: true, resolveKnownTags: false, prettyErrors: false });
  const docs: Document.Parsed[] = [];
  let count = 0;
  try {
    for (const token of new Parser(lines.addNewLine).parse(text)) {
      if (token.type === 'document') {
        if (++count > MAX_DOCUMENTS) throw invalid(`${source}: more than ${MAX_DOCUMENTS} YAML documents (document ${count} starts at ${at(token.offset)})`);
        const deep = tooDeep(token);
        if (deep !== undefined) {
          throw invalid(`${source}: nested more than ${MAX_JSON_DEPTH} levels deep (at ${at(deep)}); no record nests that deep`);
        }
      }
      for (const doc of composer.next(token)) docs.push(doc);
    }
    for (const doc of composer.end(false, text.length)) docs.push(doc);
  } catch (err) {
    if (err instanceof MembershipError) throw err;
    // The library catches its own stack overflows; anything else it throws is still a refusal of the input.
    throw invalid(`${source}: ${what}: ${errorMessage(err)}`);
  }
  const multi = docs.length > 1;
  const items: InputItem[] = [];
  const budget = { values: MAX_VALUES };
  docs.forEach((doc, d) => {
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem !== undefined) {
      const more = doc.errors.length + doc.warnings.length > 1 ? ` (and ${doc.errors.length + doc.warnings.length - 1} more)` : '';
      throw invalid(`${source}: ${what} at ${at(problem.pos[0])}: ${problem.message}${more}`);
    }
    const docWhere = multi ? `document ${d + 1}, ` : '';
    const start = doc.contents?.range[0] ?? doc.range[0];
    // A key that is a map or a list (`? [a, b] : c`) has no JSON form: the library would make a string of it.
    visit(doc, {
      Pair: (_key, pair) => {
        if (!isCollection(pair.key)) return undefined;
        throw invalid(`${source} (${docWhere}${at(pair.key.range?.[0] ?? start)}): a map key that is itself a map or a list; keys are strings`);
      },
    });
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      if (err instanceof ReferenceError && /Excessive alias count/.test(err.message)) {
        throw invalid(
          `${source} (${docWhere}${at(start)}): its aliases expand to more than ${MAX_ALIAS_COUNT} copies; refused as an alias bomb`,
        );
      }
      // An alias whose anchor is not before it: point at the alias.
      const name = /Unresolved alias.*: (\S+)$/.exec(errorMessage(err))?.[1];
      let where = start;
      if (name !== undefined) {
        visit(doc, {
          Alias: (_key, node) => {
            if (node.source !== name || node.range === undefined || node.range === null) return undefined;
            where = node.range[0];
            return visit.BREAK;
          },
        });
      }
      throw invalid(`${source} (${docWhere}${at(where)}): ${errorMessage(err)}`);
    }
    if (value === null || value === undefined) return; // an empty document, as between "---" and "---"
    const bad = boundsProblem(value, budget);
    if (bad !== undefined) throw invalid(`${source} (${docWhere}${at(start)}): ${bad}`);
    // Where each record starts: the document itself, or an item of its array or its List's items.
    const contents = doc.contents;
    const list = isSeq(contents) ? contents : isMap(contents) && isList(value) ? contents.get('items', true) : undefined;
    const values = itemsOf(value);
    values.forEach((v, i) => {
      const node = isSeq(list) ? list.items[i] : undefined;
      const offset = node !== undefined && node !== null && typeof node === 'object' && 'range' in node && node.range ? node.range[0] : start;
      const name = values.length > 1 || list !== undefined ? `${source}[${i}]` : source;
      items.push({ value: v, where: multi || list !== undefined ? `${name} (${docWhere}${at(offset)})` : name });
    });
  });
  return items;
}

type Token = CST.Token;

/** The offset of the first collection nested deeper than MAX_JSON_DEPTH in a parser token, or undefined. Without recursion. */
function tooDeep(doc: CST.Document): number | undefined {
  const stack: Array<[Token | undefined, number]> = [[doc.value, 0]];
  while (stack.length > 0) {
    const [token, depth] = stack.pop()!;
    if (token === undefined) continue;
    if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      if (depth + 1 > MAX_JSON_DEPTH) return token.offset;
      for (const item of token.items) {
        const it = item as { key?: Token | null; value?: Token };
        if (it.key) stack.push([it.key, depth + 1]);
        stack.push([it.value, depth + 1]);
      }
    }
  }
  return undefined;
}

/**
 * Why a value built from YAML cannot be taken: nested too deep once aliases
 * are expanded, an alias inside the node it names (a cycle), or more values in
 * all than the budget. Without recursion; shared nodes count each time they
 * are used, as they would once written.
 */
function boundsProblem(value: unknown, budget: { values: number }): string | undefined {
  // Each entry: a value, its depth, and the chain of containers above it (for cycles).
  const stack: Array<{ v: unknown; depth: number; above: ReadonlySet<object> }> = [{ v: value, depth: 0, above: new Set() }];
  while (stack.length > 0) {
    const { v, depth, above } = stack.pop()!;
    if (--budget.values < 0) return `more than ${MAX_VALUES} values once its aliases (if any) are expanded`;
    if (typeof v !== 'object' || v === null) continue;
    if (above.has(v)) return 'an alias refers to a node that contains it (a cycle)';
    if (depth + 1 > MAX_JSON_DEPTH) return `nested more than ${MAX_JSON_DEPTH} levels deep once its aliases are expanded`;
    const children = Array.isArray(v) ? v : Object.values(v);
    if (children.length === 0) continue;
    const chain = new Set(above).add(v);
    for (const c of children) stack.push({ v: c, depth: depth + 1, above: chain });
  }
  return undefined;
}
