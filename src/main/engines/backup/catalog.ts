import { backupRecordSchema, type BackupRecord } from '../../repo/backup-record.js';
import { DrcError } from '../../../shared/errors.js';
import { decodeManifest, manifestObjectName, type Manifest } from '../../repo/manifest.js';
import { isUnusableCopy, readFromFirstSound, recordFallback } from '../../repo/object-source.js';
import type { Repository } from '../../repo/repository.js';
import { forEachConcurrent } from '../../parallel.js';

const manifestReads = 8;

/**
 * The backups the repositories hold. A backup exists in a repository exactly when its
 * manifest does; its record is the `backup` section of the manifest.
 */
export interface CatalogEntry {
  readonly record: BackupRecord;
  /** Repositories holding a manifest (a complete copy) of this backup that authenticates. */
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
 * Every backup in any of the repositories, oldest first, with the repositories holding a
 * sound copy of it. Every copy of each manifest is read, each from its own repository: a
 * copy counts (for 3-2-1, for where a restore may read) only when it authenticates, since
 * a manifest that does not is a backup that repository cannot restore. A damaged copy is
 * logged in the set's fallbacks, naming the repository whose copy served instead, and is
 * never a reason to be unable to list (or so to restore, expire, report status).
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
    const name = manifestObjectName(id);
    const reads = await Promise.all(copies.map((repository) => readOwnCopy(repository, name)));
    const readOf = (repository: Repository): CopyRead => reads[copies.indexOf(repository)] ?? { error: new DrcError('INTERNAL', `no read of '${name}' in '${repository.name}'`) };
    // Throws, naming every damaged or vanished copy, when no copy is sound.
    const record = await readFromFirstSound(name, copies, (repository) => {
      const read = readOf(repository);
      return read.error ? Promise.reject(read.error) : Promise.resolve(read.record);
    }, first.set.fallbacks);
    const sound = copies.filter((repository) => readOf(repository).error === undefined);
    const servedBy = sound[0]?.name ?? first.name;
    // Damage in a copy after the one that served is as much a finding as damage before it.
    for (const repository of copies) {
      const { error } = readOf(repository);
      if (error) recordFallback(first.set.fallbacks, { object: name, failed: repository.name, usedInstead: servedBy, reason: error.message });
    }
    entries.push({ record, repositories: sound.map((repository) => repository.name).sort() });
  });
  return entries.sort((a, b) => a.record.stoppedAt.localeCompare(b.record.stoppedAt));
}

type CopyRead = { record: BackupRecord; error?: undefined } | { record?: undefined; error: DrcError };

/** One repository's own copy of a manifest, never another member's (as `readManifest` would give): whether that copy is sound is the question. */
async function readOwnCopy(repository: Repository, name: string): Promise<CopyRead> {
  try {
    return { record: recordOf(decodeManifest(await repository.readObject(name), repository.name, name), repository.name) };
  } catch (error) {
    if (!isUnusableCopy(error)) throw error;
    return { error };
  }
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
