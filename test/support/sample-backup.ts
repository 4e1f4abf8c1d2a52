import { randomBytes } from 'node:crypto';
import type { Manifest } from '../../src/main/repo/manifest.js';
import type { Repository } from '../../src/main/repo/repository.js';

/**
 * Writes a small backup (three files of page-like data, chunked, then the manifest) into
 * every repository given, in commit order. Stands in for the backup engine in tests of
 * the repository layer.
 */
export async function writeSampleBackup(repositories: readonly Repository[], backupId: string): Promise<{ manifest: Manifest; chunkIds: string[] }> {
  const files = [
    { path: 'base/5/16384', pages: 40 },
    { path: 'base/5/16385', pages: 3 },
    { path: 'global/pg_control', pages: 1 },
  ];
  const chunkIds: string[] = [];
  const manifestFiles: Manifest['files'] = [];
  for (const file of files) {
    const chunks: Array<{ id: string; length: number }> = [];
    for (let offset = 0; offset < file.pages; offset += 16) {
      const pages = Math.min(16, file.pages - offset);
      const plaintext = Buffer.concat(Array.from({ length: pages }, () => Buffer.concat([randomBytes(512), Buffer.alloc(8192 - 512, 0x20)])));
      let id = '';
      for (const repository of repositories) id = (await repository.writeChunk(plaintext)).id;
      chunks.push({ id, length: plaintext.length });
      chunkIds.push(id);
    }
    manifestFiles.push({ path: file.path, type: 'file', size: file.pages * 8192, mode: 0o600, mtime: new Date().toISOString(), chunks });
  }
  const manifest: Manifest = { format: 1, backupId, createdAt: new Date().toISOString(), backup: { type: 'full', reason: 'test' }, files: manifestFiles, attachments: [] };
  for (const repository of repositories) await repository.writeManifest(manifest);
  return { manifest, chunkIds };
}
