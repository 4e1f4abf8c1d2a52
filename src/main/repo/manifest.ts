import { z } from 'zod';
import { DrcError } from '../../shared/errors.js';

/**
 * A backup's manifest: the commit point of a backup. It is written last, after every
 * chunk it names is stored, so a manifest that exists always describes a complete copy.
 * `backup` holds what the backup engine records (type, LSNs, timeline, who, why…);
 * `files` maps every file of the data directory to its chunks in order.
 */
/**
 * A piece of a file: `length` bytes at `offset` (default 0) of a chunk. Large files are
 * split into whole chunks; small files share "bundle" chunks, each at its own offset, so
 * a data directory's thousand small catalog files do not become a thousand objects.
 */
export const chunkRefSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{64}$/),
  offset: z.number().int().nonnegative().optional(),
  length: z.number().int().nonnegative(),
});
export type ChunkRef = z.infer<typeof chunkRefSchema>;

export const manifestFileSchema = z.object({
  path: z.string(),
  /** Directories and symbolic links (tablespace links in pg_tblspc) carry no chunks. */
  type: z.enum(['file', 'directory', 'symlink']).default('file'),
  link: z.string().optional(),
  size: z.number().int().nonnegative(),
  mode: z.number().int(),
  mtime: z.string(),
  chunks: z.array(chunkRefSchema),
});
export type ManifestFile = z.infer<typeof manifestFileSchema>;

/**
 * Without `component`, an attachment is for drc itself (the server's backup_manifest).
 * With one, it is a file the person asked to keep with the backup, restored beside the
 * data directory under `<targetDir>.attachments/<name>`: `configurations/<file>` for the
 * server's configuration files outside the data directory and the console's config,
 * `files/<directory basename>/<path>` for the directories listed under `files`.
 */
export const attachmentSchema = z.object({
  name: z.string(),
  size: z.number().int().nonnegative(),
  chunks: z.array(chunkRefSchema),
  component: z.enum(['configurations', 'files']).optional(),
  /** Where the file was read from, for the person restoring it. */
  source: z.string().optional(),
  mode: z.number().int().optional(),
  mtime: z.string().optional(),
});
export type Attachment = z.infer<typeof attachmentSchema>;

export const manifestSchema = z.object({
  format: z.literal(1),
  backupId: z.string().regex(/^[0-9A-Za-z_-]+$/),
  createdAt: z.string(),
  backup: z.record(z.string(), z.unknown()),
  files: z.array(manifestFileSchema),
  /** Content kept with the backup but not restored as a data file: the server's backup_manifest, and the components beside the data directory. */
  attachments: z.array(attachmentSchema).default([]),
});
export type Manifest = z.infer<typeof manifestSchema>;

export function manifestObjectName(backupId: string): string {
  return `backups/${backupId}.manifest`;
}

export function backupIdOf(name: string): string | undefined {
  return /^backups\/([0-9A-Za-z_-]+)\.manifest$/.exec(name)?.[1];
}

export function encodeManifest(manifest: Manifest): Buffer {
  return Buffer.from(JSON.stringify(manifestSchema.parse(manifest)));
}

export function decodeManifest(plaintext: Buffer, repository: string, name: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(plaintext.toString('utf8'));
  } catch {
    throw invalidManifest(repository, name, 'not JSON');
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw invalidManifest(repository, name, parsed.error.issues[0]?.message ?? 'unexpected shape');
  return parsed.data;
}

/** Every chunk id a manifest references, once each. */
export function referencedChunks(manifest: Manifest): Set<string> {
  const ids = new Set<string>();
  for (const file of [...manifest.files, ...manifest.attachments]) for (const chunk of file.chunks) ids.add(chunk.id);
  return ids;
}

function invalidManifest(repository: string, name: string, why: string): DrcError {
  return new DrcError('OBJECT_CORRUPT', `unable to read manifest '${name}' in repository '${repository}': ${why}`, {
    hints: ['the manifest authenticated but does not describe a backup this build understands; run `drc verify --repair`'],
  });
}
