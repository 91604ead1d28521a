import type { Etcd3, IMember } from 'etcd3';
import { MembershipError, errorMessage } from '../errors.js';
import type { ChainfireMember } from '../reconcile/chainfire-step.js';

export type PromoteOutcome = { promoted: true } | { promoted: false; detail: string };

/**
 * Chainfire membership through etcd's Cluster API. Every call carries the
 * client's per-call deadline. Errors that mean "state is already as wanted"
 * are turned into success here; the rest become MembershipErrors.
 */
export class ChainfireDriver {
  private readonly client: Etcd3;
  private cached: { at: number; members: ChainfireMember[] } | undefined;
  private readonly cacheMs: number;

  constructor(client: Etcd3, options: { cacheMs?: number } = {}) {
    this.client = client;
    this.cacheMs = options.cacheMs ?? 250;
  }

  /** Member list, shared by reconciles that run close together; `fresh` bypasses the cache. */
  async listMembers(fresh = false): Promise<ChainfireMember[]> {
    if (!fresh && this.cached && Date.now() - this.cached.at < this.cacheMs) return this.cached.members;
    try {
      const res = await this.client.cluster.memberList({ linearizable: true });
      const members = res.members.map(toMember);
      this.cached = { at: Date.now(), members };
      return members;
    } catch (err) {
      throw new MembershipError('UNAVAILABLE', `Chainfire member list failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  invalidate(): void {
    this.cached = undefined;
  }

  /** Adds a learner; a peer URL that is already a member counts as done (a retried add). */
  async addLearner(peerUrl: string): Promise<void> {
    this.invalidate();
    try {
      await this.client.cluster.memberAdd({ peerURLs: [peerUrl], isLearner: true });
    } catch (err) {
      const msg = errorMessage(err);
      if (/peerURL exists|Peer URLs already exists/i.test(msg)) return;
      throw new MembershipError('UNAVAILABLE', `adding Chainfire learner ${peerUrl} failed: ${msg}`, { cause: err });
    } finally {
      this.invalidate();
    }
  }

  /** Promotes a learner; etcd refuses while the learner is behind, which is not an error. */
  async promote(memberId: string): Promise<PromoteOutcome> {
    this.invalidate();
    try {
      await this.client.cluster.memberPromote({ ID: BigInt(`0x${memberId}`).toString() });
      return { promoted: true };
    } catch (err) {
      const msg = errorMessage(err);
      if (/in sync with leader|learner member which is in sync|not ready/i.test(msg)) return { promoted: false, detail: msg };
      // A retried promote of a member that is already a voter.
      if (/not a learner|can only promote a learner member/i.test(msg) && !/in sync/i.test(msg)) return { promoted: true };
      throw new MembershipError('UNAVAILABLE', `promoting Chainfire member ${memberId} failed: ${msg}`, { cause: err });
    } finally {
      this.invalidate();
    }
  }
}

function toMember(m: IMember): ChainfireMember {
  return {
    // Hex, as etcdctl prints member IDs.
    id: BigInt(String(m.ID)).toString(16),
    name: m.name ?? '',
    peerUrls: m.peerURLs ?? [],
    clientUrls: m.clientURLs ?? [],
    isLearner: Boolean(m.isLearner),
  };
}
