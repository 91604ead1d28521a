/**
 * `get`'s kubectl output habits beyond the fixed formats: `-o jsonpath=`,
 * `-o custom-columns=`, `-l` label selectors and `--sort-by`. Every one of
 * them works on the object `-o json` prints for a node (toResource), so what
 * `get -o json` shows is what a path can name.
 */
import { MembershipError } from '../errors.js';
import {
  TemplateError, evaluate, executeTemplate, formatValue, parseRelaxedPath, parseTemplate, templateUsageError, type JsonPath, type Template,
} from './jsonpath.js';
import { selects, type Requirement } from './selector.js';
import { OUTPUT_FORMATS, RESOURCE, formatColumns, renderViews, toResource, type NodeView, type OutputFormat } from './view.js';

export interface Column {
  header: string;
  path: JsonPath;
}

export type GetOutput =
  | { kind: OutputFormat }
  | { kind: 'jsonpath'; template: Template }
  | { kind: 'custom-columns'; columns: Column[] };

/** What `-o` accepts, as listed in help, errors and shell completion. */
export const OUTPUT_CHOICES = [...OUTPUT_FORMATS, 'jsonpath=TEMPLATE', 'custom-columns=SPEC'];
/** What shell completion offers for `get -o`. */
export const OUTPUT_COMPLETIONS = [...OUTPUT_FORMATS, 'jsonpath=', 'custom-columns='];

/** What shell completion offers for `--sort-by`. */
export const SORT_BY_COMPLETIONS = ['.metadata.name', '.metadata.generation', '.spec.role', '.spec.state', '.spec.nodeIp', '.spec.datacenter', '.spec.rack', '.status.phase', '.status.observedGeneration'];

/** Parses `-o` (also as `-o=...`, which kubectl users type). */
export function parseOutput(raw: string): GetOutput {
  const value = raw.startsWith('=') ? raw.slice(1) : raw;
  if ((OUTPUT_FORMATS as readonly string[]).includes(value)) return { kind: value as OutputFormat };
  const eq = value.indexOf('=');
  const name = eq < 0 ? value : value.slice(0, eq);
  const arg = eq < 0 ? undefined : value.slice(eq + 1);
  if (name === 'jsonpath') {
    if (arg === undefined || arg === '') throw new MembershipError('USAGE', '-o jsonpath needs a template: -o jsonpath=\'{.items[*].metadata.name}\'');
    try {
      return { kind: 'jsonpath', template: parseTemplate(arg) };
    } catch (err) {
      if (err instanceof TemplateError) throw templateUsageError('-o jsonpath', arg, err);
      throw err;
    }
  }
  if (name === 'custom-columns') {
    if (arg === undefined || arg === '') throw new MembershipError('USAGE', '-o custom-columns needs columns: -o custom-columns=NAME:.metadata.name,PHASE:.status.phase');
    return { kind: 'custom-columns', columns: parseCustomColumns(arg) };
  }
  const known = ['jsonpath-file', 'jsonpath-as-json', 'custom-columns-file', 'go-template', 'go-template-file', 'template'].includes(name);
  throw new MembershipError(
    'USAGE',
    `-o, --output ${JSON.stringify(value)}: ${known ? 'not supported' : 'unknown output format'}; valid formats: ${OUTPUT_CHOICES.join(', ')}`,
  );
}

/** `NAME:.metadata.name,PHASE:.status.phase`: a header and a path per column (kubectl splits at "," and at the first ":"). */
export function parseCustomColumns(spec: string): Column[] {
  const columns: Column[] = [];
  for (const part of spec.split(',')) {
    const colon = part.indexOf(':');
    const header = colon < 0 ? '' : part.slice(0, colon).trim();
    if (colon < 0 || header === '' || part.slice(colon + 1).trim() === '') {
      throw new MembershipError('USAGE', `-o custom-columns: ${JSON.stringify(part)} is not HEADER:PATH (e.g. NAME:.metadata.name,PHASE:.status.phase)`);
    }
    const pathText = part.slice(colon + 1);
    try {
      columns.push({ header, path: parseRelaxedPath(pathText) });
    } catch (err) {
      if (err instanceof TemplateError) throw templateUsageError(`-o custom-columns: column ${header}`, pathText, err);
      throw err;
    }
  }
  return columns;
}

/** `--sort-by`: a path as custom-columns takes it. */
export function parseSortBy(text: string): JsonPath {
  try {
    return parseRelaxedPath(text);
  } catch (err) {
    if (err instanceof TemplateError) throw templateUsageError('--sort-by', text, err);
    throw err;
  }
}

/** A cell of custom-columns: the values joined by ",", `<none>` when there is none. */
export function columnCell(column: Column, resource: unknown): string {
  const values = evaluate(column.path, resource).filter((v) => v !== undefined && v !== null);
  return values.length === 0 ? '<none>' : values.map(formatValue).join(',');
}

export function customColumnRow(columns: Column[], resource: unknown): string[] {
  return columns.map((c) => columnCell(c, resource));
}

/** The labels a selector is matched against: those of the desired record (none for an invalid one or a lone status). */
export function labelsOf(v: NodeView): Record<string, string> {
  return v.desired?.value?.metadata.labels ?? {};
}

export function selectViews(views: NodeView[], requirements: Requirement[]): NodeView[] {
  return views.filter((v) => selects(requirements, labelsOf(v)));
}

/** Missing values first, then numbers (by value), strings, booleans, and anything else by its JSON. */
function rank(v: unknown): number {
  return v === undefined || v === null ? 0 : typeof v === 'number' ? 1 : typeof v === 'string' ? 2 : typeof v === 'boolean' ? 3 : 4;
}

export function compareSortKeys(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return 0;
  if (ra === 1) return (a as number) - (b as number);
  const sa = ra === 2 ? (a as string) : JSON.stringify(a);
  const sb = rb === 2 ? (b as string) : JSON.stringify(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/**
 * The views ordered by the value `path` selects in each (stable: equal keys
 * keep name order). A path that selects several values in one node is
 * refused: there is no one value to sort by.
 */
export function sortViewsBy(views: NodeView[], path: JsonPath, source: string): NodeView[] {
  const keyed = views.map((v) => {
    const values = evaluate(path, toResource(v));
    if (values.length > 1) {
      throw new MembershipError(
        'USAGE',
        `--sort-by ${source}: selects ${values.length} values in ${RESOURCE}/${v.node}; it must name one field (e.g. .metadata.name, .status.phase)`,
      );
    }
    return { v, key: values[0] };
  });
  return keyed.sort((a, b) => compareSortKeys(a.key, b.key)).map((k) => k.v);
}

/** `get`'s output in any `-o` form: the one node asked for, or all as a List. */
export function renderGet(views: NodeView[], output: GetOutput, single: boolean, now = Date.now()): string {
  switch (output.kind) {
    case 'jsonpath': {
      const items = views.map(toResource);
      const input = single && items.length === 1 ? items[0] : { apiVersion: 'v1', kind: 'List', items };
      return executeTemplate(output.template, input);
    }
    case 'custom-columns':
      return formatColumns([output.columns.map((c) => c.header), ...views.map((v) => customColumnRow(output.columns, toResource(v)))]);
    default:
      return renderViews(views, output.kind, single, now);
  }
}
