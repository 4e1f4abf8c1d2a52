import { backupRecordSchema, type BackupRecord } from '../../repo/backup-record.js';
import { DrcError } from '../../../shared/errors.js';
import type { Manifest } from '../../repo/manifest.js';
import type { Repository } from '../../repo/repository.js';
import { forEachConcurrent } from '../../parallel.js';

const manifestReads = 8;

/**
 * The backups the repositories hold. A backup exists in a repository exactly when its
 * manifest does; its record is the `backup` section of the manifest.
 */
export interface CatalogEntry {
  readonly record: BackupRecord;
  /** Repositories holding a manifest (a complete copy) of this backup. */
  readonly repositories: string[];
}

export function recordOf(manifest: Manifest, repository: string): BackupRecord {
  const parsed = backupRecordSchema.safeParse(manifest.backup);
  if (!parsed.success) {
    throw new DrcError('OBJECT_CORRUPT', `unable to read backup ${manifest.backupId} in repository '${repository}': its record is incomplete (${parsed.error.issues[0]?.message ?? 'unexpected shape'})`);
  }
  return parsed.data;
}

/** Every backup in any of the repositories, oldest first, with the repositories holding it. */
export async function listBackups(repositories: readonly Repository[]): Promise<CatalogEntry[]> {
  const holders = new Map<string, { repository: Repository; names: string[] }>();
  for (const repository of repositories) {
    for (const id of await repository.listBackupIds()) {
      const entry = holders.get(id) ?? { repository, names: [] };
      entry.names.push(repository.name);
      holders.set(id, entry);
    }
  }
  const entries: CatalogEntry[] = [];
  // Manifests carry every file of the data directory: read several at once, keep only the record.
  await forEachConcurrent(holders, manifestReads, async ([id, holder]) => {
    entries.push({ record: recordOf(await holder.repository.readManifest(id), holder.repository.name), repositories: holder.names.sort() });
  });
  return entries.sort((a, b) => a.record.stoppedAt.localeCompare(b.record.stoppedAt));
}

/** The newest backup, read from the first repository that holds it. */
export async function findLatestBackup(repositories: readonly Repository[]): Promise<{ repository: Repository; manifest: Manifest; record: BackupRecord } | undefined> {
  let latest: { repository: Repository; id: string } | undefined;
  for (const repository of repositories) {
    const ids = await repository.listBackupIds();
    const newest = ids.at(-1);
    if (newest !== undefined && (latest === undefined || newest > latest.id)) latest = { repository, id: newest };
  }
  if (!latest) return undefined;
  const manifest = await latest.repository.readManifest(latest.id);
  return { repository: latest.repository, manifest, record: recordOf(manifest, latest.repository.name) };
}

/** The server's backup_manifest kept with a backup (needed to ask 17+ for an incremental). */
export async function readServerManifest(repository: Repository, manifest: Manifest): Promise<Buffer | undefined> {
  const attachment = manifest.attachments.find((entry) => entry.name === 'backup_manifest');
  if (!attachment) return undefined;
  const pieces = await Promise.all(attachment.chunks.map(async (ref) => (await repository.readChunk(ref.id)).subarray(ref.offset ?? 0, (ref.offset ?? 0) + ref.length)));
  return Buffer.concat(pieces);
}
