import type { Etcd3, Lease } from 'etcd3';
import { MembershipError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { FencedWriter } from '../store/fenced-writer.js';

/**
 * Leader election on etcd keys, one key per candidate under a directory, the
 * lowest create revision wins (etcd's concurrency recipe). etcd3's own
 * Campaign hides its lease and its key's revision, and we need both: the
 * revision is the term that fences every write, and the lease's keepalives
 * give the leader its own deadline. etcd3 declares a lease lost only after
 * 2 x TTL without a keepalive, long after etcd itself has let it expire and a
 * standby may have taken over; so the leader stops at its own deadline:
 * the send time of the last acknowledged keepalive plus the TTL etcd granted,
 * minus a safety margin.
 *
 * Whatever ends a term (that deadline, a lost lease, a rejected fenced write, a
 * stop) also revokes its lease: otherwise etcd3 keeps sending keepalives for it,
 * and once they get through again (a new etcd leader even renews every lease)
 * the key of a term that has ended lives on, and every candidate, this process
 * included, waits behind it for ever.
 */

export interface ElectionOptions {
  client: Etcd3;
  /** directory of candidate keys, ending in "/" */
  dir: string;
  /** what a candidate proclaims: `node01/4312` */
  identity: string;
  ttlSeconds: number;
  log: Logger;
  onFencedWriteRejected?: () => void;
}

/** One term of leadership. `signal` aborts the moment it ends, for whatever reason. */
export interface Leadership {
  term: number;
  key: string;
  identity: string;
  signal: AbortSignal;
  writer: FencedWriter;
  /** true until the lease deadline passes or leadership is otherwise lost */
  isLeader(): boolean;
  /** when (ms since the epoch) the term ends unless a keepalive is acknowledged first */
  deadline(): number;
  /** revoke the lease so that a standby takes over at once */
  resign(): Promise<void>;
}

export class LeaderElection {
  private readonly opts: ElectionOptions;

  constructor(opts: ElectionOptions) {
    if (!opts.dir.endsWith('/')) throw new MembershipError('USAGE', `election dir ${opts.dir} must end in "/"`);
    if (!(opts.ttlSeconds >= 2)) throw new MembershipError('USAGE', `--lease-ttl must be at least 2 seconds, got ${opts.ttlSeconds}`);
    this.opts = opts;
  }

  /**
   * Campaigns until elected (resolves with the leadership) or `signal` aborts
   * (rejects). On a lost lease while waiting it rejects: the caller campaigns
   * again with a fresh lease.
   */
  async campaign(signal: AbortSignal): Promise<Leadership> {
    const { client, dir, identity, ttlSeconds, log } = this.opts;
    const lease = client.lease(ttlSeconds, { autoKeepAlive: true });
    const deadline = new LeaseDeadline(lease, ttlSeconds);
    const ended = new AbortController();
    let released: Promise<void> = Promise.resolve();
    const end = (reason: string) => {
      if (ended.signal.aborted) return;
      deadline.stop();
      ended.abort(new MembershipError('NOT_LEADER', reason));
      // Stops the keepalives at once; if etcd cannot be told, the lease expires within its TTL.
      released = lease.revoke().catch(() => undefined);
    };
    lease.on('lost', (err) => end(`lease lost: ${errorMessage(err)}`));
    deadline.onExpired = () => end('lease deadline passed without an acknowledged keepalive');
    const onOuterAbort = () => end('stopped');
    signal.addEventListener('abort', onOuterAbort, { once: true });

    try {
      const leaseId = await lease.grant();
      const key = dir + leaseId;
      const created = await client
        .if(key, 'Create', '==', 0)
        .then(client.put(key).value(identity).lease(leaseId))
        .else(client.get(key))
        .commit();
      const term = Number(
        created.succeeded ? created.header.revision : created.responses[0]?.response_range?.kvs[0]?.create_revision,
      );
      if (!Number.isSafeInteger(term) || term <= 0) throw new MembershipError('NOT_LEADER', `election key ${key} has no create revision`);
      log.debug({ key, term }, 'campaigning');
      await this.waitForPredecessors(term, ended.signal);
      if (ended.signal.aborted) throw ended.signal.reason;

      // Reading the clock here, not only in the deadline timer, matters after a
      // pause (SIGSTOP, a long GC): code may run before the overdue timer fires.
      const isLeader = () => {
        if (!ended.signal.aborted && !deadline.valid()) end('lease deadline passed without an acknowledged keepalive');
        return !ended.signal.aborted;
      };
      const writer = new FencedWriter({
        client,
        leaderKey: key,
        term,
        stillLeader: isLeader,
        // A rejected fenced write means a newer term exists: end this one at once.
        onRejected: () => {
          this.opts.onFencedWriteRejected?.();
          end('a fenced write was rejected: another controller holds a newer term');
        },
      });
      return {
        term,
        key,
        identity,
        signal: ended.signal,
        writer,
        isLeader,
        deadline: () => deadline.endsAt(),
        resign: async () => {
          end('resigned');
          await released;
        },
      };
    } catch (err) {
      end(`campaign failed: ${errorMessage(err)}`);
      signal.removeEventListener('abort', onOuterAbort);
      await released;
      throw err;
    }
  }

  /** Waits until no candidate key created before ours is left. */
  private async waitForPredecessors(term: number, signal: AbortSignal): Promise<void> {
    const { client, dir } = this.opts;
    while (!signal.aborted) {
      const res = await client
        .getAll()
        .prefix(dir)
        .maxCreateRevision(String(term - 1))
        .sort('Create', 'Descend')
        .limit(1)
        .exec();
      const predecessor = res.kvs[0];
      if (predecessor === undefined) return;
      this.opts.log.info(
        { leader: predecessor.value.toString(), term },
        'standing by: another controller is leader',
      );
      await waitForDelete(client, predecessor.key.toString(), Number(res.header.revision) + 1, signal);
    }
  }
}

async function waitForDelete(client: Etcd3, key: string, fromRevision: number, signal: AbortSignal): Promise<void> {
  const watcher = await client.watch().key(key).startRevision(String(fromRevision)).create();
  let failed = false;
  try {
    await new Promise<void>((resolve, reject) => {
      watcher.on('delete', () => resolve());
      // A watch error (e.g. compaction) just sends us back to re-read the predecessor.
      watcher.on('error', () => {
        failed = true;
        resolve();
      });
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  } finally {
    // etcd3 has already dropped a failed watcher: cancelling it would never settle.
    if (failed) watcher.removeAllListeners();
    else await watcher.cancel().catch(() => undefined);
  }
}

/**
 * Tracks the time by which etcd may let the lease expire, conservatively: from
 * the moment a keepalive was *sent*, plus the TTL etcd reported back.
 */
class LeaseDeadline {
  private expiresAt: number;
  private readonly sent: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly marginMs: number;
  onExpired: () => void = () => undefined;

  constructor(lease: Lease, ttlSeconds: number) {
    // Clocks on one machine agree; the margin covers scheduling delays of our own timer.
    this.marginMs = Math.min(1000, ttlSeconds * 100);
    this.expiresAt = Date.now() + ttlSeconds * 1000;
    this.arm();
    lease.on('keepaliveFired', () => this.sent.push(Date.now()));
    lease.on('keepaliveSucceeded', (res) => {
      const sentAt = this.sent.shift() ?? Date.now();
      const ttl = Number(res.TTL);
      if (ttl > 0) this.expiresAt = Math.max(this.expiresAt, sentAt + ttl * 1000);
      this.arm();
    });
    lease.on('keepaliveFailed', () => this.sent.splice(0));
  }

  valid(): boolean {
    return Date.now() < this.endsAt();
  }

  endsAt(): number {
    return this.expiresAt - this.marginMs;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    this.stop();
    const ms = Math.max(0, this.expiresAt - this.marginMs - Date.now());
    this.timer = setTimeout(() => {
      if (this.valid()) this.arm();
      else this.onExpired();
    }, ms);
    this.timer.unref();
  }
}
