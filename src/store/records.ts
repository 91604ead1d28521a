import type { z } from 'zod';
import { formatIssues } from '../schema/common.js';
import { MAX_JSON_DEPTH, excessiveNesting, reservedKeyPath, reservedKeyProblem } from '../schema/json.js';
import { nodeMembership, type NodeMembership } from '../schema/node-membership.js';
import { nodeMembershipStatus, type NodeMembershipStatus } from '../schema/status.js';
import { agentReport, type AgentReport } from '../schema/agent-report.js';
import type { KeyLayout, RecordKind } from './keys.js';

/**
 * A record read from Chainfire, validated where it is read. An invalid record
 * is kept (with `problem`) rather than dropped: the controller must report it
 * as InvalidSpec instead of acting as if the key did not exist.
 */
export interface StoredRecord<T> {
  key: string;
  node: string;
  /** set when the key's node part is not a DNS-1123 label: no side effects for it */
  nameProblem?: string;
  modRevision: number;
  createRevision: number;
  value?: T;
  problem?: string;
}

function decode<S extends z.ZodType<{ metadata: { name: string } }>>(
  schema: S,
  raw: string,
  what: string,
  node: string,
  prepare: (json: unknown) => void = () => undefined,
): { value?: z.infer<S>; problem?: string } {
  const tooDeep = excessiveNesting(raw);
  if (tooDeep !== undefined) return { problem: `${what} is nested more than ${MAX_JSON_DEPTH} levels deep (at line ${tooDeep.line} column ${tooDeep.column})` };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    return { problem: `${what} is not valid JSON: ${(err as Error).message}` };
  }
  const reserved = reservedKeyPath(json);
  if (reserved !== undefined) return { problem: `${what}: ${reservedKeyProblem(reserved)}` };
  prepare(json);
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { problem: `${what} does not match the schema: ${formatIssues(parsed.error)}` };
  // A record is about the node its key names; one that says otherwise is not trusted.
  if (parsed.data.metadata.name !== node) {
    return {
      problem: `${what}: metadata.name ${JSON.stringify(parsed.data.metadata.name)} does not match the key's node name ${JSON.stringify(node)}`,
    };
  }
  return { value: parsed.data };
}

/** The generation is the key's mod revision: whatever a writer put in the field is dropped before validation. */
function dropGeneration(json: unknown): void {
  const metadata = (json as { metadata?: unknown } | null)?.metadata;
  if (typeof metadata === 'object' && metadata !== null) delete (metadata as { generation?: unknown }).generation;
}

export interface RawKv {
  key: string;
  value: string;
  modRevision: number;
  createRevision: number;
}

function base(keys: KeyLayout, kind: RecordKind, kv: RawKv) {
  const { node, nameProblem } = keys.nodeOf(kind, kv.key);
  const out: StoredRecord<never> = { key: kv.key, node, modRevision: kv.modRevision, createRevision: kv.createRevision };
  if (nameProblem !== undefined) out.nameProblem = nameProblem;
  return out;
}

function withDecoded<T>(rec: StoredRecord<never>, d: { value?: T; problem?: string }): StoredRecord<T> {
  const out: StoredRecord<T> = { ...rec };
  if (d.value !== undefined) out.value = d.value;
  if (d.problem !== undefined) out.problem = d.problem;
  return out;
}

export function decodeDesired(keys: KeyLayout, kv: RawKv): StoredRecord<NodeMembership> {
  const rec = base(keys, 'desired', kv);
  const d = decode(nodeMembership, kv.value, `desired record ${rec.node}`, rec.node, dropGeneration);
  if (d.value !== undefined) d.value.metadata.generation = kv.modRevision;
  return withDecoded(rec, d);
}

export function decodeStatus(keys: KeyLayout, kv: RawKv): StoredRecord<NodeMembershipStatus> {
  const rec = base(keys, 'status', kv);
  return withDecoded(rec, decode(nodeMembershipStatus, kv.value, `status record ${rec.node}`, rec.node));
}

export function decodeAgentReport(keys: KeyLayout, kv: RawKv): StoredRecord<AgentReport> {
  const rec = base(keys, 'agents', kv);
  return withDecoded(rec, decode(agentReport, kv.value, `agent report ${rec.node}`, rec.node));
}

/** Stable JSON: what gets written, so equal content gives equal bytes. */
export function encodeRecord(value: unknown): string {
  return JSON.stringify(value);
}

/** JSON with object keys sorted: equal records compare equal whatever order their fields came in. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v as Record<string, unknown>).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/**
 * JSON.parse that yields undefined for text that is not JSON, or that nests
 * deeper than any record does: the schema check that follows reports it.
 */
export function parseJsonOrUndefined(text: string): unknown {
  if (excessiveNesting(text) !== undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
