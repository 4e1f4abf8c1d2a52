import type { ByteRange, ListOptions, ObjectInfo, StorageCapabilities, StorageTarget } from '../target.js';

/**
 * Base for wrappers: forwards every call to the wrapped target, so a wrapper overrides
 * only the calls whose behaviour it changes.
 */
export abstract class DelegatingTarget implements StorageTarget {
  /** Present exactly when the wrapped target has it. */
  readonly createExclusive?: (name: string, body: Buffer) => Promise<boolean>;

  constructor(protected readonly inner: StorageTarget) {
    const exclusive = inner.createExclusive?.bind(inner);
    if (exclusive) this.createExclusive = exclusive;
  }

  /** The target this wrapper adds behaviour to (to reach driver-specific calls such as media labels). */
  get wrapped(): StorageTarget {
    return this.inner;
  }

  get name(): string {
    return this.inner.name;
  }

  get capabilities(): StorageCapabilities {
    return this.inner.capabilities;
  }

  describe(): string {
    return this.inner.describe();
  }

  put(name: string, body: Buffer): Promise<void> {
    return this.inner.put(name, body);
  }

  get(name: string, range?: ByteRange): Promise<Buffer> {
    return this.inner.get(name, range);
  }

  head(name: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(name);
  }

  list(prefix: string, options?: ListOptions): Promise<ObjectInfo[]> {
    return this.inner.list(prefix, options);
  }

  delete(names: readonly string[]): Promise<void> {
    return this.inner.delete(names);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
