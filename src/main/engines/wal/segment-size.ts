import { DrcError } from '../../../shared/errors.js';
import { INITDB_DEFAULT_WAL_SEGMENT_SIZE, isWalSegmentSize } from '../../postgres/wal/segment-size.js';
import type { BackupRecord } from '../../repo/backup-record.js';
import type { Repository } from '../../repo/repository.js';
import { readWalIndexCatalog } from '../../repo/wal-index.js';

/**
 * The WAL segment size of the cluster a repository set archives, for everything that
 * numbers segments without a server to ask (restore, status, list, the timeline, wal get):
 *
 * 1. the newest backup's record: the server said it when the backup was taken;
 * 2. else a repository's WAL index, which its first writer created with the size the
 *    WAL it stored was written with;
 * 3. else initdb's default: the archive holds neither a backup nor indexed WAL, so there
 *    is nothing a wrong size could misnumber.
 */
export async function archivedWalSegmentSize(repositories: readonly Repository[], backups: ReadonlyArray<{ readonly record: Pick<BackupRecord, 'walSegmentSize'> }>): Promise<number> {
  const fromBackup = backups.at(-1)?.record.walSegmentSize;
  if (fromBackup !== undefined && isWalSegmentSize(fromBackup)) return fromBackup;
  for (const repository of repositories) {
    try {
      const { segmentSize } = await readWalIndexCatalog(repository);
      if (isWalSegmentSize(segmentSize)) return segmentSize;
    } catch (error) {
      // No index yet, or a damaged one: the next repository, or the default, answers.
      if (!(error instanceof DrcError)) throw error;
    }
  }
  return INITDB_DEFAULT_WAL_SEGMENT_SIZE;
}
