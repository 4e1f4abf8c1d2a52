import type { RecoveryTarget, RestoreReport } from '../../../shared/contract/restore.js';
import { DrcError } from '../../../shared/errors.js';
import { locateServerBinaries, type ServerBinaries } from '../../postgres/binaries.js';
import type { ScratchInstance, ScratchLocation } from '../../postgres/scratch-instance.js';
import { everything, readsOfBackup, whileLeased } from '../../repo/leases.js';
import type { RepositorySet } from '../../repo/repository-set.js';
import { listBackups, readServerManifest, type CatalogEntry } from '../backup/catalog.js';
import { runRestore, type RestoreOptions } from '../restore/restore.js';
import { selectBackup, type SelectOptions } from '../restore/select.js';
import { WalCatalog } from '../wal/catalog.js';
import { archivedWalSegmentSize } from '../wal/segment-size.js';

/**
 * What restore tests and partial restores share: pick the backup and the server binaries
 * before a byte is fetched, then restore into a scratch instance's directory with the
 * ordinary restore engine — so what is tested is exactly what a real restore does.
 */
/** What a restore into a scratch instance takes, for a restore test and a partial restore alike. */
export interface ScratchRecoveryOptions {
  readonly target: RecoveryTarget;
  readonly backupId?: string;
  /** Restore from this repository's copy alone, with no fallback to another. */
  readonly from?: string;
  readonly bindir?: string;
  readonly scratch?: ScratchLocation;
  /** Roles that may exist in the backed-up cluster, to log in to the restored copy (the configured user first). */
  readonly loginRoles?: readonly string[];
  /** Aborting stops after the step under way; the scratch instance is always removed. */
  readonly signal?: AbortSignal;
  /** What a hole in the WAL before the target does: a restore test records it (as data loss) rather than refuse. */
  readonly onGap?: SelectOptions['onGap'];
}

export interface ScratchRestorePlan {
  readonly backup: CatalogEntry;
  /** The repositories to restore from: all of them, or the one named with --from (no fallback). */
  readonly sources: RepositorySet;
  /** The archive as it stood when the backup was chosen (the restore reads it again). */
  readonly wal: WalCatalog;
  readonly binaries: ServerBinaries;
  readonly onGap: NonNullable<SelectOptions['onGap']>;
}

export async function planScratchRestore(set: RepositorySet, options: { target: RecoveryTarget; backupId?: string; from?: string; bindir?: string; onGap?: SelectOptions['onGap'] }): Promise<ScratchRestorePlan> {
  const sources = restoreSources(set, options.from);
  const backups = await listBackups(sources.repositories);
  const wal = await WalCatalog.load(sources.repositories, await archivedWalSegmentSize(sources.repositories, backups));
  const { backup } = await selectBackup(backups, options.target, wal, { ...(options.backupId === undefined ? {} : { backupId: options.backupId }), onGap: options.onGap ?? 'refuse' });
  // Only a server of the backup's own major version can recover it.
  const major = Math.floor(backup.record.serverVersionNum / 10000);
  const binaries = await locateServerBinaries(major, options.bindir === undefined ? {} : { explicitBindir: options.bindir });
  return { backup, sources, wal, binaries, onGap: options.onGap ?? 'refuse' };
}

/**
 * Chooses the backup, then runs `work` on it under a read lease, so that `expire` leaves
 * the backup and its WAL alone until the work is done. The lease covers everything while
 * the choice is made (a lease taken after it would leave expire a moment to delete the
 * chosen backup), then only the backup and the WAL from its start.
 */
export function withLeasedScratchRestore<T>(set: RepositorySet, options: Parameters<typeof planScratchRestore>[1], operation: string, work: (plan: ScratchRestorePlan) => Promise<T>): Promise<T> {
  return whileLeased(set.repositories, operation, everything, async (lease) => {
    const plan = await planScratchRestore(set, options);
    await lease.narrow(readsOfBackup(plan.backup.record));
    return work(plan);
  });
}

/**
 * `--from` tests one copy on its own: the restore may not fall back to another
 * repository, so a damaged object there fails the test instead of being worked around.
 */
function restoreSources(set: RepositorySet, from: string | undefined): RepositorySet {
  if (from === undefined) return set;
  const repository = set.repositories.find((candidate) => candidate.name === from);
  if (repository) return { ...set, repositories: [repository] };
  const unreachable = set.unreachable.find((entry) => entry.target.name === from);
  throw new DrcError(unreachable ? unreachable.error.code : 'REPOSITORY_UNKNOWN', `unable to restore from repository '${from}': ${unreachable ? unreachable.error.message : 'it holds no repository of this set'}`, {
    hints: ['check it with `drc repo info`, or leave out --from to use every repository'],
  });
}

/** A scratch copy is for checking the data: attachments (configuration files, listed directories) are not restored beside it. */
export function restoreIntoScratch(plan: ScratchRestorePlan, scratch: ScratchInstance, target: RecoveryTarget, onProgress?: RestoreOptions['onProgress'], signal?: AbortSignal): Promise<RestoreReport> {
  return runRestore(plan.sources, { targetDir: scratch.dataDir, target, backupId: plan.backup.record.id, onGap: plan.onGap, pause: false, attachments: false, ...(onProgress ? { onProgress } : {}), ...(signal ? { signal } : {}) });
}

/** The server's backup_manifest kept with the backup, from the first source repository whose copy reads. */
export async function loadServerManifest(plan: ScratchRestorePlan): Promise<Buffer | undefined> {
  const failures: string[] = [];
  for (const repository of plan.sources.repositories.filter((candidate) => plan.backup.repositories.includes(candidate.name))) {
    try {
      return await readServerManifest(repository, await repository.readManifest(plan.backup.record.id));
    } catch (error) {
      if (!(error instanceof DrcError)) throw error;
      failures.push(`${repository.name}: ${error.message}`);
    }
  }
  throw new DrcError('OBJECT_MISSING', `unable to read the server's backup_manifest of backup '${plan.backup.record.id}': ${failures.join('; ')}`, { hints: ['run `drc verify` to see what each repository holds'] });
}
