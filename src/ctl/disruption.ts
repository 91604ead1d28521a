/**
 * `membershipctl disruption acquire|release|list`: planned disruptions
 * (reboots, upgrades) that keep Chainfire and FlareDB above quorum. A grant is
 * one transaction: the node's key must not exist and the budget key must be
 * as read, so two acquires at once cannot both pass on one look.
 */
import { hostname, userInfo } from 'node:os';
import type { Etcd3 } from 'etcd3';
import { decideDisruption, type BudgetDecision } from '../disruption/budget.js';
import { MembershipError } from '../errors.js';
import { clusterStatus } from '../schema/cluster.js';
import { API_VERSION } from '../schema/common.js';
import { heldDisruption } from '../disruption/held.js';
import type { DisruptionRecord, HeldDisruption } from '../schema/disruption.js';
import { nodeMembership, type NodeMembership } from '../schema/node-membership.js';
import { clusterConfigRecord, DEFAULT_POLICY } from '../schema/operation.js';
import type { ConnectionOptions } from '../store/connection.js';
import type { KeyLayout } from '../store/keys.js';
import { parseJsonOrUndefined } from '../store/records.js';
import { observeChainfire } from './members.js';
import { printable } from '../printable.js';
import { formatColumns } from './view.js';

/** The longest disruption one may ask for: a reboot or an upgrade, not a holiday. */
export const MAX_TTL_MS = 24 * 3600_000;

export interface AcquireOptions {
  reason: string;
  ttlMs: number;
  holder?: string;
  now?: () => Date;
}

export type AcquireOutcome = { granted: true; record: DisruptionRecord; why: string } | { granted: false; decision: Exclude<BudgetDecision, { granted: true }> };

/** The disruptions held now, decoded; an undecodable key counts as held (by "unknown"), so it is never ignored. */
export async function readDisruptions(client: Etcd3, keys: KeyLayout): Promise<HeldDisruption[]> {
  const kvs = (await client.getAll().prefix(keys.dir('disruptions')).exec()).kvs;
  return kvs.map((kv) => {
    const { problem: _problem, ...held } = heldDisruption(kv.key.toString().slice(keys.dir('disruptions').length), kv.value.toString());
    return held;
  });
}

async function readRecords(client: Etcd3, keys: KeyLayout): Promise<NodeMembership[]> {
  const kvs = (await client.getAll().prefix(keys.dir('desired')).exec()).kvs;
  return kvs.flatMap((kv) => {
    const parsed = nodeMembership.safeParse(parseJsonOrUndefined(kv.value.toString()));
    return parsed.success ? [parsed.data] : [];
  });
}

/** Acquires, looking again (up to 3 times) when another acquire or release changed the budget meanwhile. */
export async function acquireDisruption(
  client: Etcd3,
  keys: KeyLayout,
  connection: ConnectionOptions,
  node: string,
  opts: AcquireOptions,
): Promise<AcquireOutcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await acquireOnce(client, keys, connection, node, opts);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof MembershipError) || err.code !== 'CONFLICT') throw err;
    }
  }
}

async function acquireOnce(
  client: Etcd3,
  keys: KeyLayout,
  connection: ConnectionOptions,
  node: string,
  opts: AcquireOptions,
): Promise<AcquireOutcome> {
  if (opts.ttlMs > MAX_TTL_MS || opts.ttlMs < 1000) {
    throw new MembershipError('USAGE', `--ttl must be between 1s and 24h (a reboot or an upgrade), got ${Math.round(opts.ttlMs / 1000)}s`);
  }
  const budgetRes = await client.get(keys.disruptionBudget()).exec();
  const budgetRevision = budgetRes.kvs[0]?.mod_revision ?? '0';
  const [records, held, observed, configRaw, statusRaw, inFlight] = await Promise.all([
    readRecords(client, keys),
    readDisruptions(client, keys),
    observeChainfire(client, connection),
    client.get(keys.clusterConfig()).string(),
    client.get(keys.clusterStatus()).string(),
    Promise.all((['chainfire', 'flaredb'] as const).map(async (s) => [s, await client.get(keys.operation(s)).string()] as const)),
  ]);
  if (!records.some((r) => r.metadata.name === node)) {
    throw new MembershipError('NOT_FOUND', `nodemembership ${node} not found: only a node with a record can hold a disruption (membershipctl get lists all)`);
  }
  const policy = configRaw === null ? DEFAULT_POLICY : clusterConfigRecord.safeParse(parseJsonOrUndefined(configRaw));
  const maxDisruptedVoters = 'success' in policy ? (policy.success ? policy.data.spec.maxDisruptedVoters : undefined) : policy.maxDisruptedVoters;
  if (maxDisruptedVoters === undefined) {
    throw new MembershipError('CONFIG_INVALID', 'cluster/config is invalid: no disruption is granted until it is fixed (etcdctl get <prefix>/cluster/config)');
  }
  // A membership change under way (a removal above all) must not meet a reboot: it waits for the change to end.
  const changing = inFlight.filter(([, raw]) => raw !== null);
  if (changing.length > 0) {
    const what = changing.map(([s, raw]) => {
      const op = parseJsonOrUndefined(raw!) as { node?: unknown; change?: unknown } | undefined;
      return `operations/${s}${op && typeof op.node === 'string' ? ` (${String(op.change)} of ${op.node})` : ''}`;
    });
    return { granted: false, decision: { granted: false, code: 'CHANGE', why: `a membership change is in flight: ${what.join(', ')}; a disruption waits until it ends` } };
  }
  const status = statusRaw === null ? undefined : clusterStatus.safeParse(parseJsonOrUndefined(statusRaw));
  const flaredbMembers = status?.success ? status.data.status.services?.flaredb?.voters : undefined;
  const decision = decideDisruption({
    node, records, chainfire: observed, held, maxDisruptedVoters, ...(flaredbMembers !== undefined ? { flaredbMembers } : {}),
  });
  if (!decision.granted) return { granted: false, decision };

  const now = (opts.now ?? (() => new Date()))();
  const record: DisruptionRecord = {
    apiVersion: API_VERSION,
    kind: 'Disruption',
    metadata: { name: node },
    spec: {
      reason: opts.reason,
      holder: opts.holder ?? defaultHolder(),
      acquiredAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + opts.ttlMs).toISOString(),
      ttlSeconds: Math.ceil(opts.ttlMs / 1000),
    },
  };
  // Twice the TTL: overdue (alert) first, then gone, so that a node that never comes back holds nothing for good.
  const lease = client.lease(2 * record.spec.ttlSeconds, { autoKeepAlive: false });
  const leaseId = await lease.grant();
  const key = keys.disruption(node);
  const txn = await client
    .if(key, 'Version', '==', 0)
    .and(keys.disruptionBudget(), 'Mod', '==', budgetRevision)
    .then(client.put(key).value(JSON.stringify(record)).lease(leaseId), client.put(keys.disruptionBudget()).value(`acquire ${node} ${record.spec.acquiredAt}`))
    .commit();
  if (!txn.succeeded) {
    await lease.revoke().catch(() => undefined);
    throw new MembershipError('CONFLICT', `another disruption was acquired or released while ${node}'s was decided; run acquire again`);
  }
  lease.release();
  return { granted: true, record, why: decision.why };
}

/** Releases the node's disruption; NOT_FOUND when it holds none. */
export async function releaseDisruption(client: Etcd3, keys: KeyLayout, node: string): Promise<HeldDisruption> {
  const held = (await readDisruptions(client, keys)).find((d) => d.node === node);
  if (held === undefined) throw new MembershipError('NOT_FOUND', `${node} holds no disruption (membershipctl disruption list shows those held)`);
  await client
    .if(keys.disruption(node), 'Version', '>', 0)
    .then(client.delete().key(keys.disruption(node)), client.put(keys.disruptionBudget()).value(`release ${node} ${new Date().toISOString()}`))
    .commit();
  return held;
}

export function renderDisruptions(held: HeldDisruption[], now = new Date()): string {
  if (held.length === 0) return 'No disruptions held.\n';
  const rows = [...held]
    .sort((a, b) => a.node.localeCompare(b.node))
    .map((d) => {
      const overdue = d.expiresAt !== '' && Date.parse(d.expiresAt) < now.getTime();
      return [d.node, printable(d.reason), printable(d.holder), printable(d.acquiredAt), printable(d.expiresAt) + (overdue ? ' (overdue)' : '')];
    });
  return formatColumns([['NODE', 'REASON', 'HOLDER', 'ACQUIRED', 'EXPIRES'], ...rows]);
}

function defaultHolder(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry: keep "unknown"
  }
  return `${user}@${hostname()}`;
}
