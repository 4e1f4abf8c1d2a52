import type { RecoveryTarget, RestoreReport } from '../../../shared/contract/restore.js';
import { DrcError } from '../../../shared/errors.js';
import { execFile } from 'node:child_process';
import { chmod, mkdir, open, readdir, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { runAsUnprivileged } from '../../postgres/binaries.js';
import { newEvent } from '../../repo/events.js';
import { decodeManifest, manifestObjectName, type Attachment, type Manifest } from '../../repo/manifest.js';
import { chunkObjectName } from '../../repo/objects.js';
import { recordInEvery } from '../../repo/repository.js';
import { CryptoPool } from '../../repo/crypto-pool.js';
import type { RepositorySet } from '../../repo/repository-set.js';
import { listBackups } from '../backup/catalog.js';
import { WalCatalog } from '../wal/catalog.js';
import { archivedWalSegmentSize } from '../wal/segment-size.js';
import { alignedSlots } from '../../storage/direct-io.js';
import { chooseWriteMode } from '../../storage/write-mode.js';
import { writeDataFiles } from './files.js';
import { ObjectSource, orderRepositories, uniqueFallbacks } from '../../repo/object-source.js';
import { writeRecoveryConfig } from './recovery-config.js';
import { describeTarget, selectBackup, type RecoveryPlan, type SelectOptions } from './select.js';
import { prepareTargetDirectory, walDirectory } from './target-dir.js';
import { copyWal } from './wal.js';

const execFileAsync = promisify(execFile);

/** Chunks fetched, opened and written at once, one shared slot each: keeps the workers and the disk busy, and bounds the memory. */
const chunksInFlight = 12;

export interface RestoreOptions {
  readonly targetDir: string;
  readonly target: RecoveryTarget;
  readonly backupId?: string;
  /** What a hole in the WAL before the target does (see `SelectOptions`); the report warns of any hole replay stopped at. */
  readonly onGap?: SelectOptions['onGap'];
  readonly from?: string;
  readonly pause: boolean;
  readonly port?: number;
  readonly onProgress?: (progress: { phase: 'select' | 'fetch' | 'wal' | 'attachments' | 'configure' | 'done'; bytesDone: number; bytesTotal: number }) => void;
  readonly now?: () => Date;
  /** Restore the backup's attachments beside the target (default); a scratch copy for a test leaves them out. */
  readonly attachments?: boolean;
  /** Aborting stops fetching and removes everything this restore wrote (the target was new or empty when it began). */
  readonly signal?: AbortSignal;
  /** More for the restore event's details (the console's disaster-recovery fields), from the finished report. */
  readonly eventDetails?: (report: RestoreReport) => Record<string, unknown>;
  /** Told the chosen backup before a byte is fetched, e.g. to narrow a read lease to it. */
  readonly onBackupChosen?: (plan: RecoveryPlan) => Promise<void>;
}

/**
 * restore: a data directory that a plain `pg_ctl start` recovers to the target and
 * promotes, with no network and no drc process.
 *
 *  1. select    — the backup nearest before the target, and the WAL bound.
 *  2. validate  — refuse a non-empty target or a running server before fetching a byte.
 *  3. fetch     — files from their chunks, preferred repository first, any other on a
 *                 missing or corrupt chunk (each fallback reported).
 *  4. wal       — every segment to the target along the timeline path, partial included.
 *  5. configure — recovery.signal and the recovery settings.
 *  6. record    — a restore event in every repository.
 */
export async function runRestore(set: RepositorySet, options: RestoreOptions): Promise<RestoreReport> {
  const now = options.now ?? (() => new Date());
  const started = now();
  const progress = options.onProgress ?? (() => undefined);
  progress({ phase: 'select', bytesDone: 0, bytesTotal: 0 });

  const repositories = orderRepositories(set.repositories, options.from);
  const backups = await listBackups(repositories);
  const segmentSize = await archivedWalSegmentSize(repositories, backups);
  const catalog = await WalCatalog.load(repositories, segmentSize);
  const plan = await selectBackup(backups, options.target, catalog, { ...(options.backupId === undefined ? {} : { backupId: options.backupId }), onGap: options.onGap ?? 'refuse' });
  const holders = repositories.filter((repository) => plan.backup.repositories.includes(repository.name));
  await options.onBackupChosen?.(plan);

  options.signal?.throwIfAborted();
  const existed = await pathExists(options.targetDir);
  await prepareTargetDirectory(options.targetDir);

  const preferredFirst = [...holders, ...repositories.filter((repository) => !holders.includes(repository))];
  // The manifest sizes the shared slots the crypto pool is built on, so it is opened here, before the pool exists.
  const manifestSource = new ObjectSource(preferredFirst);
  const manifest = await readManifestWithFallback(manifestSource, plan.backup.record.id);
  const beside = options.attachments === false ? [] : manifest.attachments.filter((attachment) => attachment.component !== undefined);
  const attachmentsDir = attachmentsDirectory(options.targetDir);
  if (beside.length > 0) await prepareAttachmentsDirectory(attachmentsDir);
  const total = manifest.files.reduce((sum, file) => sum + file.size, 0) + beside.reduce((sum, attachment) => sum + attachment.size, 0);
  const writes = await chooseWriteMode(options.targetDir, total);
  const restoreSlots = await alignedSlots(chunksInFlight, slotSizeFor(manifest), writes.mode === 'direct' ? options.targetDir : undefined);
  const pool = new CryptoPool(set.keys, holders[0]?.compression ?? 'zstd', restoreSlots.slots);
  const source = new ObjectSource(preferredFirst, pool);
  let written: { files: number; bytes: number };
  let wal: Awaited<ReturnType<typeof copyWal>>;
  let done = 0;
  const onBytes = (bytes: number): void => {
    done += bytes;
    progress({ phase: 'fetch', bytesDone: done, bytesTotal: total });
  };
  try {
    const rest = await writeDataFiles({ ...manifest, files: manifest.files.filter((file) => file.path !== controlFile) }, options.targetDir, source, restoreSlots, onBytes, options.signal);
    progress({ phase: 'wal', bytesDone: done, bytesTotal: total });
    wal = await copyWal(plan, options.target, catalog, source, walDirectory(options.targetDir), options.signal);
    if (beside.length > 0) {
      progress({ phase: 'attachments', bytesDone: done, bytesTotal: total });
      await writeAttachments(beside, attachmentsDir, manifestSource, onBytes, options.signal);
    }

    progress({ phase: 'configure', bytesDone: done, bytesTotal: total });
    await writeRecoveryConfig(options.targetDir, plan.replayToEnd === true ? { kind: 'latest' } : options.target, {
      pause: options.pause,
      ...(options.port === undefined ? {} : { port: options.port }),
      inPlaceTablespaces: plan.backup.record.tablespaces.length > 0,
      comment: `recovery settings written by DR Console: backup ${plan.backup.record.id}, target ${describeTarget(options.target)}`,
    });
    // pg_control last, as pgBackRest does: without it PostgreSQL refuses to start, so a
    // restore that failed part-way can never be started by mistake as if it were whole.
    options.signal?.throwIfAborted();
    const control = await writeDataFiles({ ...manifest, files: manifest.files.filter((file) => file.path === controlFile) }, options.targetDir, source, restoreSlots, onBytes);
    written = { files: rest.files + control.files, bytes: rest.bytes + control.bytes };
  } catch (error) {
    if (options.signal?.aborted) {
      // Every write has settled (the loops stop between chunks and segments): what is on disk now is all this restore wrote.
      await removeWritten(options.targetDir, existed, beside.length > 0 ? attachmentsDir : undefined);
      throw new DrcError('RESTORE_FAILED', `the restore into '${options.targetDir}' was cancelled: what it had written was removed`, { hints: ['nothing else was changed; start the restore again when ready'], cause: error });
    }
    throw incompleteRestore(error, options.targetDir);
  } finally {
    await pool.close();
  }

  const ownerWarning = await handOverToServerUser(options.targetDir);

  const report: RestoreReport = {
    targetDir: options.targetDir,
    target: options.target,
    backupId: plan.backup.record.id,
    backupStopLsn: plan.backup.record.stopLsn,
    backupStoppedAt: plan.backup.record.stoppedAt,
    from: source.preferred,
    // The set's own log holds the damaged manifest copies the catalog passed over while choosing the backup.
    fallbacks: uniqueFallbacks([...set.fallbacks, ...manifestSource.fallbacks, ...source.fallbacks]),
    files: written.files,
    bytesWritten: written.bytes,
    walSegments: wal.segments,
    ...(wal.first === undefined ? {} : { walFirst: wal.first }),
    ...(wal.last === undefined ? {} : { walLast: wal.last }),
    usedPartialSegment: wal.usedPartial,
    targetTimeline: wal.targetTimeline,
    ...(wal.newestCommitTime === undefined ? {} : { newestCommitTime: wal.newestCommitTime.toISOString() }),
    warnings: [...catalog.warnings, ...(plan.warnings ?? []), ...wal.warnings, ...(ownerWarning ? [ownerWarning] : [])],
    durationMs: now().getTime() - started.getTime(),
    pause: options.pause,
    ...(beside.length > 0 ? { attachmentsDir } : {}),
    writes,
  };
  const event = newEvent('restore', report.fallbacks.length === 0 && report.warnings.length === 0 ? 'success' : 'partial', `restored backup ${report.backupId} to ${describeTarget(options.target)} into ${options.targetDir}`, { ...report, ...options.eventDetails?.(report) });
  // The restore is done whether or not its record can be written (a break-glass restore
  // from a write-protected stick): a repository that cannot take it becomes a warning.
  const { failed } = await recordInEvery(set.repositories, event);
  report.warnings.push(...failed.map((entry) => `the restore could not be recorded in repository '${entry.repository}': ${entry.error.message}`));
  progress({ phase: 'done', bytesDone: done, bytesTotal: total });
  return report;
}

/**
 * PostgreSQL will not start on a data directory owned by root, and a DBA restoring as root
 * (sudo on a break-glass machine) starts it as the server user: the directory is handed to
 * the owner of its parent directory, or else to the `postgres` user.
 */
async function handOverToServerUser(targetDir: string): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const parent = await stat(dirname(targetDir));
  let owner: { uid: number; gid: number } | undefined = parent.uid === 0 ? undefined : { uid: parent.uid, gid: parent.gid };
  try {
    owner ??= runAsUnprivileged();
  } catch {
    return `the restored directory belongs to root and there is no 'postgres' user to give it to: chown -R it to the user that runs PostgreSQL before pg_ctl start`;
  }
  if (!owner) return undefined;
  await execFileAsync('chown', ['-R', `${String(owner.uid)}:${String(owner.gid)}`, targetDir]);
  return undefined;
}

const controlFile = 'global/pg_control';

/** Beside the data directory, never inside it: a server never reads them, and `pg_ctl start` sees a clean data directory. */
export function attachmentsDirectory(targetDir: string): string {
  return `${resolve(targetDir)}.attachments`;
}

async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Like the target itself: a new or empty directory, so a restore never mixes its files with older ones. */
async function prepareAttachmentsDirectory(dir: string): Promise<void> {
  const entries = await readdir(dir).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  });
  if (entries.length > 0) {
    throw new DrcError('RESTORE_TARGET_NOT_EMPTY', `unable to restore the backup's attachments into '${dir}': the directory is not empty`, {
      hints: ['the configuration files and listed directories kept with the backup go beside the data directory: move the old directory aside, or choose another target directory'],
    });
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

/**
 * The attachments, one file at a time (configuration files and listed directories are
 * small beside the data), each written under `dir` at its name with its mode and time.
 */
async function writeAttachments(attachments: readonly Attachment[], dir: string, source: ObjectSource, onBytes: (bytes: number) => void, signal: AbortSignal | undefined): Promise<void> {
  for (const attachment of attachments) {
    signal?.throwIfAborted();
    const path = resolve(dir, attachment.name);
    // The name comes from an authenticated manifest; this keeps even a defective one inside `dir`.
    if (!path.startsWith(`${dir}${sep}`)) throw new DrcError('OBJECT_CORRUPT', `unable to restore attachment '${attachment.name}': its name leads outside '${dir}'`, { hints: ['run `drc verify` on the repositories'] });
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const handle = await open(path, 'wx', attachment.mode ?? 0o600);
    try {
      for (const chunk of attachment.chunks) {
        const plaintext = await source.read(chunkObjectName(chunk.id));
        const { bytesWritten } = await handle.write(plaintext, chunk.offset ?? 0, chunk.length);
        // A short write (a full disk, a pulled stick) is an error, never a shorter file.
        if (bytesWritten !== chunk.length) {
          throw new DrcError('RESTORE_FAILED', `unable to write attachment '${attachment.name}' in '${dir}': ${String(bytesWritten)} of ${String(chunk.length)} bytes written`, { hints: ['check the free space and the device of the target directory, then restore again'] });
        }
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (attachment.mode !== undefined) await chmod(path, attachment.mode);
    if (attachment.mtime !== undefined) await utimes(path, new Date(attachment.mtime), new Date(attachment.mtime));
    onBytes(attachment.size);
  }
}

/** After a cancel: the target back to how it was (empty, or absent), and the attachments directory gone. */
async function removeWritten(targetDir: string, existed: boolean, attachmentsDir: string | undefined): Promise<void> {
  if (existed) {
    for (const entry of await readdir(targetDir)) await rm(join(targetDir, entry), { recursive: true, force: true });
  } else {
    await rm(targetDir, { recursive: true, force: true });
  }
  if (attachmentsDir !== undefined) await rm(attachmentsDir, { recursive: true, force: true });
}

/** A failed restore, saying that the directory is incomplete and cannot be started, and what to do. */
function incompleteRestore(error: unknown, targetDir: string): DrcError {
  const incomplete = `the restore into '${targetDir}' is incomplete and has no ${controlFile}, so PostgreSQL will not start on it: delete the directory and restore again`;
  if (error instanceof DrcError) return new DrcError(error.code, error.message, { hints: [...error.hints, incomplete], retryable: error.retryable, cause: error });
  return new DrcError('RESTORE_FAILED', `unable to restore into '${targetDir}': ${error instanceof Error ? error.message : String(error)}`, {
    hints: ['check the free space and the permissions of the target filesystem', incomplete],
    cause: error,
  });
}

/** A slot holds a whole chunk: the 4 MiB a backup writes, or the largest chunk this manifest reads from, whichever is larger. */
function slotSizeFor(manifest: Manifest): number {
  let largest = 4 * 1024 * 1024;
  for (const file of manifest.files) for (const ref of file.chunks) largest = Math.max(largest, (ref.offset ?? 0) + ref.length);
  return largest;
}

async function readManifestWithFallback(source: ObjectSource, backupId: string): Promise<Manifest> {
  const name = manifestObjectName(backupId);
  return decodeManifest(await source.read(name), source.preferred, name);
}

