import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDrcError } from '../../src/shared/errors.js';
import { deriveKeys, newMasterKey } from '../../src/main/repo/keys.js';
import { decodeManifest, encodeManifest, manifestObjectName, type Manifest } from '../../src/main/repo/manifest.js';
import { chunkId, chunkObjectName, openObject, sealChunk, sealNamedObject } from '../../src/main/repo/objects.js';
import type { Compression } from '../../src/main/repo/envelope.js';

const keys = deriveKeys(newMasterKey());
const compressions: Compression[] = ['zstd', 'lz4', 'none'];

/** Page-like data: runs of repeated bytes mixed with noise, so compression has work to do. */
const pageLike = fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 4096 }), fc.boolean()), { maxLength: 24 }).map((runs) =>
  Buffer.concat(runs.map(([byte, length, noisy]) => (noisy ? randomBytes(length) : Buffer.alloc(length, byte)))),
);

describe('chunk ids', () => {
  it('are keyed BLAKE3 of the plaintext (the official keyed test vector)', () => {
    const vectorKeys = { ...keys, idKey: Buffer.from('whats the Elvish word for friend') };
    expect(chunkId(vectorKeys, Buffer.alloc(0))).toBe('92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26');
    expect(chunkId(keys, Buffer.from('page'))).not.toBe(chunkId(deriveKeys(newMasterKey()), Buffer.from('page')));
  });
});

describe('chunk round trip', () => {
  it('returns exactly the plaintext for every compression setting', async () => {
    await fc.assert(
      fc.asyncProperty(pageLike, fc.constantFrom(...compressions), async (plaintext, compression) => {
        const id = chunkId(keys, plaintext);
        const sealed = await sealChunk(keys, id, plaintext, compression);
        const back = await openObject(keys, 'test', chunkObjectName(id), sealed);
        expect(back.equals(plaintext)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses any single flipped bit as corrupt, never returning data', async () => {
    await fc.assert(
      fc.asyncProperty(pageLike, fc.constantFrom(...compressions), fc.nat(), fc.integer({ min: 0, max: 7 }), async (plaintext, compression, position, bit) => {
        const id = chunkId(keys, plaintext);
        const sealed = await sealChunk(keys, id, plaintext, compression);
        const damaged = Buffer.from(sealed);
        const index = position % damaged.length;
        damaged[index] = (damaged[index] ?? 0) ^ (1 << bit);
        const error = await openObject(keys, 'usb', chunkObjectName(id), damaged).catch((e: unknown) => e);
        expect(isDrcError(error, 'OBJECT_CORRUPT')).toBe(true);
        expect((error as Error).message).toContain(chunkObjectName(id));
        expect((error as Error).message).toContain("'usb'");
      }),
      { numRuns: 150 },
    );
  });

  it('refuses a valid chunk stored under another id', async () => {
    const a = randomBytes(5000);
    const b = randomBytes(5000);
    const sealedA = await sealChunk(keys, chunkId(keys, a), a, 'zstd');
    const error = await openObject(keys, 'nas', chunkObjectName(chunkId(keys, b)), sealedA).catch((e: unknown) => e);
    expect(isDrcError(error, 'OBJECT_CORRUPT')).toBe(true);
  });

  it('refuses a chunk sealed with another repository set key', async () => {
    const other = deriveKeys(newMasterKey());
    const plaintext = randomBytes(1000);
    const id = chunkId(keys, plaintext);
    const sealed = await sealChunk(other, id, plaintext, 'lz4');
    await expect(openObject(keys, 'nas', chunkObjectName(id), sealed)).rejects.toMatchObject({ code: 'OBJECT_CORRUPT' });
  });

  it('stores incompressible data uncompressed rather than larger', async () => {
    const plaintext = randomBytes(64 * 1024);
    const sealed = await sealChunk(keys, chunkId(keys, plaintext), plaintext, 'zstd');
    expect(sealed.length).toBe(plaintext.length + 36);
  });
});

const chunkId32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes).toString('hex'));
const chunkRef = fc.oneof(fc.record({ id: chunkId32, length: fc.nat() }), fc.record({ id: chunkId32, offset: fc.nat(), length: fc.nat() }));

/** A name as a data directory's files have (dots included, `.` and `..` never). */
const plainSegment = fc.stringMatching(/^[0-9A-Za-z_.-]{1,12}$/).filter((name) => name !== '.' && name !== '..');

/** A file, directory or tablespace link at a path from `path`; links point to an absolute location. */
function manifestEntry(type: 'file' | 'directory' | 'symlink', path: fc.Arbitrary<string>): fc.Arbitrary<Manifest['files'][number]> {
  return fc.record({
    path,
    type: fc.constant(type),
    link: type === 'symlink' ? plainSegment.map((name) => `/srv/${name}`) : fc.constant(undefined),
    size: fc.nat(),
    mode: fc.integer({ min: 0, max: 0o777 }),
    mtime: fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
    chunks: fc.array(chunkRef, { maxLength: 5 }),
  });
}

const manifestArbitrary: fc.Arbitrary<Manifest> = fc.record({
  format: fc.constant(1 as const),
  backupId: fc.stringMatching(/^[0-9A-Za-z_-]{1,40}$/),
  createdAt: fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
  // A `__proto__` key is dropped on decoding on purpose (no prototype pollution from a repository); records never carry one.
  backup: fc.dictionary(
    fc.string({ maxLength: 10 }).filter((key) => key !== '__proto__'),
    fc.oneof(fc.string(), fc.integer(), fc.boolean()),
  ),
  // Only manifests a restore accepts are written (test/engines/restore-confinement.test.ts tries the others).
  files: fc.uniqueArray(fc.oneof(manifestEntry('file', plainSegment.map((name) => `base/${name}`)), manifestEntry('directory', plainSegment.map((name) => `./pg_wal/${name}`)), manifestEntry('symlink', fc.integer({ min: 1, max: 99999 }).map((oid) => `pg_tblspc/${String(oid)}`))), {
    selector: (entry) => entry.path,
    maxLength: 20,
  }),
  attachments: fc.uniqueArray(fc.record({ name: plainSegment.map((name) => `configurations/${name}`), size: fc.nat(), chunks: fc.array(chunkRef, { maxLength: 3 }) }), { selector: (attachment) => attachment.name, maxLength: 2 }),
});

describe('manifest round trip', () => {
  it('decodes to the manifest that was encoded, through the envelope', async () => {
    await fc.assert(
      fc.asyncProperty(manifestArbitrary, fc.constantFrom(...compressions), async (manifest, compression) => {
        const name = manifestObjectName(manifest.backupId);
        const sealed = await sealNamedObject(keys, name, encodeManifest(manifest), compression);
        const back = decodeManifest(await openObject(keys, 'test', name, sealed), 'test', name);
        expect(back).toEqual(manifest);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a manifest renamed to another backup id', async () => {
    const manifest: Manifest = { format: 1, backupId: 'a', createdAt: new Date().toISOString(), backup: {}, files: [], attachments: [] };
    const sealed = await sealNamedObject(keys, manifestObjectName('a'), encodeManifest(manifest), 'zstd');
    await expect(openObject(keys, 'test', manifestObjectName('b'), sealed)).rejects.toMatchObject({ code: 'OBJECT_CORRUPT' });
  });
});
