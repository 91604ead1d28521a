import type { Etcd3 } from 'etcd3';
import { MembershipError, errorMessage } from '../errors.js';
import { readConfigFile } from '../files.js';
import { formatIssues } from '../schema/common.js';
import { nodeMembership, type NodeMembership } from '../schema/node-membership.js';
import { clusterConfigToMembership, loadClusterConfig } from '../schema/cluster-config.js';
import type { KeyLayout } from '../store/keys.js';
import { canonicalJson, encodeRecord, parseJsonOrUndefined } from '../store/records.js';

export const CREATED_AT_ANNOTATION = 'membership.photoncloud.io/created-at';

/** etcd's default limit of operations in one transaction is 128. */
const TXN_BATCH = 100;

export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

/** Reads JSON from a file or, for "-", from stdin. */
export async function readInput(file: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer));
    return Buffer.concat(chunks).toString('utf8');
  }
  return readConfigFile('-f', file);
}

/**
 * Parses one record, an array of records or a `{"kind":"List","items":[...]}`
 * and validates every record before anything is written: a file with one bad
 * record writes nothing.
 */
export function parseRecords(text: string, source: string): NodeMembership[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new MembershipError('CONFIG_INVALID', `${source}: not valid JSON: ${errorMessage(err)}`);
  }
  const items: unknown[] = Array.isArray(json)
    ? json
    : typeof json === 'object' && json !== null && (json as { kind?: unknown }).kind === 'List'
      ? ((json as { items?: unknown[] }).items ?? [])
      : [json];
  if (items.length === 0) throw new MembershipError('CONFIG_INVALID', `${source}: no records in the input`);
  const problems: string[] = [];
  const records: NodeMembership[] = [];
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const where = items.length > 1 ? `${source}[${i}]` : source;
    const parsed = nodeMembership.safeParse(item);
    if (!parsed.success) {
      problems.push(`${where}: ${formatIssues(parsed.error)}`);
      return;
    }
    const rec = parsed.data;
    if (seen.has(rec.metadata.name)) problems.push(`${where}: node ${rec.metadata.name} appears more than once`);
    seen.add(rec.metadata.name);
    delete rec.metadata.generation; // the store's mod revision, never written by operators
    records.push(rec);
  });
  if (problems.length > 0) throw new MembershipError('CONFIG_INVALID', `${problems.join('\n')}\nnothing was applied`);
  return records;
}

export async function recordsFromClusterConfig(path: string): Promise<{ records: NodeMembership[]; warnings: string[] }> {
  const { config, warnings } = await loadClusterConfig(path, '--from-cluster-config');
  const records = parseRecords(JSON.stringify(clusterConfigToMembership(config)), path);
  return { records, warnings };
}

/**
 * Writes the records whose content changed, in transactions that each land
 * only if none of their keys changed since they were read: a concurrent
 * writer makes the apply fail rather than be silently overwritten.
 */
export async function applyRecords(
  client: Etcd3,
  keys: KeyLayout,
  records: NodeMembership[],
  now = new Date(),
): Promise<Array<{ name: string; outcome: ApplyOutcome }>> {
  const results: Array<{ name: string; outcome: ApplyOutcome }> = [];
  for (let i = 0; i < records.length; i += TXN_BATCH) {
    const batch = records.slice(i, i + TXN_BATCH);
    const current = await Promise.all(batch.map((r) => client.get(keys.desired(r.metadata.name)).exec()));
    const compares: Array<[string, number]> = [];
    const puts: Array<[string, string]> = [];
    batch.forEach((rec, j) => {
      const kv = current[j]?.kvs[0];
      const key = keys.desired(rec.metadata.name);
      compares.push([key, kv ? Number(kv.mod_revision) : 0]);
      let existing: NodeMembership | undefined;
      if (kv) {
        const parsed = nodeMembership.safeParse(parseJsonOrUndefined(kv.value.toString()));
        if (parsed.success) existing = parsed.data;
      }
      const createdAt = existing?.metadata.annotations[CREATED_AT_ANNOTATION] ?? now.toISOString();
      const toWrite: NodeMembership = {
        ...rec,
        metadata: { ...rec.metadata, annotations: { ...rec.metadata.annotations, [CREATED_AT_ANNOTATION]: createdAt } },
      };
      if (existing !== undefined) delete existing.metadata.generation;
      if (existing !== undefined && canonicalJson(existing) === canonicalJson(toWrite)) {
        results.push({ name: rec.metadata.name, outcome: 'unchanged' });
        return;
      }
      puts.push([key, encodeRecord(toWrite)]);
      results.push({ name: rec.metadata.name, outcome: kv ? 'configured' : 'created' });
    });
    if (puts.length === 0) continue;
    let txn = client.if(compares[0]![0], 'Mod', '==', compares[0]![1]);
    for (const [key, rev] of compares.slice(1)) txn = txn.and(key, 'Mod', '==', rev);
    const res = await txn.then(...puts.map(([k, v]) => client.put(k).value(v))).commit();
    if (!res.succeeded) {
      throw new MembershipError('UNAVAILABLE', 'a record changed while it was being applied (concurrent writer); nothing in this batch was written: run apply again');
    }
  }
  return results;
}
