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

/** A manifest as stored. One a restore would refuse is never written: a backup that cannot be restored fails as it is taken, not when it is needed. */
export function encodeManifest(manifest: Manifest): Buffer {
  const parsed = manifestSchema.parse(manifest);
  const unsafe = unsafeManifestEntry(parsed);
  if (unsafe !== undefined) {
    throw new DrcError('BACKUP_FAILED', `unable to write the manifest of backup ${parsed.backupId}: ${unsafe}`, {
      hints: ['a restore refuses such a manifest, so it is not written; links in the data directory other than pg_wal and tablespaces (pg_tblspc/<oid>) cannot be restored: move what they point to into the data directory or outside it'],
    });
  }
  return Buffer.from(JSON.stringify(parsed));
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
  const unsafe = unsafeManifestEntry(parsed.data);
  if (unsafe !== undefined) {
    throw new DrcError('OBJECT_CORRUPT', `unable to read manifest '${name}' in repository '${repository}': ${unsafe}`, {
      hints: [
        'the manifest authenticated, so it was written with the repository key: drc never writes such a path, so treat the repository as tampered with and restore from another copy (`--from`)',
        'nothing was written from this manifest',
      ],
    });
  }
  return parsed.data;
}

/**
 * Why a manifest could not be restored inside its target directory, or undefined when it
 * can. A manifest is authenticated, but authentication only says that its writer held the
 * repository key: a restore, often run as root, must still write nothing outside the
 * directory it was given. So every path is relative and plain — no `..` or empty
 * segment, no NUL or other control character, no backslash (a separator on Windows) —
 * and named once; nothing lies under a file or a link; and the only symbolic links are a
 * tablespace's, `pg_tblspc/<oid>`, to an absolute, plain location. Where such a link may
 * point is for the restore's tablespace mapping to say (see `writeDataFiles`). A `.`
 * segment is harmless and the server sends some (`./pg_wal/archive_status`), so paths
 * are compared without them.
 */
export function unsafeManifestEntry(manifest: Manifest): string | undefined {
  const seen = new Set<string>();
  const leaves = new Set<string>();
  for (const entry of manifest.files) {
    const problem = unsafeRelativePath(entry.path);
    if (problem !== undefined) return `file path '${printable(entry.path)}' ${problem}`;
    const path = canonicalPath(entry.path);
    if (seen.has(path)) return `file path '${path}' is named twice`;
    seen.add(path);
    if (entry.type === 'symlink') {
      if (!tablespaceLinkPath.test(path)) return `'${path}' is a symbolic link, and only tablespace links (pg_tblspc/<oid>) are restored`;
      const link = entry.link ?? '';
      if (!link.startsWith('/') || unsafeRelativePath(link.slice(1)) !== undefined) return `tablespace link '${path}' points to '${printable(link)}', not to a plain absolute location`;
    }
    if (entry.type !== 'directory') leaves.add(path);
  }
  for (const path of seen) {
    for (let slash = path.indexOf('/'); slash !== -1; slash = path.indexOf('/', slash + 1)) {
      const above = path.slice(0, slash);
      if (leaves.has(above)) return `'${path}' lies under '${above}', which is a file or a link, not a directory`;
    }
  }
  const attachments = new Set<string>();
  for (const attachment of manifest.attachments) {
    const problem = unsafeRelativePath(attachment.name);
    if (problem !== undefined) return `attachment name '${printable(attachment.name)}' ${problem}`;
    const name = canonicalPath(attachment.name);
    if (attachments.has(name)) return `attachment name '${name}' is named twice`;
    attachments.add(name);
  }
  return undefined;
}

const tablespaceLinkPath = /^pg_tblspc\/[1-9][0-9]*$/;

/** Why `path` is not a plain relative path (one that `join(directory, path)` keeps inside `directory`), or undefined. */
export function unsafeRelativePath(path: string): string | undefined {
  if (path === '') return 'is empty';
  // NUL ends a path in the kernel; other control characters have no place in a data directory.
  if ([...path].some((character) => character < ' ' || character === '\u007f')) return 'holds a control character';
  if (path.includes('\\')) return 'holds a backslash';
  if (path.startsWith('/')) return 'is absolute';
  for (const segment of path.split('/')) {
    if (segment === '') return 'has an empty segment';
    if (segment === '..') return "has a '..' segment";
  }
  if (canonicalPath(path) === '') return 'names the directory itself';
  return undefined;
}

/** A relative path without its `.` segments: `./pg_wal/archive_status` is `pg_wal/archive_status`. */
export function canonicalPath(path: string): string {
  return path
    .split('/')
    .filter((segment) => segment !== '.')
    .join('/');
}

/** A path as it can be shown in a message: control characters escaped, never printed. */
function printable(path: string): string {
  return JSON.stringify(path).slice(1, -1);
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
