import type { BackupRecord } from '../../repo/backup-record.js';
import type { RecoveryTarget } from '../../../shared/contract/restore.js';
import { DrcError } from '../../../shared/errors.js';
import { restorePointNameProblem } from '../../../shared/restore-point-name.js';
import { formatLsn, parseLsn, type Lsn } from '../../postgres/lsn.js';
import type { CatalogEntry } from '../backup/catalog.js';
import type { WalCatalog } from '../wal/catalog.js';
import { RecoverableWindow, restorePointsInWal, type RestorePointOnPath, type WalCut } from './recoverable.js';

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
  if (!(window.gap && onGap === 'record')) await checkInWindow(window, target, catalog, onGap === 'accept');
  const newest = target.kind === 'time' ? await window.newestCommitTime() : undefined;
  const replayToEnd = newest !== undefined && target.kind === 'time' && Date.parse(target.time) === Date.parse(newest);
  return { backup: chosen, window, ...walBounds(target, chosen.record), acceptsGap: onGap !== 'refuse', ...(replayToEnd ? { replayToEnd } : {}) };
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
    case 'xid':
      return record.nextXid === undefined || BigInt(record.nextXid) <= BigInt(target.xid);
    case 'name':
    case 'immediate':
    case 'latest':
      return true;
  }
}

/** The refusals, one per kind of target. */
async function checkInWindow(window: RecoverableWindow, target: RecoveryTarget, catalog: WalCatalog, acceptGap: boolean): Promise<void> {
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
    case 'immediate':
    case 'name':
      return;
  }
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

function walBounds(target: RecoveryTarget, record: BackupRecord): { walUntilLsn: Lsn | undefined; walUntilTime: Date | undefined } {
  switch (target.kind) {
    case 'time':
      return { walUntilLsn: undefined, walUntilTime: new Date(target.time) };
    case 'lsn':
      return { walUntilLsn: parseLsn(target.lsn), walUntilTime: undefined };
    case 'immediate':
      return { walUntilLsn: parseLsn(record.stopLsn), walUntilTime: undefined };
    case 'name':
    case 'xid':
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
