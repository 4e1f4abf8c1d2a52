import { constants } from 'node:fs';
import { lstat, mkdir, open, readlink, realpath, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DrcError } from '../../../shared/errors.js';
import { canonicalPath, unsafeManifestEntry, type ChunkRef, type Manifest, type ManifestFile } from '../../repo/manifest.js';
import { forEachConcurrent } from '../../parallel.js';
import { alignedForDirectIo, blockAligned, createRestoredFile, reopenRestoredFile, writeFully, type AlignedSlots } from '../../storage/direct-io.js';
import type { ObjectSource } from '../../repo/object-source.js';

/** One place a chunk's plaintext goes: `ref` of the chunk, at `position` in `file`. */
interface Piece {
  readonly file: RestoredFile;
  readonly ref: ChunkRef;
  readonly position: number;
}

interface RestoredFile {
  readonly entry: ManifestFile;
  readonly path: string;
  /** Open from the file's first write until its last; a failed restore closes what is still open. */
  handle: FileHandle | undefined;
  /** Every chunk of the file lies on block boundaries, so it is written with direct I/O (when the target takes it). */
  readonly direct: boolean;
  /** A second, page-cache handle of a direct file, for a chunk that arrived outside the slots. */
  buffered: FileHandle | undefined;
  /**
   * The file's writes, one after another: positional writes to one file at once only
   * contend on its inode lock in the kernel, they are not faster. After a failed write,
   * the file takes no more.
   */
  writes: Promise<void>;
  remaining: number;
}

/**
 * Where tablespace links point, by tablespace oid (the `<oid>` of `pg_tblspc/<oid>`).
 * Restores put tablespaces inside the data directory (pg_tblspc/<oid>/ as a directory,
 * with allow_in_place_tablespaces), so the mapping a restore passes is empty and a
 * manifest with a tablespace link is refused rather than linked to the source's path —
 * which on the source's host is the live tablespace.
 */
export type TablespaceLinks = ReadonlyMap<string, string>;

/**
 * write: every file of the manifest, from its chunks, into the target directory, and
 * nothing outside it. The manifest's paths are checked again here, where they become
 * paths; directories are made one level at a time and never through a link; files are
 * created new, never through a link, and confirmed inside the target before a byte is
 * written. Directories first, then every chunk once — fetched, opened into a shared
 * slot, and written to every file and position it belongs to (a bundle of small files,
 * or the zero chunk a relation's empty stretches share) — as many chunks at once as
 * there are slots; each file fsynced and closed after its last chunk; then tablespace
 * links where `tablespaceLinks` says; then the directories' modes.
 */
export async function writeDataFiles(
  manifest: Manifest,
  targetDir: string,
  source: ObjectSource,
  { slots, directIo }: AlignedSlots,
  onBytes: (bytes: number) => void,
  signal?: AbortSignal,
  tablespaceLinks: TablespaceLinks = new Map(),
): Promise<{ files: number; bytes: number }> {
  const unsafe = unsafeManifestEntry(manifest);
  if (unsafe !== undefined) throw new DrcError('OBJECT_CORRUPT', `unable to restore backup ${manifest.backupId} into '${targetDir}': ${unsafe}`, { hints: ['nothing outside the target directory was written; restore from another repository (`--from`) and run `drc verify` on this one'] });
  const tree = await RestoreTree.at(targetDir);
  const directories = manifest.files.filter((file) => file.type === 'directory');
  for (const directory of directories) {
    signal?.throwIfAborted();
    await tree.directory(directory.path);
  }
  const files = manifest.files.filter((file) => file.type === 'file');
  let bytes = 0;

  const restored = files.map((entry): RestoredFile => ({ entry, path: join(tree.root, entry.path), handle: undefined, direct: directIo && chunksAligned(entry), buffered: undefined, writes: Promise.resolve(), remaining: entry.chunks.length }));
  const createFile = (file: RestoredFile): Promise<FileHandle> => tree.createFile(file.entry, file.direct);
  // Files without content are created at once; the others as their first chunk arrives.
  for (const file of restored.filter((candidate) => candidate.remaining === 0)) {
    signal?.throwIfAborted();
    await finishFile(file, await createFile(file));
    bytes += file.entry.size;
  }

  const write = (piece: Piece, plaintext: Buffer): Promise<void> => {
    const { file, ref, position } = piece;
    file.writes = file.writes.then(async () => {
      file.handle ??= await createFile(file);
      // Direct I/O writes from a slot only; a chunk too big for one came in memory of its own.
      const target = file.direct && !alignedForDirectIo(slots, plaintext, position, ref.length) ? (file.buffered ??= await reopenRestoredFile(file.path)) : file.handle;
      await writeFully(target, plaintext, ref.offset ?? 0, ref.length, position);
      file.remaining -= 1;
      if (file.remaining > 0) return;
      const handle = file.handle;
      file.handle = undefined;
      await finishFile(file, handle);
      bytes += file.entry.size;
      onBytes(file.entry.size);
    });
    return file.writes;
  };

  try {
    await forEachConcurrent(piecesByChunk(restored), slots.count, async ([id, pieces]) => {
      // Checked between chunks: a cancelled restore stops with every write it began settled.
      signal?.throwIfAborted();
      const slot = await slots.acquire();
      try {
        const plaintext = await source.chunkInto(id, slot);
        // Every write from the slot settles before the slot is reused, a failed one too.
        const written = await Promise.allSettled(pieces.map((piece) => write(piece, plaintext)));
        const failed = written.find((outcome) => outcome.status === 'rejected');
        if (failed) throw failed.reason;
      } finally {
        slots.release(slot);
      }
    });
  } catch (error) {
    // Every write has settled (each chunk waits for its own); leave no descriptor open behind a failed restore.
    await Promise.allSettled(restored.flatMap((file) => [file.handle, file.buffered].flatMap((handle) => (handle ? [handle.close()] : []))));
    throw error;
  }

  for (const link of manifest.files.filter((file) => file.type === 'symlink')) await tree.tablespaceLink(link, tablespaceLinks);
  for (const directory of directories) await tree.setDirectoryMode(directory);
  return { files: files.length, bytes };
}

/**
 * The target directory as this restore fills it. Every directory it makes, it makes
 * itself, one level at a time (never a recursive mkdir: on a pseudo file system that
 * never returns), and checks once that what stands there is a directory and not a link;
 * a file is created new with O_NOFOLLOW and then, on Linux, asked where it really is
 * (/proc/self/fd), so even a directory swapped for a link between the check and the
 * open is caught before anything is written through it.
 */
class RestoreTree {
  private readonly made = new Set<string>(['.']);

  private constructor(
    readonly root: string,
    /** The root with its links resolved: what the kernel reports for a file under it. */
    private readonly realRoot: string,
  ) {}

  /** The tree rooted at `targetDir`, which is made (alone, its parent must exist) when it is not there yet. */
  static async at(targetDir: string): Promise<RestoreTree> {
    await mkdir(targetDir, { mode: 0o700 }).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    });
    return new RestoreTree(targetDir, await realpath(targetDir));
  }

  /** `relative` and every directory above it, inside the root. */
  async directory(relative: string): Promise<void> {
    relative = canonicalPath(relative) || '.';
    if (this.made.has(relative)) return;
    await this.directory(dirname(relative));
    const path = join(this.root, relative);
    try {
      await mkdir(path, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A directory this restore made earlier (pg_control comes in a second pass), or something planted.
      const info = await lstat(path);
      if (!info.isDirectory()) throw planted(this.root, relative, info.isSymbolicLink() ? 'a symbolic link' : 'not a directory');
    }
    this.made.add(relative);
  }

  async createFile(entry: ManifestFile, direct: boolean): Promise<FileHandle> {
    await this.directory(dirname(entry.path));
    // Permission bits only: a set-user-id bit from a manifest has no business on a restored file.
    const handle = await createRestoredFile(join(this.root, entry.path), entry.mode & 0o777, direct).catch((error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code;
      throw code === 'EEXIST' || code === 'ELOOP' ? planted(this.root, entry.path, 'already there') : error;
    });
    const landed = await this.landedOutside(handle, entry.path);
    if (landed !== undefined) {
      await handle.close();
      // Created new (O_EXCL) and empty by this very open: removing it takes nothing from anyone.
      await unlink(landed).catch(() => undefined);
      throw planted(this.root, entry.path, `a path through a link, to '${landed}'`);
    }
    return handle;
  }

  async tablespaceLink(link: ManifestFile, tablespaceLinks: TablespaceLinks): Promise<void> {
    const oid = canonicalPath(link.path).slice('pg_tblspc/'.length);
    const location = tablespaceLinks.get(oid);
    if (location === undefined) {
      throw new DrcError('OBJECT_CORRUPT', `unable to restore tablespace link '${link.path}' into '${this.root}': the backup links tablespace ${oid} to '${link.link ?? ''}', and restores keep tablespaces inside the data directory`, {
        hints: ['drc records tablespaces as directories under pg_tblspc/; a link in a manifest was not written by drc: restore from another repository (`--from`) and run `drc verify` on this one'],
      });
    }
    await this.directory('pg_tblspc');
    await symlink(location, join(this.root, link.path));
  }

  /** A directory's recorded mode (permission bits only), set on the directory itself, never through a link. */
  async setDirectoryMode(directory: ManifestFile): Promise<void> {
    const handle = await open(join(this.root, directory.path), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      await handle.chmod(directory.mode & 0o777);
    } finally {
      await handle.close();
    }
  }

  /** Where a file just opened really is, when that is not where it belongs (Linux tells; elsewhere O_NOFOLLOW and the directory checks must do). */
  private async landedOutside(handle: FileHandle, relative: string): Promise<string | undefined> {
    if (process.platform !== 'linux') return undefined;
    const landed = await readlink(`/proc/self/fd/${String(handle.fd)}`).catch(() => undefined);
    return landed === undefined || landed === join(this.realRoot, relative) ? undefined : landed;
  }
}

/** Something in the target that this restore did not make, in the way of a restored path. */
function planted(root: string, relative: string, what: string): DrcError {
  return new DrcError('RESTORE_FAILED', `unable to restore '${relative}' into '${root}': what stands there is ${what}, which this restore did not make`, {
    hints: ['something else writes in the target directory while the restore runs: find out what, then restore into a new directory', 'nothing was written through it'],
  });
}

/**
 * Files written side by side. Each file takes one write at a time, so with a single lane
 * a 1 GiB relation segment would be copied into the page cache by one thread while the
 * others wait; a few lanes keep several threads writing, and few files open.
 */
const lanes = 4;

/**
 * Every chunk with the pieces it fills, in the order of its first piece. Files are dealt,
 * largest first, to the lane with the fewest bytes so far, and the lanes' pieces are
 * interleaved: the biggest files are written side by side from the start, none finishes
 * alone at the end, and the bundles of small files come last.
 */
function piecesByChunk(files: RestoredFile[]): Map<string, Piece[]> {
  const dealt: Piece[][] = Array.from({ length: lanes }, () => []);
  const laneBytes = dealt.map(() => 0);
  for (const file of [...files].sort((a, b) => b.entry.size - a.entry.size)) {
    const lane = laneBytes.indexOf(Math.min(...laneBytes));
    let position = 0;
    for (const ref of file.entry.chunks) {
      dealt[lane]?.push({ file, ref, position });
      position += ref.length;
    }
    laneBytes[lane] = (laneBytes[lane] ?? 0) + file.entry.size;
  }
  const byChunk = new Map<string, Piece[]>();
  const longest = Math.max(...dealt.map((lane) => lane.length));
  for (let index = 0; index < longest; index++) {
    for (const lane of dealt) {
      const piece = lane[index];
      if (piece === undefined) continue;
      const pieces = byChunk.get(piece.ref.id);
      if (pieces) pieces.push(piece);
      else byChunk.set(piece.ref.id, [piece]);
    }
  }
  return byChunk;
}

/** Whole chunks (no bundle pieces) of whole blocks, at block offsets: a relation segment's, a WAL segment's. */
function chunksAligned(entry: ManifestFile): boolean {
  let position = 0;
  for (const ref of entry.chunks) {
    if ((ref.offset ?? 0) !== 0 || !blockAligned(position, ref.length)) return false;
    position += ref.length;
  }
  return entry.chunks.length > 0;
}

async function finishFile(file: RestoredFile, handle: FileHandle): Promise<void> {
  const buffered = file.buffered;
  file.buffered = undefined;
  try {
    // A file shorter in chunks than its recorded size ends in zeros (an incremental rebuild can).
    const written = file.entry.chunks.reduce((sum, ref) => sum + ref.length, 0);
    if (written < file.entry.size) await handle.truncate(file.entry.size);
    await buffered?.sync();
    await handle.sync();
    // On the descriptor, not the path: a path can be swapped for a link, a descriptor cannot.
    const mtime = new Date(file.entry.mtime);
    await handle.utimes(mtime, mtime);
  } finally {
    await buffered?.close();
    await handle.close();
  }
}
