/**
 * Repository objects that are written once and never rewritten (event records, sealed
 * WAL summaries of complete segments) read the same on every call: the console keeps the
 * ones it has authenticated, so a dashboard refresh does not decrypt 2,000 records again.
 * Keys name the repository set and the object; the oldest entries go first past `limit`.
 */
export class ImmutableObjectCache<T> {
  private readonly entries = new Map<string, T>();

  constructor(private readonly limit: number) {}

  async get(key: string, load: () => Promise<T>): Promise<T> {
    const known = this.entries.get(key);
    if (known !== undefined) return known;
    const loaded = await load();
    this.entries.set(key, loaded);
    if (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    return loaded;
  }
}
