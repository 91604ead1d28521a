import type { Etcd3, IMember } from 'etcd3';
import { request, type Dispatcher } from 'undici';
import { MembershipError, errorMessage } from '../errors.js';
import { healthTarget, judgeHealth, type HealthResult } from '../net/health.js';
import type { ChainfireMember } from '../schema/members.js';
import type { ChainfireDriver, PromoteOutcome } from './types.js';
import { connect, type ConnectionOptions } from '../store/connection.js';
import { createDispatcher } from './http.js';

/**
 * Chainfire membership through etcd's Cluster API. Every call carries the
 * client's per-call deadline. Errors that mean "state is already as wanted"
 * are turned into success here; the rest become MembershipErrors.
 */
export class EtcdChainfireDriver implements ChainfireDriver {
  private readonly client: Etcd3;
  private cached: { at: number; members: ChainfireMember[] } | undefined;
  /**
   * The member list etcd answered with the last change this driver made. etcd
   * 3.4 answers a member list from the member asked, without a linearizable
   * read, so a member that has not applied the change yet can answer a list
   * without it. For a while after a change a list that does not show it is
   * read again and, if it still does not, the change's own answer is used.
   * (A change someone else makes in those few seconds, such as an operator's
   * etcdctl member remove of the same member, is then seen a little later.)
   */
  private lastChange: { until: number; members: ChainfireMember[]; shows: (list: ChainfireMember[]) => boolean } | undefined;
  private readonly cacheMs: number;

  private readonly connection: ConnectionOptions | undefined;
  private readonly dispatcher: Dispatcher | undefined;

  /** `connection` lets the driver reach one member directly (health, moving leadership). */
  constructor(client: Etcd3, options: { cacheMs?: number; connection?: ConnectionOptions } = {}) {
    this.client = client;
    this.cacheMs = options.cacheMs ?? 250;
    this.connection = options.connection;
    const c = options.connection;
    this.dispatcher = c?.cacert
      ? createDispatcher(
          { caFile: c.cacert, ...(c.cert ? { certFile: c.cert } : {}), ...(c.key ? { keyFile: c.key } : {}) },
          { names: { ca: '--cacert', cert: '--cert', key: '--key' } },
        )
      : undefined;
  }

  /** Each member's /health, asked directly (1 s deadline); a member without a client URL is unhealthy. */
  async health(members: ChainfireMember[]): Promise<Record<string, boolean>> {
    const entries = await Promise.all(
      members.map(async (m) => {
        const url = m.clientUrls[0];
        if (url === undefined) return [m.id, false] as const;
        const r = await memberHealth(url, 1000, this.dispatcher);
        return [m.id, r.healthy] as const;
      }),
    );
    return Object.fromEntries(entries);
  }

  /** The Raft leader's member id (hex), as the member that answers sees it. */
  async leaderId(): Promise<string | undefined> {
    try {
      const status = await this.client.maintenance.status();
      return status.leader && status.leader !== '0' ? BigInt(String(status.leader)).toString(16) : undefined;
    } catch {
      return undefined;
    }
  }

  async removeMember(memberId: string): Promise<void> {
    this.invalidate();
    try {
      const res = await this.client.cluster.memberRemove({ ID: BigInt(`0x${memberId}`).toString() });
      this.changed(res.members, (list) => !list.some((m) => m.id === memberId));
    } catch (err) {
      const msg = errorMessage(err);
      if (/member not found|ID not found/i.test(msg)) return; // a retried remove
      if (REFUSED_FOR_NOW.test(msg)) throw new MembershipError('BUSY', `etcd refuses to remove member ${memberId} for now: ${msg}`, { cause: err });
      throw new MembershipError('UNAVAILABLE', `removing Chainfire member ${memberId} failed: ${msg}`, { cause: err });
    } finally {
      this.invalidate();
    }
  }

  /**
   * How many Raft entries a started learner is behind, from its own status and
   * the cluster's; undefined when either cannot be read.
   */
  async learnerLag(learner: ChainfireMember): Promise<number | undefined> {
    if (this.connection === undefined || learner.clientUrls.length === 0) return undefined;
    const direct = connect({ ...this.connection, endpoints: learner.clientUrls, callTimeoutMs: 1000 });
    try {
      const [mine, cluster] = await Promise.all([direct.maintenance.status(), this.client.maintenance.status()]);
      return Math.max(0, Number(cluster.raftIndex) - Number(mine.raftIndex));
    } catch {
      return undefined;
    } finally {
      direct.close();
    }
  }

  /** Moves Raft leadership; etcd takes the request only from the leader, so it is sent there. */
  async moveLeader(from: ChainfireMember, toMemberId: string): Promise<void> {
    if (this.connection === undefined || from.clientUrls.length === 0) {
      throw new MembershipError('UNAVAILABLE', `cannot reach leader ${from.id} directly to move leadership`);
    }
    const leader = connect({ ...this.connection, endpoints: from.clientUrls });
    try {
      await leader.maintenance.moveLeader({ targetID: BigInt(`0x${toMemberId}`).toString() });
    } catch (err) {
      throw new MembershipError('UNAVAILABLE', `moving Raft leadership from ${from.id} to ${toMemberId} failed: ${errorMessage(err)}`, { cause: err });
    } finally {
      leader.close();
      this.invalidate();
    }
  }

  /** Member list, shared by reconciles that run close together; `fresh` bypasses the cache. */
  async listMembers(fresh = false): Promise<ChainfireMember[]> {
    if (!fresh && this.cached && Date.now() - this.cached.at < this.cacheMs) return this.cached.members;
    let members = await this.readMembers();
    const change = this.lastChange;
    if (change !== undefined && Date.now() < change.until) {
      for (let i = 0; i < LAGGING_READS && !change.shows(members); i++) {
        await new Promise((resolve) => setTimeout(resolve, LAGGING_READ_PAUSE_MS));
        members = await this.readMembers();
      }
      if (!change.shows(members)) members = change.members;
    } else {
      this.lastChange = undefined;
    }
    this.cached = { at: Date.now(), members };
    return members;
  }

  private async readMembers(): Promise<ChainfireMember[]> {
    try {
      const res = await this.client.cluster.memberList({ linearizable: true });
      return res.members.map(toMember);
    } catch (err) {
      throw new MembershipError('UNAVAILABLE', `Chainfire member list failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Remembers the list a change answered with, and how to tell a list that shows the change. */
  private changed(members: IMember[] | undefined, shows: (list: ChainfireMember[]) => boolean): void {
    if (members === undefined || members.length === 0) return;
    this.lastChange = { until: Date.now() + CHANGE_VISIBLE_MS, members: members.map(toMember), shows };
  }

  invalidate(): void {
    this.cached = undefined;
  }

  /** Adds a learner; a peer URL that is already a member counts as done (a retried add). */
  async addLearner(peerUrl: string): Promise<void> {
    this.invalidate();
    try {
      const res = await this.client.cluster.memberAdd({ peerURLs: [peerUrl], isLearner: true });
      this.changed(res.members, (list) => list.some((m) => m.peerUrls.includes(peerUrl)));
    } catch (err) {
      const msg = errorMessage(err);
      if (/peerURL exists|Peer URLs already exists/i.test(msg)) return;
      if (REFUSED_FOR_NOW.test(msg)) throw new MembershipError('BUSY', `etcd refuses to add learner ${peerUrl} for now: ${msg}`, { cause: err });
      throw new MembershipError('UNAVAILABLE', `adding Chainfire learner ${peerUrl} failed: ${msg}`, { cause: err });
    } finally {
      this.invalidate();
    }
  }

  /** Promotes a learner; etcd refuses while the learner is behind, which is not an error. */
  async promote(memberId: string): Promise<PromoteOutcome> {
    this.invalidate();
    try {
      const res = await this.client.cluster.memberPromote({ ID: BigInt(`0x${memberId}`).toString() });
      this.changed(res.members, (list) => list.some((m) => m.id === memberId && !m.isLearner));
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

/**
 * etcd's answers that say "not now" rather than "cannot": it refuses
 * reconfiguration until its leader has been connected to every started member
 * for 5 s (after a start, a restart or a membership change), and a change that
 * would leave too few started members. The change is simply tried again soon.
 */
const REFUSED_FOR_NOW = /unhealthy cluster|not enough started members/i;

/** How long after a change a member list that does not show it is doubted, and read again how often. */
const CHANGE_VISIBLE_MS = 5000;
const LAGGING_READS = 3;
const LAGGING_READ_PAUSE_MS = 50;

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

/** One look at a member's /health; no answer within `timeoutMs` is unhealthy. */
export async function memberHealth(url: string, timeoutMs: number, dispatcher: Dispatcher | undefined): Promise<HealthResult> {
  const target = healthTarget(url);
  try {
    const res = await request(target, {
      method: 'GET',
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
      ...(dispatcher ? { dispatcher } : {}),
    });
    return judgeHealth(target, res.statusCode, await res.body.text());
  } catch (err) {
    return { healthy: false, detail: `${target}: ${errorMessage(err)}` };
  }
}
