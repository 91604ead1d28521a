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
import {
  AGE_COLUMN, RESOURCE, TABLE_HEADER, WIDE_HEADER, columnWidths, formatRow, sortViews, tableRow, toResource, type NodeView, type OutputFormat,
} from './view.js';

/**
 * `get --watch` output: the first table as usual, then one line per change in
 * the same columns (widths only grow, never shrink, so the lines stay aligned
 * with what came before). A line is printed when what it shows changes; AGE
 * alone changing is not a change.
 */
export class WatchPrinter {
  private widths: number[] = [];
  private readonly last = new Map<string, string>();

  constructor(
    private readonly format: OutputFormat,
    private readonly write: (text: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  private get wide(): boolean {
    return this.format === 'wide';
  }

  /** The first listing; `views` sorted by name. */
  initial(views: NodeView[]): void {
    for (const v of views) this.last.set(v.node, this.identity(v));
    switch (this.format) {
      case 'table':
      case 'wide': {
        const rows = [this.wide ? WIDE_HEADER : TABLE_HEADER, ...views.map((v) => tableRow(v, this.now(), this.wide))];
        // PHASE is made wide enough for every phase and <deleted>, so that later lines line up.
        this.widths = columnWidths(rows).map((w, i) => (i === PHASE_COLUMN ? Math.max(w, DELETED.length) : w));
        this.write(rows.map((r) => formatRow(r, this.widths)).join('\n') + '\n');
        return;
      }
      case 'name':
        for (const v of views) this.write(`${RESOURCE}/${v.node}\n`);
        return;
      case 'json':
        for (const v of views) this.write(JSON.stringify(toResource(v)) + '\n');
        return;
      case 'yaml':
        for (const v of views) this.write(`---\n${toYaml(toResource(v))}`);
    }
  }

  /** A node's records changed; `view` undefined means both its records are gone. */
  change(node: string, view: NodeView | undefined): void {
    const id = view === undefined ? '<deleted>' : this.identity(view);
    if (this.last.get(node) === id) return;
    if (view === undefined && !this.last.has(node)) return;
    if (view === undefined) this.last.delete(node);
    else this.last.set(node, id);
    switch (this.format) {
      case 'table':
      case 'wide': {
        const row = view !== undefined ? tableRow(view, this.now(), this.wide) : deletedRow(node, this.wide);
        // As shown: a control character takes the room of its escape.
        const shown = row.map((c) => printable(c).length);
        this.widths = this.widths.length === 0 ? shown : this.widths.map((w, i) => Math.max(w, shown[i] ?? 0));
        this.write(formatRow(row, this.widths) + '\n');
        return;
      }
      case 'name':
        this.write(`${RESOURCE}/${node}${view === undefined ? ' deleted' : ''}\n`);
        return;
      case 'json':
        this.write(JSON.stringify(view !== undefined ? toResource(view) : { kind: 'NodeMembership', metadata: { name: node }, deleted: true }) + '\n');
        return;
      case 'yaml':
        this.write(`---\n${toYaml(view !== undefined ? toResource(view) : { kind: 'NodeMembership', metadata: { name: node }, deleted: true })}`);
    }
  }

  /** What a line would show, without AGE (tables) or everything (structured output). */
  private identity(v: NodeView): string {
    if (this.format === 'table' || this.format === 'wide') {
      const row = tableRow(v, 0, this.wide);
      row[AGE_COLUMN] = '';
      return row.join('\u0000');
    }
    return this.format === 'name' ? v.node : JSON.stringify(toResource(v));
  }
}

const DELETED = '<deleted>';
const PHASE_COLUMN = TABLE_HEADER.indexOf('PHASE');

function deletedRow(node: string, wide: boolean): string[] {
  const row = (wide ? WIDE_HEADER : TABLE_HEADER).map(() => '-');
  row[0] = node;
  row[PHASE_COLUMN] = DELETED;
  return row;
}

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
