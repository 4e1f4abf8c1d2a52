import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BackupType } from '../../src/shared/contract/backup.js';
import { backupRecordSchema, type BackupRecord } from '../../src/main/repo/backup-record.js';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import { restoreTestRecordSchema, type RestoreTestRecord } from '../../src/shared/contract/restore-test.js';
import type { SyncReport } from '../../src/shared/contract/repository.js';
import { backupId } from '../../src/main/engines/backup/backup.js';
import { forEachConcurrent } from '../../src/main/parallel.js';
import { formatLsn, segmentFileName, type Lsn } from '../../src/main/postgres/lsn.js';
import { newEvent, type RepositoryEvent } from '../../src/main/repo/events.js';
import type { ScryptParameters } from '../../src/main/repo/keys.js';
import type { ChunkRef, Manifest, ManifestFile } from '../../src/main/repo/manifest.js';
import { Repository } from '../../src/main/repo/repository.js';
import { walSegmentObject, writeWalSummary, type WalSummary } from '../../src/main/repo/wal-archive.js';
import { createContext, withRepositorySet } from '../../src/main/services/context.js';
import { initRepositories } from '../../src/main/services/repository.js';
import { DelegatingTarget } from '../../src/main/storage/wrappers/delegate.js';
import type { StorageTarget } from '../../src/main/storage/target.js';

/**
 * A synthetic protection history written in the real repository format through the real
 * code (Repository, manifests, appendEvent, WAL summaries), for the console's and the WAL
 * catalog's performance figures and for tests that must see the same format the engines write.
 *
 * Per 30 days, as issue 9 §7 asks: a full backup a day, 4 weekly archives, 720 hourly
 * restore points (as `drc restore-point` records them and in the WAL summaries), 2,000
 * events and WAL at 500 segments a day (issue 12 §3's busy server: `segmentsPerDay: 5000`).
 * The status and timeline services read WAL summaries, never segment content, so each
 * segment object is a small sealed placeholder (the listing sees a segment; its summary
 * says what it holds). Manifests describe a 1,200-file data directory whose files all
 * point into a handful of shared chunks: what the console reads is metadata, so metadata
 * is full size while bulk data is not.
 *
 * The config refers to the passphrase as `env:DRC_SYNTHETIC_PASSPHRASE`, which the
 * caller sets before writing or reading the history.
 */
export const syntheticPassphraseVariable = 'DRC_SYNTHETIC_PASSPHRASE';

export interface SyntheticHistoryOptions {
  /** An empty directory: the repositories, the config and the scheduler state go here. */
  readonly directory: string;
  readonly days: number;
  /** The history ends here (the newest WAL commit); default now. */
  readonly end?: Date;
  /** Key-slot cost; the default is the product's own (what a DBA's repository pays to unlock). */
  readonly scrypt?: ScryptParameters;
  /** Object writes in flight at once, over both repositories. */
  readonly concurrency?: number;
  /** WAL segments archived per day (16 MiB each); default 500, the console bench's server. */
  readonly segmentsPerDay?: number;
  /**
   * Whether the removable repository `usb` is configured and written too (default true).
   * A bench that times one repository at a time writes `nas` alone, in half the time.
   */
  readonly removableCopy?: boolean;
  /**
   * Whether each object is fsynced as `drc` does (default true). False writes the same
   * sealed bytes under the same names, but without the per-object fsync of the file and its
   * directory, which dominates writing hundreds of thousands of small objects: for a
   * throwaway history that nothing needs to survive a power cut.
   */
  readonly durable?: boolean;
}

export interface SyntheticHistoryCounts {
  readonly fullBackups: number;
  readonly archiveBackups: number;
  readonly restorePoints: number;
  readonly restoreTests: number;
  /** Every event record (per repository: each repository holds all of them). */
  readonly events: number;
  readonly walSegments: number;
  /** Objects written per repository: chunks, manifests, events, segments and summaries. */
  readonly objectsPerRepository: number;
}

export interface SyntheticHistory {
  readonly configPath: string;
  readonly days: number;
  readonly segmentsPerDay: number;
  readonly from: string;
  readonly to: string;
  /** Where each repository lives; `usb` holds nothing unless it is among `copies`. */
  readonly repositories: { readonly nas: string; readonly usb: string };
  /** The repositories configured and written: `nas`, and `usb` unless `removableCopy` was false. */
  readonly copies: readonly string[];
  readonly counts: SyntheticHistoryCounts;
  readonly generationMs: number;
}

const hour = 3_600_000;
const day = 24 * hour;
const segmentSize = 16 * 1024 * 1024;
const defaultSegmentsPerDay = 500;
const timeline = 1;
/** The first segment of the history: a cluster that has already written some WAL. */
const firstSegment = 0x1_00n;
const filesPerBackup = 1200;
const sharedChunks = 8;
const chunkBytes = 64 * 1024;
const clusterName = 'pg16';
const systemId = '7351234567890123456';
const eventsPer30Days = 2000;
const archivesPer30Days = 4;
const restoresPer30Days = 2;

/** Writes the history into fresh repositories (`nas`, local; `usb`, removable, unless left out) under `directory`. */
export async function writeSyntheticHistory(options: SyntheticHistoryOptions): Promise<SyntheticHistory> {
  const started = performance.now();
  const end = new Date(Math.floor((options.end ?? new Date()).getTime() / 60_000) * 60_000);
  const start = new Date(end.getTime() - options.days * day);
  const segmentsPerDay = options.segmentsPerDay ?? defaultSegmentsPerDay;
  const repositories = { nas: join(options.directory, 'nas'), usb: join(options.directory, 'media', 'usb0', 'drc') };
  const copies = options.removableCopy === false ? ['nas'] : ['nas', 'usb'];
  const configPath = join(options.directory, 'drc.json');
  // The removable repository's mount point must exist, as a plugged-in stick's does.
  if (copies.includes('usb')) await mkdir(join(options.directory, 'media', 'usb0'), { recursive: true });
  await writeFile(
    configPath,
    JSON.stringify({
      encryption: { passphrase: `env:${syntheticPassphraseVariable}` },
      repositories: [{ name: 'nas', type: 'local', path: repositories.nas }, ...(copies.includes('usb') ? [{ name: 'usb', type: 'removable', path: repositories.usb }] : [])],
      stateDir: join(options.directory, 'state'),
    }),
  );
  const context = await createContext({ configPath });
  await initRepositories(context, options.scrypt ? { scrypt: options.scrypt } : {});

  const plan = planHistory(start, end, options.days, segmentsPerDay, copies);
  const counts = await withRepositorySet(context, undefined, async (opened) => {
    const paths = new Map<string, string>([
      ['nas', repositories.nas],
      ['usb', repositories.usb],
    ]);
    const targets = opened.repositories.map((repository) =>
      options.durable === false ? new Repository(new UnsyncedLocalWrites(repository.target, paths.get(repository.name) ?? ''), repository.header, repository.keys) : repository,
    );
    const chunks = await writeSharedChunks(targets);
    let writes = 0;
    function* allWrites(): Generator<() => Promise<unknown>> {
      for (const repository of targets) {
        for (const record of plan.backups) yield () => repository.writeManifest(manifestOf(record, chunks));
        for (const event of plan.events) yield () => repository.appendEvent(event);
        for (let index = 0; index < plan.walSegments; index++) {
          const summary = plan.walSummary(index);
          yield () => repository.writeNamedObject(walSegmentObject(summary.timeline, summary.segment), Buffer.from(`synthetic WAL segment ${summary.segment}: its summary says what it holds`));
          yield () => writeWalSummary(repository, summary);
        }
      }
    }
    // The writes are made as they are taken: at 5,000 segments a day a list of them all would not fit comfortably in memory.
    await forEachConcurrent(allWrites(), options.concurrency ?? 64, async (write) => {
      writes += 1;
      await write();
    });
    return {
      fullBackups: plan.backups.filter((record) => record.type === 'full').length,
      archiveBackups: plan.backups.filter((record) => record.type === 'archive').length,
      restorePoints: plan.restorePoints,
      restoreTests: plan.events.filter((event) => event.type === 'restore-test').length,
      events: plan.events.length,
      walSegments: plan.walSegments,
      objectsPerRepository: sharedChunks + writes / targets.length,
    };
  });
  return { configPath, days: options.days, segmentsPerDay, from: start.toISOString(), to: end.toISOString(), repositories, copies, counts, generationMs: performance.now() - started };
}

/**
 * A local repository's writes without fsync: each object goes where the local driver puts
 * it (its name's parts as directories under the repository's path), written in one call.
 * Reads, listings and everything else go to the real driver underneath.
 */
class UnsyncedLocalWrites extends DelegatingTarget {
  private readonly directories = new Map<string, Promise<unknown>>();

  constructor(
    inner: StorageTarget,
    private readonly root: string,
  ) {
    super(inner);
  }

  override async put(name: string, body: Buffer): Promise<void> {
    const path = join(this.root, ...name.split('/'));
    const directory = dirname(path);
    let made = this.directories.get(directory);
    if (!made) {
      made = mkdir(directory, { recursive: true });
      this.directories.set(directory, made);
    }
    await made;
    await writeFile(path, body, { mode: 0o600 });
  }
}

interface HistoryPlan {
  readonly backups: BackupRecord[];
  readonly events: RepositoryEvent[];
  readonly walSegments: number;
  /** The summary of the index-th segment, made on demand: a 90-day history at 5,000 a day holds 450,000. */
  walSummary(index: number): WalSummary;
  readonly restorePoints: number;
}

/** The whole history as records, before anything is written: WAL first, everything else placed on it by time. */
function planHistory(start: Date, end: Date, days: number, segmentsPerDay: number, copies: readonly string[]): HistoryPlan {
  const startMs = start.getTime();
  const segmentMs = day / segmentsPerDay;
  const walSegments = days * segmentsPerDay;
  const lsnAt = (time: number): Lsn => {
    const offset = Math.max(0, time - startMs);
    const index = Math.min(Math.floor(offset / segmentMs), walSegments - 1);
    const within = Math.floor(((offset - index * segmentMs) / segmentMs) * (segmentSize - 1));
    return (firstSegment + BigInt(index)) * BigInt(segmentSize) + BigInt(Math.max(0, within));
  };
  const pointsBySegment = new Map<number, WalSummary['restorePoints']>();
  const walSummary = (index: number): WalSummary => {
    const segmentStart = startMs + index * segmentMs;
    return {
      timeline,
      segment: segmentFileName(timeline, firstSegment + BigInt(index), segmentSize),
      partial: false,
      bytes: segmentSize,
      endLsn: formatLsn((firstSegment + BigInt(index + 1)) * BigInt(segmentSize)),
      firstCommitTime: new Date(segmentStart + 500).toISOString(),
      lastCommitTime: new Date(Math.min(segmentStart + segmentMs - 500, end.getTime())).toISOString(),
      commits: 1800 + (index % 400),
      restorePoints: pointsBySegment.get(index) ?? [],
    };
  };
  const events: RepositoryEvent[] = [];

  // Hourly restore points, as the scheduler's `restore-point` job names and records them.
  let restorePoints = 0;
  for (let time = startMs + hour; time <= end.getTime(); time += hour) {
    const at = new Date(time);
    const point = { name: `drc-${at.toISOString().slice(0, 19)}Z`, lsn: formatLsn(lsnAt(time)), time: at.toISOString() };
    const segment = Math.min(Math.floor((time - startMs) / segmentMs), walSegments - 1);
    pointsBySegment.set(segment, [...(pointsBySegment.get(segment) ?? []), point]);
    events.push(newEvent('restore-point', 'success', `restore point '${point.name}' at ${point.lsn}`, { ...point, cluster: clusterName }, at));
    restorePoints += 1;
  }

  // A full backup at 01:00 UTC every day, a restore test of it half an hour later.
  const backups: BackupRecord[] = [];
  const firstDay = Math.ceil(startMs / day) * day;
  for (let midnight = firstDay, index = 0; midnight + hour < end.getTime(); midnight += day, index++) {
    const full = backupRecord('full', 'scheduled daily full backup', midnight + hour, index, lsnAt, copies);
    backups.push(full);
    events.push(newEvent('backup', 'success', `full backup ${full.id}: ${String(copies.length)} ${copies.length === 1 ? 'copy' : 'copies'}`, { ...full }, new Date(full.stoppedAt)));
    const testTime = midnight + hour + 30 * 60_000;
    // One test in fifteen fails, so the history carries failed-test markers and alerts.
    if (testTime < end.getTime()) events.push(restoreTestEvent(full, new Date(testTime), index % 15 === 7, copies));
  }

  // Weekly archives on the last Sundays of the span, at 02:00 UTC.
  const archives = Math.round((days * archivesPer30Days) / 30);
  const sundays: number[] = [];
  for (let midnight = firstDay; midnight + 3 * hour < end.getTime(); midnight += day) if (new Date(midnight).getUTCDay() === 0) sundays.push(midnight);
  for (const [index, sunday] of sundays.slice(-archives).entries()) {
    const archive = backupRecord('archive', 'scheduled weekly archive backup', sunday + 2 * hour, index, lsnAt, copies);
    backups.push(archive);
    events.push(newEvent('backup', 'success', `archive backup ${archive.id}: ${String(copies.length)} ${copies.length === 1 ? 'copy' : 'copies'}`, { ...archive }, new Date(archive.stoppedAt)));
  }
  backups.sort((a, b) => a.stoppedAt.localeCompare(b.stoppedAt));

  // Saturday verifies at 04:00.
  for (let midnight = firstDay; midnight + 4 * hour < end.getTime(); midnight += day) {
    if (new Date(midnight).getUTCDay() !== 6) continue;
    const objects = 1000 + Math.round((midnight - startMs) / segmentMs) * 2;
    events.push(
      newEvent('verify', 'success', 'all objects authenticated', { repositories: copies.map((repository) => ({ repository, objectsChecked: objects, problems: 0, repaired: 0 })) }, new Date(midnight + 4 * hour + 20 * 60_000)),
    );
  }

  // Disaster-recovery events: restores of the backup before, spread over the span.
  const restores = Math.max(1, Math.round((days * restoresPer30Days) / 30));
  for (let index = 0; index < restores; index++) {
    const time = startMs + ((index + 0.6) / restores) * (end.getTime() - startMs);
    const from = backups.filter((record) => Date.parse(record.stoppedAt) < time).at(-1);
    if (from) events.push(restoreEvent(from, new Date(time), lsnAt, segmentMs));
  }

  // The rest of the 2,000 per 30 days: syncs of the NAS to the USB stick, evenly spread.
  const syncs = Math.max(0, Math.round((days * eventsPer30Days) / 30) - events.length);
  for (let index = 0; index < syncs; index++) {
    const time = startMs + ((index + 0.5) / syncs) * (end.getTime() - startMs);
    const report: SyncReport = { from: 'nas', to: 'usb', objectsCopied: 24 + (index % 17), bytesCopied: (24 + (index % 17)) * 4096, objectsAlreadyPresent: 5000 + index * 30, skippedCorrupt: [] };
    events.push(newEvent('sync', 'success', `copied ${String(report.objectsCopied)} object(s) from 'nas' to 'usb'`, { ...report }, new Date(time)));
  }
  return { backups, events, walSegments, walSummary, restorePoints };
}

function backupRecord(type: BackupType, reason: string, startedAtMs: number, index: number, lsnAt: (time: number) => Lsn, copies: readonly string[]): BackupRecord {
  const durationMs = 3 * 60_000 + (index % 7) * 9_000;
  const startedAt = new Date(startedAtMs);
  const bytesRead = 2 * 1024 ** 3 + index * 24 * 1024 ** 2;
  return backupRecordSchema.parse({
    id: backupId(startedAt, type),
    type,
    reason,
    operator: 'postgres',
    host: 'db-workstation',
    cluster: clusterName,
    startedAt: startedAt.toISOString(),
    stoppedAt: new Date(startedAtMs + durationMs).toISOString(),
    startLsn: formatLsn(lsnAt(startedAtMs)),
    stopLsn: formatLsn(lsnAt(startedAtMs + durationMs)),
    timeline,
    serverVersion: '16.4',
    serverVersionNum: 160004,
    systemId,
    walSegmentSize: segmentSize,
    nextXid: String(740_000 + index * 52_000),
    bytesRead,
    bytesNew: Math.round(bytesRead * 0.04),
    bytesStored: Math.round(bytesRead * 0.018),
    durationMs,
    files: filesPerBackup,
    nativeIncremental: false,
    tablespaces: [],
    repositories: copies,
    missingCopies: [],
  });
}

/** The data directory every backup describes: relation files of three databases and the usual top-level files. */
function manifestOf(record: BackupRecord, chunks: readonly string[]): Manifest {
  const files: ManifestFile[] = [];
  for (let index = 0; index < filesPerBackup; index++) {
    const database = [1, 5, 16384][index % 3] ?? 1;
    const length = 8192 * (1 + (index % 4));
    const chunk = chunks[index % chunks.length] ?? '';
    const reference: ChunkRef = { id: chunk, offset: (index * 8192) % (chunkBytes - length), length };
    files.push({ path: `base/${String(database)}/${String(2600 + index)}`, type: 'file', size: length, mode: 0o600, mtime: record.startedAt, chunks: [reference] });
  }
  for (const path of ['PG_VERSION', 'postgresql.auto.conf', 'global/pg_control', 'global/1262']) {
    files.push({ path, type: 'file', size: 8192, mode: 0o600, mtime: record.startedAt, chunks: [{ id: chunks[0] ?? '', offset: 0, length: 8192 }] });
  }
  return { format: 1, backupId: record.id, createdAt: record.stoppedAt, backup: { ...record }, files, attachments: [] };
}

/** The chunks every manifest points into, stored once per repository; returns their ids. */
async function writeSharedChunks(repositories: readonly Repository[]): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < sharedChunks; index++) {
    // Deterministic content: the same chunk ids in every run and every repository.
    const block = createHash('sha256').update(`synthetic chunk ${String(index)}`).digest();
    const plaintext = Buffer.alloc(chunkBytes);
    for (let offset = 0; offset < chunkBytes; offset += block.length) block.copy(plaintext, offset);
    const written = await Promise.all(repositories.map((repository) => repository.writeChunk(plaintext)));
    ids.push(written[0]?.id ?? '');
  }
  return ids;
}

function restoreTestEvent(backup: BackupRecord, startedAt: Date, failed: boolean, copies: readonly string[]): RepositoryEvent {
  const restoreDurationMs = 95_000 + (Date.parse(backup.stoppedAt) % 20_000);
  const recoveryDurationMs = 4_000;
  const durationMs = restoreDurationMs + recoveryDurationMs + 38_000;
  const tables = [
    { database: 'shop', schema: 'public', name: 'orders', kind: 'table' as const, rows: 1_250_000, indexesChecked: 3 },
    { database: 'shop', schema: 'public', name: 'customers', kind: 'table' as const, rows: 84_000, indexesChecked: 2 },
    { database: 'shop', schema: 'public', name: 'order_lines', kind: 'table' as const, rows: 4_900_000, indexesChecked: 2 },
  ];
  const check = (name: RestoreTestRecord['checks'][number]['name'], ms: number, detail: string) => ({ name, status: 'passed' as const, detail, durationMs: ms });
  const checks = [
    check('restore', restoreDurationMs, `${String(backup.files)} files restored`),
    check('chunks', 6_000, 'every chunk authenticated'),
    check('manifest-checksums', 9_000, "every file matches the server's backup_manifest"),
    check('start', 2_000, 'scratch server started'),
    check('recovery', recoveryDurationMs, 'recovery reached the end of the WAL'),
    failed ? { name: 'amcheck' as const, status: 'failed' as const, detail: 'index order_lines_pkey: item order is inconsistent', durationMs: 12_000 } : check('amcheck', 12_000, 'heaps and B-tree indexes checked'),
    check('read-tables', 9_000, 'every table read to the end'),
  ];
  const record = restoreTestRecordSchema.parse({
    id: '',
    backupId: backup.id,
    backupStoppedAt: backup.stoppedAt,
    target: { kind: 'latest' },
    startedAt: startedAt.toISOString(),
    completedAt: new Date(startedAt.getTime() + durationMs).toISOString(),
    success: !failed,
    errorsFound: failed ? [{ check: 'amcheck', message: 'index order_lines_pkey: item order is inconsistent' }] : [],
    warnings: [],
    ...(failed ? { failure: { code: 'RESTORE_TEST_FAILED', message: `unable to prove backup '${backup.id}' at latest restorable: amcheck: index order_lines_pkey: item order is inconsistent`, hints: ['the backed-up data is corrupt: check the production cluster with amcheck, and keep an older backup that passes until it is repaired'] } } : {}),
    checks,
    rowsVerified: tables.reduce((sum, table) => sum + table.rows, 0),
    tables,
    heapsChecked: 212,
    indexesChecked: 141,
    databases: ['postgres', 'shop'],
    restoreDurationMs,
    recoveryDurationMs,
    durationMs,
    dataLossDetected: false,
    recoveredTo: { lsn: backup.stopLsn, lastCommitTime: backup.stoppedAt },
    binaries: { bindir: '/usr/lib/postgresql/16/bin', version: '16.4', source: "the backup's major version, found on PATH" },
    scratch: { id: `rt-${backup.id}`, directory: `/tmp/drc-scratch-${backup.id}`, port: 54_330, postmasterPid: 41_000, removed: true },
    leftoversRemoved: [],
    recordedIn: copies,
  });
  // As the restore-test engine stores it: the event's id is the record's, `recordedIn` stays out.
  const event = newEvent(
    'restore-test',
    record.success ? 'success' : 'failure',
    record.success
      ? `restore test of backup ${record.backupId} to latest passed: ${String(record.tables.length)} tables, ${String(record.rowsVerified)} rows verified`
      : `restore test of backup ${record.backupId} to latest FAILED: ${record.failure?.message ?? 'see errors'}`,
    {},
    new Date(record.completedAt),
  );
  const details: Record<string, unknown> = { ...record, id: event.id };
  delete details.recordedIn;
  return { ...event, details };
}

function restoreEvent(backup: BackupRecord, time: Date, lsnAt: (time: number) => Lsn, segmentMs: number): RepositoryEvent {
  const target = new Date(time.getTime() - 20 * 60_000);
  const walSegments = Math.ceil((target.getTime() - Date.parse(backup.stoppedAt)) / segmentMs);
  const report: RestoreReport = {
    targetDir: '/var/lib/postgresql/16/restored',
    target: { kind: 'time', time: target.toISOString() },
    backupId: backup.id,
    backupStopLsn: backup.stopLsn,
    backupStoppedAt: backup.stoppedAt,
    from: 'nas',
    fallbacks: [],
    files: backup.files,
    bytesWritten: backup.bytesRead,
    walSegments,
    walFirst: segmentFileName(timeline, lsnAt(Date.parse(backup.stoppedAt)) / BigInt(segmentSize), segmentSize),
    walLast: segmentFileName(timeline, lsnAt(target.getTime()) / BigInt(segmentSize), segmentSize),
    usedPartialSegment: false,
    targetTimeline: timeline,
    newestCommitTime: target.toISOString(),
    warnings: [],
    durationMs: 140_000 + walSegments * 40,
    pause: false,
  };
  return newEvent('restore', 'success', `restored backup ${report.backupId} to ${target.toISOString()} into ${report.targetDir}`, { ...report }, time);
}
