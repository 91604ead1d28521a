import { EventEmitter } from 'node:events';
import type { EtcdLite } from './client.js';

/** What a lease needs of the client. */
export type LeaseCalls = Pick<EtcdLite, 'leaseGrant' | 'leaseKeepAlive' | 'leaseRevoke' | 'put'>;

/**
 * A lease granted on first use and kept alive every TTL/3 until revoked.
 * Emits `lost` (with the reason) when etcd says the lease is gone or no
 * keepalive got through for a whole TTL; the next `put` then grants a new one.
 */
export class EtcdLiteLease extends EventEmitter {
  readonly ttlSeconds: number;
  private readonly client: LeaseCalls;
  private id: Promise<string> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastKeepAlive = 0;
  private inFlight = false;
  private revoked = false;

  constructor(client: LeaseCalls, ttlSeconds: number) {
    super();
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new RangeError(`a lease TTL must be a whole number of seconds >= 1, got ${ttlSeconds}`);
    this.client = client;
    this.ttlSeconds = ttlSeconds;
  }

  /** The lease's ID, granted on the first call (and again after a loss). */
  grant(): Promise<string> {
    if (this.revoked) return Promise.reject(new Error('the lease was revoked'));
    if (this.id === undefined) {
      const id = this.client.leaseGrant(this.ttlSeconds).then((granted) => {
        this.lastKeepAlive = Date.now();
        this.startKeepAlive();
        return granted.id;
      });
      // A failed grant is tried again by the next call.
      id.catch(() => {
        if (this.id === id) this.id = undefined;
      });
      this.id = id;
    }
    return this.id;
  }

  /**
   * Writes `key` bound to the lease. A put that etcd refuses because the
   * lease expired (it heard no keepalive for a whole TTL) forgets the lease,
   * so that the next put grants a new one.
   */
  async put(key: string, value: string): Promise<void> {
    const granted = this.grant();
    const id = await granted;
    try {
      await this.client.put(key, value, { lease: id });
    } catch (err) {
      if (this.id === granted && /lease not found/i.test(err instanceof Error ? err.message : String(err))) {
        this.stopKeepAlive();
        this.id = undefined;
      }
      throw err;
    }
  }

  /** Stops the keepalives and revokes the lease, so that its keys go at once. */
  async revoke(): Promise<void> {
    this.revoked = true;
    this.stopKeepAlive();
    const id = this.id;
    this.id = undefined;
    if (id === undefined) return;
    const granted = await id.catch(() => undefined);
    if (granted !== undefined) await this.client.leaseRevoke(granted);
  }

  private startKeepAlive(): void {
    this.stopKeepAlive();
    this.timer = setInterval(() => void this.keepAliveOnce(), Math.max(500, (this.ttlSeconds * 1000) / 3));
    // The lease does not keep the process alive on its own.
    this.timer.unref();
  }

  private stopKeepAlive(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async keepAliveOnce(): Promise<void> {
    const idPromise = this.id;
    if (this.inFlight || idPromise === undefined || this.revoked) return;
    this.inFlight = true;
    try {
      const id = await idPromise;
      const ttl = await this.client.leaseKeepAlive(id);
      if (this.id !== idPromise || this.revoked) return;
      if (ttl <= 0) return this.lose(new Error(`lease ${id} expired or was revoked in Chainfire`));
      this.lastKeepAlive = Date.now();
      this.emit('keepalive', ttl);
    } catch (err) {
      if (this.id !== idPromise || this.revoked) return;
      if (Date.now() - this.lastKeepAlive > this.ttlSeconds * 1000) this.lose(err);
    } finally {
      this.inFlight = false;
    }
  }

  private lose(err: unknown): void {
    this.stopKeepAlive();
    this.id = undefined;
    this.emit('lost', err);
  }
}
