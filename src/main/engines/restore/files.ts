import { chmod, mkdir, open, symlink, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ChunkRef, Manifest, ManifestFile } from '../../repo/manifest.js';
import type { SharedSlots } from '../../repo/shared-slots.js';
import { forEachConcurrent } from '../../parallel.js';
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
export async function writeDataFiles(manifest: Manifest, targetDir: string, source: ObjectSource, slots: SharedSlots, onBytes: (bytes: number) => void): Promise<{ files: number; bytes: number }> {
  const directories = manifest.files.filter((file) => file.type === 'directory');
  for (const directory of directories) await mkdir(join(targetDir, directory.path), { recursive: true, mode: 0o700 });
  const files = manifest.files.filter((file) => file.type === 'file');
  let bytes = 0;

  const restored = files.map((entry): RestoredFile => ({ entry, path: join(targetDir, entry.path), handle: undefined, writes: Promise.resolve(), remaining: entry.chunks.length }));
  // Files without content are created at once; the others as their first chunk arrives.
  for (const file of restored.filter((candidate) => candidate.remaining === 0)) {
    await finishFile(file, await createFile(file));
    bytes += file.entry.size;
  }

  const write = (piece: Piece, plaintext: Buffer): Promise<void> => {
    const { file, ref, position } = piece;
    file.writes = file.writes.then(async () => {
      file.handle ??= await createFile(file);
      await file.handle.write(plaintext, ref.offset ?? 0, ref.length, position);
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
    await Promise.allSettled(restored.flatMap((file) => (file.handle ? [file.handle.close()] : [])));
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
 * Every chunk with the pieces it fills, in the order of its first piece: largest files
 * first, so one big relation segment does not finish alone at the end, and the bundles
 * of small files last.
 */
function piecesByChunk(files: RestoredFile[]): Map<string, Piece[]> {
  const byChunk = new Map<string, Piece[]>();
  for (const file of [...files].sort((a, b) => b.entry.size - a.entry.size)) {
    let position = 0;
    for (const ref of file.entry.chunks) {
      const pieces = byChunk.get(ref.id);
      if (pieces) pieces.push({ file, ref, position });
      else byChunk.set(ref.id, [{ file, ref, position }]);
      position += ref.length;
    }
  }
  return byChunk;
}

async function createFile(file: RestoredFile): Promise<FileHandle> {
  await mkdir(dirname(file.path), { recursive: true, mode: 0o700 });
  return open(file.path, 'w', file.entry.mode & 0o7777);
}

async function finishFile(file: RestoredFile, handle: FileHandle): Promise<void> {
  try {
    // A file shorter in chunks than its recorded size ends in zeros (an incremental rebuild can).
    const written = file.entry.chunks.reduce((sum, ref) => sum + ref.length, 0);
    if (written < file.entry.size) await handle.truncate(file.entry.size);
    await handle.sync();
  } finally {
    await handle.close();
  }
  const mtime = new Date(file.entry.mtime);
  await utimes(file.path, mtime, mtime);
}
