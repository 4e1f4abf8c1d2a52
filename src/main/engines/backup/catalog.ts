import { backupRecordSchema, type BackupRecord } from '../../repo/backup-record.js';
import { DrcError } from '../../../shared/errors.js';
import { manifestObjectName, type Manifest } from '../../repo/manifest.js';
import { readFromFirstSound } from '../../repo/object-source.js';
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

/**
 * Every backup in any of the repositories, oldest first, with the repositories holding it.
 * Each manifest is read from the first holder whose copy is sound: a damaged copy in one
 * repository is passed over for another's and logged in the set's fallbacks, never a
 * reason to be unable to list (or so to restore, expire, report status).
 */
export async function listBackups(repositories: readonly Repository[]): Promise<CatalogEntry[]> {
  const holders = new Map<string, Repository[]>();
  for (const repository of repositories) {
    for (const id of await repository.listBackupIds()) holders.set(id, [...(holders.get(id) ?? []), repository]);
  }
  const entries: CatalogEntry[] = [];
  // Manifests carry every file of the data directory: read several at once, keep only the record.
  await forEachConcurrent(holders, manifestReads, async ([id, copies]) => {
    const first = copies[0];
    if (!first) return;
    const record = await readFromFirstSound(manifestObjectName(id), copies, async (repository) => recordOf(await repository.readManifest(id), repository.name), first.set.fallbacks);
    entries.push({ record, repositories: copies.map((repository) => repository.name).sort() });
  });
  return entries.sort((a, b) => a.record.stoppedAt.localeCompare(b.record.stoppedAt));
}

/** The newest backup, its manifest read from the first repository holding a sound copy. */
export async function findLatestBackup(repositories: readonly Repository[]): Promise<{ repository: Repository; manifest: Manifest; record: BackupRecord } | undefined> {
  const listed = await Promise.all(repositories.map(async (repository) => ({ repository, newest: (await repository.listBackupIds()).at(-1) })));
  const newestId = listed.reduce<string | undefined>((newest, entry) => (entry.newest !== undefined && (newest === undefined || entry.newest > newest) ? entry.newest : newest), undefined);
  if (newestId === undefined) return undefined;
  const copies = listed.filter((entry) => entry.newest === newestId).map((entry) => entry.repository);
  const first = copies[0];
  if (!first) return undefined;
  let servedBy = first;
  const manifest = await readFromFirstSound(
    manifestObjectName(newestId),
    copies,
    async (repository) => {
      const read = await repository.readManifest(newestId);
      servedBy = repository;
      return read;
    },
    first.set.fallbacks,
  );
  return { repository: servedBy, manifest, record: recordOf(manifest, servedBy.name) };
}

/** The server's backup_manifest kept with a backup (needed to ask 17+ for an incremental). */
export async function readServerManifest(repository: Repository, manifest: Manifest): Promise<Buffer | undefined> {
  const attachment = manifest.attachments.find((entry) => entry.name === 'backup_manifest');
  if (!attachment) return undefined;
  const pieces = await Promise.all(attachment.chunks.map(async (ref) => (await repository.readChunk(ref.id)).subarray(ref.offset ?? 0, (ref.offset ?? 0) + ref.length)));
  return Buffer.concat(pieces);
}
