/**
 * A member list shared by reconciles that run close together, so that a
 * resync of many nodes costs one list call per service, not one per node.
 * Concurrent loads are shared; any change the controller makes either
 * invalidates it or, for a keyed list, is applied to it in place.
 */
export class ListCache<T> {
  private cached: { at: number; value: T[]; positions?: Map<string, number> } | undefined;
  private inflight: Promise<T[]> | undefined;

  constructor(
    private readonly load: (signal?: AbortSignal) => Promise<T[]>,
    private readonly maxAgeMs = 250,
    /** the item's identity; enables lookup() and upsert() */
    private readonly keyOf?: (item: T) => string,
  ) {}

  /** Whether items have an identity (lookup and upsert work). */
  get keyed(): boolean {
    return this.keyOf !== undefined;
  }

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

  /** The item with this key in `list` (the list get() returned): a map lookup, not a scan. */
  lookup(list: T[], key: string): T | undefined {
    if (this.keyOf === undefined || this.cached?.value !== list) return this.keyOf ? list.find((item) => this.keyOf!(item) === key) : undefined;
    const at = this.positions().get(key);
    return at === undefined ? undefined : list[at];
  }

  /**
   * Records an item the controller itself just created or changed, in place,
   * instead of listing again; the cache's age is kept, so the next list call
   * still comes within maxAgeMs.
   */
  upsert(item: T): void {
    if (this.cached === undefined || this.keyOf === undefined) return;
    const key = this.keyOf(item);
    const positions = this.positions();
    const at = positions.get(key);
    if (at === undefined) {
      positions.set(key, this.cached.value.length);
      this.cached.value.push(item);
    } else {
      this.cached.value[at] = item;
    }
  }

  invalidate(): void {
    this.cached = undefined;
  }

  private positions(): Map<string, number> {
    const c = this.cached!;
    if (c.positions === undefined) c.positions = new Map(c.value.map((item, i) => [this.keyOf!(item), i]));
    return c.positions;
  }
}
