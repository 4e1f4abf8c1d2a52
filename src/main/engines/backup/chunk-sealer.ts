import type { RepositoryKeys } from '../../repo/keys.js';
import type { Compression } from '../../repo/envelope.js';
import { chunkId, sealChunk } from '../../repo/objects.js';

/**
 * Hashes and seals chunks. A chunk every repository already holds needs only its id;
 * the costly part (compression and encryption) runs only for new chunks.
 */
export interface ChunkSealer {
  /** The chunk's id, and its sealed bytes unless the id is in `skip`. */
  seal(plaintext: Buffer, skip: ReadonlySet<string>): Promise<{ id: string; sealed: Buffer | undefined }>;
  /** Seals a chunk whose id is already known (it was skipped, but one repository lacks it after all). */
  sealKnown(plaintext: Buffer, id: string): Promise<Buffer>;
  close(): Promise<void>;
}

export class InlineSealer implements ChunkSealer {
  constructor(
    private readonly keys: RepositoryKeys,
    private readonly compression: Compression,
  ) {}

  async seal(plaintext: Buffer, skip: ReadonlySet<string>): Promise<{ id: string; sealed: Buffer | undefined }> {
    const id = chunkId(this.keys, plaintext);
    return { id, sealed: skip.has(id) ? undefined : await sealChunk(this.keys, id, plaintext, this.compression) };
  }

  sealKnown(plaintext: Buffer, id: string): Promise<Buffer> {
    return sealChunk(this.keys, id, plaintext, this.compression);
  }

  async close(): Promise<void> {}
}
