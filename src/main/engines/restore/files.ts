import { chmod, mkdir, open, symlink, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ChunkRef, Manifest, ManifestFile } from '../../repo/manifest.js';
import { forEachConcurrent } from '../../parallel.js';
import type { ObjectSource } from './object-source.js';

/** Chunks fetched, opened and written at once, across all files: keeps the workers and the disk busy. */
const chunksInFlight = 12;

interface Piece {
  readonly file: OpenFile;
  readonly ref: ChunkRef;
  readonly position: number;
}

interface OpenFile {
  readonly entry: ManifestFile;
  readonly path: string;
  handle: Promise<FileHandle> | undefined;
  remaining: number;
}

/**
 * write: every file of the manifest, from its chunks, into the target directory.
 * Directories first (with their modes), then every chunk of every file as one stream of
 * positional writes — so a 1 GiB relation segment is written by many chunks in parallel,
 * not one after another — each file fsynced and closed after its last chunk, then
 * symbolic links.
 */
export async function writeDataFiles(manifest: Manifest, targetDir: string, source: ObjectSource, onBytes: (bytes: number) => void): Promise<{ files: number; bytes: number }> {
  const directories = manifest.files.filter((file) => file.type === 'directory');
  for (const directory of directories) await mkdir(join(targetDir, directory.path), { recursive: true, mode: 0o700 });
  const files = manifest.files.filter((file) => file.type === 'file');
  let bytes = 0;

  const opened = files.map((entry): OpenFile => ({ entry, path: join(targetDir, entry.path), handle: undefined, remaining: entry.chunks.length }));
  // Files without content are created at once; the others as their first chunk arrives.
  for (const file of opened.filter((candidate) => candidate.remaining === 0)) {
    await finishFile(file, await createFile(file));
    bytes += file.entry.size;
  }
  try {
    await forEachConcurrent(pieces(opened), chunksInFlight, async (piece) => {
      const plaintext = await source.chunk(piece.ref.id);
      piece.file.handle ??= createFile(piece.file);
      const handle = await piece.file.handle;
      await handle.write(plaintext, piece.ref.offset ?? 0, piece.ref.length, piece.position);
      piece.file.remaining -= 1;
      if (piece.file.remaining === 0) {
        await finishFile(piece.file, handle);
        piece.file.handle = undefined;
        bytes += piece.file.entry.size;
        onBytes(piece.file.entry.size);
      }
    });
  } catch (error) {
    // Leave no descriptor open behind a failed restore.
    await Promise.allSettled(opened.flatMap((file) => (file.handle ? [file.handle.then((handle) => handle.close())] : [])));
    throw error;
  }

  for (const link of manifest.files.filter((file) => file.type === 'symlink' && file.link !== undefined)) {
    await mkdir(dirname(join(targetDir, link.path)), { recursive: true, mode: 0o700 });
    await symlink(link.link ?? '', join(targetDir, link.path));
  }
  for (const directory of directories) await chmod(join(targetDir, directory.path), directory.mode & 0o7777);
  return { files: files.length, bytes };
}

/** Largest files first, so one big relation segment does not finish alone at the end. */
function* pieces(files: OpenFile[]): Generator<Piece> {
  for (const file of [...files].sort((a, b) => b.entry.size - a.entry.size)) {
    let position = 0;
    for (const ref of file.entry.chunks) {
      yield { file, ref, position };
      position += ref.length;
    }
  }
}

async function createFile(file: OpenFile): Promise<FileHandle> {
  await mkdir(dirname(file.path), { recursive: true, mode: 0o700 });
  return open(file.path, 'w', file.entry.mode & 0o7777);
}

async function finishFile(file: OpenFile, handle: FileHandle): Promise<void> {
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
