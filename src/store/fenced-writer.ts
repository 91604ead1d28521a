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
