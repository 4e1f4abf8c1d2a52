import type { BackupRecord } from '../../repo/backup-record.js';
import type { RecoveryTarget, RestoreReport } from '../../../shared/contract/restore.js';
import { parseLsn, parseSegmentFileName, segmentFileName, segmentNumber } from '../../postgres/lsn.js';
import type { ScratchInstance } from '../../postgres/scratch-instance.js';
import type { WalCatalog } from '../wal/catalog.js';

/**
 * recover: where recovery ended, and whether WAL the repositories hold was left
 * unreplayed. PostgreSQL treats the first unreadable WAL record as the end of WAL and
 * promotes happily, and a restore to the latest WAL stops at the first missing segment
 * with only a warning — both lose data silently, so a restore test must say so:
 *
 *  - the archive holds WAL past the last segment the restore could use (a segment is
 *    missing in every repository): everything after the hole is lost;
 *  - replay ended before the end of the last valid record of the WAL it was given (the
 *    console's WAL reader found it valid when the segment was archived): a damaged
 *    record stopped it.
 *
 * A target in time, LSN, xid or restore point needs no such care: PostgreSQL refuses to
 * promote ("recovery ended before configured recovery target was reached").
 */
export interface RecoveryOutcome {
  readonly lsn: string | undefined;
  readonly lastCommitTime: string | undefined;
  readonly dataLoss: string[];
}

export async function inspectRecovery(instance: ScratchInstance, options: { report: RestoreReport; target: RecoveryTarget; backup: BackupRecord; wal: WalCatalog }): Promise<RecoveryOutcome> {
  const replayed = await instance.withSession('template1', async (client) => (await client.query<{ lsn: string | null; last_commit: Date | null }>('SELECT pg_last_wal_replay_lsn()::text AS lsn, pg_last_xact_replay_timestamp() AS last_commit')).rows[0]);
  const lsn = replayed?.lsn ?? undefined;
  const outcome = { lsn, lastCommitTime: replayed?.last_commit?.toISOString(), dataLoss: [] as string[] };
  if (options.target.kind !== 'latest') return outcome;

  const { report, wal } = options;
  const last = report.walLast === undefined ? { timeline: options.backup.timeline, segment: segmentNumber(parseLsn(options.backup.stopLsn), wal.segmentSize) } : parseSegmentFileName(report.walLast, wal.segmentSize);
  const newest = wal.segments(report.targetTimeline).at(-1);
  if (last && newest && (last.timeline !== report.targetTimeline || last.segment < newest.segment)) {
    // A hole in the catalog, or a segment the catalog names but the restore found in no repository (its warning says so).
    const next = segmentFileName(report.targetTimeline, last.segment + 1n, wal.segmentSize);
    const missing = last.timeline !== report.targetTimeline ? undefined : (wal.firstGap(report.targetTimeline, last.segment + 1n) ?? (report.warnings.some((warning) => warning.includes(next)) ? next : undefined));
    outcome.dataLoss.push(
      `the repositories hold WAL up to segment ${newest.file}, but recovery could replay only up to ${report.walLast ?? 'the end of the backup'}${missing === undefined ? '' : `: segment ${missing} is missing in every repository`}; every commit after it is lost`,
    );
  }

  const holding = report.walLast === undefined || !last ? undefined : wal.segments(last.timeline).find((candidate) => candidate.file === report.walLast);
  const summary = holding ? await wal.summary(last?.timeline ?? report.targetTimeline, holding, holding.complete.length === 0) : undefined;
  if (summary && lsn !== undefined && parseLsn(lsn) < parseLsn(summary.endLsn)) {
    outcome.dataLoss.push(`replay stopped at ${lsn}, but the restored WAL holds valid records up to ${summary.endLsn} (segment ${summary.segment}): a damaged WAL record ended recovery early`);
  }
  return outcome;
}
