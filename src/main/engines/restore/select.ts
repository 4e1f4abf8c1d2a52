import type { BackupRecord } from '../../repo/backup-record.js';
import type { RecoveryTarget } from '../../../shared/contract/restore.js';
import { DrcError } from '../../../shared/errors.js';
import { restorePointNameProblem } from '../../../shared/restore-point-name.js';
import { formatLsn, parseLsn, segmentStart, type Lsn } from '../../postgres/lsn.js';
import type { CatalogEntry } from '../backup/catalog.js';
import type { WalCatalog } from '../wal/catalog.js';
import { RecoverableWindow, restorePointsInWal, type RestorePointOnPath, type TransactionEnd, type WalCut } from './recoverable.js';

/**
 * select: the backup to start from, and how far recovery needs WAL. The newest backup
 * that finished before the target is the one with the least WAL to replay.
 */
export interface RecoveryPlan {
  readonly backup: CatalogEntry;
  /** How far the WAL lets recovery from this backup go; the target lies inside it. */
  readonly window: RecoverableWindow;
  /** Copy WAL up to the segment holding this LSN (undefined: no LSN bound). */
  readonly walUntilLsn: Lsn | undefined;
  /** Copy WAL up to the first segment with a commit after this time. */
  readonly walUntilTime: Date | undefined;
  /** `--latest` may stop at a hole in the WAL: the DBA accepted losing what follows it. */
  readonly acceptsGap: boolean;
  /**
   * A time target at the newest commit (the timeline's last moment): PostgreSQL would wait
   * for a commit after it that the WAL does not hold, and fail. Replaying all the WAL copied
   * gives exactly every commit up to the target, so recovery is given no target.
   */
  readonly replayToEnd?: boolean;
  /** What the DBA must be told about this plan: a target that could not be checked before writing. */
  readonly warnings?: readonly string[];
}

export interface SelectOptions {
  readonly backupId?: string;
  /**
   * A hole in the WAL between the backup and the target (a segment missing in every repository):
   *  - refuse (default): refused before anything is written;
   *  - accept (`--accept-gap`): `--latest` stops at the hole, what follows is lost; other targets are still refused;
   *  - record (restore tests): nothing is refused for it; the restore stops at the hole and fails there when the
   *    target lies past it, which a restore test records as data loss.
   */
  readonly onGap?: 'refuse' | 'accept' | 'record';
}

/**
 * The backup to restore and proof that PostgreSQL will reach the target from it, made
 * before anything is written: every target is checked against the window of WAL the
 * repositories hold, so a restore that succeeds is one that starts and gets there.
 */
export async function selectBackup(backups: readonly CatalogEntry[], target: RecoveryTarget, catalog: WalCatalog, options: SelectOptions = {}): Promise<RecoveryPlan> {
  if (target.kind === 'name') {
    const problem = restorePointNameProblem(target.name);
    if (problem !== undefined) throw new DrcError('RESTORE_POINT_NAME_INVALID', `unable to restore to restore point ${JSON.stringify(target.name)}: ${problem}`, { hints: ['no restore point can carry such a name; list them with `drc list`'] });
  }
  if (backups.length === 0) {
    throw new DrcError('BACKUP_NOT_FOUND', 'unable to restore: the repositories hold no backup', { hints: ['take one with `drc backup`'] });
  }
  if (options.backupId !== undefined && !backups.some((entry) => entry.record.id === options.backupId)) {
    throw new DrcError('BACKUP_NOT_FOUND', `unable to find backup '${options.backupId}'`, { hints: ['list backups with `drc list`'] });
  }
  const candidates = [...backups].reverse().filter((entry) => options.backupId === undefined || entry.record.id === options.backupId);
  if (target.kind === 'name') return selectForRestorePoint(candidates, target.name, catalog);

  const chosen = candidates.find((entry) => reaches(entry.record, target));
  if (!chosen) {
    const backup = candidates.at(-1)?.record;
    const which = options.backupId === undefined ? 'no backup finished before it' : `backup ${options.backupId} finished after it`;
    throw new DrcError('BACKUP_NOT_FOUND', `unable to restore to ${describeTarget(target)}: ${which}`, {
      hints: [backup ? `${options.backupId === undefined ? 'the oldest backup' : 'it'} finished at ${backup.stoppedAt} (LSN ${backup.stopLsn}); pick a later target` : 'take a backup first'],
    });
  }
  const window = await RecoverableWindow.of(chosen, catalog);
  const onGap = options.onGap ?? 'refuse';
  const transactionEnd = target.kind === 'xid' ? await window.transactionEnd(recordedXid(target.xid)) : undefined;
  if (!(window.gap && onGap === 'record')) await checkInWindow(window, target, catalog, onGap === 'accept', transactionEnd);
  const newest = target.kind === 'time' ? await window.newestCommitTime() : undefined;
  const replayToEnd = newest !== undefined && target.kind === 'time' && Date.parse(target.time) === Date.parse(newest);
  const warnings =
    transactionEnd?.kind === 'unknown'
      ? [`${describeTarget(target)} could not be checked before restoring: ${String(transactionEnd.unchecked)} WAL segment summar${transactionEnd.unchecked === 1 ? 'y' : 'ies'} in the window predate the record of ended transactions (or are unreadable), so all the WAL was copied; if the server stops with "recovery ended before configured recovery target was reached", the transaction did not end in the archived WAL`]
      : [];
  return {
    backup: chosen,
    window,
    ...walBounds(target, chosen.record, transactionEnd, catalog.segmentSize),
    acceptsGap: onGap !== 'refuse',
    ...(replayToEnd ? { replayToEnd } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/**
 * PostgreSQL stops at the first restore point of that name once the backup is
 * consistent: the newest backup with such a point ahead of it in its window is chosen,
 * and the WAL copied up to that point.
 */
async function selectForRestorePoint(candidates: readonly CatalogEntry[], name: string, catalog: WalCatalog): Promise<RecoveryPlan> {
  const points = await restorePointsInWal(catalog);
  const named = points.filter((point) => point.name === name);
  for (const backup of candidates) {
    if (!named.some((point) => point.lsn > parseLsn(backup.record.stopLsn))) continue;
    const window = await RecoverableWindow.of(backup, catalog);
    // A point of that name inside the backup itself would stop recovery before it is consistent.
    const inside = named.some((point) => point.timeline === backup.record.timeline && point.lsn > parseLsn(backup.record.startLsn) && point.lsn <= parseLsn(backup.record.stopLsn));
    const stop = named.find((point) => window.contains(point));
    if (stop && !inside) return { backup, window, walUntilLsn: stop.lsn, walUntilTime: undefined, acceptsGap: false };
  }
  const newest = candidates[0];
  const window = newest ? await RecoverableWindow.of(newest, catalog) : undefined;
  const why =
    named.length === 0
      ? 'no restore point of that name is in the WAL the repositories hold'
      : `the restore point${named.length === 1 ? ' is' : 's are'} at ${named.map((point) => `LSN ${formatLsn(point.lsn)} (${point.time}, timeline ${String(point.timeline)})`).join(', ')}, outside what any backup can recover to`;
  throw new DrcError('RECOVERY_TARGET_UNREACHABLE', `unable to restore to restore point ${JSON.stringify(name)}: ${why}`, {
    hints: [...(window ? [window.describe(await window.newestCommitTime())] : []), nearestPoints(points.filter((point) => window?.contains(point) !== false), undefined), 'restore to one of them with --name, or to a moment with --time'],
  });
}

/** Whether recovery from this backup can stop at the target (it must be after the backup's end). */
function reaches(record: BackupRecord, target: RecoveryTarget): boolean {
  switch (target.kind) {
    case 'time':
      // A moment during the backup is before the copy is consistent; its very end is the earliest.
      return Date.parse(record.stoppedAt) <= Date.parse(target.time);
    case 'lsn':
      return parseLsn(record.stopLsn) <= parseLsn(target.lsn);
    case 'xid': {
      if (record.nextXid === undefined) return true;
      // nextXid is a full xid (epoch and xid, as txid_current() shows). A target given with its epoch compares whole;
      // a plain 32-bit xid compares as PostgreSQL orders xids (TransactionIdPrecedes): modulo 2^32, within half the circle.
      const next = BigInt(record.nextXid);
      const xid = BigInt(target.xid);
      if (xid > 0xffffffffn) return next <= xid;
      return ((recordedXid(target.xid) - Number(next & 0xffffffffn)) | 0) >= 0;
    }
    case 'name':
    case 'immediate':
    case 'latest':
      return true;
  }
}

/** The refusals, one per kind of target. */
async function checkInWindow(window: RecoverableWindow, target: RecoveryTarget, catalog: WalCatalog, acceptGap: boolean, transactionEnd: TransactionEnd | undefined): Promise<void> {
  const refuse = async (why: string, near: { time?: number; lsn?: Lsn }): Promise<never> => {
    if (window.gap) {
      throw new DrcError('WAL_MISSING', `unable to restore to ${describeTarget(target)}: ${holeMessage(window.gap)}: recovery would stop at LSN ${formatLsn(window.endLsn)}, before the target`, {
        hints: ['copy the missing segment into a repository (`drc sync`) if another copy exists', window.describe(await window.newestCommitTime()), 'or pick a target before the hole; `drc wal status` shows the archive per repository'],
      });
    }
    throw new DrcError('RECOVERY_TARGET_UNREACHABLE', `unable to restore to ${describeTarget(target)}: ${why}`, {
      hints: [window.describe(await window.newestCommitTime()), nearestPoints((await restorePointsInWal(catalog)).filter((point) => window.contains(point)), near)],
    });
  };
  switch (target.kind) {
    case 'time': {
      const newest = await window.newestCommitTime();
      // Recovery stops at the first commit after the target: with none after it, it would run out of WAL first.
      // At the newest commit itself is the end of the window (see RecoveryPlan.replayToEnd).
      if (newest === undefined || Date.parse(target.time) > Date.parse(newest)) {
        await refuse(newest === undefined ? 'no transaction committed after the backup, so recovery would run out of WAL before reaching any time' : `the newest commit recovery can replay is at ${newest}; a later moment is not in the WAL the repositories hold`, { time: Date.parse(target.time) });
      }
      return;
    }
    case 'lsn':
      if (parseLsn(target.lsn) >= window.endLsn) await refuse(`the WAL recovery can replay ends at LSN ${formatLsn(window.endLsn)}`, { lsn: parseLsn(target.lsn) });
      return;
    case 'latest':
      // With --accept-gap, the WAL copy stops at the hole and the report says so.
      if (window.gap && !acceptGap) {
        throw new DrcError('WAL_MISSING', `unable to restore to the latest WAL: ${holeMessage(window.gap)}, and the repositories hold WAL past it: recovery would stop at LSN ${formatLsn(window.endLsn)}`, {
          hints: ['copy the missing segment into a repository (`drc sync`) if another copy exists', 'or accept losing what was written after the hole with --accept-gap; `drc wal status` shows the archive per repository'],
        });
      }
      return;
    case 'xid':
      // Summaries that predate the record of ended transactions leave it unknown: accepted, with a warning (see selectBackup).
      if (transactionEnd?.kind === 'absent') {
        await refuse(`no COMMIT or ABORT of transaction ${String(recordedXid(target.xid))} is in the WAL recovery can replay (it was still running at the end of the archive, or is not one of this cluster's)`, {});
      }
      return;
    case 'immediate':
    case 'name':
      return;
  }
}

/**
 * The 32-bit xid a COMMIT or ABORT record holds, from what the DBA typed: txid_current()'s
 * 64-bit value (epoch × 2^32 + xid) or a plain xid. PostgreSQL reads recovery_target_xid
 * the same way: check_recovery_target_xid() parses it with strtou64() and keeps it as a
 * 32-bit TransactionId, so the epoch is dropped and recovery stops at the first record of
 * that xid (xlogrecovery.c, recoveryStopsBefore/After compare TransactionIds).
 */
function recordedXid(xid: string): number {
  return Number(BigInt(xid) & 0xffffffffn);
}

const holeMessage = (gap: WalCut): string => `the WAL of timeline ${String(gap.timeline)} has a hole at segment ${gap.file} (missing in every repository)`;

/** Up to five restore points a DBA could pick instead, nearest to what was asked first. */
function nearestPoints(points: readonly RestorePointOnPath[], near: { time?: number; lsn?: Lsn } | undefined): string {
  if (points.length === 0) return 'no restore point lies in that window';
  const distance = (point: RestorePointOnPath): number => {
    if (near?.time !== undefined) return Math.abs(Date.parse(point.time) - near.time);
    if (near?.lsn !== undefined) return Number(point.lsn > near.lsn ? point.lsn - near.lsn : near.lsn - point.lsn);
    return -Date.parse(point.time);
  };
  const nearest = [...points].sort((a, b) => distance(a) - distance(b)).slice(0, 5);
  return `restore points in that window: ${nearest.map((point) => `${JSON.stringify(point.name)} at ${point.time}`).join(', ')}`;
}

function walBounds(target: RecoveryTarget, record: BackupRecord, transactionEnd: TransactionEnd | undefined, segmentSize: number): { walUntilLsn: Lsn | undefined; walUntilTime: Date | undefined } {
  switch (target.kind) {
    case 'time':
      return { walUntilLsn: undefined, walUntilTime: new Date(target.time) };
    case 'lsn':
      return { walUntilLsn: parseLsn(target.lsn), walUntilTime: undefined };
    case 'immediate':
      return { walUntilLsn: parseLsn(record.stopLsn), walUntilTime: undefined };
    case 'xid':
      // Through the segment where the transaction's record ends: recovery must read that record to stop at it.
      return { walUntilLsn: transactionEnd?.kind === 'ends' ? segmentStart(transactionEnd.segment, segmentSize) : undefined, walUntilTime: undefined };
    case 'name':
    case 'latest':
      return { walUntilLsn: undefined, walUntilTime: undefined };
  }
}

export function describeTarget(target: RecoveryTarget): string {
  switch (target.kind) {
    case 'time':
      return `time ${target.time}`;
    case 'lsn':
      return `LSN ${target.lsn}`;
    case 'name':
      return `restore point '${target.name}'`;
    case 'xid':
      return `transaction ${target.xid}`;
    case 'immediate':
      return 'the end of the backup';
    case 'latest':
      return 'the latest WAL';
  }
}
