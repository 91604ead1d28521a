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
    if (!this.opts.stillLeader()) {
      throw new MembershipError('NOT_LEADER', `not deleting ${key}: leadership of term ${this.term} has ended`);
    }
    const { client, leaderKey } = this.opts;
    const result = await client
      .if(leaderKey, 'Create', '==', this.term)
      .and(key, 'Mod', '==', modRevision)
      .then(client.delete().key(key))
      .else(client.get(leaderKey))
      .commit();
    if (result.succeeded) return;
    const leader = result.responses[0]?.response_range?.kvs[0];
    if (leader === undefined || Number(leader.create_revision) !== this.term) {
      this.opts.onRejected?.();
      throw new FencedWriteRejected(key, String(this.term));
    }
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
    if (!this.opts.stillLeader()) {
      throw new MembershipError('NOT_LEADER', `not writing ${key}: leadership of term ${this.term} has ended`);
    }
    const { client, leaderKey } = this.opts;
    const result = await client
      .if(leaderKey, 'Create', '==', this.term)
      .and(guardKey, 'Mod', '==', modRevision)
      .then(client.put(key).value(value))
      .else(client.get(leaderKey))
      .commit();
    if (result.succeeded) return Number(result.header.revision);
    const leader = result.responses[0]?.response_range?.kvs[0];
    if (leader === undefined || Number(leader.create_revision) !== this.term) {
      this.opts.onRejected?.();
      throw new FencedWriteRejected(key, String(this.term));
    }
    throw new MembershipError('CONFLICT', `${guardKey} changed since it was read; will look again`);
  }

  private async commit(
    key: string,
    build: (
      txn: ReturnType<Etcd3['if']>,
    ) => ReturnType<ReturnType<Etcd3['if']>['then']>,
  ): Promise<void> {
    if (!this.opts.stillLeader()) {
      throw new MembershipError('NOT_LEADER', `not writing ${key}: leadership of term ${this.term} has ended`);
    }
    const txn = this.opts.client.if(this.opts.leaderKey, 'Create', '==', this.term);
    const result = await build(txn).commit();
    if (!result.succeeded) {
      this.opts.onRejected?.();
      throw new FencedWriteRejected(key, String(this.term));
    }
  }
}
