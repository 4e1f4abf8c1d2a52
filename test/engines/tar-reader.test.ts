import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TarReader, type TarEntry } from '../../src/main/engines/backup/tar-reader.js';
import { tempDirectory } from '../support/temp.js';

/** Reads a tar fed in random-sized pieces and returns each file's content. */
async function readTar(tar: Buffer, maxPiece: number): Promise<Map<string, { entry: TarEntry; content: Buffer }>> {
  const files = new Map<string, { entry: TarEntry; content: Buffer }>();
  let parts: Buffer[] = [];
  const reader = new TarReader('test.tar', {
    onEntry: () => {
      parts = [];
    },
    onData: async (data) => {
      parts.push(Buffer.from(data));
      await new Promise((resolve) => setImmediate(resolve));
    },
    onEntryEnd: (entry) => {
      files.set(entry.path, { entry, content: Buffer.concat(parts) });
    },
  });
  for (let offset = 0; offset < tar.length; ) {
    const size = 1 + Math.floor(Math.random() * maxPiece);
    await reader.push(tar.subarray(offset, offset + size));
    offset += size;
  }
  reader.finish();
  return files;
}

describe('tar reader', () => {
  let dir: Awaited<ReturnType<typeof tempDirectory>>;
  const expected = new Map<string, Buffer>();
  beforeAll(async () => {
    dir = await tempDirectory();
    const root = join(dir.path, 'data');
    const longDirectory = `base/${'d'.repeat(60)}/${'e'.repeat(60)}`;
    await mkdir(join(root, longDirectory), { recursive: true });
    const sizes = [0, 1, 201, 511, 512, 513, 8192, 100_000, 1_048_577];
    for (const [index, size] of sizes.entries()) {
      const name = index % 2 === 0 ? `file-${String(size)}` : `${longDirectory}/long-name-${String(size)}`;
      const content = randomBytes(size);
      await writeFile(join(root, name), content);
      expected.set(name, content);
    }
  });
  afterAll(() => dir.remove());

  for (const format of ['ustar', 'gnu', 'pax']) {
    it(`returns every file's exact content from a ${format} archive fed in random pieces`, async () => {
      const root = join(dir.path, 'data');
      const tar = execFileSync('tar', ['-c', `--format=${format}`, '-C', root, '.'], { maxBuffer: 64 * 1024 * 1024 });
      for (const maxPiece of [700, 70_000]) {
        const files = await readTar(tar, maxPiece);
        for (const [name, content] of expected) {
          const found = files.get(`./${name}`);
          expect(found?.entry.size, name).toBe(content.length);
          expect(found?.content.equals(content), name).toBe(true);
        }
      }
    });
  }

  it('refuses an archive cut in the middle of a file', async () => {
    const tar = execFileSync('tar', ['-c', '--format=gnu', '-C', join(dir.path, 'data'), 'file-1048577'], { maxBuffer: 8 * 1024 * 1024 });
    const reader = new TarReader('cut.tar', { onEntry: () => undefined, onData: () => undefined, onEntryEnd: () => undefined });
    await reader.push(tar.subarray(0, 50_000));
    expect(() => reader.finish()).toThrow(/ended in the middle of file 'file-1048577'/);
  });

  it('refuses a header with a bad checksum', async () => {
    const tar = execFileSync('tar', ['-c', '--format=gnu', '-C', join(dir.path, 'data'), 'file-201']);
    tar[10] = (tar[10] ?? 0) ^ 0xff;
    const reader = new TarReader('bad.tar', { onEntry: () => undefined, onData: () => undefined, onEntryEnd: () => undefined });
    await expect(reader.push(tar)).rejects.toMatchObject({ code: 'BACKUP_FAILED' });
  });
});
