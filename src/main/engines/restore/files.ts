import { chmod, mkdir, open, symlink, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Manifest, ManifestFile } from '../../repo/manifest.js';
import { forEachConcurrent } from '../../parallel.js';
import type { ObjectSource } from './object-source.js';

/**
 * write: every file of the manifest, from its chunks, into the target directory.
 * Directories first (with their modes), then files in parallel, each fsynced before it
 * counts as written, then symbolic links.
 */
export async function writeDataFiles(manifest: Manifest, targetDir: string, source: ObjectSource, onBytes: (bytes: number) => void): Promise<{ files: number; bytes: number }> {
  const directories = manifest.files.filter((file) => file.type === 'directory');
  for (const directory of directories) await mkdir(join(targetDir, directory.path), { recursive: true, mode: 0o700 });
  let bytes = 0;
  const files = manifest.files.filter((file) => file.type === 'file');
  // Largest first, so one big relation segment does not finish alone at the end.
  files.sort((a, b) => b.size - a.size);
  await forEachConcurrent(files, 8, async (file) => {
    const written = await writeOneFile(file, targetDir, source);
    bytes += written;
    onBytes(written);
  });
  for (const link of manifest.files.filter((file) => file.type === 'symlink' && file.link !== undefined)) {
    await mkdir(dirname(join(targetDir, link.path)), { recursive: true, mode: 0o700 });
    await symlink(link.link ?? '', join(targetDir, link.path));
  }
  for (const directory of directories) await chmod(join(targetDir, directory.path), directory.mode & 0o7777);
  return { files: files.length, bytes };
}

async function writeOneFile(file: ManifestFile, targetDir: string, source: ObjectSource): Promise<number> {
  const path = join(targetDir, file.path);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const handle = await open(path, 'w', file.mode & 0o7777);
  let position = 0;
  try {
    for (const ref of file.chunks) {
      const plaintext = await source.chunk(ref.id);
      const start = ref.offset ?? 0;
      await handle.write(plaintext, start, ref.length, position);
      position += ref.length;
    }
    // A file shorter in chunks than its recorded size was extended with zeros (never for
    // complete backups, but an incremental rebuild may end in zero pages).
    if (position < file.size) await handle.truncate(file.size);
    await handle.sync();
  } finally {
    await handle.close();
  }
  const mtime = new Date(file.mtime);
  await utimes(path, mtime, mtime);
  return file.size;
}
