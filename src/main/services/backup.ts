import type { BackupProgress, BackupType } from '../../shared/contract/backup.js';
import type { BackupRecord } from '../repo/backup-record.js';
import type { BackupComponent, BackupPriority } from '../../shared/contract/backups.js';
import { DrcError } from '../../shared/errors.js';
import { restorePointNameProblem } from '../../shared/restore-point-name.js';
import { runBackup } from '../engines/backup/backup.js';
import { listBackups, type CatalogEntry } from '../engines/backup/catalog.js';
import { walStatus, type RepositoryWalStatus } from '../engines/wal/status.js';
import { clusterConnection, requireCluster, withSql } from '../postgres/cluster.js';
import { newEvent, type RepositoryEvent } from '../repo/events.js';
import { describeFallback } from '../repo/object-source.js';
import { objectPrefixes } from '../repo/objects.js';
import type { Repository } from '../repo/repository.js';
import { componentFiles } from './backup-components.js';
import { withRepositorySet, type ServiceContext } from './context.js';
import { archivedWalSegmentSize } from '../engines/wal/segment-size.js';

export interface BackupRequest {
  type: BackupType;
  reason: string;
  operator?: string;
  onProgress?: (progress: BackupProgress) => void;
  /** Named before it starts when the caller must say it at once (the console). */
  backupId?: string;
  /** high: an immediate checkpoint; normal: a spread one. Default high, as `drc backup` always did. */
  priority?: BackupPriority;
  components?: readonly BackupComponent[];
  signal?: AbortSignal;
}

/**
 * A backup records itself when it commits; a backup that fails or is cancelled is
 * recorded here, in the repositories that can be reached, so that the history and the
 * success rate show every attempt — manual or scheduled.
 */
export async function backup(context: ServiceContext, options: BackupRequest): Promise<BackupRecord> {
  const cluster = requireCluster(context.config.cluster);
  const connection = await clusterConnection(cluster, context.secrets);
  const attachments = await componentFiles(context, connection, options.components ?? ['database']);
  return withRepositorySet(context, undefined, async (set) => {
    try {
      return await runBackup(set, {
        cluster: cluster.name,
        connection,
        type: options.type,
        reason: options.reason,
        checkpoint: options.priority === 'normal' ? 'spread' : 'fast',
        attachments,
        ...(options.backupId === undefined ? {} : { backupId: options.backupId }),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.operator === undefined ? {} : { operator: options.operator }),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(cluster.dataDirectory === undefined ? {} : { dataDirectory: cluster.dataDirectory }),
      });
    } catch (error) {
      if (error instanceof DrcError) {
        const cancelled = options.signal?.aborted === true;
        const event = newEvent('backup', 'failure', `${options.type} backup of '${cluster.name}' ${cancelled ? 'cancelled' : 'failed'}: ${error.message}`, {
          type: options.type,
          reason: options.reason,
          cluster: cluster.name,
          cancelled,
          ...(options.backupId === undefined ? {} : { backupId: options.backupId }),
          error: error.toData(),
        });
        // Best effort: the failure itself is what the caller sees; a repository out of reach cannot take its record.
        await Promise.allSettled(set.repositories.map((repository) => repository.appendEvent(event)));
      }
      throw error;
    }
  });
}

export interface RestorePointRecord {
  name: string;
  lsn: string;
  time: string;
}

/** Creates a named restore point on the server and records it in every repository. */
export async function createRestorePoint(context: ServiceContext, name: string): Promise<RestorePointRecord> {
  const problem = restorePointNameProblem(name);
  if (problem !== undefined) {
    throw new DrcError('RESTORE_POINT_NAME_INVALID', `unable to create restore point ${JSON.stringify(name)}: ${problem}`, { hints: ['name it with 1 to 63 bytes of printable text, e.g. before-migration-2026-12-05'] });
  }
  const cluster = requireCluster(context.config.cluster);
  const connection = await clusterConnection(cluster, context.secrets);
  const point = await withSql(connection, async (client) => {
    const result = await client.query<{ lsn: string; time: Date }>('SELECT pg_create_restore_point($1)::text AS lsn, clock_timestamp() AS time', [name]);
    const row = result.rows[0];
    if (!row) throw new DrcError('PG_QUERY_FAILED', `unable to create restore point '${name}': the server returned no position`);
    return { name, lsn: row.lsn, time: row.time.toISOString() };
  });
  await withRepositorySet(context, undefined, (set) => recordEverywhere(set.repositories, newEvent('restore-point', 'success', `restore point '${name}' at ${point.lsn}`, { ...point, cluster: cluster.name })));
  return point;
}

async function recordEverywhere(repositories: readonly Repository[], event: RepositoryEvent): Promise<void> {
  await Promise.all(repositories.map((repository) => repository.appendEvent(event)));
}

export interface Inventory {
  backups: Array<CatalogEntry['record'] & { copies: string[] }>;
  restorePoints: RestorePointRecord[];
  wal: RepositoryWalStatus[];
  unreachable: Array<{ repository: string; message: string }>;
  /** Damaged copies passed over for a good one in another repository. */
  warnings: string[];
}

/** Backups with their copies, restore points, and the recovery window of each repository. */
export async function inventory(context: ServiceContext): Promise<Inventory> {
  return withRepositorySet(context, undefined, async (set) => {
    const backups = await listBackups(set.repositories);
    const segmentSize = await archivedWalSegmentSize(set.repositories, backups);
    const restorePointRecords = await restorePoints(set.repositories);
    const wal = await walStatus(set.repositories, backups, segmentSize);
    return {
      backups: backups.map((entry) => ({ ...entry.record, copies: entry.repositories })),
      restorePoints: restorePointRecords,
      wal,
      unreachable: set.unreachable.map((entry) => ({ repository: entry.target.name, message: entry.error.message })),
      warnings: set.fallbacks.map(describeFallback),
    };
  });
}

/** Restore points recorded by `drc restore-point`, from the first repository that has each. */
async function restorePoints(repositories: readonly Repository[]): Promise<RestorePointRecord[]> {
  const seen = new Map<string, RestorePointRecord>();
  for (const repository of repositories) {
    for (const object of await repository.target.list(objectPrefixes.events)) {
      const id = object.name.slice(object.name.lastIndexOf('-') + 1);
      if (seen.has(id)) continue;
      const event = await repository.readEvent(object.name);
      const details = event.details as Partial<RestorePointRecord>;
      if (event.type === 'restore-point' && details.name !== undefined && details.lsn !== undefined && details.time !== undefined) {
        seen.set(id, { name: details.name, lsn: details.lsn, time: details.time });
      }
    }
  }
  return [...seen.values()].sort((a, b) => a.time.localeCompare(b.time));
}
