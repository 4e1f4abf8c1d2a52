import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { compress as zstdCompress, decompress as zstdDecompress } from '@mongodb-js/zstd';
import lz4 from 'lz4-napi';

/**
 * The encrypted object format shared by chunks, manifests, WAL segments and events:
 *
 *   'DRC1' | compression u8 | reserved (3 bytes) | nonce (12) | ciphertext | GCM tag (16)
 *
 * The first 8 bytes and the object's identity (a chunk id, or the object name) are the
 * GCM additional data, so neither the compression byte nor the object's place in the
 * repository can be changed without the tag failing: a chunk copied under another id is
 * as corrupt as one with a flipped bit.
 */
export type Compression = 'none' | 'zstd' | 'lz4';

const magic = Buffer.from('DRC1');
const prefixLength = 8;
const nonceLength = 12;
const tagLength = 16;
export const envelopeOverhead = prefixLength + nonceLength + tagLength;

const compressionCodes: Record<Compression, number> = { none: 0, zstd: 1, lz4: 2 };
const compressionByCode = new Map<number, Compression>(Object.entries(compressionCodes).map(([name, code]) => [code, name as Compression]));

/** zstd level 1 keeps pace with a backup stream on one core; higher levels gain little on table pages. */
const zstdLevel = 1;

export async function compressBody(plaintext: Buffer, compression: Compression): Promise<{ body: Buffer; compression: Compression }> {
  if (compression === 'none' || plaintext.length === 0) return { body: plaintext, compression: 'none' };
  const compressed = compression === 'zstd' ? await zstdCompress(plaintext, zstdLevel) : lz4.compressSync(plaintext);
  // Already-compressed data (TOAST-ed blobs, WAL with full-page images compressed) would grow.
  return compressed.length < plaintext.length ? { body: compressed, compression } : { body: plaintext, compression: 'none' };
}

export async function decompressBody(body: Buffer, compression: Compression): Promise<Buffer> {
  if (compression === 'none') return body;
  return compression === 'zstd' ? zstdDecompress(body) : lz4.uncompressSync(body);
}

export async function seal(dataKey: Buffer, identity: string, plaintext: Buffer, compression: Compression): Promise<Buffer> {
  const packed = await compressBody(plaintext, compression);
  const prefix = Buffer.alloc(prefixLength);
  magic.copy(prefix, 0);
  prefix.writeUInt8(compressionCodes[packed.compression], 4);
  const nonce = randomBytes(nonceLength);
  const cipher = createCipheriv('aes-256-gcm', dataKey, nonce);
  cipher.setAAD(Buffer.concat([prefix, Buffer.from(identity)]));
  return Buffer.concat([prefix, nonce, cipher.update(packed.body), cipher.final(), cipher.getAuthTag()]);
}

/** Why an object could not be opened; the caller turns it into an OBJECT_CORRUPT error naming the object. */
export class EnvelopeError extends Error {}

export async function open(dataKey: Buffer, identity: string, sealed: Buffer): Promise<Buffer> {
  if (sealed.length < envelopeOverhead || !sealed.subarray(0, 4).equals(magic)) {
    throw new EnvelopeError(sealed.length < envelopeOverhead ? `object is ${String(sealed.length)} bytes, shorter than any valid object` : 'object does not start with the DR Console format marker');
  }
  const prefix = sealed.subarray(0, prefixLength);
  const compression = compressionByCode.get(prefix.readUInt8(4));
  if (compression === undefined) throw new EnvelopeError(`unknown compression code ${String(prefix.readUInt8(4))}`);
  const decipher = createDecipheriv('aes-256-gcm', dataKey, sealed.subarray(prefixLength, prefixLength + nonceLength));
  decipher.setAAD(Buffer.concat([prefix, Buffer.from(identity)]));
  decipher.setAuthTag(sealed.subarray(sealed.length - tagLength));
  let body: Buffer;
  try {
    body = Buffer.concat([decipher.update(sealed.subarray(prefixLength + nonceLength, sealed.length - tagLength)), decipher.final()]);
  } catch {
    throw new EnvelopeError('authentication failed: the object was altered, truncated or written under another name');
  }
  try {
    return await decompressBody(body, compression);
  } catch (error) {
    throw new EnvelopeError(`authenticated but unable to decompress: ${(error as Error).message}`);
  }
}
