import type { Etcd3 } from 'etcd3';
import { stringify as toYaml } from 'yaml';
import { RecordCache } from '../cache/record-cache.js';
import { MembershipError, errorMessage } from '../errors.js';
import { createLogger } from '../log.js';
import { printable } from '../printable.js';
import type { NodeMembership } from '../schema/node-membership.js';
import type { NodeMembershipStatus } from '../schema/status.js';
import type { KeyLayout } from '../store/keys.js';
import { decodeDesired, decodeStatus, type StoredRecord } from '../store/records.js';
import { customColumnRow, type GetOutput } from './get-output.js';
import { executeTemplate } from './jsonpath.js';
import {
  AGE_COLUMN, RESOURCE, TABLE_HEADER, WIDE_HEADER, columnWidths, formatRow, sortViews, tableRow, toResource, type NodeView, type OutputFormat,
} from './view.js';

/**
 * `get --watch` output: the first table as usual, then one line per change in
 * the same columns (widths only grow, never shrink, so the lines stay aligned
 * with what came before). A line is printed when what it shows changes; AGE
 * alone changing is not a change. Custom columns go as tables do; a jsonpath
 * template is run on each node's object in turn.
 */
export class WatchPrinter {
  private widths: number[] = [];
  private readonly last = new Map<string, string>();
  private readonly output: GetOutput;

  constructor(
    format: OutputFormat | GetOutput,
    private readonly write: (text: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.output = typeof format === 'string' ? { kind: format } : format;
  }

  private get wide(): boolean {
    return this.output.kind === 'wide';
  }

  private get columnar(): boolean {
    return this.output.kind === 'table' || this.output.kind === 'wide' || this.output.kind === 'custom-columns';
  }

  private header(): string[] {
    return this.output.kind === 'custom-columns' ? this.output.columns.map((c) => c.header) : this.wide ? WIDE_HEADER : TABLE_HEADER;
  }

  /** A node's row; its AGE counted at `now`. */
  private row(v: NodeView, now: number): string[] {
    return this.output.kind === 'custom-columns' ? customColumnRow(this.output.columns, toResource(v)) : tableRow(v, now, this.wide);
  }

  /** The first listing; `views` sorted by name. */
  initial(views: NodeView[]): void {
    for (const v of views) this.last.set(v.node, this.identity(v));
    if (this.columnar) {
      const rows = [this.header(), ...views.map((v) => this.row(v, this.now()))];
      // PHASE is made wide enough for every phase and <deleted>, so that later lines line up.
      this.widths = columnWidths(rows).map((w, i) => (i === PHASE_COLUMN && this.output.kind !== 'custom-columns' ? Math.max(w, DELETED.length) : w));
      this.write(rows.map((r) => formatRow(r, this.widths)).join('\n') + '\n');
      return;
    }
    for (const v of views) this.print(v.node, v);
  }

  /** A node's records changed; `view` undefined means both its records are gone. */
  change(node: string, view: NodeView | undefined): void {
    const id = view === undefined ? '<deleted>' : this.identity(view);
    if (this.last.get(node) === id) return;
    if (view === undefined && !this.last.has(node)) return;
    if (view === undefined) this.last.delete(node);
    else this.last.set(node, id);
    if (this.columnar) {
      const row = view !== undefined ? this.row(view, this.now()) : this.deletedRow(node);
      // As shown: a control character takes the room of its escape.
      const shown = row.map((c) => printable(c).length);
      this.widths = this.widths.length === 0 ? shown : this.widths.map((w, i) => Math.max(w, shown[i] ?? 0));
      this.write(formatRow(row, this.widths) + '\n');
      return;
    }
    this.print(node, view);
  }

  /** One node in a format of one entry per node (name, json, yaml, jsonpath). */
  private print(node: string, view: NodeView | undefined): void {
    const resource = view !== undefined ? toResource(view) : { kind: 'NodeMembership', metadata: { name: node }, deleted: true };
    switch (this.output.kind) {
      case 'name':
        this.write(`${RESOURCE}/${printable(node)}${view === undefined ? ' deleted' : ''}\n`);
        return;
      case 'json':
        this.write(JSON.stringify(resource) + '\n');
        return;
      case 'yaml':
        this.write(`---\n${toYaml(resource)}`);
        return;
      case 'jsonpath':
        this.write(executeTemplate(this.output.template, resource));
    }
  }

  private deletedRow(node: string): string[] {
    if (this.output.kind === 'custom-columns') {
      return customColumnRow(this.output.columns, { kind: 'NodeMembership', metadata: { name: node }, deleted: true });
    }
    const row = (this.wide ? WIDE_HEADER : TABLE_HEADER).map(() => '-');
    row[0] = node;
    row[PHASE_COLUMN] = DELETED;
    return row;
  }

  /** What a line would show, without AGE (tables) or everything (structured output). */
  private identity(v: NodeView): string {
    if (this.output.kind === 'table' || this.output.kind === 'wide') {
      const row = tableRow(v, 0, this.wide);
      row[AGE_COLUMN] = '';
      return row.join('\u0000');
    }
    if (this.output.kind === 'custom-columns') return this.row(v, 0).join('\u0000');
    return this.output.kind === 'name' ? v.node : JSON.stringify(toResource(v));
  }
}

const DELETED = '<deleted>';
const PHASE_COLUMN = TABLE_HEADER.indexOf('PHASE');

export interface ViewWatch {
  /** the views when the watch started */
  initial: NodeView[];
  stop(): Promise<void>;
}

type Watched =
  | { kind: 'desired'; record: StoredRecord<NodeMembership> }
  | { kind: 'status'; record: StoredRecord<NodeMembershipStatus> }
  | { kind: 'other' };

/**
 * Lists, then watches every record under the prefix (one watch, so that the
 * events of one transaction arrive together), calling `onChange` with a node's
 * view after its desired or status record changed (undefined once both are
 * gone). Changes that arrive together are reported once, after all of them
 * applied: `membershipctl delete` removing both records is one change. Built on
 * the controller's RecordCache, so a compacted or broken watch lists again
 * rather than missing changes.
 */
export async function watchViews(
  client: Etcd3,
  keys: KeyLayout,
  only: string | undefined,
  onChange: (node: string, view: NodeView | undefined) => void,
): Promise<ViewWatch> {
  // The cache logs only when a watch fails and is restarted: to stderr, away from the output.
  const log = createLogger({ level: 'warn', fd: 2, base: { service: 'membershipctl' } });
  const kindOf = (key: string): { kind: 'desired' | 'status'; node: string } | undefined => {
    for (const kind of ['desired', 'status'] as const) {
      if (!key.startsWith(keys.dir(kind))) continue;
      const node = key.slice(keys.dir(kind).length);
      return only === undefined || node === only ? { kind, node } : undefined;
    }
    return undefined;
  };
  const cache = new RecordCache<Watched>({
    client,
    prefix: `${keys.prefix}/`,
    resource: 'membership records',
    log,
    decode: (kv): Watched => {
      const k = kindOf(kv.key);
      if (k?.kind === 'desired') return { kind: 'desired', record: decodeDesired(keys, kv) };
      if (k?.kind === 'status') return { kind: 'status', record: decodeStatus(keys, kv) };
      return { kind: 'other' };
    },
  });
  const viewOf = (node: string): NodeView | undefined => {
    const d = cache.get(keys.desired(node));
    const s = cache.get(keys.status(node));
    const desired = d?.kind === 'desired' ? d.record : undefined;
    const status = s?.kind === 'status' ? s.record : undefined;
    if (desired === undefined && status === undefined) return undefined;
    return { node, ...(desired ? { desired } : {}), ...(status ? { status } : {}) };
  };
  let started = false;
  const dirty = new Set<string>();
  const flush = () => {
    const nodes = [...dirty].sort();
    dirty.clear();
    if (started) for (const node of nodes) onChange(node, viewOf(node));
  };
  cache.on('event', (e) => {
    const k = kindOf(e.key);
    if (!started || k === undefined) return;
    if (dirty.size === 0) setImmediate(flush);
    dirty.add(k.node);
  });
  try {
    await cache.start();
  } catch (err) {
    await cache.stop();
    if (err instanceof MembershipError) throw err;
    throw new MembershipError('UNAVAILABLE', `cannot watch NodeMembership records in Chainfire: ${errorMessage(err)}`, { cause: err });
  }
  started = true;
  const nodes = new Set(cache.entries().flatMap(([key]) => kindOf(key)?.node ?? []));
  const initial = sortViews([...nodes].flatMap((n) => viewOf(n) ?? []));
  return {
    initial,
    stop: async () => {
      started = false;
      await cache.stop();
    },
  };
}
