import type { Etcd3 } from 'etcd3';
import { FencedWriteRejected, MembershipError } from '../errors.js';

export interface FencedWriterOptions {
  client: Etcd3;
  /** the leader's election key */
  leaderKey: string;
  /** the election key's create revision: the leader's term */
  term: number;
  /** false once the leader's own lease deadline has passed: fail fast, do not even send */
  stillLeader: () => boolean;
  onRejected?: () => void;
}

/** One put of a batch: lands only while `guardKey` has `modRevision` (0: absent). */
export interface GuardedPut {
  key: string;
  value: string;
  guardKey: string;
  modRevision: number;
}

/** etcd refuses transactions with more than --max-txn-ops (128 by default) compares or operations. */
export const MAX_BATCH = 64;
/** Transactions of grouped puts in flight at once; further puts gather into the next one. */
const MAX_BATCHES_IN_FLIGHT = 2;

interface Waiting {
  put: GuardedPut;
  resolve: (revision: number) => void;
  reject: (err: unknown) => void;
}

/**
 * Every write the leader makes goes through here: an etcd transaction that
 * lands only while the leader key still has the create revision of this term.
 * A paused or partitioned former leader can therefore make no write land,
 * whatever it believes about itself.
 */
export class FencedWriter {
  readonly term: number;
  private readonly opts: FencedWriterOptions;

  constructor(opts: FencedWriterOptions) {
    this.opts = opts;
    this.term = opts.term;
  }

  async put(key: string, value: string): Promise<void> {
    await this.commit(key, (txn) => txn.then(this.opts.client.put(key).value(value)));
  }

  async delete(key: string): Promise<void> {
    await this.commit(key, (txn) => txn.then(this.opts.client.delete().key(key)));
  }

  /** Deletes only if `key` still has the mod revision the caller wrote or read. */
  async deleteIfUnchanged(key: string, modRevision: number): Promise<void> {
    this.assertLeading(`not deleting ${key}`);
    const { client, leaderKey } = this.opts;
    const result = await client
      .if(leaderKey, 'Create', '==', this.term)
      .and(key, 'Mod', '==', modRevision)
      .then(client.delete().key(key))
      .else(client.get(leaderKey))
      .commit();
    if (result.succeeded) return;
    this.throwIfFenced(result, key);
    throw new MembershipError('CONFLICT', `${key} changed since it was read; will look again`);
  }

  /**
   * Puts only if `guardKey` (by default `key` itself) still has the mod
   * revision the caller read (0: absent), as well as the term: a
   * compare-and-swap for records that concurrent workers of one leader could
   * both write, such as operations/<service>, and for status records, which
   * must not outlive the desired record they describe.
   */
  async putIfUnchanged(key: string, value: string, modRevision: number, guardKey: string = key): Promise<number> {
    const [outcome] = await this.putAllIfUnchanged([{ key, value, guardKey, modRevision }]);
    if (outcome instanceof Error) throw outcome;
    return outcome!;
  }

  /**
   * putIfUnchanged for callers that may run concurrently (status writes from
   * many workers): puts submitted while earlier ones are being committed share
   * the next transaction (group commit), so etcd makes one Raft entry for
   * many of them. A lone put goes out at once: nothing waits for a batch to
   * fill. Each caller gets its own outcome: the revision, CONFLICT for its
   * guard, or the term's end for all.
   */
  putIfUnchangedGrouped(key: string, value: string, modRevision: number, guardKey: string = key): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ put: { key, value, guardKey, modRevision }, resolve, reject });
      this.flush();
    });
  }

  private waiting: Waiting[] = [];
  private batchesInFlight = 0;
  private readonly keysInFlight = new Set<string>();

  private flush(): void {
    while (this.batchesInFlight < MAX_BATCHES_IN_FLIGHT && this.waiting.length > 0) {
      const batch: Waiting[] = [];
      const later: Waiting[] = [];
      const keys = new Set<string>();
      for (const w of this.waiting) {
        // etcd refuses a transaction that puts one key twice; a key already being written waits for that write.
        if (batch.length < MAX_BATCH && !keys.has(w.put.key) && !this.keysInFlight.has(w.put.key)) {
          batch.push(w);
          keys.add(w.put.key);
        } else {
          later.push(w);
        }
      }
      if (batch.length === 0) return;
      this.waiting = later;
      this.batchesInFlight += 1;
      for (const k of keys) this.keysInFlight.add(k);
      this.putAllIfUnchanged(batch.map((w) => w.put))
        .then(
          (outcomes) => outcomes.forEach((o, i) => (o instanceof Error ? batch[i]!.reject(o) : batch[i]!.resolve(o))),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          this.batchesInFlight -= 1;
          for (const k of keys) this.keysInFlight.delete(k);
          this.flush();
        });
    }
  }

  /**
   * Several guarded puts in one transaction fenced to the term. When a guard
   * fails, the same transaction reads every guard key, so the puts whose
   * guards still hold are sent again without the others (each round drops at
   * least one). Per put: the revision it landed at, or a CONFLICT error.
   */
  async putAllIfUnchanged(puts: GuardedPut[]): Promise<Array<number | MembershipError>> {
    if (puts.length === 0) return [];
    this.assertLeading(`not writing ${puts[0]!.key}`);
    const { client, leaderKey } = this.opts;
    let txn = client.if(leaderKey, 'Create', '==', this.term);
    for (const p of puts) txn = txn.and(p.guardKey, 'Mod', '==', p.modRevision);
    const result = await txn
      .then(...puts.map((p) => client.put(p.key).value(p.value)))
      .else(client.get(leaderKey), ...puts.map((p) => client.get(p.guardKey)))
      .commit();
    if (result.succeeded) return puts.map(() => Number(result.header.revision));
    this.throwIfFenced(result, puts[0]!.key);
    const outcomes: Array<number | MembershipError> = [];
    const again: number[] = [];
    puts.forEach((p, i) => {
      const kv = result.responses[i + 1]?.response_range?.kvs[0];
      const current = kv === undefined ? 0 : Number(kv.mod_revision);
      if (current === p.modRevision) again.push(i);
      else outcomes[i] = new MembershipError('CONFLICT', `${p.guardKey} changed since it was read; will look again`);
    });
    if (again.length === puts.length) {
      throw new MembershipError('CONFLICT', `a transaction of ${puts.length} puts failed although every guard held; will look again`);
    }
    const retried = await this.putAllIfUnchanged(again.map((i) => puts[i]!));
    again.forEach((i, j) => (outcomes[i] = retried[j]!));
    return outcomes;
  }

  private async commit(
    key: string,
    build: (
      txn: ReturnType<Etcd3['if']>,
    ) => ReturnType<ReturnType<Etcd3['if']>['then']>,
  ): Promise<void> {
    this.assertLeading(`not writing ${key}`);
    const txn = this.opts.client.if(this.opts.leaderKey, 'Create', '==', this.term);
    const result = await build(txn).commit();
    if (!result.succeeded) {
      this.opts.onRejected?.();
      throw new FencedWriteRejected(key, String(this.term));
    }
  }

  /** Fails fast, without asking etcd, once this term has ended locally. */
  private assertLeading(what: string): void {
    if (!this.opts.stillLeader()) throw new MembershipError('NOT_LEADER', `${what}: leadership of term ${this.term} has ended`);
  }

  /** After a failed transaction whose else branch read the leader key first: was it the term that failed? */
  private throwIfFenced(result: { responses: Array<{ response_range?: { kvs: Array<{ create_revision: string }> } }> }, key: string): void {
    const leader = result.responses[0]?.response_range?.kvs[0];
    if (leader === undefined || Number(leader.create_revision) !== this.term) {
      this.opts.onRejected?.();
      throw new FencedWriteRejected(key, String(this.term));
    }
  }
}
