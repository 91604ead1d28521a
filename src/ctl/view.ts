import type { Etcd3 } from 'etcd3';
import { stringify as toYaml } from 'yaml';
import type { AgentReport, Service } from '../schema/agent-report.js';
import { SERVICES } from '../schema/agent-report.js';
import { API_VERSION } from '../schema/common.js';
import type { NodeMembership } from '../schema/node-membership.js';
import { membershipOperation, type MembershipOperation } from '../schema/operation.js';
import type { Condition, NodeMembershipStatus } from '../schema/status.js';
import type { KeyLayout } from '../store/keys.js';
import { decodeAgentReport, decodeDesired, decodeStatus, type RawKv, type StoredRecord } from '../store/records.js';
import { printable } from '../printable.js';
import { CREATED_AT_ANNOTATION } from './apply.js';

/** Everything known about one node, as read by membershipctl. */
export interface NodeView {
  node: string;
  desired?: StoredRecord<NodeMembership>;
  status?: StoredRecord<NodeMembershipStatus>;
  agent?: StoredRecord<AgentReport>;
}

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'yaml', 'name'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The resource name kubectl-style tools print: `nodemembership/<node>`. */
export const RESOURCE = 'nodemembership';

export function raw(kv: { key: Buffer; value: Buffer; mod_revision: string; create_revision: string }): RawKv {
  return { key: kv.key.toString(), value: kv.value.toString(), modRevision: Number(kv.mod_revision), createRevision: Number(kv.create_revision) };
}

/** Reads desired, status and agent records of all nodes (or one) at a single revision. */
export async function readViews(client: Etcd3, keys: KeyLayout, only?: string): Promise<NodeView[]> {
  return (await readViewsAt(client, keys, only)).views;
}

/** As readViews, with the revision they were read at (to watch from the next one). */
export async function readViewsAt(client: Etcd3, keys: KeyLayout, only?: string): Promise<{ views: NodeView[]; revision: number }> {
  const desiredRes = await client.getAll().prefix(keys.dir('desired')).exec();
  const rev = desiredRes.header.revision;
  const [statusRes, agentRes] = await Promise.all([
    client.getAll().prefix(keys.dir('status')).revision(rev).exec(),
    client.getAll().prefix(keys.dir('agents')).revision(rev).exec(),
  ]);
  const views = new Map<string, NodeView>();
  const view = (node: string) => {
    let v = views.get(node);
    if (!v) views.set(node, (v = { node }));
    return v;
  };
  for (const kv of desiredRes.kvs) {
    const rec = decodeDesired(keys, raw(kv));
    view(rec.node).desired = rec;
  }
  for (const kv of statusRes.kvs) {
    const rec = decodeStatus(keys, raw(kv));
    view(rec.node).status = rec;
  }
  for (const kv of agentRes.kvs) {
    const rec = decodeAgentReport(keys, raw(kv));
    view(rec.node).agent = rec;
  }
  const all = sortViews([...views.values()]);
  return { views: only === undefined ? all : all.filter((v) => v.node === only), revision: Number(rev) };
}

export function sortViews(views: NodeView[]): NodeView[] {
  return views.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/** The membership changes in flight (`operations/<service>`), valid ones only. */
export async function readOperations(client: Etcd3, keys: KeyLayout): Promise<MembershipOperation[]> {
  const res = await client.getAll().prefix(`${keys.prefix}/operations/`).exec();
  const out: MembershipOperation[] = [];
  for (const kv of res.kvs) {
    let json: unknown;
    try {
      json = JSON.parse(kv.value.toString());
    } catch {
      continue;
    }
    const parsed = membershipOperation.safeParse(json);
    if (parsed.success) out.push(parsed.data);
  }
  return out.sort((a, b) => SERVICES.indexOf(a.service) - SERVICES.indexOf(b.service));
}

export function conditionCell(conditions: Condition[] | undefined, type: Condition['type'], requested: boolean): string {
  if (!requested) return '-';
  const c = conditions?.find((x) => x.type === type);
  return c === undefined ? 'Unknown' : c.status === 'True' ? 'True' : `${c.status}(${c.reason})`;
}

export function age(from: string | undefined, now = Date.now()): string {
  if (from === undefined) return '<unknown>';
  const ms = now - Date.parse(from);
  if (!Number.isFinite(ms) || ms < 0) return '0s';
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

export const TABLE_HEADER = ['NAME', 'ROLE', 'STATE', 'PHASE', 'CHAINFIRE', 'FLAREDB', 'IAM', 'AGE'];
export const WIDE_HEADER = [...TABLE_HEADER, 'NODE-IP', 'DATACENTER/RACK', 'MEMBER-ID', 'GENERATION', 'OBSERVED'];
/** Index of AGE in both headers: the one cell that changes with time alone. */
export const AGE_COLUMN = TABLE_HEADER.indexOf('AGE');

/** One table row of a node; `wide` adds NODE-IP, DATACENTER/RACK, MEMBER-ID, GENERATION, OBSERVED. */
export function tableRow(v: NodeView, now = Date.now(), wide = false): string[] {
  const spec = v.desired?.value?.spec;
  const st = v.status?.value?.status;
  const invalid = v.desired !== undefined && v.desired.value === undefined;
  const row = [
    v.node,
    spec?.role ?? (invalid ? '<invalid>' : '<none>'),
    spec?.state ?? '-',
    st?.phase ?? 'Pending',
    conditionCell(st?.conditions, 'ChainfireMember', spec?.chainfire !== undefined),
    conditionCell(st?.conditions, 'FlareDBMember', spec?.flaredb !== undefined),
    conditionCell(st?.conditions, 'IAMRegistered', spec?.iam !== undefined),
    age(v.desired?.value?.metadata.annotations[CREATED_AT_ANNOTATION], now),
  ];
  if (!wide) return row;
  const location = spec?.datacenter || spec?.rack ? `${spec.datacenter ?? '-'}/${spec.rack ?? '-'}` : '-';
  return [
    ...row,
    spec?.nodeIp ?? '-',
    location,
    st?.chainfire.memberId ?? '-',
    v.desired !== undefined ? String(v.desired.modRevision) : '-',
    st !== undefined ? String(st.observedGeneration) : '-',
  ];
}

/** A kubectl-style table: NAME ROLE STATE PHASE CHAINFIRE FLAREDB IAM AGE (and more with `wide`). */
export function renderTable(views: NodeView[], now = Date.now(), wide = false): string {
  return formatColumns([wide ? WIDE_HEADER : TABLE_HEADER, ...views.map((v) => tableRow(v, now, wide))]);
}

/** Column widths of a table: the widest cell of each column, as shown (control characters escaped). */
export function columnWidths(rows: string[][]): number[] {
  return rows[0]!.map((_, i) => Math.max(...rows.map((r) => printable(r[i] ?? '').length)));
}

/**
 * One line of a table with the given column widths (three spaces between
 * columns, none after the last). A cell is record data: its control
 * characters are escaped, so that a rack holding "\r\nnode99 ..." cannot
 * forge a row, nor an FQDN clear the screen.
 */
export function formatRow(row: string[], widths: number[]): string {
  return row
    .map((raw, i) => {
      const cell = printable(raw);
      return i === row.length - 1 ? cell : cell.padEnd((widths[i] ?? cell.length) + 3);
    })
    .join('')
    .trimEnd();
}

export function formatColumns(rows: string[][]): string {
  const widths = columnWidths(rows);
  return rows.map((r) => formatRow(r, widths)).join('\n') + '\n';
}

/** `nodemembership/<node>`, one per line: for scripts and shell completion. */
export function renderNames(views: NodeView[]): string {
  return views.map((v) => `${RESOURCE}/${printable(v.node)}\n`).join('');
}

/** A node as one object: the desired record (generation included), its status, and a problem if the record is invalid. */
export function toResource(v: NodeView): Record<string, unknown> {
  const d = v.desired;
  const base: Record<string, unknown> =
    d?.value !== undefined
      ? { ...d.value }
      : { apiVersion: API_VERSION, kind: 'NodeMembership', metadata: d !== undefined ? { name: v.node, generation: d.modRevision } : { name: v.node } };
  if (d?.problem !== undefined) base.problem = d.problem;
  const status = v.status?.value?.status;
  if (status !== undefined) base.status = status;
  else if (v.status?.problem !== undefined) base.statusProblem = v.status.problem;
  return base;
}

/** `-o json` / `-o yaml`: the one node asked for, or a List of all. */
export function renderStructured(views: NodeView[], format: 'json' | 'yaml', single: boolean): string {
  const items = views.map(toResource);
  const value = single && items.length === 1 ? items[0] : { apiVersion: 'v1', kind: 'List', items };
  return format === 'json' ? JSON.stringify(value, null, 2) + '\n' : toYaml(value);
}

/** Renders views in any `-o` format. */
export function renderViews(views: NodeView[], format: OutputFormat, single: boolean, now = Date.now()): string {
  switch (format) {
    case 'json':
    case 'yaml':
      return renderStructured(views, format, single);
    case 'name':
      return renderNames(views);
    case 'wide':
    case 'table':
      return views.length === 0 ? 'No NodeMemberships found.\n' : renderTable(views, now, format === 'wide');
  }
}

const SERVICE_CONDITION: Record<Service, Condition['type']> = { chainfire: 'ChainfireMember', flaredb: 'FlareDBMember', iam: 'IAMRegistered' };

/**
 * The changes in flight that concern `node`: its own, and another node's
 * change of a service this node still has to be changed in (its condition for
 * that service is not True), which makes it wait.
 */
export function inFlightLines(node: string, operations: MembershipOperation[], conditions: Condition[] = [], now = Date.now()): string[] {
  const out: string[] = [];
  for (const op of operations) {
    const since = `started ${age(op.startedAt, now)} ago by ${op.startedBy}`;
    if (op.node === node) {
      out.push(`${op.service} ${op.change}, ${since}`);
      continue;
    }
    const mine = conditions.find((c) => c.type === SERVICE_CONDITION[op.service]);
    if (mine !== undefined && mine.status !== 'True') {
      out.push(`${op.service} ${op.change} of ${op.node}, ${since} (${node}'s ${op.service} changes wait for it)`);
    }
  }
  return out;
}

/** A human description of one node: spec, status, conditions with ages, changes in flight, the agent's report. */
export function renderDescribe(v: NodeView, now = Date.now(), operations: MembershipOperation[] = []): string {
  const out: string[] = [];
  const d = v.desired;
  out.push(`Name:         ${v.node}`);
  if (d === undefined) out.push('Desired:      <none> (no desired record; apply one with membershipctl apply -f FILE)');
  else if (d.value === undefined) out.push(`Desired:      <invalid> ${d.problem ?? ''} (fix it and apply it again)`);
  else {
    const s = d.value.spec;
    out.push(`Generation:   ${d.modRevision}`);
    const created = d.value.metadata.annotations[CREATED_AT_ANNOTATION];
    if (created !== undefined) out.push(`Created:      ${created} (${age(created, now)} ago)`);
    const labels = Object.entries(d.value.metadata.labels);
    if (labels.length > 0) out.push(`Labels:       ${labels.map(([k, val]) => `${k}=${val}`).join(',')}`);
    out.push(`Role:         ${s.role}`, `Bootstrap:    ${s.bootstrap}`, `State:        ${s.state}`);
    if (s.nodeIp) out.push(`Node IP:      ${s.nodeIp}`);
    if (s.fqdn) out.push(`FQDN:         ${s.fqdn}`);
    if (s.datacenter || s.rack) out.push(`Location:     ${s.datacenter ?? '-'}/${s.rack ?? '-'}`);
    if (s.chainfire) out.push(`Chainfire:    raft ${s.chainfire.raftAddr}, client ${s.chainfire.clientUrl}`);
    if (s.flaredb) out.push(`FlareDB:      raft ${s.flaredb.raftAddr}, api ${s.flaredb.apiUrl}`);
    if (s.iam) out.push('IAM:          register');
  }
  const st = v.status?.value?.status;
  if (st === undefined) {
    out.push(
      v.status?.problem !== undefined
        ? `Status:       <invalid> ${v.status.problem}`
        : 'Status:       <none> (the controller has not reconciled this node yet; is membership-controller running?)',
    );
  } else {
    const stale = d !== undefined && st.observedGeneration < d.modRevision ? ' (not yet observed the current generation)' : '';
    out.push(`Phase:        ${st.phase}`, `Observed:     generation ${st.observedGeneration}${stale}`);
    if (st.chainfire.memberId) {
      out.push(`Chainfire member: ${st.chainfire.memberId} (${st.chainfire.role ?? '?'})${st.chainfire.peerUrl ? ` ${st.chainfire.peerUrl}` : ''}`);
    }
    if (st.chainfire.initialCluster) out.push(`Initial cluster:  ${st.chainfire.initialCluster}`);
    if (st.controller) out.push(`Written by:   ${st.controller.identity} (term ${st.controller.term})`);
    out.push('Conditions:');
    const rows = [['  TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE']];
    for (const c of st.conditions) rows.push([`  ${c.type}`, c.status, c.reason, age(c.lastTransitionTime, now), c.message]);
    out.push(...formatColumns(rows).trimEnd().split('\n'));
  }
  const inFlight = inFlightLines(v.node, operations, st?.conditions, now);
  if (inFlight.length === 0) out.push('In flight:    <none>');
  else for (const [i, line] of inFlight.entries()) out.push(`${i === 0 ? 'In flight:   ' : '             '} ${line}`);
  const a = v.agent?.value?.report;
  if (a === undefined) out.push('Agent:        <not reporting>');
  else {
    out.push(`Agent:        pid ${a.pid} on ${a.hostname}, ${a.mode} mode, waiting for ${a.waitingFor}, up ${age(a.startedAt, now)}`);
    for (const svc of SERVICES) {
      const h = a.services[svc as Service];
      if (h) out.push(`  ${svc}: ${h.healthy ? 'healthy' : 'unhealthy'}${h.detail ? ` (${h.detail})` : ''}, checked ${age(h.checkedAt, now)} ago`);
    }
  }
  // Each entry is one line: a newline or any other control character in the record's text is shown escaped.
  return out.map((line) => printable(line)).join('\n') + '\n';
}
