import type { BackupRecord } from '../../repo/backup-record.js';
import type { RecoveryTarget } from '../../../shared/contract/restore.js';
import { DrcError } from '../../../shared/errors.js';
import { parseLsn, type Lsn } from '../../postgres/lsn.js';
import type { CatalogEntry } from '../backup/catalog.js';
import type { WalCatalog } from '../wal/catalog.js';

/**
 * select: the backup to start from, and how far recovery needs WAL. The newest backup
 * that finished before the target is the one with the least WAL to replay.
 */
export interface RecoveryPlan {
  readonly backup: CatalogEntry;
  /** Copy WAL up to the segment holding this LSN (undefined: no LSN bound). */
  readonly walUntilLsn: Lsn | undefined;
  /** Copy WAL up to the first segment with a commit after this time. */
  readonly walUntilTime: Date | undefined;
}

export async function selectBackup(backups: readonly CatalogEntry[], target: RecoveryTarget, catalog: WalCatalog, backupId?: string): Promise<RecoveryPlan> {
  const namedLsn = target.kind === 'name' ? await findRestorePoint(catalog, target.name) : undefined;
  if (backups.length === 0) {
    throw new DrcError('BACKUP_NOT_FOUND', 'unable to restore: the repositories hold no backup', { hints: ['take one with `drc backup`'] });
  }
  if (backupId !== undefined) {
    const chosen = backups.find((entry) => entry.record.id === backupId);
    if (!chosen) {
      throw new DrcError('BACKUP_NOT_FOUND', `unable to find backup '${backupId}'`, { hints: ['list backups with `drc list`'] });
    }
    return { backup: chosen, ...walBounds(target, chosen.record, namedLsn) };
  }
  const newestFirst = [...backups].reverse();
  const usable = newestFirst.filter((entry) => reaches(entry.record, target, namedLsn));
  const chosen = usable[0];
  if (!chosen) {
    const oldest = backups[0]?.record;
    throw new DrcError('BACKUP_NOT_FOUND', `unable to restore to ${describeTarget(target)}: no backup finished before it`, {
      hints: [oldest ? `the oldest backup finished at ${oldest.stoppedAt} (LSN ${oldest.stopLsn}); pick a later target` : 'take a backup first'],
    });
  }
  return { backup: chosen, ...walBounds(target, chosen.record, namedLsn) };
}

/** Whether recovery from this backup can stop at the target (it must be after the backup's end). */
function reaches(record: BackupRecord, target: RecoveryTarget, namedLsn: Lsn | undefined): boolean {
  switch (target.kind) {
    case 'time':
      return Date.parse(record.stoppedAt) < Date.parse(target.time);
    case 'lsn':
      return parseLsn(record.stopLsn) <= parseLsn(target.lsn);
    case 'xid':
      return record.nextXid === undefined || BigInt(record.nextXid) <= BigInt(target.xid);
    case 'name':
      return namedLsn === undefined || parseLsn(record.stopLsn) <= namedLsn;
    case 'immediate':
    case 'latest':
      return true;
  }
}

function walBounds(target: RecoveryTarget, record: BackupRecord, namedLsn: Lsn | undefined): { walUntilLsn: Lsn | undefined; walUntilTime: Date | undefined } {
  switch (target.kind) {
    case 'time':
      return { walUntilLsn: undefined, walUntilTime: new Date(target.time) };
    case 'lsn':
      return { walUntilLsn: parseLsn(target.lsn), walUntilTime: undefined };
    case 'immediate':
      return { walUntilLsn: parseLsn(record.stopLsn), walUntilTime: undefined };
    case 'name':
      return { walUntilLsn: namedLsn, walUntilTime: undefined };
    case 'xid':
    case 'latest':
      return { walUntilLsn: undefined, walUntilTime: undefined };
  }
}

/**
 * The LSN of the newest restore point with this name, from the WAL indexes and the
 * summaries of segments past them (undefined if none says so).
 */
async function findRestorePoint(catalog: WalCatalog, name: string): Promise<Lsn | undefined> {
  let found: Lsn | undefined;
  const consider = (point: { name: string; lsn: string }): void => {
    if (point.name === name && (found === undefined || parseLsn(point.lsn) > found)) found = parseLsn(point.lsn);
  };
  for (const point of catalog.indexedRestorePoints()) consider(point);
  for (const timeline of catalog.timelines.keys()) {
    for (const holding of catalog.segments(timeline)) {
      for (const partial of [false, true]) {
        if ((partial ? holding.partial : holding.complete).length === 0 || (!partial && catalog.isIndexed(timeline, holding.file))) continue;
        for (const point of (await catalog.summary(timeline, holding, partial))?.restorePoints ?? []) consider(point);
      }
    }
  }
  return found;
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
