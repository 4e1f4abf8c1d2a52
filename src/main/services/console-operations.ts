import { backupSummaryOf, configuredRepositories } from './backup-history.js';
import { readdir } from 'node:fs/promises';
import { basename, isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import type { BackupStarted, backupStartRequestSchema } from '../../shared/contract/backups.js';
import type { OperationStarted } from '../../shared/contract/operations.js';
import type { confirmedPartialRestoreSchema, confirmedRestoreSchema } from '../../shared/contract/recovery.js';
import type { RecoveryTarget, RestoreReport } from '../../shared/contract/restore.js';
import type { restoreTestRequestSchema } from '../../shared/contract/restore-test.js';
import { DrcError } from '../../shared/errors.js';
import { backupId } from '../engines/backup/backup.js';
import { listBackups } from '../engines/backup/catalog.js';
import { parseConninfo, type LiveDatabase } from '../engines/partial-restore/conninfo.js';
import type { TableName } from '../engines/partial-restore/table-definition.js';
import { describeTarget } from '../engines/restore/select.js';
import { clusterConnection, requireCluster, withSql } from '../postgres/cluster.js';
import { currentOperator, newEvent } from '../repo/events.js';
import { recordInEvery } from '../repo/repository.js';
import { backup } from './backup.js';
import { componentFiles } from './backup-components.js';
import { withRepositorySet, type ServiceContext } from './context.js';
import type { OperationRegistry } from './operations.js';
import { restore } from './restore.js';
import { restoreTables, restoreTest } from './restore-test.js';

/**
 * The write side of the console: each call checks what it can at once (a bad time, a
 * wrong confirmation, an unreadable component fail the request itself), then starts an
 * operation and returns its id; progress and the result arrive on `operations.changed`.
 */

/** A scheduled time this far in the past still runs now: the dialog's clock and this one differ by a little. */
const pastTolerance = 60_000;

export async function startBackup(context: ServiceContext, registry: OperationRegistry, request: z.output<typeof backupStartRequestSchema>, now: () => Date = () => new Date()): Promise<BackupStarted> {
  const cluster = requireCluster(context.config.cluster);
  const at = request.at === undefined ? undefined : scheduledTime(request.at, now());
  const connection = await clusterConnection(cluster, context.secrets);
  // Components are checked now so that an unreadable file fails the request, not the run hours later; the run collects them again.
  await componentFiles(context, connection, request.components);
  const id = backupId(at ?? now(), request.type);
  const estimatedDurationSeconds = await estimateBackupSeconds(context, connection);
  const reason = request.reason.trim();
  const operation = registry.start({
    kind: 'backup',
    title: `${request.type[0]?.toUpperCase() ?? ''}${request.type.slice(1)} backup — ${reason}`,
    cancelEffect: 'no backup is committed (no manifest is written); chunks already stored are reused by the next backup',
    backupId: id,
    ...(at ? { at } : {}),
    run: async (control) => {
      control.phase('streaming the data directory');
      const record = await backup(context, {
        type: request.type,
        reason,
        backupId: id,
        priority: request.priority,
        components: request.components,
        signal: control.signal,
        onProgress: (progress) => {
          if (progress.phase === 'commit') control.phase('committing the backup');
          else control.bytes(progress.bytesDone, progress.bytesTotal > 0 ? progress.bytesTotal : undefined);
        },
      });
      // The same view the Backups list gives, so the result and the list cannot disagree.
      const summary = await withRepositorySet(context, undefined, (set) => Promise.resolve(backupSummaryOf({ record, repositories: record.repositories }, configuredRepositories(set), [])));
      return { kind: 'backup', backup: summary };
    },
  });
  return { operationId: operation.id, backupId: id, ...(estimatedDurationSeconds === undefined ? {} : { estimatedDurationSeconds }), ...(at ? { scheduledFor: at.toISOString() } : {}), components: request.components };
}

function scheduledTime(text: string, now: Date): Date | undefined {
  // An offset is required: "02:00" without one would mean the server's zone, not the person's.
  if (!/(Z|[+-]\d\d:?\d\d)$/i.test(text) || Number.isNaN(Date.parse(text))) {
    throw new DrcError('USAGE', `unable to schedule the backup at '${text}': not an ISO 8601 time with an offset`, { hints: ['give the time with its zone, e.g. 2026-06-14T02:00:00+02:00 or 2026-06-14T00:00:00Z'] });
  }
  const at = new Date(text);
  if (at.getTime() < now.getTime() - pastTolerance) {
    throw new DrcError('USAGE', `unable to schedule the backup at ${at.toISOString()}: that time has passed`, { hints: ['choose a time in the future, or start the backup now'] });
  }
  return at.getTime() > now.getTime() ? at : undefined;
}

/**
 * Seconds the backup should take: the database's size now at the rate earlier backups
 * read (bytes read over their duration, the last ten). Absent before the first backup or
 * when the repositories cannot be read now — the backup itself then says why.
 */
async function estimateBackupSeconds(context: ServiceContext, connection: Parameters<typeof withSql>[0]): Promise<number | undefined> {
  try {
    const recent = (await withRepositorySet(context, undefined, (set) => listBackups(set.repositories))).slice(-10);
    const bytes = recent.reduce((sum, entry) => sum + entry.record.bytesRead, 0);
    const ms = recent.reduce((sum, entry) => sum + entry.record.durationMs, 0);
    if (bytes === 0 || ms === 0) return undefined;
    const size = await withSql(connection, async (client) => Number((await client.query<{ total: string | null }>('SELECT sum(pg_database_size(oid))::text AS total FROM pg_database')).rows[0]?.total ?? 0));
    return Math.max(1, Math.round(size / (bytes / (ms / 1000))));
  } catch (error) {
    if (error instanceof DrcError) return undefined;
    throw error;
  }
}

/** PostgreSQL's word for how far recovery went, as the seed's disaster_recovery_events has it. */
function recoveryType(target: RecoveryTarget): 'full_restore' | 'point_in_time' {
  return target.kind === 'latest' || target.kind === 'immediate' ? 'full_restore' : 'point_in_time';
}

/** The moment the restored data reaches: the target time, the newest replayed commit, or the backup's end. */
function restoredTo(target: RecoveryTarget, report: Pick<RestoreReport, 'newestCommitTime' | 'backupStoppedAt'> | undefined): string | undefined {
  if (target.kind === 'time') return new Date(target.time).toISOString();
  if (target.kind === 'immediate') return report?.backupStoppedAt;
  // With no WAL after the backup, latest is the backup's end.
  return report?.newestCommitTime ?? (target.kind === 'latest' ? report?.backupStoppedAt : undefined);
}

/** Minutes of changes the restored copy lacks, counted to the moment the restore started. */
function dataLossMinutes(reachedAt: string | undefined, startedAt: Date): number | undefined {
  if (reachedAt === undefined) return undefined;
  return Math.max(0, Math.round((startedAt.getTime() - Date.parse(reachedAt)) / 60_000));
}

/** A path in single quotes for a POSIX shell, quotes inside escaped. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

export async function startRestore(context: ServiceContext, registry: OperationRegistry, request: z.output<typeof confirmedRestoreSchema>): Promise<OperationStarted> {
  if (!isAbsolute(request.targetDir)) {
    throw new DrcError('USAGE', `unable to restore into '${request.targetDir}': the target directory must be an absolute path`, { hints: ['give the full path, e.g. /var/lib/postgresql/restored'] });
  }
  const targetDir = resolve(request.targetDir);
  if (request.confirm !== basename(targetDir) && resolve(request.confirm) !== targetDir) {
    throw new DrcError('USAGE', `unable to restore into '${targetDir}': the confirmation does not match`, { hints: [`type the directory's name, '${basename(targetDir)}', to confirm the restore`] });
  }
  // Said at once rather than from the operation a moment later; the engine checks again before it writes.
  const entries = await readdir(targetDir).catch(() => []);
  if (entries.length > 0) {
    throw new DrcError('RESTORE_TARGET_NOT_EMPTY', `unable to restore into '${targetDir}': the directory is not empty`, { hints: ['restore never overwrites: choose a new or empty directory, or move the old one aside first'] });
  }
  const startedAt = new Date();
  const base = { recovery_type: recoveryType(request.target), initiated_by: currentOperator() };
  const operation = registry.start({
    kind: 'restore',
    title: `Restore to ${describeTarget(request.target)} into ${targetDir}`,
    cancelEffect: `everything written into ${targetDir} is removed; the directory is left as it was`,
    ...(request.backupId === undefined ? {} : { backupId: request.backupId }),
    run: async (control) => {
      let phase = '';
      const report = await restore(context, {
        targetDir,
        target: request.target,
        pause: request.pause,
        signal: control.signal,
        ...(request.backupId === undefined ? {} : { backupId: request.backupId }),
        ...(request.from === undefined ? {} : { from: request.from }),
        onProgress: (progress) => {
          if (restorePhases[progress.phase] !== phase) control.phase((phase = restorePhases[progress.phase]));
          if (progress.bytesTotal > 0) control.bytes(progress.bytesDone, progress.bytesTotal);
        },
        eventDetails: (done) => {
          const reached = restoredTo(request.target, done);
          const loss = dataLossMinutes(reached, startedAt);
          return { ...base, target_timestamp: reached ?? null, backup_used: done.backupId, data_loss_minutes: loss ?? null, status: 'completed' };
        },
        onFailure: (error, cancelled) => ({ ...base, target_timestamp: restoredTo(request.target, undefined) ?? null, backup_used: request.backupId ?? null, data_loss_minutes: null, status: cancelled ? 'cancelled' : 'failed', error: error.toData() }),
      });
      for (const fallback of report.fallbacks) control.fallback(`${fallback.object}: ${fallback.failed} failed (${fallback.reason}), used ${fallback.usedInstead}`);
      const loss = dataLossMinutes(restoredTo(request.target, report), startedAt);
      return { kind: 'restore', restore: report, startCommand: `pg_ctl start -D ${shellQuote(targetDir)}`, ...(loss === undefined ? {} : { dataLossMinutes: loss }) };
    },
  });
  return { operationId: operation.id };
}

const restorePhases = { select: 'choosing the backup', fetch: 'fetching files', wal: 'fetching WAL', attachments: 'restoring attachments beside the data directory', configure: 'writing the recovery settings', done: 'done' } as const;

/** The live database tables go into: the one named, or the configured cluster's. */
async function liveDatabase(context: ServiceContext, into: string | undefined): Promise<{ live: LiveDatabase; name: string }> {
  if (into !== undefined) {
    const live = parseConninfo(into);
    const fromUri = live.config.connectionString === undefined ? undefined : decodeURIComponent(new URL(live.config.connectionString).pathname.slice(1));
    return { live, name: fromUri || live.config.database || live.config.user || process.env.PGDATABASE || '' };
  }
  const cluster = requireCluster(context.config.cluster);
  const password = cluster.password === undefined ? undefined : await context.secrets.resolve(cluster.password, `password of cluster '${cluster.name}'`);
  return {
    live: {
      config: { host: cluster.host, port: cluster.port, database: cluster.database, application_name: 'dr-console', ...(cluster.user === undefined ? {} : { user: cluster.user }), ...(password === undefined ? {} : { password }) },
      display: `host=${cluster.host} port=${String(cluster.port)} dbname=${cluster.database}${cluster.user === undefined ? '' : ` user=${cluster.user}`}`,
    },
    name: cluster.database,
  };
}

export async function startPartialRestore(context: ServiceContext, registry: OperationRegistry, request: z.output<typeof confirmedPartialRestoreSchema>): Promise<OperationStarted> {
  const tables = request.tables.map(tableName);
  const { live, name } = await liveDatabase(context, request.into);
  if (request.confirm !== name) {
    throw new DrcError('USAGE', `unable to restore tables into database '${name}': the confirmation does not match`, { hints: [`type the live database's name, '${name}', to confirm`] });
  }
  const startedAt = new Date();
  const operation = registry.start({
    kind: 'partial-restore',
    title: `Restore ${request.tables.join(', ')} as of ${describeTarget(request.target)} into ${name}`,
    cancelEffect: 'the scratch copy is removed; tables already copied into the new schema stay there (nothing existing is changed)',
    ...(request.backupId === undefined ? {} : { backupId: request.backupId }),
    run: async (control) => {
      try {
        const report = await restoreTables(context, {
          tables,
          into: live,
          target: request.target,
          signal: control.signal,
          ...(request.schema === undefined ? {} : { schema: request.schema }),
          ...(request.database === undefined ? {} : { database: request.database }),
          ...(request.backupId === undefined ? {} : { backupId: request.backupId }),
          ...(request.from === undefined ? {} : { from: request.from }),
          onProgress: (progress) => {
            control.phase(progress.phase, `${progress.phase}: ${progress.detail}`);
          },
        });
        const reached = restoredTo(request.target, undefined);
        await recordDrEvent(context, 'success', `restored ${String(report.tables.length)} table(s) into ${report.schema} of ${name}`, {
          recovery_type: 'partial_restore',
          target_timestamp: reached ?? null,
          backup_used: report.backupId,
          initiated_by: currentOperator(),
          data_loss_minutes: dataLossMinutes(reached, startedAt) ?? null,
          status: 'completed',
          tables: report.tables.map((table) => ({ source: table.source, target: table.target, rows: table.rows })),
        });
        return { kind: 'partial-restore', partialRestore: report };
      } catch (error) {
        if (error instanceof DrcError) {
          await recordDrEvent(context, 'failure', `restoring ${request.tables.join(', ')} into ${name} ${control.signal.aborted ? 'was cancelled' : 'failed'}: ${error.message}`, {
            recovery_type: 'partial_restore',
            target_timestamp: restoredTo(request.target, undefined) ?? null,
            backup_used: request.backupId ?? null,
            initiated_by: currentOperator(),
            data_loss_minutes: null,
            status: control.signal.aborted ? 'cancelled' : 'failed',
            error: error.toData(),
          }).catch(() => undefined);
        }
        throw error;
      }
    },
  });
  return { operationId: operation.id };
}

/** `schema.table` or `table` (in public) as SQL reads it: unquoted parts fold to lower case, "Quoted" ones are kept. */
function tableName(text: string): TableName {
  const part = String.raw`("(?:[^"]|"")+"|[^."]+)`;
  const match = new RegExp(`^(?:${part}[.])?${part}$`).exec(text.trim());
  const unquote = (value: string): string => (value.startsWith('"') ? value.slice(1, -1).replaceAll('""', '"') : value.trim().toLowerCase());
  if (!match?.[2]) throw new DrcError('USAGE', `unable to read the table '${text}': give it as schema.table or table`, { hints: ['e.g. public.guests, or sales."Order Items"'] });
  return { schema: match[1] === undefined ? 'public' : unquote(match[1]), name: unquote(match[2]) };
}

/** A partial restore's record: the engine writes none of its own, so the console's history gets one here. */
async function recordDrEvent(context: ServiceContext, outcome: 'success' | 'failure', summary: string, details: Record<string, unknown>): Promise<void> {
  await withRepositorySet(context, undefined, (set) => recordInEvery(set.repositories, newEvent('partial-restore', outcome, summary, details)));
}

export function startRestoreTest(context: ServiceContext, registry: OperationRegistry, request: z.output<typeof restoreTestRequestSchema>): Promise<OperationStarted> {
  const operation = registry.start({
    kind: 'restore-test',
    title: `Restore test of ${request.backupId ?? 'the newest backup'}`,
    cancelEffect: 'the scratch instance is stopped and removed; the test is recorded as interrupted',
    ...(request.backupId === undefined ? {} : { backupId: request.backupId }),
    run: async (control) => {
      let phase = '';
      const record = await restoreTest(context, {
        signal: control.signal,
        ...(request.backupId === undefined ? {} : { backupId: request.backupId }),
        ...(request.time === undefined ? {} : { time: request.time }),
        ...(request.from === undefined ? {} : { from: request.from }),
        onProgress: (progress) => {
          if (progress.phase !== phase || progress.bytesDone === undefined) control.phase((phase = progress.phase), `${progress.phase}: ${progress.detail}`);
          if (progress.bytesDone !== undefined) control.bytes(progress.bytesDone, progress.bytesTotal);
        },
      });
      control.backupId(record.backupId);
      // An interrupted test is recorded by the engine as cancelled; the operation says so too.
      control.signal.throwIfAborted();
      return { kind: 'restore-test', restoreTest: record };
    },
  });
  return Promise.resolve({ operationId: operation.id });
}
