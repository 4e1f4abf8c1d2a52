import { CryptoPool } from '../../repo/crypto-pool.js';
import type { Compression } from '../../repo/envelope.js';
import type { RepositoryKeys } from '../../repo/keys.js';
import type { SharedSlots } from '../../repo/shared-slots.js';

/**
 * Hashes and seals chunks on the crypto pool. A chunk every repository already holds
 * needs only its id: the workers keep the set of such ids and skip the costly part
 * (compression and encryption) for them.
 */
export class ChunkSealer {
  private readonly pool: CryptoPool;

  /** Chunks in `slots` reach the workers without a copy. */
  constructor(keys: RepositoryKeys, compression: Compression, slots: SharedSlots) {
    this.pool = new CryptoPool(keys, compression, slots);
  }

  /** How many chunks may usefully be in flight at once. */
  get parallelism(): number {
    return this.pool.size * 2;
  }

  /** The chunk's id, and its sealed bytes unless every repository holds it. A buffer that is not a shared slot is handed over. */
  seal(plaintext: Buffer): Promise<{ id: string; sealed: Buffer | undefined }> {
    return this.pool.seal(plaintext);
  }

  markHeldEverywhere(ids: readonly string[]): void {
    this.pool.addKnown(ids);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
