import type { Etcd3 } from 'etcd3';
import { MembershipError } from '../errors.js';
import { printable } from '../printable.js';
import { API_VERSION } from '../schema/common.js';
import { REMOVE_NOW_ANNOTATION, nodeMembership } from '../schema/node-membership.js';
import { clusterConfigRecord, type ClusterConfigRecord } from '../schema/operation.js';
import { nodeMembershipStatus, type StatusBody } from '../schema/status.js';
import type { KeyLayout } from '../store/keys.js';
import { encodeRecord, parseJsonOrUndefined } from '../store/records.js';

/**
 * Sets a node's desired state to Absent; a concurrent writer makes it fail
 * rather than be overwritten. `now` also sets the remove-now annotation, so
 * that the controller skips the removal grace (already Absent: the annotation
 * is added).
 */
export async function markAbsent(client: Etcd3, keys: KeyLayout, node: string, now = false): Promise<'marked' | 'already'> {
  const key = keys.desired(node);
  const res = await client.get(key).exec();
  const kv = res.kvs[0];
  if (kv === undefined) throw new MembershipError('NOT_FOUND', `nodemembership ${node} not found (membershipctl get lists all)`);
  const parsed = nodeMembership.safeParse(parseJsonOrUndefined(kv.value.toString()));
  if (!parsed.success) {
    throw new MembershipError('CONFIG_INVALID', `desired record of ${node} is invalid; fix it with membershipctl apply before deleting`);
  }
  const hasNow = parsed.data.metadata.annotations?.[REMOVE_NOW_ANNOTATION] === 'true';
  if (parsed.data.spec.state === 'Absent' && (!now || hasNow)) return 'already';
  const annotations = now ? { ...parsed.data.metadata.annotations, [REMOVE_NOW_ANNOTATION]: 'true' } : parsed.data.metadata.annotations;
  const record = { ...parsed.data, metadata: { ...parsed.data.metadata, annotations }, spec: { ...parsed.data.spec, state: 'Absent' as const } };
  const already = parsed.data.spec.state === 'Absent';
  delete record.metadata.generation;
  const txn = await client.if(key, 'Mod', '==', kv.mod_revision).then(client.put(key).value(encodeRecord(record))).commit();
  if (!txn.succeeded) throw new MembershipError('CONFLICT', `${node}'s record changed while it was being marked Absent; run delete again`);
  return already ? 'already' : 'marked';
}

/** The node's status, if any. */
export async function readStatus(client: Etcd3, keys: KeyLayout, node: string): Promise<StatusBody | undefined> {
  const raw = await client.get(keys.status(node)).string();
  if (raw === null) return undefined;
  const parsed = nodeMembershipStatus.safeParse(parseJsonOrUndefined(raw));
  return parsed.success ? parsed.data.status : undefined;
}

/**
 * Waits, on a watch, until the node's status says Removed for the Absent
 * generation, reporting each change; then deletes its desired and status
 * records together. Throws TIMEOUT with the last conditions seen.
 */
export async function waitRemovedAndDelete(
  client: Etcd3,
  keys: KeyLayout,
  node: string,
  timeoutMs: number,
  progress: (line: string) => void,
): Promise<void> {
  const desiredKey = keys.desired(node);
  const statusKey = keys.status(node);
  const generation = Number((await client.get(desiredKey).exec()).kvs[0]?.mod_revision ?? 0);
  let last = '';
  const describe = (st: StatusBody | undefined) =>
    st === undefined
      ? 'no status yet'
      : printable(`phase ${st.phase}; ${st.conditions.map((c) => `${c.type}=${c.status}/${c.reason}: ${c.message}`).join('; ')}`);
  const done = (st: StatusBody | undefined) => st !== undefined && st.observedGeneration >= generation && st.phase === 'Removed';

  const watcher = await client.watch().key(statusKey).create();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new MembershipError('TIMEOUT', `${node} was not removed within ${Math.round(timeoutMs / 1000)}s; last seen: ${last || 'no status'}`)),
        timeoutMs,
      );
      const look = (st: StatusBody | undefined) => {
        const line = describe(st);
        if (line !== last) progress(line);
        last = line;
        if (done(st)) {
          clearTimeout(timer);
          resolve();
        }
      };
      watcher.on('put', (kv) => {
        const parsed = nodeMembershipStatus.safeParse(parseJsonOrUndefined(kv.value.toString()));
        look(parsed.success ? parsed.data.status : undefined);
      });
      watcher.on('error', (err) => {
        clearTimeout(timer);
        reject(new MembershipError('UNAVAILABLE', `watch of ${statusKey} failed: ${err.message}`));
      });
      readStatus(client, keys, node).then(look, () => undefined);
    });
  } finally {
    watcher.removeAllListeners();
    await watcher.cancel().catch(() => undefined);
  }
  await client.if(desiredKey, 'Mod', '==', generation).then(client.delete().key(desiredKey), client.delete().key(statusKey)).commit();
}

/** Reads cluster/config (defaults when absent), applies `change`, writes it back with a compare-and-swap. */
export async function updateClusterConfig(
  client: Etcd3,
  keys: KeyLayout,
  change: (spec: ClusterConfigRecord['spec']) => void,
): Promise<ClusterConfigRecord['spec']> {
  const key = keys.clusterConfig();
  const kv = (await client.get(key).exec()).kvs[0];
  const parsed = clusterConfigRecord.safeParse(kv ? parseJsonOrUndefined(kv.value.toString()) : {});
  if (!parsed.success) throw new MembershipError('CONFIG_INVALID', `cluster/config is invalid; fix or delete ${key} first`);
  const record: ClusterConfigRecord = { ...parsed.data, apiVersion: API_VERSION, kind: 'ClusterConfig' };
  change(record.spec);
  const txn = await client.if(key, 'Mod', '==', kv ? kv.mod_revision : 0).then(client.put(key).value(encodeRecord(record))).commit();
  if (!txn.succeeded) throw new MembershipError('CONFLICT', 'cluster/config changed while it was being updated; run the command again');
  return record.spec;
}
