import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { backupTypeSchema } from '../../../shared/contract/backup.js';
import type { BackupRecord } from '../../repo/backup-record.js';
import type { RestoreReport } from '../../../shared/contract/restore.js';
import { DrcError } from '../../../shared/errors.js';
import type { ArchiverStatus } from '../../engines/wal/archiver.js';
import type { RepositoryWalStatus } from '../../engines/wal/status.js';
import { backup, createRestorePoint, inventory, type Inventory } from '../../services/backup.js';
import { restore } from '../../services/restore.js';
import { getWal, pushWal, streamWalForever, walArchiveStatus } from '../../services/wal.js';
import { contextFor, formatBytes, formatDuration, optional, progressAmount, recoveryTarget, recoveryTargetOptions, required, type Command } from './command.js';
import { restoreTablesOptions, runRestoreTables } from './verification-commands.js';

/** The cluster's protection: `backup`, `wal …`, `restore-point`, `restore`, `list`. */
export const clusterCommands: Record<string, Command> = {
  backup: {
    usage: 'drc backup [--type full|incremental|archive|manual] [--reason TEXT] [--operator NAME]',
    summary: 'stream a physical backup into every repository at once',
    options: { type: { type: 'string' }, reason: { type: 'string' }, operator: { type: 'string' } },
    positionals: 0,
    run: async ({ values, io, progress }) => {
      const type = backupTypeSchema.safeParse(values.type ?? 'full');
      if (!type.success) throw new DrcError('USAGE', `unable to use --type '${String(values.type)}'`, { hints: ['--type is one of full, incremental, archive, manual'] });
      const amount = progressAmount();
      const record = await backup(await contextFor(values), {
        type: type.data,
        reason: typeof values.reason === 'string' ? values.reason : '',
        ...optional('operator', values.operator),
        // Ctrl-C and SIGTERM stop the backup: no manifest, so no backup; the lock released.
        ...(io.signal ? { signal: io.signal } : {}),
        onProgress: (value) => {
          const eta = value.etaSeconds === undefined || value.bytesDone > value.bytesTotal ? '' : `, ${formatDuration(value.etaSeconds * 1000)} left`;
          progress.show(`backup ${value.phase}: ${amount(value.bytesDone, value.bytesTotal)} at ${formatBytes(value.bytesPerSecond)}/s${eta}`);
        },
      });
      return { json: record, text: formatBackup(record), exitCode: record.missingCopies.length > 0 ? 1 : 0 };
    },
  },
  'wal stream': {
    usage: 'drc wal stream [--slot NAME]',
    summary: 'stream WAL into every repository until interrupted (SIGINT/SIGTERM stop it cleanly)',
    options: { slot: { type: 'string' } },
    positionals: 0,
    run: async ({ values, io, progress }) => {
      const signal = io.signal ?? new AbortController().signal;
      const status = await streamWalForever(await contextFor(values), {
        ...optional('slot', values.slot),
        signal,
        onStatus: (value) => {
          progress.show(`wal: timeline ${String(value.timeline)}, received ${value.receivedLsn}, stored ${value.storedLsn}${value.lastCommitStored ? `, last commit ${value.lastCommitStored}` : ''}`);
          for (const warning of value.warnings.splice(0)) io.stderr.write(`warning: ${warning}\n`);
        },
      });
      return { json: status, text: formatArchiver(status), exitCode: status.failedRepositories.length > 0 ? 1 : 0 };
    },
  },
  'wal status': {
    usage: 'drc wal status',
    summary: 'per repository: newest WAL and commit time safely stored, and any gap in the archive',
    options: {},
    positionals: 0,
    run: async ({ values }) => {
      const repositories = await walArchiveStatus(await contextFor(values));
      return { json: { repositories }, text: repositories.map(formatWalStatus).join('\n'), exitCode: repositories.some((entry) => entry.gaps.length > 0) ? 1 : 0 };
    },
  },
  'wal push': {
    usage: 'drc wal push PATH   (archive_command = \'drc wal push %p\')',
    summary: 'store one WAL or history file in every repository',
    options: {},
    positionals: 1,
    run: async ({ values, args }) => {
      const path = resolve(args[0] ?? '');
      const size = await stat(path).then(
        (info) => info.size,
        (error: unknown) => {
          throw new DrcError('USAGE', `unable to archive '${path}': ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
            hints: ["archive_command passes the file's path as %p, relative to the data directory: archive_command = 'drc wal push %p'"],
          });
        },
      );
      // A complete segment's size is the server's segment size; a history file's is not.
      const segmentSize = isSegmentSize(size) ? size : undefined;
      const result = await pushWal(await contextFor(values), path, segmentSize);
      return { json: result, text: `stored ${result.object} in ${result.repositories.join(', ')}`, exitCode: 0 };
    },
  },
  'wal get': {
    usage: 'drc wal get NAME DEST   (restore_command = \'drc wal get %f %p\')',
    summary: 'fetch one WAL or history file from the first repository that has it',
    options: {},
    positionals: 2,
    run: async ({ values, args }) => {
      const result = await getWal(await contextFor(values), args[0] ?? '', resolve(args[1] ?? ''));
      return { json: result, text: `fetched ${result.object} from ${result.from}`, exitCode: 0 };
    },
  },
  'restore-point': {
    usage: 'drc restore-point NAME',
    summary: 'create a named restore point on the server and record it',
    options: {},
    positionals: 1,
    run: async ({ values, args }) => {
      const point = await createRestorePoint(await contextFor(values), args[0] ?? '');
      return { json: point, text: `restore point '${point.name}' at ${point.lsn} (${point.time})`, exitCode: 0 };
    },
  },
  restore: {
    usage: 'drc restore --target-dir DIR (--time ISO8601 | --lsn LSN | --name RESTORE_POINT | --xid XID | --immediate | --latest) [--backup ID] [--from REPO] [--pause] [--port N] [--accept-gap]\n  drc restore --tables SCHEMA.TABLE[,…] --into CONNINFO [--schema NEW_SCHEMA] [--database NAME] (--time … | --latest | …) [--backup ID] [--from REPO]',
    summary: 'restore a backup and the WAL to reach the target; a plain pg_ctl start recovers and promotes',
    options: {
      'target-dir': { type: 'string' },
      ...recoveryTargetOptions,
      backup: { type: 'string' },
      from: { type: 'string' },
      pause: { type: 'boolean', default: false },
      port: { type: 'string' },
      'accept-gap': { type: 'boolean', default: false },
      ...restoreTablesOptions,
    },
    positionals: 0,
    run: async (invocation) => {
      // `--tables` restores some tables into a live database instead of a whole directory.
      if (invocation.values.tables !== undefined) return runRestoreTables(invocation);
      const { values, io, progress } = invocation;
      const targetDir = resolve(required(values['target-dir'], '--target-dir', 'drc restore --target-dir /srv/restore --latest'));
      const amount = progressAmount();
      const report = await restore(await contextFor(values), {
        targetDir,
        target: recoveryTarget(values, io),
        ...optional('backupId', values.backup),
        ...optional('from', values.from),
        pause: values.pause === true,
        // Ctrl-C and SIGTERM stop the restore and remove what it wrote.
        ...(io.signal ? { signal: io.signal } : {}),
        onGap: values['accept-gap'] === true ? 'accept' : 'refuse',
        ...(typeof values.port === 'string' ? { port: portNumber(values.port) } : {}),
        onProgress: (value) => {
          progress.show(`restore ${value.phase}: ${amount(value.bytesDone, value.bytesTotal)}`);
        },
      });
      return { json: report, text: formatRestore(report), exitCode: 0 };
    },
  },
  list: {
    usage: 'drc list',
    summary: 'backups with their copies, restore points, and the recovery window per repository',
    options: {},
    positionals: 0,
    run: async ({ values }) => {
      const result = await inventory(await contextFor(values));
      return { json: result, text: formatInventory(result), exitCode: 0 };
    },
  },
};

function isSegmentSize(size: number): boolean {
  return size >= 1024 * 1024 && size <= 1024 * 1024 * 1024 && (size & (size - 1)) === 0;
}

function portNumber(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new DrcError('USAGE', `unable to use --port '${text}'`, { hints: ['a TCP port from 1 to 65535'] });
  return port;
}

function formatBackup(record: BackupRecord): string {
  const lines = [
    `backup ${record.id} (${record.type}${record.nativeIncremental ? ', native incremental' : ''}) of '${record.cluster}', PostgreSQL ${record.serverVersion}`,
    `  LSN ${record.startLsn} → ${record.stopLsn} on timeline ${String(record.timeline)}, ${formatDuration(record.durationMs)}`,
    `  read ${formatBytes(record.bytesRead)}, new ${formatBytes(record.bytesNew)}, stored ${formatBytes(record.bytesStored)} across repositories`,
    `  complete copies: ${record.repositories.join(', ')}`,
    ...record.missingCopies.map((copy) => `  MISSING copy in '${copy.repository}': ${copy.error.message}`),
    ...(record.warnings ?? []).map((warning) => `  WARNING ${warning}`),
  ];
  return lines.join('\n');
}

function formatArchiver(status: ArchiverStatus): string {
  return [
    `stopped on timeline ${String(status.timeline)}: received ${status.receivedLsn}, stored ${status.storedLsn}, ${String(status.segmentsStored)} segment(s) this run`,
    ...status.failedRepositories.map((entry) => `  FAILED '${entry.repository}': ${entry.error.message}`),
  ].join('\n');
}

function formatWalStatus(status: RepositoryWalStatus): string {
  const lines = [
    `${status.repository}: ${String(status.segments)} segment(s)${status.partialSegments > 0 ? ` + ${String(status.partialSegments)} partial` : ''}, newest ${status.newestLsn ?? 'none'}, last commit ${status.newestCommitTime ?? 'unknown'}`,
  ];
  if (status.recoveryWindow) lines.push(`  recovery window ${status.recoveryWindow.earliest} → ${status.recoveryWindow.latest}`);
  for (const gap of status.gaps.slice(0, 10)) lines.push(`  GAP timeline ${String(gap.timeline)}: ${gap.missing} is missing`);
  if (status.gaps.length > 10) lines.push(`  … ${String(status.gaps.length - 10)} more missing segments`);
  return lines.join('\n');
}

function formatRestore(report: RestoreReport): string {
  return [
    `restored backup ${report.backupId} (ended ${report.backupStoppedAt}, LSN ${report.backupStopLsn}) into ${report.targetDir}`,
    `  ${String(report.files)} files, ${formatBytes(report.bytesWritten)} from '${report.from}' in ${formatDuration(report.durationMs)}`,
    `  WAL: ${String(report.walSegments)} segment(s)${report.walFirst ? ` ${report.walFirst} … ${report.walLast ?? ''}` : ''}${report.usedPartialSegment ? ' (the last one from the partial upload)' : ''}, target timeline ${String(report.targetTimeline)}`,
    ...(report.newestCommitTime ? [`  newest commit in the restored WAL: ${report.newestCommitTime}`] : []),
    // The same object can fall back more than once in a restore (read, then read again to verify): one line each.
    ...new Set(report.fallbacks.map((fallback) => `  FALLBACK ${fallback.object}: '${fallback.failed}' failed (${fallback.reason}); used '${fallback.usedInstead}'`)),
    ...report.warnings.map((warning) => `  WARNING ${warning}`),
    `next: pg_ctl start -D ${report.targetDir}  (recovery ${report.pause ? 'pauses at the target for inspection' : 'replays to the target and promotes'})`,
  ].join('\n');
}

function formatInventory(result: Inventory): string {
  const lines = ['backups:'];
  for (const entry of result.backups) {
    lines.push(`  ${entry.id}  ${entry.type.padEnd(11)} ${entry.stoppedAt}  ${entry.startLsn} → ${entry.stopLsn}  stored ${formatBytes(entry.bytesStored)}  copies: ${entry.copies.join(', ')}${entry.reason ? `  (${entry.reason})` : ''}`);
  }
  if (result.backups.length === 0) lines.push('  none');
  lines.push('restore points:');
  for (const point of result.restorePoints) lines.push(`  ${point.time}  ${point.lsn}  ${point.name}`);
  if (result.restorePoints.length === 0) lines.push('  none');
  lines.push('recovery window per repository:');
  for (const status of result.wal) lines.push(`  ${status.repository}: ${status.recoveryWindow ? `${status.recoveryWindow.earliest} → ${status.recoveryWindow.latest}` : 'no backup'}${status.gaps.length > 0 ? ` (WAL gap at ${status.gaps[0]?.missing ?? ''})` : ''}`);
  for (const entry of result.unreachable) lines.push(`  ${entry.repository}: UNREACHABLE — ${entry.message}`);
  for (const warning of result.warnings) lines.push(`WARNING ${warning}`);
  return lines.join('\n');
}
