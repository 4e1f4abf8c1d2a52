import { chmod, mkdir, open, symlink, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ChunkRef, Manifest, ManifestFile } from '../../repo/manifest.js';
import { forEachConcurrent } from '../../parallel.js';
import { writeFully } from '../../storage/direct-io.js';
import { alignedForDirectIo, blockAligned, openForRestore, type AlignedSlots } from '../direct-io.js';
import type { ObjectSource } from './object-source.js';

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
 * write: every file of the manifest, from its chunks, into the target directory.
 * Directories first (with their modes), then every chunk once — fetched, opened into a
 * shared slot, and written to every file and position it belongs to (a bundle of small
 * files, or the zero chunk a relation's empty stretches share) — as many chunks at once
 * as there are slots; each file fsynced and closed after its last chunk; then symbolic links.
 */
export async function writeDataFiles(manifest: Manifest, targetDir: string, source: ObjectSource, { slots, directIo }: AlignedSlots, onBytes: (bytes: number) => void, signal?: AbortSignal): Promise<{ files: number; bytes: number }> {
  const directories = manifest.files.filter((file) => file.type === 'directory');
  for (const directory of directories) await mkdir(join(targetDir, directory.path), { recursive: true, mode: 0o700 });
  const files = manifest.files.filter((file) => file.type === 'file');
  let bytes = 0;

  const restored = files.map((entry): RestoredFile => ({ entry, path: join(targetDir, entry.path), handle: undefined, direct: directIo && chunksAligned(entry), buffered: undefined, writes: Promise.resolve(), remaining: entry.chunks.length }));
  // Files without content are created at once; the others as their first chunk arrives.
  for (const file of restored.filter((candidate) => candidate.remaining === 0)) {
    await finishFile(file, await createFile(file));
    bytes += file.entry.size;
  }

  const write = (piece: Piece, plaintext: Buffer): Promise<void> => {
    const { file, ref, position } = piece;
    file.writes = file.writes.then(async () => {
      file.handle ??= await createFile(file);
      // Direct I/O writes from a slot only; a chunk too big for one came in memory of its own.
      const target = file.direct && !alignedForDirectIo(slots, plaintext, position, ref.length) ? (file.buffered ??= await open(file.path, 'r+')) : file.handle;
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

  for (const link of manifest.files.filter((file) => file.type === 'symlink' && file.link !== undefined)) {
    await mkdir(dirname(join(targetDir, link.path)), { recursive: true, mode: 0o700 });
    await symlink(link.link ?? '', join(targetDir, link.path));
  }
  for (const directory of directories) await chmod(join(targetDir, directory.path), directory.mode & 0o7777);
  return { files: files.length, bytes };
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

async function createFile(file: RestoredFile): Promise<FileHandle> {
  await mkdir(dirname(file.path), { recursive: true, mode: 0o700 });
  return openForRestore(file.path, file.entry.mode & 0o7777, file.direct);
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
  } finally {
    await buffered?.close();
    await handle.close();
  }
  const mtime = new Date(file.entry.mtime);
  await utimes(file.path, mtime, mtime);
}
