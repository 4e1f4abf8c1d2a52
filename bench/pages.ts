import { randomBytes } from 'node:crypto';

const pageSize = 8192;
const words = ['wedding', 'venue', 'florist', 'catering', 'photographer', 'deposit', 'invoice', 'timeline', 'ceremony', 'reception', 'supplier', 'booking', 'confirmed', 'pending', 'paid'];

/**
 * Heap-page-like data: a 24-byte page header, line pointers, tuples of integers,
 * timestamps and short text from a small vocabulary, and a stretch of free space — so
 * compressors see about the ratio they see on real table files (2-4x), not random bytes.
 */
export function makePage(seed: number): Buffer {
  const page = Buffer.alloc(pageSize);
  page.writeUInt32LE(seed, 0);
  page.writeUInt16LE(pageSize, 14);
  const tupleCount = 40 + (seed % 20);
  let upper = pageSize;
  for (let t = 0; t < tupleCount; t++) {
    const text = `${words[(seed + t) % words.length] ?? ''} ${words[(seed * 7 + t * 3) % words.length] ?? ''} #${String(seed * 131 + t)}`;
    const length = 24 + 16 + text.length;
    upper -= length + ((8 - (length % 8)) % 8);
    if (upper < 24 + 4 * (t + 1) + 512) break;
    page.writeUInt32LE(upper | (length << 17), 24 + 4 * t);
    page.writeUInt32LE(seed + t, upper);
    page.writeBigInt64LE(BigInt(seed) * 1000n + BigInt(t), upper + 24);
    page.writeUInt32LE((seed * 2654435761 + t) >>> 0, upper + 32);
    page.write(text, upper + 40, 'latin1');
  }
  randomBytes(8).copy(page, 8);
  return page;
}

/** `bytes` of page-like data, built from a pool of distinct pages with per-copy noise. */
export function makeRelationData(bytes: number): Buffer {
  const pages = Math.ceil(bytes / pageSize);
  const data = Buffer.allocUnsafe(pages * pageSize);
  const pool = Array.from({ length: 4096 }, (_, index) => makePage(index));
  for (let p = 0; p < pages; p++) {
    const page = pool[p % pool.length] ?? Buffer.alloc(pageSize);
    page.copy(data, p * pageSize);
    data.writeUInt32LE(p, p * pageSize + 4);
  }
  return data;
}
