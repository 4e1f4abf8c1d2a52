import { createHash, randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { DrcError } from '../../shared/errors.js';
import { forEachConcurrent } from '../parallel.js';
import { processAlive } from '../processes.js';
import { refusePseudoFilesystemRepository } from './pseudo-filesystem.js';
import { alignedShift, directIoBlock, openForDirectWrite, wholeBlocks, writeFully } from './direct-io.js';
import { objectNotFound, type ByteRange, type ListOptions, type ObjectInfo, type StorageCapabilities, type StorageTarget } from './target.js';

/** Directories a repository creates: this user only, like the 0600 of its files. */
export const repositoryDirectoryMode = 0o700;
/** Suffix of in-flight writes: never listed, never read; one whose writer died is removed by a later listing. */
const partialSuffix = '.drc-incomplete';
/**
 * Names the writer in each temporary (`<object>.<random>.<host>-<pid>.drc-incomplete`),
 * so that a later run can tell the leftovers of a killed writer on this host from the
 * writes in flight of a live one (a `wal stream` beside a backup, another workstation on
 * the same NAS). The host is a short hash: names stay short and say nothing of the network.
 */
const writerTag = `${createHash('sha256').update(hostname()).digest('hex').slice(0, 8)}-${String(process.pid)}`;
const writerTagPattern = /\.([0-9a-f]{8})-(\d+)\.drc-incomplete$/;
/** A temporary of a writer this host cannot check (another host's, or unnamed) is abandoned once untouched this long. */
const abandonedAfterMs = 24 * 3_600_000;
/** Files a listing stats at once. */
const statsInFlight = 32;

export interface LocalTargetOptions {
  readonly name: string;
  readonly path: string;
  readonly offsite?: boolean;
  readonly media?: 'fixed' | 'removable';
}

/**
 * A directory on a local or network-mounted disk. Writes go to a temporary name, are
 * fsynced, renamed into place and the directory is fsynced, so a crash or power cut at
 * any point leaves either the old object or the new one, never a half-written file.
 */
export class LocalTarget implements StorageTarget {
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  protected readonly root: string;
  /** Aligned buffers for direct writes, set up at the first large write. */
  private staging: Promise<DirectStaging | undefined> | undefined;
  /** Whether the root lies on a pseudo file system, asked once, at the first write. */
  private placeChecked: Promise<void> | undefined;

  constructor(options: LocalTargetOptions) {
    this.name = options.name;
    this.root = options.path;
    this.capabilities = { media: options.media ?? 'fixed', offsite: options.offsite ?? false, atomicPut: true, needsFsync: true };
  }

  describe(): string {
    return this.root;
  }

  async put(name: string, body: Buffer): Promise<void> {
    const { path, directory, temporary } = this.placesOf(name);
    await this.io('write', name, async () => {
      await this.ensureDirectory(directory);
      if (!(await this.writeDirect(temporary, body))) await writeDurably(temporary, body, 'w');
      try {
        await rename(temporary, path);
      } catch (error) {
        await rm(temporary, { force: true });
        throw error;
      }
      await syncDirectory(directory);
    });
  }

  /** An object's file, its directory, and a fresh temporary name beside it for writing. */
  private placesOf(name: string): { path: string; directory: string; temporary: string } {
    const path = this.pathOf(name);
    return { path, directory: dirname(path), temporary: `${path}.${randomBytes(6).toString('hex')}.${writerTag}${partialSuffix}` };
  }

  /**
   * Writes a large object past the page cache (see direct-io.ts): copied into an aligned
   * staging buffer, written in whole blocks, then truncated to its length. False, having
   * written nothing, when the object is small, larger than a buffer, every buffer is busy,
   * or the filesystem does not take direct I/O: the caller then writes it the usual way.
   */
  private async writeDirect(path: string, body: Buffer): Promise<boolean> {
    if (body.length < directWritesFrom) return false;
    this.staging ??= DirectStaging.create(this.root);
    const staging = await this.staging;
    const buffer = staging?.take(body.length);
    if (!staging || !buffer) return false;
    try {
      const length = wholeBlocks(body.length);
      body.copy(buffer);
      buffer.fill(0, body.length, length);
      const handle = await openForDirectWrite(path, 0o600);
      try {
        await writeFully(handle, buffer, 0, length, 0);
        await handle.truncate(body.length);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return true;
    } finally {
      staging.give(buffer);
    }
  }

  /**
   * Written whole under a temporary name, then hard-linked to its name: link() fails if the
   * name exists, atomically, on local filesystems and over NFS alike. On a filesystem
   * without hard links (FAT and exFAT sticks) the name is created with O_EXCL instead, which
   * is as exclusive but shows the content only once written.
   */
  async createExclusive(name: string, body: Buffer): Promise<boolean> {
    const { path, directory, temporary } = this.placesOf(name);
    return this.io('write', name, async () => {
      await this.ensureDirectory(directory);
      await writeDurably(temporary, body, 'w');
      try {
        await link(temporary, path);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') return false;
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
        try {
          await writeDurably(path, body, 'wx');
        } catch (exclusive) {
          if ((exclusive as NodeJS.ErrnoException).code === 'EEXIST') return false;
          throw exclusive;
        }
      } finally {
        await rm(temporary, { force: true });
      }
      await syncDirectory(directory);
      return true;
    });
  }

  async get(name: string, range?: ByteRange): Promise<Buffer> {
    return this.io('read', name, async () => {
      const handle = await open(this.pathOf(name), 'r');
      try {
        if (range === undefined) return await handle.readFile();
        const buffer = Buffer.allocUnsafe(range.length);
        const { bytesRead } = await handle.read(buffer, 0, range.length, range.offset);
        return buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    });
  }

  async head(name: string): Promise<ObjectInfo | undefined> {
    try {
      const info = await stat(this.pathOf(name));
      return info.isFile() ? { name, size: info.size } : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw this.ioError('inspect', name, error);
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ObjectInfo[]> {
    const { startAfter } = options;
    // Every name in a directory starts with that directory's path and a slash (`held`). A
    // directory is skipped when no such name can start with `prefix`, or when every such
    // name sorts at or before `startAfter`: `held` sorts before it and is not a prefix of it.
    const mayHold = (held: string): boolean =>
      (held.startsWith(prefix) || prefix.startsWith(held)) && (startAfter === undefined || held > startAfter || startAfter.startsWith(held));
    const listed = (name: string): boolean => name.startsWith(prefix) && (startAfter === undefined || name > startAfter);

    // Start the walk at the deepest directory the prefix names. Entries are read by name
    // only and filtered before anything else: a WAL tail of a few objects must not cost a
    // type check or a stat of each of 900,000 files (reading types doubles a huge read).
    const slash = prefix.lastIndexOf('/');
    const start = slash >= 0 ? prefix.slice(0, slash + 1) : '';
    const found: ObjectInfo[] = [];
    const walk = async (directory: string, held: string): Promise<void> => {
      if (!mayHold(held)) return;
      let names;
      try {
        names = await readdir(directory);
      } catch (error) {
        if (isMissing(error)) return;
        throw this.ioError('list', prefix, error);
      }
      await removeAbandoned(directory, names.filter((entry) => entry.endsWith(partialSuffix)));
      const candidates = names.filter((entry) => (listed(held + entry) && !entry.endsWith(partialSuffix)) || mayHold(`${held}${entry}/`));
      const directories: string[] = [];
      // Sizes and times need a stat per file; many in flight keep the disk's queue full
      // where one at a time would wait out each round trip (and each NFS call) in turn.
      await forEachConcurrent(candidates, statsInFlight, async (entry) => {
        const path = join(directory, entry);
        let info;
        try {
          info = await lstat(path);
        } catch (error) {
          // Deleted between the directory read and the stat (a prune running alongside): not listed.
          if (isMissing(error)) return;
          throw this.ioError('list', prefix, error);
        }
        if (info.isDirectory()) directories.push(entry);
        else if (info.isFile() && listed(held + entry) && !entry.endsWith(partialSuffix)) found.push({ name: held + entry, size: info.size, modified: info.mtime });
      });
      for (const entry of directories) await walk(join(directory, entry), `${held}${entry}/`);
    };
    await walk(join(this.root, ...start.split('/')), start);
    return found;
  }

  async delete(names: readonly string[]): Promise<void> {
    for (const name of names) {
      await this.io('delete', name, () => rm(this.pathOf(name), { force: true }));
    }
  }

  async close(): Promise<void> {}

  /**
   * Creates the directory an object goes in (and any missing parent), readable by this
   * user only: object names (backup ids, times, WAL positions) are not for other users.
   */
  protected async ensureDirectory(directory: string): Promise<void> {
    // Before the first recursive mkdir: under /proc it would never return.
    this.placeChecked ??= refusePseudoFilesystemRepository(this.name, this.root, `the path of repository '${this.name}'`);
    await this.placeChecked;
    await mkdir(directory, { recursive: true, mode: repositoryDirectoryMode });
  }

  protected pathOf(name: string): string {
    if (name.startsWith('/') || name.split('/').some((part) => part === '..' || part === '')) {
      throw new DrcError('INTERNAL', `unable to use object name '${name}': not a relative object path`);
    }
    return join(this.root, ...name.split('/'));
  }

  private async io<T>(action: string, name: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof DrcError) throw error;
      if (action === 'read' && isMissing(error)) throw objectNotFound(this.name, name);
      throw this.ioError(action, name, error);
    }
  }

  private ioError(action: string, name: string, error: unknown): DrcError {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      return new DrcError('STORAGE_PERMISSION', `unable to ${action} '${name}' in repository '${this.name}' at '${this.root}': ${code}`, {
        hints: ['check that the directory is writable by this user and the medium is not mounted read-only'],
        cause: error,
      });
    }
    return new DrcError('STORAGE_IO', `unable to ${action} '${name}' in repository '${this.name}' at '${this.root}': ${(error as Error).message}`, {
      hints: code === 'ENOSPC' ? ['the disk is full: free space or expire old backups'] : ['check the disk and its mount'],
      cause: error,
    });
  }
}

/**
 * Temporaries left by writers that died (kill -9, a power cut) — swept by listings, which
 * read the names anyway: every run that writes lists first (a backup its chunks and
 * manifests, expire, sync, verify). Best effort: on a read-only medium they stay, unlisted.
 */
async function removeAbandoned(directory: string, temporaries: readonly string[]): Promise<void> {
  const [ownHost] = writerTag.split('-');
  for (const name of temporaries) {
    const path = join(directory, name);
    const [, host, writerPid] = writerTagPattern.exec(name) ?? [];
    const pid = host === ownHost ? Number(writerPid) : undefined;
    let abandoned: boolean;
    if (pid !== undefined) {
      abandoned = pid !== process.pid && !processAlive(pid);
    } else {
      const info = await lstat(path).catch(() => undefined);
      abandoned = info !== undefined && Date.now() - info.mtime.getTime() > abandonedAfterMs;
    }
    if (abandoned) await rm(path, { force: true }).catch(() => undefined);
  }
}

export function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Makes a rename durable: without it a power cut can lose the new directory entry. */
/** Objects from this size on (a sealed chunk, a WAL segment) are written with direct I/O where the filesystem takes it. */
const directWritesFrom = 256 * 1024;

/**
 * A few block-aligned buffers, each large enough for a sealed 4 MiB chunk: as many direct
 * writes at once as a backup keeps in flight to one repository. A write that finds none
 * free goes through the page cache rather than wait.
 */
class DirectStaging {
  private static readonly size = wholeBlocks(4 * 1024 * 1024 + 64 * 1024);
  private static readonly count = 8;
  private readonly free: Buffer[];

  private constructor(memory: ArrayBuffer, shift: number) {
    this.free = Array.from({ length: DirectStaging.count }, (_, index) => Buffer.from(memory, shift + index * DirectStaging.size, DirectStaging.size));
  }

  static async create(directory: string): Promise<DirectStaging | undefined> {
    const memory = new ArrayBuffer(DirectStaging.count * DirectStaging.size + directIoBlock);
    const shift = await alignedShift(memory, directory);
    return shift === undefined ? undefined : new DirectStaging(memory, shift);
  }

  take(length: number): Buffer | undefined {
    return length <= DirectStaging.size ? this.free.pop() : undefined;
  }

  give(buffer: Buffer): void {
    this.free.push(buffer);
  }
}

async function writeDurably(path: string, body: Buffer, flags: 'w' | 'wx'): Promise<void> {
  const handle = await open(path, flags, 0o600);
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDirectory(directory: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
