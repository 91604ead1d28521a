import type { Service } from '../schema/agent-report.js';
import type { Condition } from '../schema/status.js';

const SERVICE_OF: Partial<Record<Condition['type'], Service>> = { ChainfireMember: 'chainfire', FlareDBMember: 'flaredb', IAMRegistered: 'iam' };

/**
 * Reasons that wait for a change of the service to end: another node's change
 * in flight, or (Chainfire) a voter that is down, whose removal is such a change.
 */
const WAITING_REASONS = new Set(['WaitingForOtherChange', 'WaitingForHealthyVoters']);

/** How many waiting nodes one ended change wakes: one of them starts the next change. */
export const WAKE_PER_CHANGE = 16;

/**
 * The nodes whose status says they wait for another node's change of a
 * service (WaitingForOtherChange, or WaitingForHealthyVoters: the removal of a
 * dead voter is such a change), oldest first, kept from status events.
 * When a change ends, the longest-waiting few are woken rather than all of
 * them: one starts the next change, the others find it and wait on, still
 * first in line. Their own poll is only a safety net.
 */
export class ChangeWaiters {
  private readonly byService = new Map<Service, Set<string>>();

  /** Records what `node`'s status now says (undefined: no status). */
  update(node: string, conditions: readonly Pick<Condition, 'type' | 'reason'>[] | undefined): void {
    const waitsFor = new Set<Service>();
    for (const c of conditions ?? []) {
      const service = SERVICE_OF[c.type];
      if (service !== undefined && WAITING_REASONS.has(c.reason)) waitsFor.add(service);
    }
    for (const [service, nodes] of this.byService) if (!waitsFor.has(service)) nodes.delete(node);
    for (const service of waitsFor) {
      let nodes = this.byService.get(service);
      if (nodes === undefined) this.byService.set(service, (nodes = new Set()));
      // A Set keeps insertion order: a node already waiting keeps its place.
      nodes.add(node);
    }
  }

  /** The longest-waiting nodes for `service`, at most `count`. */
  next(service: Service, count = WAKE_PER_CHANGE): string[] {
    const out: string[] = [];
    for (const node of this.byService.get(service) ?? []) {
      if (out.length >= count) break;
      out.push(node);
    }
    return out;
  }
}
