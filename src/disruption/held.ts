import type { z } from 'zod';
import { disruptionRecord, type HeldDisruption } from '../schema/disruption.js';
import { parseJsonOrUndefined } from '../store/records.js';

/**
 * A disruptions/<node> value as held: one that does not decode still counts as
 * held (by "unknown"), so that a damaged record never frees a voter to go.
 * `problem` says why it did not decode.
 */
export function heldDisruption(node: string, raw: string): HeldDisruption & { problem?: z.ZodError } {
  const parsed = disruptionRecord.safeParse(parseJsonOrUndefined(raw));
  if (!parsed.success) return { node, reason: '(undecodable record)', holder: 'unknown', acquiredAt: '', expiresAt: '', problem: parsed.error };
  const { reason, holder, acquiredAt, expiresAt } = parsed.data.spec;
  return { node, reason, holder, acquiredAt, expiresAt };
}
