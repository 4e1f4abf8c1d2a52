import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import type { Compression } from '../src/main/repo/envelope.js';
import { deriveKeys, newMasterKey } from '../src/main/repo/keys.js';
import { chunkId, chunkObjectName, openObject, sealChunk } from '../src/main/repo/objects.js';
import { forEachConcurrent } from '../src/main/parallel.js';
import { makeRelationData } from './pages.js';

const MiB = 1024 * 1024;

function rate(bytes: number, startedAt: bigint): number {
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  return bytes / MiB / seconds;
}

/**
 * Chunk pipeline throughput: the work every backed-up byte goes through (keyed hash for
 * the id, compression, AES-256-GCM) and every restored byte goes back through (GCM
 * authentication, decompression, id recomputed), on page-like data, per compression
 * setting, with the machine's raw AES-256-GCM and SHA-256 speed for reference.
 */
export async function benchChunkPipeline(totalBytes: number, chunkBytes: number): Promise<void> {
  const data = makeRelationData(totalBytes);
  const chunks = Array.from({ length: Math.ceil(data.length / chunkBytes) }, (_, index) => data.subarray(index * chunkBytes, (index + 1) * chunkBytes));
  const keys = deriveKeys(newMasterKey());
  console.log(`\n## chunk pipeline — ${String(Math.round(data.length / MiB))} MiB of heap-like pages, ${String(chunkBytes / 1024)} KiB chunks, ${String(cpus().length)} CPU(s): ${cpus()[0]?.model ?? 'unknown'}`);

  let started = process.hrtime.bigint();
  const key = randomBytes(32);
  for (const chunk of chunks) {
    const cipher = createCipheriv('aes-256-gcm', key, randomBytes(12));
    cipher.update(chunk);
    cipher.final();
  }
  const aes = rate(data.length, started);
  started = process.hrtime.bigint();
  for (const chunk of chunks) createHash('sha256').update(chunk).digest();
  const sha = rate(data.length, started);
  console.log(`reference: AES-256-GCM ${aes.toFixed(0)} MB/s, SHA-256 ${sha.toFixed(0)} MB/s (one core)`);
  console.log('compression | threads | seal (hash+compress+encrypt) | open (decrypt+decompress+verify) | stored / original');

  for (const compression of ['none', 'lz4', 'zstd'] as Compression[]) {
    for (const threads of [1, 2]) {
      const sealed: Buffer[] = new Array<Buffer>(chunks.length);
      started = process.hrtime.bigint();
      await forEachConcurrent(chunks.keys(), threads, async (index) => {
        const chunk = chunks[index] ?? Buffer.alloc(0);
        sealed[index] = await sealChunk(keys, chunkId(keys, chunk), chunk, compression);
      });
      const sealRate = rate(data.length, started);
      const stored = sealed.reduce((sum, body) => sum + body.length, 0);
      started = process.hrtime.bigint();
      await forEachConcurrent(chunks.keys(), threads, async (index) => {
        const chunk = chunks[index] ?? Buffer.alloc(0);
        const plaintext = await openObject(keys, 'bench', chunkObjectName(chunkId(keys, chunk)), sealed[index] ?? Buffer.alloc(0));
        if (plaintext.length !== chunk.length) throw new Error('round trip lost bytes');
      });
      const openRate = rate(data.length, started);
      console.log(`${compression.padEnd(11)} | ${String(threads).padStart(7)} | ${sealRate.toFixed(0).padStart(24)} MB/s | ${openRate.toFixed(0).padStart(28)} MB/s | ${(stored / data.length).toFixed(3)}`);
    }
  }
}
