import type { Etcd3 } from 'etcd3';
import type { AgentReport } from '../schema/agent-report.js';
import type { NodeMembership } from '../schema/node-membership.js';
import type { Condition, NodeMembershipStatus } from '../schema/status.js';
import type { KeyLayout } from '../store/keys.js';
import { decodeAgentReport, decodeDesired, decodeStatus, type RawKv, type StoredRecord } from '../store/records.js';
import { CREATED_AT_ANNOTATION } from './apply.js';

/** Everything known about one node, as read by membershipctl. */
export interface NodeView {
  node: string;
  desired?: StoredRecord<NodeMembership>;
  status?: StoredRecord<NodeMembershipStatus>;
  agent?: StoredRecord<AgentReport>;
}

function raw(kv: { key: Buffer; value: Buffer; mod_revision: string; create_revision: string }): RawKv {
  return { key: kv.key.toString(), value: kv.value.toString(), modRevision: Number(kv.mod_revision), createRevision: Number(kv.create_revision) };
}

/** Reads desired, status and agent records of all nodes (or one) at a single revision. */
export async function readViews(client: Etcd3, keys: KeyLayout, only?: string): Promise<NodeView[]> {
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
  const all = [...views.values()].sort((a, b) => a.node.localeCompare(b.node));
  return only === undefined ? all : all.filter((v) => v.node === only);
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

/** A kubectl-style table: NAME ROLE STATE PHASE CHAINFIRE FLAREDB IAM AGE. */
export function renderTable(views: NodeView[], now = Date.now()): string {
  const rows = [['NAME', 'ROLE', 'STATE', 'PHASE', 'CHAINFIRE', 'FLAREDB', 'IAM', 'AGE']];
  for (const v of views) {
    const spec = v.desired?.value?.spec;
    const st = v.status?.value?.status;
    const invalid = v.desired !== undefined && v.desired.value === undefined;
    rows.push([
      v.node,
      spec?.role ?? (invalid ? '<invalid>' : '<none>'),
      spec?.state ?? '-',
      st?.phase ?? 'Pending',
      conditionCell(st?.conditions, 'ChainfireMember', spec?.chainfire !== undefined),
      conditionCell(st?.conditions, 'FlareDBMember', spec?.flaredb !== undefined),
      conditionCell(st?.conditions, 'IAMRegistered', spec?.iam !== undefined),
      age(v.desired?.value?.metadata.annotations[CREATED_AT_ANNOTATION], now),
    ]);
  }
  return formatColumns(rows);
}

export function formatColumns(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

/** A human description of one node: spec, status, conditions with ages, the agent's report. */
export function renderDescribe(v: NodeView, now = Date.now()): string {
  const out: string[] = [];
  const d = v.desired;
  out.push(`Name:         ${v.node}`);
  if (d === undefined) out.push('Desired:      <none> (no desired record; apply one with membershipctl apply -f FILE)');
  else if (d.value === undefined) out.push(`Desired:      <invalid> ${d.problem ?? ''}`);
  else {
    const s = d.value.spec;
    out.push(`Generation:   ${d.modRevision}`);
    out.push(`Role:         ${s.role}`, `Bootstrap:    ${s.bootstrap}`, `State:        ${s.state}`);
    if (s.nodeIp) out.push(`Node IP:      ${s.nodeIp}`);
    if (s.datacenter || s.rack) out.push(`Location:     ${s.datacenter ?? '-'}/${s.rack ?? '-'}`);
    if (s.chainfire) out.push(`Chainfire:    raft ${s.chainfire.raftAddr}, client ${s.chainfire.clientUrl}`);
    if (s.flaredb) out.push(`FlareDB:      raft ${s.flaredb.raftAddr}, api ${s.flaredb.apiUrl}`);
    if (s.iam) out.push('IAM:          register');
  }
  const st = v.status?.value?.status;
  if (st === undefined) out.push('Status:       <none> (the controller has not reconciled this node yet)');
  else {
    out.push(`Phase:        ${st.phase}`, `Observed:     generation ${st.observedGeneration}`);
    if (st.chainfire.memberId) {
      out.push(`Chainfire member: ${st.chainfire.memberId} (${st.chainfire.role ?? '?'}) ${st.chainfire.peerUrl ?? ''}`.trimEnd());
    }
    if (st.chainfire.initialCluster) out.push(`Initial cluster:  ${st.chainfire.initialCluster}`);
    if (st.controller) out.push(`Written by:   ${st.controller.identity} (term ${st.controller.term})`);
    out.push('Conditions:');
    const rows = [['  TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE']];
    for (const c of st.conditions) rows.push([`  ${c.type}`, c.status, c.reason, age(c.lastTransitionTime, now), c.message]);
    out.push(formatColumns(rows).trimEnd());
  }
  const a = v.agent?.value?.report;
  if (a === undefined) out.push('Agent:        <not reporting>');
  else {
    out.push(`Agent:        pid ${a.pid} on ${a.hostname}, ${a.mode} mode, waiting for ${a.waitingFor}, up ${age(a.startedAt, now)}`);
    for (const [svc, h] of Object.entries(a.services)) {
      if (h) out.push(`  ${svc}: ${h.healthy ? 'healthy' : 'unhealthy'}${h.detail ? ` (${h.detail})` : ''}`);
    }
  }
  return out.join('\n') + '\n';
}
