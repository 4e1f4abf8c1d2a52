import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { DrcError } from '../../../shared/errors.js';
import { forEachConcurrent } from '../../parallel.js';
import { CRC32C_INIT, crc32cFinish, crc32cUpdate } from '../../postgres/wal/page.js';

/**
 * checksums: every file the server listed in its backup_manifest, read back from the
 * restored directory and compared with the server's own size and checksum — an end-to-end
 * check that covers the console's chunking, bundling and incremental rebuilding, not only
 * the repository's encryption. It runs before the scratch server starts, because recovery
 * rewrites files.
 *
 * Files the console or the restore change on purpose are checked for what stays true:
 *  - `INCREMENTAL.<name>` (PostgreSQL 17+ native incremental): the console stores the
 *    rebuilt whole file `<name>`, which the server never checksummed; it must exist and
 *    hold whole 8 KiB blocks.
 *  - `backup_label` of a native incremental backup: its INCREMENTAL lines were removed
 *    (see engines/backup/incremental.ts), so its checksum no longer applies.
 *  - `tablespace_map` of a backup with tablespaces: the restore keeps tablespaces inside
 *    the data directory and removes the map that would point them at the source's paths.
 *  - `postgresql.auto.conf`: the restore appends the recovery settings, so the bytes the
 *    manifest covers must be the file's unchanged beginning.
 */
const serverManifestSchema = z.object({
  Files: z.array(
    z
      .object({
        Path: z.string().optional(),
        /** Hex of the raw name, for names that are not valid UTF-8. */
        'Encoded-Path': z.string().optional(),
        Size: z.number().int().nonnegative(),
        'Checksum-Algorithm': z.string().optional(),
        Checksum: z.string().optional(),
      })
      .refine((file) => file.Path !== undefined || file['Encoded-Path'] !== undefined, 'a file without a path'),
  ),
});

export interface ManifestCheckResult {
  readonly filesChecked: number;
  readonly bytesChecked: number;
  /** Entries compared for something other than their checksum, with why. */
  readonly adjusted: number;
  readonly mismatches: string[];
}

const incrementalPrefix = 'INCREMENTAL.';
const appendedByRestore = 'postgresql.auto.conf';
const blockSize = 8192;
const filesInFlight = 4;

export async function checkServerManifest(dataDir: string, serverManifest: Buffer, options: { nativeIncremental: boolean; inPlaceTablespaces: boolean }): Promise<ManifestCheckResult> {
  let json: unknown;
  try {
    json = JSON.parse(serverManifest.toString('utf8'));
  } catch {
    throw new DrcError('RESTORE_TEST_FAILED', "unable to read the server's backup_manifest kept with the backup: not JSON");
  }
  const parsed = serverManifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new DrcError('RESTORE_TEST_FAILED', `unable to read the server's backup_manifest kept with the backup: ${parsed.error.issues[0]?.message ?? 'unexpected shape'}`);
  }
  const mismatches: string[] = [];
  let filesChecked = 0;
  let bytesChecked = 0;
  let adjusted = 0;
  await forEachConcurrent(parsed.data.Files, filesInFlight, async (file) => {
    const path = file.Path ?? Buffer.from(file['Encoded-Path'] ?? '', 'hex').toString('utf8');
    const base = path.slice(path.lastIndexOf('/') + 1);
    if (base.startsWith(incrementalPrefix)) {
      adjusted += 1;
      const rebuilt = path.slice(0, path.length - base.length) + base.slice(incrementalPrefix.length);
      const size = await fileSize(join(dataDir, rebuilt));
      if (size === undefined) mismatches.push(`${rebuilt}: missing (rebuilt from the server's ${path})`);
      else if (size % blockSize !== 0) mismatches.push(`${rebuilt}: ${String(size)} bytes, not whole ${String(blockSize)}-byte blocks (rebuilt from ${path})`);
      return;
    }
    if ((path === 'backup_label' && options.nativeIncremental) || (path === 'tablespace_map' && options.inPlaceTablespaces)) {
      adjusted += 1;
      return;
    }
    const prefixOnly = path === appendedByRestore;
    if (prefixOnly) adjusted += 1;
    const problem = await compareFile(join(dataDir, path), file.Size, prefixOnly, file['Checksum-Algorithm'] ?? 'NONE', file.Checksum ?? '');
    if (problem !== undefined) mismatches.push(`${path}: ${problem}`);
    filesChecked += 1;
    bytesChecked += file.Size;
  });
  return { filesChecked, bytesChecked, adjusted, mismatches: mismatches.sort() };
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

/** Undefined when the file matches; otherwise what is wrong with it. */
async function compareFile(path: string, size: number, prefixOnly: boolean, algorithm: string, expected: string): Promise<string | undefined> {
  const actualSize = await fileSize(path);
  if (actualSize === undefined) return 'missing';
  if (prefixOnly ? actualSize < size : actualSize !== size) return `${String(actualSize)} bytes, the server's manifest says ${String(size)}`;
  if (algorithm === 'NONE') return undefined;
  const actual = await checksums(path, size, algorithm);
  return actual.includes(expected.toLowerCase()) ? undefined : `${algorithm} checksum ${actual[0] ?? ''}, the server's manifest says ${expected}`;
}

/** The checksum of the first `length` bytes, in hex, in each form PostgreSQL may have written it. */
async function checksums(path: string, length: number, algorithm: string): Promise<string[]> {
  const sha = /^SHA(224|256|384|512)$/.exec(algorithm);
  if (algorithm !== 'CRC32C' && !sha) throw new DrcError('RESTORE_TEST_FAILED', `unable to check '${path}': the backup_manifest uses checksum algorithm '${algorithm}', which this build does not know`);
  const hash = sha ? createHash(`sha${sha[1] ?? ''}`) : undefined;
  let crc = CRC32C_INIT;
  const handle = await open(path, 'r');
  try {
    // Most files of a data directory are small: no 1 MiB buffer for each of them.
    const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(length, 1024 * 1024)));
    for (let position = 0; position < length; ) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, length - position), position);
      if (bytesRead === 0) break;
      if (hash) hash.update(buffer.subarray(0, bytesRead));
      else crc = crc32cUpdate(buffer, 0, bytesRead, crc);
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
  if (hash) return [hash.digest('hex')];
  // The server writes the CRC's bytes in its own byte order: little-endian on the usual
  // machines, big-endian on s390x and the like.
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(crc32cFinish(crc));
  return [bytes.toString('hex'), Buffer.from(bytes).reverse().toString('hex')];
}
