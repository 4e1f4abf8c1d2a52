import type { Compression } from '../../repo/envelope.js';
import type { RepositoryKeys } from '../../repo/keys.js';
import { InlineSealer, type ChunkSealer } from './chunk-sealer.js';

export function createSealer(keys: RepositoryKeys, compression: Compression): ChunkSealer {
  return new InlineSealer(keys, compression);
}
