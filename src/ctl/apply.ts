import type { Etcd3 } from 'etcd3';
import { MembershipError } from '../errors.js';
import { readConfigFile, readStream } from '../files.js';
import { formatIssues } from '../schema/common.js';
import { reservedKeyPath, reservedKeyProblem } from '../schema/json.js';
import { parseInputDocuments } from './input-documents.js';
import { nodeMembership, type NodeMembership } from '../schema/node-membership.js';
import { clusterConfigToMembership, loadClusterConfig } from '../schema/cluster-config.js';
import type { KeyLayout } from '../store/keys.js';
import { canonicalJson, encodeRecord, parseJsonOrUndefined } from '../store/records.js';

export const CREATED_AT_ANNOTATION = 'membership.photoncloud.io/created-at';

/** etcd's default limit of operations in one transaction is 128. */
const TXN_BATCH = 100;

/**
 * The largest record apply writes. etcd refuses a request over 1.5 MiB by
 * default (--max-request-bytes), with a bare gRPC RESOURCE_EXHAUSTED; a
 * NodeMembership is a few hundred bytes, so anything near that is a mistake.
 */
export const MAX_RECORD_BYTES = 1024 * 1024;

/** The most one transaction of apply carries, below etcd's request limit. */
const TXN_MAX_BYTES = 1024 * 1024;

/** `-f` may name a file of many records: up to 64 MiB. */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

/** Reads JSON or YAML from a file or, for "-", from stdin. */
export async function readInput(file: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  if (file === '-') return (await readStream('-f', stdin, MAX_INPUT_BYTES)).toString('utf8');
  return readConfigFile('-f', file, MAX_INPUT_BYTES);
}

/**
 * Fields `get -o json` and `get -o yaml` print that apply does not take: the
 * controller's status and the problems found reading the records. They are
 * dropped, as kubectl apply ignores status, so that what get prints applies
 * back unchanged.
 */
export const READ_ONLY_FIELDS = ['status', 'statusProblem', 'problem'] as const;

/**
 * Parses JSON or YAML (several documents; in each one record, an array of
 * records or a `{kind: List, items: [...]}`) and validates every record
 * before anything is written: a file with one bad record writes nothing.
 */
export function parseRecords(text: string, source: string): NodeMembership[] {
  const items = parseInputDocuments(text, source);
  if (items.length === 0) throw new MembershipError('CONFIG_INVALID', `${source}: no records in the input`);
  const problems: string[] = [];
  const records: NodeMembership[] = [];
  const seen = new Set<string>();
  for (const { value, where } of items) {
    const item = withoutReadOnlyFields(value);
    const reserved = reservedKeyPath(item);
    if (reserved !== undefined) {
      problems.push(`${where}: ${reservedKeyProblem(reserved)}`);
      continue;
    }
    const parsed = nodeMembership.safeParse(item);
    if (!parsed.success) {
      problems.push(`${where}: ${formatIssues(parsed.error)}`);
      continue;
    }
    const rec = parsed.data;
    if (seen.has(rec.metadata.name)) problems.push(`${where}: node ${rec.metadata.name} appears more than once`);
    seen.add(rec.metadata.name);
    delete rec.metadata.generation; // the store's mod revision, never written by operators
    const bytes = Buffer.byteLength(encodeRecord(rec));
    if (bytes > MAX_RECORD_BYTES) {
      problems.push(
        `${where}: record ${rec.metadata.name} is ${bytes} bytes; Chainfire accepts at most 1 MiB per record ` +
          '(its request limit is 1.5 MiB): look for a runaway label or annotation',
      );
      continue;
    }
    records.push(rec);
  }
  if (problems.length > 0) throw new MembershipError('CONFIG_INVALID', `${problems.join('\n')}\nnothing was applied`);
  return records;
}

function withoutReadOnlyFields(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const f of READ_ONLY_FIELDS) delete copy[f];
  return copy;
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
  for (const batch of batches(records)) {
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

/** The records in transactions of at most TXN_BATCH records and TXN_MAX_BYTES bytes (one record each, at the least). */
function batches(records: NodeMembership[]): NodeMembership[][] {
  const out: NodeMembership[][] = [];
  let current: NodeMembership[] = [];
  let bytes = 0;
  for (const rec of records) {
    const size = Buffer.byteLength(encodeRecord(rec)) + 256; // the key and the created-at annotation
    if (current.length > 0 && (current.length >= TXN_BATCH || bytes + size > TXN_MAX_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(rec);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
