import { open, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { BackupProgress, BackupType } from '../../../shared/contract/backup.js';
import type { BackupRecord } from '../../repo/backup-record.js';
import { DrcError, type ErrorData } from '../../../shared/errors.js';
import { formatLsn } from '../../postgres/lsn.js';
import { withSql } from '../../postgres/cluster.js';
import { ReplicationConnection } from '../../postgres/replication/connection.js';
import type { BaseBackupStart, ReplicationConnectionOptions } from '../../postgres/replication/types.js';
import { currentOperator, newEvent } from '../../repo/events.js';
import type { Attachment, ChunkRef, Manifest, ManifestFile } from '../../repo/manifest.js';
import { inEveryRepository, lockAll, releaseAll, type Repository } from '../../repo/repository.js';
import type { RepositorySet } from '../../repo/repository-set.js';
import { SharedSlots } from '../../repo/shared-slots.js';
import { ChunkWriter, knownChunks } from './chunk-writer.js';
import { ChunkSealer } from './chunk-sealer.js';
import { FileChunker, defaultChunkerOptions, type ChunkerOptions, type UnchangedFiles } from './file-chunker.js';
import { IncrementalFiles } from './incremental.js';
import { TarReader } from './tar-reader.js';
import { checkDataDirectory, copyDataDirectory, hasTablespaces, inPlaceBackupFailure, type DataDirectorySink } from './data-directory.js';
import { findLatestBackup, readServerManifest } from './catalog.js';

export interface BackupOptions {
  readonly cluster: string;
  readonly connection: ReplicationConnectionOptions;
  readonly type: BackupType;
  readonly reason: string;
  readonly operator?: string;
  readonly chunker?: ChunkerOptions;
  /** Read the data directory directly (DR Console on the database host) instead of streaming it. */
  readonly dataDirectory?: string;
  readonly onProgress?: (progress: BackupProgress) => void;
  readonly now?: () => Date;
  /** Chosen by the caller when it must name the backup before it starts (the console returns it at once); default from the start time. */
  readonly backupId?: string;
  /** `fast` (default): an immediate checkpoint, the backup starts at once with an I/O burst; `spread`: the server paces the checkpoint. */
  readonly checkpoint?: 'fast' | 'spread';
  /** Files kept with the backup and restored beside the data directory (configuration files, listed directories). */
  readonly attachments?: readonly AttachmentFile[];
  /** Aborting stops the stream and writes no manifest: nothing is committed, the locks are released. */
  readonly signal?: AbortSignal;
}

/** A file to attach: read from `path`, stored under `name` (`configurations/…`, `files/…`). */
export interface AttachmentFile {
  readonly component: 'configurations' | 'files';
  readonly name: string;
  readonly path: string;
}

/** The lock a backup holds on each repository: one backup of a cluster at a time. */
export const backupLock = 'backup';

/**
 * backup: stream a base backup from the server into every repository at once.
 *
 * The phases, in order, and why:
 *  1. connect    — a replication connection; refuse servers older than 15 up front.
 *  2. lock       — one backup at a time per repository, so two runs never race on commit.
 *  3. plan       — list the chunks each repository holds (a crashed run's chunks are
 *                  reused); on 17+ an incremental asks the server for changed blocks only.
 *  4. stream     — tar → files → page-aligned chunks → sealed once → written to each
 *                  repository that lacks them, in parallel, with backpressure.
 *  5. commit     — the manifest, written last, in each repository that got every chunk.
 *  6. record     — an event in every repository, naming the copies that are missing.
 */
export async function runBackup(set: RepositorySet, options: BackupOptions): Promise<BackupRecord> {
  const chunker = options.chunker ?? defaultChunkerOptions;
  const needed = FileChunker.slotsNeeded(chunker);
  const slots = new SharedSlots(needed.count, needed.slotSize);
  // The crypto workers start first: they boot while drc connects, takes the locks and
  // waits for the checkpoint, and are ready for the first chunk.
  const sealer = new ChunkSealer(set.keys, set.repositories[0]?.compression ?? 'zstd', slots);
  try {
    return await backUp(set, { ...options, chunker }, sealer, slots);
  } catch (error) {
    if (options.signal?.aborted) throw cancelledBackup(error);
    throw error;
  } finally {
    await sealer.close();
  }
}

/** A cancelled backup says so, whatever the interrupted step failed with (a closed stream, usually). */
function cancelledBackup(error: unknown): DrcError {
  return new DrcError('BACKUP_FAILED', 'the backup was cancelled before it committed: no manifest was written, so no backup exists', {
    hints: ['chunks it already stored are reused by the next backup, or removed by `drc expire` after the grace period'],
    cause: error,
  });
}

async function backUp(set: RepositorySet, options: BackupOptions & { chunker: ChunkerOptions }, sealer: ChunkSealer, slots: SharedSlots): Promise<BackupRecord> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const progress = new ProgressMeter(options.onProgress, now);
  progress.report('connect', 0);

  options.signal?.throwIfAborted();
  const connection = await ReplicationConnection.connect(options.connection);
  // Cancelling closes the replication connection: the server ends BASE_BACKUP, and the stream fails at once.
  let closing: Promise<void> | undefined;
  const closeOnAbort = (): void => {
    closing = connection.close();
  };
  options.signal?.addEventListener('abort', closeOnAbort, { once: true });
  try {
    const identity = await connection.identifySystem();
    const walSegmentSize = await connection.walSegmentSizeBytes();
    const repositories = set.repositories;
    if (repositories.length === 0) throw new DrcError('REPO_NOT_INITIALIZED', 'unable to back up: no repository is reachable', { hints: set.unreachable.map((entry) => `${entry.target.name}: ${entry.error.message}`) });

    const locks = await lockAll(repositories, `${options.type} backup`, { lock: backupLock });
    try {
      options.signal?.throwIfAborted();
      const previous = await findLatestBackup(repositories);
      if (previous && previous.record.systemId !== identity.systemId) {
        throw new DrcError('REPO_MISMATCH', `unable to back up cluster '${options.cluster}' (system ${identity.systemId}) into repositories holding backups of system ${previous.record.systemId}`, {
          hints: ['each cluster needs its own repositories; point this config at empty locations'],
        });
      }
      const known = await Promise.all(repositories.map(async (repository) => ({ repository, known: await knownChunks(repository) })));
      const writer = new ChunkWriter(known, sealer);
      try {
        const native = options.type === 'incremental' && connection.serverVersion >= 170000 && previous !== undefined && (await summarizeWalIsOn(options.connection));
        const incrementalFrom = native && previous ? await readServerManifest(previous.repository, previous.manifest) : undefined;
        // Without the server's block-level help, an incremental trusts unchanged files' timestamps.
        const unchanged = options.type === 'incremental' && !native && previous ? { previous: new Map(previous.manifest.files.map((file) => [file.path, file])), modifiedBefore: new Date(Date.parse(previous.record.startedAt) - 1000), heldEverywhere: (id: string) => writer.heldEverywhere(id) } : undefined;
        // On 17+ with WAL summaries every backup is streamed: it carries the server's manifest, which the next native incremental starts from.
        const direct = native || (connection.serverVersion >= 170000 && (await summarizeWalIsOn(options.connection))) ? undefined : await readDataDirectory(options, identity.systemId, walSegmentSize, writer, slots, progress, unchanged);
        const streamed = direct ?? (await streamBaseBackup(connection, writer, options, slots, progress, incrementalFrom && previous ? { manifest: incrementalFrom, previous: previous.manifest, repository: previous.repository } : undefined, unchanged));

        const attachments = [...streamed.attachments, ...(await storeAttachments(options.attachments ?? [], writer, options.chunker.chunkSize, options.signal))];
        progress.report('commit', streamed.bytesRead);
        const failures = await writer.drain();
        // The last moment a cancel takes effect: past here the manifest is written and the backup exists.
        options.signal?.throwIfAborted();
        const stoppedAt = now();
        const nextXid = await withSql(options.connection, async (client) => {
          const result = await client.query<{ next: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS next');
          return result.rows[0]?.next;
        });
        const record: BackupRecord = {
          id: options.backupId ?? backupId(startedAt, options.type),
          type: options.type,
          reason: options.reason,
          operator: options.operator ?? currentOperator(),
          host: hostname(),
          cluster: options.cluster,
          startedAt: startedAt.toISOString(),
          stoppedAt: stoppedAt.toISOString(),
          startLsn: formatLsn(streamed.start.startLsn),
          stopLsn: formatLsn(streamed.endLsn),
          timeline: streamed.start.timeline,
          serverVersion: formatServerVersion(connection.serverVersion),
          serverVersionNum: connection.serverVersion,
          systemId: identity.systemId,
          walSegmentSize,
          ...(nextXid === undefined ? {} : { nextXid }),
          bytesRead: streamed.bytesRead,
          bytesNew: writer.stats.bytesNew,
          bytesStored: writer.stats.bytesStored,
          durationMs: stoppedAt.getTime() - startedAt.getTime(),
          files: streamed.files.filter((file) => file.type === 'file').length,
          ...(native && previous ? { incrementalFrom: previous.record.id } : {}),
          nativeIncremental: native,
          tablespaces: streamed.tablespaces,
          components: ['database', ...new Set((options.attachments ?? []).map((file) => file.component))],
          repositories: [],
          missingCopies: [...failures].map(([repository, error]) => ({ repository, error })),
          ...(streamed.warnings?.length ? { warnings: streamed.warnings } : {}),
        };
        const committed = await commitManifests(writer.liveRepositories(), record, streamed.files, attachments, now);
        record.repositories = committed.written;
        record.missingCopies.push(
          ...committed.failed,
          ...set.unreachable.map((entry) => ({ repository: entry.target.name, error: entry.error })),
          ...set.uninitialized.map((target) => ({ repository: target.name, error: { code: 'REPO_NOT_INITIALIZED', message: `repository '${target.name}' holds no repository yet`, hints: ['run `drc repo init`, then `drc sync` to copy existing backups into it'] } })),
        );
        if (record.repositories.length === 0) {
          throw new DrcError('BACKUP_FAILED', `unable to commit backup ${record.id} to any repository`, {
            hints: [...record.missingCopies.map((copy) => `${copy.repository}: ${copy.error.message}`), ...new Set(record.missingCopies.flatMap((copy) => copy.error.hints))],
          });
        }
        await recordBackupEvent(record.repositories.flatMap((name) => repositories.find((repository) => repository.name === name) ?? []), record);
        progress.report('done', streamed.bytesRead);
        return record;
      } finally {
        // A failed backup stops only once every write it started has ended: nothing goes
        // on writing after drc has reported the failure.
        await writer.drain();
      }
    } finally {
      await releaseAll(locks);
    }
  } finally {
    options.signal?.removeEventListener('abort', closeOnAbort);
    await (closing ?? connection.close());
  }
}

/**
 * The attachments, each read from its file in chunk-size pieces and stored like data
 * chunks (sealed, deduplicated, in every repository). A file that cannot be read fails
 * the backup: the person asked for it, and a backup silently without it would be found
 * out only at restore time.
 */
async function storeAttachments(files: readonly AttachmentFile[], writer: ChunkWriter, chunkSize: number, signal: AbortSignal | undefined): Promise<Attachment[]> {
  const stored: Attachment[] = [];
  for (const file of files) {
    signal?.throwIfAborted();
    let handle: FileHandle;
    try {
      handle = await open(file.path, 'r');
    } catch (error) {
      throw new DrcError('BACKUP_FAILED', `unable to attach '${file.path}' to the backup: ${(error as Error).message}`, {
        hints: ['the components configurations and files are read by drc on the database host: run it there as a user that may read them, or leave the component out'],
        cause: error,
      });
    }
    try {
      const info = await handle.stat();
      const chunks: ChunkRef[] = [];
      for (let offset = 0; offset < info.size; offset += chunkSize) {
        // Each piece is a buffer of its own: the writer hands it to a worker thread.
        const piece = Buffer.alloc(Math.min(chunkSize, info.size - offset));
        const { bytesRead } = await handle.read(piece, 0, piece.length, offset);
        // A file that shrank while it was read would be kept short and restored so, unnoticed.
        if (bytesRead !== piece.length) {
          throw new DrcError('BACKUP_FAILED', `unable to attach '${file.path}' to the backup: it changed while it was read (${String(offset + bytesRead)} of ${String(info.size)} bytes)`, {
            hints: ['start the backup again once nothing is writing the file'],
          });
        }
        chunks.push(await writer.store(piece));
      }
      stored.push({ name: file.name, size: chunks.reduce((sum, chunk) => sum + chunk.length, 0), chunks, component: file.component, source: file.path, mode: info.mode & 0o7777, mtime: info.mtime.toISOString() });
    } finally {
      await handle.close();
    }
  }
  return stored;
}

interface Streamed {
  start: BaseBackupStart;
  endLsn: bigint;
  files: ManifestFile[];
  attachments: Manifest['attachments'];
  tablespaces: Array<{ oid: number; location: string }>;
  bytesRead: number;
  /** What was left out of the data directory (links, special files), for the record and the DBA. */
  warnings?: string[];
}

async function streamBaseBackup(
  connection: ReplicationConnection,
  writer: ChunkWriter,
  options: BackupOptions,
  slots: SharedSlots,
  progress: ProgressMeter,
  incremental: { manifest: Buffer; previous: Manifest; repository: Repository } | undefined,
  unchanged: UnchangedFiles | undefined,
): Promise<Streamed> {
  const chunker = new FileChunker((plaintext) => writer.store(plaintext), slots, options.chunker ?? defaultChunkerOptions, unchanged);
  const rebuild = incremental ? new IncrementalFiles(incremental.previous, incremental.repository, chunker, (id) => writer.heldEverywhere(id)) : undefined;
  const tablespaces: Array<{ oid: number; location: string }> = [];
  const serverManifest: Buffer[] = [];
  let start: BaseBackupStart | undefined;
  let tar: TarReader | undefined;

  let end: Awaited<ReturnType<ReplicationConnection['baseBackup']>>;
  try {
    end = await connection.baseBackup(
      { label: `dr-console ${options.type}`, fastCheckpoint: options.checkpoint !== 'spread', includeWal: true, ...(incremental ? { incrementalFrom: incremental.manifest } : {}) },
      {
        onStart: (value) => {
          start = value;
          progress.total = value.tablespaces.reduce((sum, tablespace) => sum + (tablespace.sizeKiB ?? 0) * 1024, 0);
        },
        onArchive: (name, location) => {
          tar?.finish();
          // base.tar is the data directory; <oid>.tar a tablespace, restored under pg_tblspc/<oid>/.
          const oid = /^(\d+)\.tar$/.exec(name)?.[1];
          if (oid !== undefined && location !== undefined) tablespaces.push({ oid: Number(oid), location });
          const pathPrefix = oid === undefined ? '' : `pg_tblspc/${oid}/`;
          chunker.startArchive(pathPrefix);
          tar = new TarReader(name, rebuild ? rebuild.sink(pathPrefix) : chunker);
        },
        onArchiveData: (data) => tar?.push(data),
        onProgress: (bytesDone) => {
          progress.report('stream', Number(bytesDone));
        },
        onManifestData: (data) => {
          serverManifest.push(Buffer.from(data));
        },
      },
    );
    tar?.finish();
  } catch (error) {
    // Chunks already handed to the workers finish before the failure is reported.
    await chunker.settle().catch(() => undefined);
    throw error;
  }
  await chunker.finish();
  if (!start) throw new DrcError('PG_PROTOCOL', 'unable to read the base backup: the server never sent its start position');
  const manifestBytes = Buffer.concat(serverManifest);
  const attachments = manifestBytes.length === 0 ? [] : [{ name: 'backup_manifest', size: manifestBytes.length, chunks: await chunker.storeWhole(manifestBytes) }];
  return { start, endLsn: end.endLsn, files: chunker.files, attachments, tablespaces, bytesRead: chunker.bytesRead };
}

/**
 * The data directory read in place, when the config names it; undefined when the backup
 * must be streamed instead (no data directory configured, or tablespaces, which live
 * outside it). The files go through the same chunker as a streamed backup's.
 */
async function readDataDirectory(options: BackupOptions, systemId: string, walSegmentSize: number, writer: ChunkWriter, slots: SharedSlots, progress: ProgressMeter, unchanged: UnchangedFiles | undefined): Promise<Streamed | undefined> {
  const configured = options.dataDirectory;
  if (configured === undefined) return undefined;
  return withSql(options.connection, async (client) => {
    try {
      const dataDirectory = await checkDataDirectory(client, configured, systemId);
      if (await hasTablespaces(dataDirectory)) return undefined;
      const chunker = new FileChunker((plaintext) => writer.store(plaintext), slots, options.chunker ?? defaultChunkerOptions, unchanged);
      const size = await client.query<{ total: string | null }>('SELECT sum(pg_database_size(oid))::text AS total FROM pg_database');
      progress.total = Number(size.rows[0]?.total ?? 0);
      const sink: DataDirectorySink = {
        onEntry: (entry) => chunker.onEntry(entry),
        readContent: (size, read) =>
          chunker.readContent(size, async (into) => {
            options.signal?.throwIfAborted();
            const filled = await read(into);
            progress.report('stream', chunker.bytesRead + filled);
            return filled;
          }),
        onEntryEnd: (entry) => chunker.onEntryEnd(entry),
      };
      let copied: Awaited<ReturnType<typeof copyDataDirectory>>;
      try {
        copied = await copyDataDirectory(client, dataDirectory, { label: `dr-console ${options.type}`, fastCheckpoint: options.checkpoint !== 'spread', walSegmentSize, sink, onStart: () => progress.report('stream', 0) });
      } catch (error) {
        // Chunks already handed to the workers finish before the failure is reported.
        await chunker.settle().catch(() => undefined);
        throw error;
      }
      await chunker.finish();
      return { start: { startLsn: copied.startLsn, timeline: copied.timeline, tablespaces: [] }, endLsn: copied.stopLsn, files: chunker.files, attachments: [], tablespaces: [], bytesRead: chunker.bytesRead, warnings: copied.warnings };
    } catch (error) {
      throw inPlaceBackupFailure(error, configured);
    }
  });
}

async function commitManifests(repositories: Repository[], record: BackupRecord, files: ManifestFile[], attachments: Manifest['attachments'], now: () => Date): Promise<{ written: string[]; failed: Array<{ repository: string; error: ErrorData }> }> {
  const manifest: Manifest = { format: 1, backupId: record.id, createdAt: now().toISOString(), backup: { ...record, repositories: repositories.map((repository) => repository.name) }, files, attachments };
  const { done, failed } = await inEveryRepository(repositories, (repository) => repository.writeManifest(manifest));
  return { written: done, failed };
}

async function recordBackupEvent(repositories: Repository[], record: BackupRecord): Promise<void> {
  const outcome = record.missingCopies.length === 0 ? 'success' : 'partial';
  const summary = `${record.type} backup ${record.id}: ${String(record.repositories.length)} cop${record.repositories.length === 1 ? 'y' : 'ies'}${record.missingCopies.length > 0 ? `, missing in ${record.missingCopies.map((copy) => copy.repository).join(', ')}` : ''}`;
  const event = newEvent('backup', outcome, summary, { ...record });
  await Promise.all(repositories.map((repository) => repository.appendEvent(event)));
}

/** Sorts by time as text: `20261127T224500123Z-full` (milliseconds keep quick successive backups apart). */
/** PostgreSQL 17+ can send changed blocks only when it summarizes WAL. */
async function summarizeWalIsOn(connection: ReplicationConnectionOptions): Promise<boolean> {
  return withSql(connection, async (client) => (await client.query<{ setting: string }>("SELECT setting FROM pg_settings WHERE name = 'summarize_wal'")).rows[0]?.setting === 'on');
}

export function backupId(startedAt: Date, type: BackupType): string {
  return `${startedAt.toISOString().replace(/[-:.]/g, '')}-${type}`;
}

export function formatServerVersion(versionNum: number): string {
  return `${String(Math.floor(versionNum / 10000))}.${String(versionNum % 10000)}`;
}

/** Bytes, rate and time left, at most a few reports a second. */
class ProgressMeter {
  total = 0;
  private last = 0;

  constructor(
    private readonly listener: BackupOptions['onProgress'],
    private readonly now: () => Date,
    private readonly started = now().getTime(),
  ) {}

  report(phase: BackupProgress['phase'], bytesDone: number): void {
    if (!this.listener) return;
    const at = this.now().getTime();
    if (phase === 'stream' && at - this.last < 200) return;
    this.last = at;
    const seconds = Math.max(0.001, (at - this.started) / 1000);
    const bytesPerSecond = bytesDone / seconds;
    const etaSeconds = this.total > bytesDone && bytesPerSecond > 0 ? (this.total - bytesDone) / bytesPerSecond : undefined;
    this.listener({ phase, bytesDone, bytesTotal: this.total, bytesPerSecond, ...(etaSeconds === undefined ? {} : { etaSeconds }) });
  }
}
