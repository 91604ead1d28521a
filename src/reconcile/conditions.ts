import type { Condition, ConditionType } from '../schema/status.js';

/** A condition as decided, before transition times are stamped. */
export interface ConditionDraft {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** A maker of drafts of one condition type: `const cond = draftsOf('FlareDBMember')`. */
export function draftsOf(type: ConditionType): (status: ConditionDraft['status'], reason: string, message: string) => ConditionDraft {
  return (status, reason, message) => ({ type, status, reason, message });
}

/**
 * Stamps drafts into conditions: `lastTransitionTime` moves only when the
 * status flips, so a reconcile that finds nothing new produces identical
 * conditions (and therefore no write).
 */
export function stampConditions(
  drafts: ConditionDraft[],
  previous: Condition[] | undefined,
  generation: number,
  now: Date,
): Condition[] {
  const nowIso = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return drafts.map((d) => {
    const prev = previous?.find((c) => c.type === d.type);
    const lastTransitionTime = prev !== undefined && prev.status === d.status ? prev.lastTransitionTime : nowIso;
    return { ...d, lastTransitionTime, observedGeneration: generation };
  });
}

export function findCondition(conditions: readonly Condition[] | undefined, type: ConditionType): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
