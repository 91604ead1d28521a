/**
 * A member list shared by reconciles that run close together, so that a
 * resync of many nodes costs one list call per service, not one per node.
 * Any change the controller makes invalidates it.
 */
export class ListCache<T> {
  private cached: { at: number; value: T[] } | undefined;
  private inflight: Promise<T[]> | undefined;

  constructor(
    private readonly load: (signal?: AbortSignal) => Promise<T[]>,
    private readonly maxAgeMs = 250,
  ) {}

  async get(fresh = false, signal?: AbortSignal): Promise<T[]> {
    if (!fresh && this.cached && Date.now() - this.cached.at < this.maxAgeMs) return this.cached.value;
    if (!fresh && this.inflight) return this.inflight;
    const p = this.load(signal).then((value) => {
      this.cached = { at: Date.now(), value };
      return value;
    });
    this.inflight = p;
    try {
      return await p;
    } finally {
      if (this.inflight === p) this.inflight = undefined;
    }
  }

  invalidate(): void {
    this.cached = undefined;
  }
}
