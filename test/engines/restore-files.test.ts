import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readdir, readFile, readlink, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { writeDataFiles } from '../../src/main/engines/restore/files.js';
import { ObjectSource } from '../../src/main/repo/object-source.js';
import { CryptoPool } from '../../src/main/repo/crypto-pool.js';
import type { Manifest, ManifestFile } from '../../src/main/repo/manifest.js';
import { chunkObjectName } from '../../src/main/repo/objects.js';
import type { Repository } from '../../src/main/repo/repository.js';
import { initRepositorySet, openRepositorySet, type RepositorySet } from '../../src/main/repo/repository-set.js';
import { SharedSlots } from '../../src/main/repo/shared-slots.js';
import { alignedSlots, type AlignedSlots } from '../../src/main/storage/direct-io.js';
import { LocalTarget } from '../../src/main/storage/local.js';
import { tempDirectory } from '../support/temp.js';

const chunkSize = 256 * 1024;
const mtime = '2024-05-04T03:02:01.000Z';

/**
 * A small data directory whose chunks are shared the way a real backup shares them: the
 * zero chunk at several positions of several relation files, one data chunk in two
 * files, and a bundle holding three small catalog files.
 */
function sampleDirectory(ids: { zero: string; heap: string; index: string; bundle: string }): Manifest {
  const file = (path: string, mode: number, chunks: ManifestFile['chunks'], size = chunks.reduce((sum, ref) => sum + ref.length, 0)): ManifestFile => ({ path, type: 'file', size, mode, mtime, chunks });
  const whole = (id: string) => ({ id, length: chunkSize });
  const files: ManifestFile[] = [
    { path: 'base', type: 'directory', size: 0, mode: 0o40700, mtime, chunks: [] },
    { path: 'base/5', type: 'directory', size: 0, mode: 0o40750, mtime, chunks: [] },
    file('base/5/16384', 0o600, [whole(ids.heap), whole(ids.zero), whole(ids.index), whole(ids.zero)]),
    file('base/5/16384.1', 0o600, [whole(ids.zero), whole(ids.zero), whole(ids.heap)]),
    // Recorded longer than its chunks: the rest is zeros, as an incremental rebuild leaves it.
    file('base/5/16390', 0o640, [whole(ids.index)], 3 * chunkSize),
    file('base/5/PG_VERSION', 0o600, [{ id: ids.bundle, offset: 0, length: 3 }]),
    file('base/5/pg_filenode.map', 0o600, [{ id: ids.bundle, offset: 3, length: 512 }]),
    file('postgresql.auto.conf', 0o600, [{ id: ids.bundle, offset: 515, length: 88 }]),
    file('base/5/16400', 0o600, []),
    { path: 'pg_tblspc/16500', type: 'symlink', link: '/srv/tablespace', size: 0, mode: 0o120777, mtime, chunks: [] },
  ];
  return { format: 1, backupId: 'sample', createdAt: mtime, backup: {}, files, attachments: [] };
}

/** Where the sample's tablespace link may point: a restore links a tablespace only where its mapping says. */
const tablespaceLinks = new Map([['16500', '/srv/tablespace']]);

describe.each([false, true])('writeDataFiles (direct I/O asked: %s)', (askDirectIo) => {
  let dir: Awaited<ReturnType<typeof tempDirectory>>;
  let nas: LocalTarget;
  let usb: LocalTarget;
  let set: RepositorySet;
  let slots: AlignedSlots;
  let pool: CryptoPool;
  const content = { zero: Buffer.alloc(chunkSize), heap: randomBytes(chunkSize), index: randomBytes(chunkSize), bundle: randomBytes(603) };
  const ids = { zero: '', heap: '', index: '', bundle: '' };

  beforeEach(async () => {
    dir = await tempDirectory();
    nas = new LocalTarget({ name: 'nas', path: join(dir.path, 'nas') });
    usb = new LocalTarget({ name: 'usb', path: join(dir.path, 'usb') });
    await initRepositorySet([nas, usb], 'restore files', { scrypt: { N: 2 ** 10, r: 8, p: 1 } });
    set = await openRepositorySet([nas, usb], 'restore files');
    for (const repository of set.repositories) {
      for (const name of ['zero', 'heap', 'index', 'bundle'] as const) ids[name] = (await repository.writeChunk(content[name])).id;
    }
    // Aligned slots probe the filesystem; the page-cache run uses them as plain slots.
    const aligned = await alignedSlots(3, chunkSize, dir.path);
    slots = askDirectIo ? aligned : { slots: aligned.slots, directIo: false };
    pool = new CryptoPool(set.keys, 'zstd', slots.slots);
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await pool.close();
    await dir.remove();
  });

  const repositoryNamed = (name: string): Repository => {
    const repository = set.repositories.find((candidate) => candidate.name === name);
    if (!repository) throw new Error(`no repository ${name}`);
    return repository;
  };

  /** Each file's bytes as the manifest describes them. */
  const expectedBytes = (entry: ManifestFile): Buffer => {
    const byId = new Map(Object.entries(ids).map(([name, id]) => [id, content[name as keyof typeof content]]));
    const pieces = entry.chunks.map((ref) => (byId.get(ref.id) ?? Buffer.alloc(0)).subarray(ref.offset ?? 0, (ref.offset ?? 0) + ref.length));
    return Buffer.concat([...pieces, Buffer.alloc(entry.size - pieces.reduce((sum, piece) => sum + piece.length, 0))]);
  };

  it('fetches each chunk once and writes every file it belongs to byte-exact, with its mode and mtime', async () => {
    const manifest = sampleDirectory(ids);
    const fetched = new Map<string, number>();
    const get = nas.get.bind(nas);
    vi.spyOn(nas, 'get').mockImplementation((name, range) => {
      fetched.set(name, (fetched.get(name) ?? 0) + 1);
      return get(name, range);
    });
    const source = new ObjectSource([repositoryNamed('nas'), repositoryNamed('usb')], pool);
    const target = join(dir.path, 'restored');
    let progress = 0;

    // Where the filesystem takes O_DIRECT (this project's CI: ext4), the aligned files really go past the page cache.
    if (askDirectIo) expect(slots.directIo).toBe(await takesDirectIo(dir.path));
    const written = await writeDataFiles(manifest, target, source, slots, (bytes) => (progress += bytes), undefined, tablespaceLinks);

    expect(Object.fromEntries(fetched)).toEqual(Object.fromEntries(Object.values(ids).map((id) => [chunkObjectName(id), 1])));
    const files = manifest.files.filter((entry) => entry.type === 'file');
    for (const entry of files) {
      const path = join(target, entry.path);
      expect(await readFile(path), entry.path).toEqual(expectedBytes(entry));
      const status = await stat(path);
      expect(status.mode & 0o7777, entry.path).toBe(entry.mode & 0o7777);
      expect(status.mtime.toISOString(), entry.path).toBe(mtime);
    }
    expect((await stat(join(target, 'base/5'))).mode & 0o7777).toBe(0o750);
    expect(await readlink(join(target, 'pg_tblspc/16500'))).toBe('/srv/tablespace');
    expect((await lstat(join(target, 'pg_tblspc/16500'))).isSymbolicLink()).toBe(true);
    const total = files.reduce((sum, entry) => sum + entry.size, 0);
    expect(written).toEqual({ files: files.length, bytes: total });
    expect(progress).toBe(total);
    expect(source.fallbacks).toEqual([]);
  });

  it('never writes to one file twice at once', async () => {
    const manifest = sampleDirectory(ids);
    const probe = await open(join(dir.path, 'probe'), 'w');
    const prototype = Object.getPrototypeOf(probe) as FileHandle;
    await probe.close();
    const writing = new Map<number, number>();
    let overlapping = 0;
    const write = Reflect.get(prototype, 'write') as (this: FileHandle, ...args: unknown[]) => Promise<unknown>;
    vi.spyOn(prototype, 'write').mockImplementation(async function (this: FileHandle, ...args: Parameters<FileHandle['write']>) {
      const now = (writing.get(this.fd) ?? 0) + 1;
      writing.set(this.fd, now);
      overlapping = Math.max(overlapping, now);
      // Hold the write long enough for any other write to the same file to start beside it.
      await new Promise((resolve) => setTimeout(resolve, 5));
      try {
        return await write.apply(this, args);
      } finally {
        writing.set(this.fd, (writing.get(this.fd) ?? 1) - 1);
      }
    } as FileHandle['write']);

    await writeDataFiles(manifest, join(dir.path, 'restored'), new ObjectSource(set.repositories, pool), slots, () => undefined, undefined, tablespaceLinks);

    expect(overlapping).toBe(1);
  });

  it('reads a chunk corrupt in the preferred repository from the next, and reports the fallback', async () => {
    const manifest = sampleDirectory(ids);
    const name = chunkObjectName(ids.zero);
    const sealed = await nas.get(name);
    sealed[sealed.length - 1] = (sealed[sealed.length - 1] ?? 0) ^ 0xff;
    await nas.put(name, sealed);
    const source = new ObjectSource([repositoryNamed('nas'), repositoryNamed('usb')], pool);
    const target = join(dir.path, 'restored');

    await writeDataFiles(manifest, target, source, slots, () => undefined, undefined, tablespaceLinks);

    expect(await readFile(join(target, 'base/5/16384.1'))).toEqual(expectedBytes(manifest.files.find((entry) => entry.path === 'base/5/16384.1') as ManifestFile));
    expect(source.fallbacks).toEqual([expect.objectContaining({ object: name, failed: 'nas', usedInstead: 'usb' })]);
  });

  it('fails on a chunk no repository holds, with no file of the target left open', async () => {
    const manifest = sampleDirectory(ids);
    const lost = 'f'.repeat(64);
    manifest.files.find((entry) => entry.path === 'base/5/16384.1')?.chunks.push({ id: lost, length: chunkSize });
    // One chunk at a time: the file is open, with its first chunks written, when its last cannot be read.
    const oneSlot = { slots: new SharedSlots(1, chunkSize), directIo: false };
    const onePool = new CryptoPool(set.keys, 'zstd', oneSlot.slots);
    const target = join(dir.path, 'restored');
    try {
      await expect(writeDataFiles(manifest, target, new ObjectSource(set.repositories, onePool), oneSlot, () => undefined, undefined, tablespaceLinks)).rejects.toMatchObject({ code: 'OBJECT_MISSING' });
    } finally {
      await onePool.close();
    }

    expect((await stat(join(target, 'base/5/16384.1'))).size).toBe(3 * chunkSize);
    const descriptors = await readdir('/proc/self/fd');
    const open = await Promise.all(descriptors.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
    expect(open.filter((path) => path.startsWith(target))).toEqual([]);
  });
});

async function takesDirectIo(directory: string): Promise<boolean> {
  const path = join(directory, 'o-direct-check');
  try {
    await (await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT, 0o600)).close();
    return true;
  } catch {
    return false;
  } finally {
    await rm(path, { force: true });
  }
}
