/**
 * `membershipctl events [NODE] [-w]` and the Events section of `describe`:
 * each node's history as the controller keeps it in events/<node>.
 */
import type { Etcd3 } from 'etcd3';
import { stringify as toYaml } from 'yaml';
import { EventRecorder } from '../controller/event-recorder.js';
import type { NodeEvent } from '../schema/events.js';
import type { KeyLayout } from '../store/keys.js';
import { printable } from '../printable.js';
import { formatColumns } from './view.js';

export interface NodeEventRow extends NodeEvent {
  node: string;
}

/** Every node's events (or one node's), oldest first. */
export async function readEvents(client: Etcd3, keys: KeyLayout, node?: string): Promise<NodeEventRow[]> {
  const res = node !== undefined ? await client.get(keys.event(node)).exec() : await client.getAll().prefix(keys.dir('events')).exec();
  const rows = res.kvs.flatMap((kv) => {
    const name = kv.key.toString().slice(keys.dir('events').length);
    return EventRecorder.decode(kv.value.toString()).map((e) => ({ node: name, ...e }));
  });
  return rows.sort((a, b) => a.time.localeCompare(b.time) || a.node.localeCompare(b.node));
}

function age(time: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(time)) / 1000));
  if (!Number.isFinite(s)) return '?';
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export function renderEventRows(rows: NodeEventRow[], format: 'table' | 'json' | 'yaml', now = Date.now(), withNode = true): string {
  if (format === 'json') return JSON.stringify(rows, null, 2) + '\n';
  if (format === 'yaml') return toYaml(rows);
  if (rows.length === 0) return 'No events.\n';
  const header = [...(withNode ? ['NODE'] : []), 'AGE', 'TYPE', 'REASON', 'TERM', 'MESSAGE'];
  const body = rows.map((r) => [...(withNode ? [r.node] : []), age(r.time, now), r.type, printable(r.reason), String(r.controller.term), printable(r.message) + (r.count !== undefined ? ` (x${r.count})` : '')]);
  return formatColumns([header, ...body]);
}

/** The Events section of `describe`: the latest `limit`, oldest first. */
export function renderEventsSection(rows: NodeEventRow[], now = Date.now(), limit = 10): string {
  if (rows.length === 0) return 'Events:       <none>\n';
  const latest = rows.slice(-limit);
  const table = renderEventRows(latest, 'table', now, false).trimEnd().split('\n').map((l) => `  ${l}`).join('\n');
  return `Events:${rows.length > limit ? ` (latest ${limit} of ${rows.length}; membershipctl events ${rows[0]!.node})` : ''}\n${table}\n`;
}
