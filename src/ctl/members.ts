import type { Etcd3 } from 'etcd3';
import { EtcdChainfireDriver } from '../drivers/chainfire.js';
import type { FlareDBDriver } from '../drivers/types.js';
import type { FlareDBMember } from '../schema/members.js';
import { MembershipError, errorMessage, keptCode } from '../errors.js';
import type { ChainfireMember } from '../schema/members.js';
import { chainfirePeerUrl, type NodeMembership } from '../schema/node-membership.js';
import type { ConnectionOptions } from '../store/connection.js';
import { printable } from '../printable.js';
import { formatColumns } from './view.js';

/** What DESIRED says of a member no record claims, and ID of a claim with no member. */
export const ORPHAN = '<orphan>';
export const MISSING = '<missing>';

export interface ChainfireMemberRow {
  /** hex, as etcdctl prints it; MISSING for a record whose member does not exist */
  id: string;
  /** empty until the member's etcd has started */
  name: string;
  role: 'voter' | 'learner' | '-';
  peerUrls: string[];
  clientUrls: string[];
  /** `unknown`: no client URL to ask yet (a learner whose etcd has not started) */
  health: 'healthy' | 'unhealthy' | 'unknown' | '-';
  leader: boolean;
  /** the node(s) whose record claims this member, ORPHAN if none */
  desired: string;
}

export interface FlareDBMemberRow {
  id: string;
  raftAddr: string;
  status: string;
  desired: string;
}

/** `node04`, `node04 (Absent)` (being removed), or `node04,node05 (conflict)` when several records claim one member. */
function claimCell(claims: NodeMembership[], extra?: (r: NodeMembership) => string | undefined): string {
  if (claims.length === 0) return ORPHAN;
  if (claims.length > 1) return `${claims.map((r) => r.metadata.name).join(',')} (conflict)`;
  const r = claims[0]!;
  const notes = [r.spec.state === 'Absent' ? 'Absent' : undefined, extra?.(r)].filter(Boolean);
  return notes.length > 0 ? `${r.metadata.name} (${notes.join(', ')})` : r.metadata.name;
}

/**
 * Chainfire's members as etcd reports them, each marked with the record that
 * claims it (by peer URL, as the controller matches them), plus a row for each
 * record with state Present that claims a member etcd does not have.
 */
export function chainfireRows(
  members: ChainfireMember[],
  health: Record<string, boolean>,
  leaderId: string | undefined,
  records: NodeMembership[],
): ChainfireMemberRow[] {
  const claimsOf = (m: ChainfireMember) => records.filter((r) => r.spec.chainfire && m.peerUrls.includes(chainfirePeerUrl(r.spec.chainfire)));
  const rows: ChainfireMemberRow[] = [...members]
    .sort((a, b) => (a.name === '' ? 1 : 0) - (b.name === '' ? 1 : 0) || cmp(a.name, b.name) || cmp(a.id, b.id))
    .map((m) => ({
      id: m.id,
      name: m.name,
      role: m.isLearner ? 'learner' : 'voter',
      peerUrls: m.peerUrls,
      clientUrls: m.clientUrls,
      health: m.clientUrls.length === 0 ? 'unknown' : health[m.id] === true ? 'healthy' : 'unhealthy',
      leader: leaderId !== undefined && m.id === leaderId,
      desired: claimCell(claimsOf(m)),
    }));
  const present = new Set(members.flatMap((m) => m.peerUrls));
  for (const r of [...records].sort((a, b) => cmp(a.metadata.name, b.metadata.name))) {
    if (!r.spec.chainfire || r.spec.state !== 'Present') continue;
    const peerUrl = chainfirePeerUrl(r.spec.chainfire);
    if (present.has(peerUrl)) continue;
    rows.push({ id: MISSING, name: '', role: '-', peerUrls: [peerUrl], clientUrls: [], health: '-', leader: false, desired: r.metadata.name });
  }
  return rows;
}

export function renderChainfireRows(rows: ChainfireMemberRow[]): string {
  const table = [['ID', 'NAME', 'ROLE', 'PEER-URLS', 'HEALTH', 'DESIRED']];
  for (const r of rows) {
    const name = r.id === MISSING ? '-' : r.name === '' ? '<unstarted>' : r.name;
    table.push([r.id, name, r.role, r.peerUrls.join(',') || '-', r.health, r.desired]);
  }
  const leader = rows.find((r) => r.leader);
  return formatColumns(table) + (leader ? `Raft leader: ${leader.id} (${printable(leader.name || 'unnamed')})\n` : '');
}

/** FlareDB's members as its admin API lists them, marked with the record that claims each (by id, the node name). */
export function flaredbRows(members: FlareDBMember[], records: NodeMembership[]): FlareDBMemberRow[] {
  const rows: FlareDBMemberRow[] = [...members]
    .sort((a, b) => cmp(a.id, b.id))
    .map((m) => ({
      id: m.id,
      raftAddr: m.raftAddr,
      status: m.status ?? '-',
      desired: claimCell(
        records.filter((r) => r.spec.flaredb && r.metadata.name === m.id),
        (r) => (r.spec.flaredb && r.spec.flaredb.raftAddr !== m.raftAddr ? `wants ${r.spec.flaredb.raftAddr}` : undefined),
      ),
    }));
  const ids = new Set(members.map((m) => m.id));
  for (const r of [...records].sort((a, b) => cmp(a.metadata.name, b.metadata.name))) {
    if (!r.spec.flaredb || r.spec.state !== 'Present' || ids.has(r.metadata.name)) continue;
    rows.push({ id: MISSING, raftAddr: r.spec.flaredb.raftAddr, status: '-', desired: r.metadata.name });
  }
  return rows;
}

export function renderFlareDBRows(rows: FlareDBMemberRow[]): string {
  return formatColumns([['ID', 'RAFT-ADDR', 'STATUS', 'DESIRED'], ...rows.map((r) => [r.id, r.raftAddr, r.status, r.desired])]);
}

/** Asks etcd's Cluster API for the members, and each member's /health. */
export async function observeChainfire(
  client: Etcd3,
  connection: ConnectionOptions,
): Promise<{ members: ChainfireMember[]; health: Record<string, boolean>; leaderId: string | undefined }> {
  const driver = new EtcdChainfireDriver(client, { connection });
  const members = await driver.listMembers(true);
  const [health, leaderId] = await Promise.all([driver.health(members), driver.leaderId()]);
  return { members, health, leaderId };
}

export async function observeFlareDB(driver: FlareDBDriver): Promise<FlareDBMember[]> {
  try {
    return await driver.listMembers();
  } catch (err) {
    if (err instanceof MembershipError) {
      throw new MembershipError(err.code === 'SERVICE_ERROR' ? 'SERVICE_ERROR' : keptCode(err, 'UNAVAILABLE'), `${err.message} (check flaredb.endpoints in --config)`, { cause: err });
    }
    throw new MembershipError('UNAVAILABLE', `FlareDB member list failed: ${errorMessage(err)} (check flaredb.endpoints in --config)`, { cause: err });
  } finally {
    await driver.close();
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
