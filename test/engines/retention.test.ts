import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { retentionConfigSchema, type RetentionConfig } from '../../src/shared/config.js';
import type { BackupType } from '../../src/shared/contract/backup.js';
import type { BackupRecord } from '../../src/main/repo/backup-record.js';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import type { ExpireReport, RepositoryExpiry } from '../../src/shared/contract/retention.js';
import { backupId } from '../../src/main/engines/backup/backup.js';
import { listBackups } from '../../src/main/engines/backup/catalog.js';
import { runExpiry } from '../../src/main/engines/retention/expire.js';
import { runAsUnprivileged } from '../../src/main/postgres/binaries.js';
import { formatLsn, parseLsn, parseSegmentFileName, segmentFileName, segmentNumber, segmentStart } from '../../src/main/postgres/lsn.js';
import type { RepositoryEvent } from '../../src/main/repo/events.js';
import { RepositoryLock } from '../../src/main/repo/locks.js';
import type { Manifest } from '../../src/main/repo/manifest.js';
import { chunkObjectName, objectPrefixes } from '../../src/main/repo/objects.js';
import { Repository } from '../../src/main/repo/repository.js';
import { initRepositorySet, openRepositorySet, type RepositorySet } from '../../src/main/repo/repository-set.js';
import { listWalObjects, walSegmentObject, writeWalSummary, type WalSummary } from '../../src/main/repo/wal-archive.js';
import { recordInWalIndex } from '../../src/main/engines/wal/wal-index.js';
import { createContext, withRepositorySet } from '../../src/main/services/context.js';
import { expire } from '../../src/main/services/retention.js';
import { LocalTarget } from '../../src/main/storage/local.js';
import { DelegatingTarget } from '../../src/main/storage/wrappers/delegate.js';
import { drc } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters, type TestCluster } from '../support/postgres.js';
import { tempDirectory } from '../support/temp.js';
import { whileStreamingWal } from '../support/wal-streaming.js';

process.env.DRC_TEST_PASSPHRASE = 'retention test';
afterAll(stopAllClusters);

const execFileAsync = promisify(execFile);
const day = 86_400_000;
const hour = 3_600_000;
const segmentSize = 16 * 1024 * 1024;
const policy: RetentionConfig = retentionConfigSchema.parse({});

/**
 * The policy written out independently of the planner, as a DBA reads it: each type for
 * its days, the newest backup always, and the newest backup at or before the start of
 * the 30-day window (so recovery to any moment in the window has a backup to start from).
 */
function expectedKept(backups: ReadonlyArray<Pick<BackupRecord, 'id' | 'type' | 'stoppedAt'>>, now: Date): string[] {
  const days: Record<BackupType, number> = { full: 30, archive: 365, incremental: 7, manual: 7 };
  const byTime = [...backups].sort((a, b) => a.stoppedAt.localeCompare(b.stoppedAt));
  const kept = new Set(byTime.filter((entry) => now.getTime() - Date.parse(entry.stoppedAt) <= days[entry.type] * day).map((entry) => entry.id));
  const newest = byTime.at(-1);
  if (newest) kept.add(newest.id);
  const anchor = byTime.filter((entry) => Date.parse(entry.stoppedAt) <= now.getTime() - 30 * day).at(-1);
  if (anchor) kept.add(anchor.id);
  return [...kept].sort();
}

/** A backup record as the engine writes it, placed at `stoppedAt` and in WAL segment `segment`. */
function simulatedRecord(template: Pick<BackupRecord, 'systemId' | 'serverVersion' | 'serverVersionNum' | 'cluster'>, type: BackupType, stoppedAt: Date, segment: bigint, offset: number): BackupRecord {
  const startedAt = new Date(stoppedAt.getTime() - 10 * 60_000);
  const base = segmentStart(segment, segmentSize);
  return {
    id: backupId(startedAt, type),
    type,
    reason: 'simulated history',
    operator: 'test',
    host: 'test',
    cluster: template.cluster,
    startedAt: startedAt.toISOString(),
    stoppedAt: stoppedAt.toISOString(),
    startLsn: formatLsn(base + BigInt(offset)),
    stopLsn: formatLsn(base + BigInt(offset + 0x40000)),
    timeline: 1,
    serverVersion: template.serverVersion,
    serverVersionNum: template.serverVersionNum,
    systemId: template.systemId,
    walSegmentSize: segmentSize,
    bytesRead: 1000,
    bytesNew: 100,
    bytesStored: 100,
    durationMs: 10 * 60_000,
    files: 1,
    nativeIncremental: false,
    tablespaces: [],
    repositories: [],
    missingCopies: [],
  };
}

interface Placed {
  readonly repository: Repository;
  /** The directory the repository's objects are in (local and removable targets). */
  readonly path: string;
}

/** Writes a chunk into each repository and dates its object `written`, as if stored then. */
async function writeDatedChunk(places: readonly Placed[], written: Date): Promise<string> {
  const plaintext = randomBytes(512);
  let id = '';
  for (const place of places) {
    id = (await place.repository.writeChunk(plaintext)).id;
    await utimes(join(place.path, ...chunkObjectName(id).split('/')), written, written);
  }
  return id;
}

/** Commits a simulated backup: its own chunk (dated like the backup), the shared ones, then the manifest. */
async function writeSimulatedBackup(places: readonly Placed[], record: BackupRecord, sharedChunks: readonly string[]): Promise<string> {
  const own = await writeDatedChunk(places, new Date(record.stoppedAt));
  const manifest: Manifest = {
    format: 1,
    backupId: record.id,
    createdAt: record.stoppedAt,
    backup: { ...record, repositories: places.map((place) => place.repository.name) },
    files: [{ path: 'base/1/16384', type: 'file', size: 1024, mode: 0o600, mtime: record.startedAt, chunks: [...sharedChunks, own].map((id) => ({ id, length: 512 })) }],
    attachments: [],
  };
  for (const place of places) await place.repository.writeManifest(manifest);
  return own;
}

/** A WAL segment stored with its summary, its commits spread over `from`…`to`, and recorded in the WAL index as `wal push` does. */
async function writeSimulatedSegment(repositories: readonly Repository[], segment: bigint, from: Date, to: Date): Promise<void> {
  const file = segmentFileName(1, segment, segmentSize);
  for (const repository of repositories) {
    await repository.writeNamedObject(walSegmentObject(1, file), randomBytes(256));
    const summary: WalSummary = {
      timeline: 1,
      segment: file,
      partial: false,
      bytes: segmentSize,
      endLsn: formatLsn(segmentStart(segment + 1n, segmentSize)),
      firstCommitTime: from.toISOString(),
      lastCommitTime: to.toISOString(),
      commits: 100,
      restorePoints: [],
    };
    const storedBytes = (await writeWalSummary(repository, summary)) + 256;
    await recordInWalIndex(repository, 1, { segments: [{ file, summary, storedBytes }] }, segmentSize);
  }
}

async function manifestIds(repository: Repository): Promise<string[]> {
  return (await repository.listBackupIds()).sort();
}

async function expireEvents(repository: Repository): Promise<RepositoryEvent[]> {
  const events = await Promise.all((await repository.target.list(objectPrefixes.events)).map((object) => repository.readEvent(object.name)));
  return events.filter((event) => event.type === 'expire').sort((a, b) => a.time.localeCompare(b.time));
}

async function chunkPresent(repository: Repository, id: string): Promise<boolean> {
  return (await repository.target.head(chunkObjectName(id))) !== undefined;
}

/** Segment numbers of timeline 1 held as complete segments, and those that have a summary. */
async function heldSegments(repository: Repository): Promise<{ segments: bigint[]; summaries: Set<bigint> }> {
  const objects = await listWalObjects(repository);
  const number = (file: string): bigint => parseSegmentFileName(file, segmentSize)?.segment ?? -1n;
  return {
    segments: objects.filter((object) => object.timeline === 1 && object.kind === 'segment').map((object) => number(object.file)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    summaries: new Set(objects.filter((object) => object.timeline === 1 && object.kind === 'summary').map((object) => number(object.file))),
  };
}

function allIds(records: ReadonlyArray<{ id: string }>): string[] {
  return records.map((record) => record.id).sort();
}

function byName(report: ExpireReport, name: string): RepositoryExpiry {
  const found = report.repositories.find((entry) => entry.repository === name);
  if (!found) throw new Error(`no result for repository '${name}'`);
  return found;
}

describe('retention over 13 simulated months (PostgreSQL 15)', () => {
  let source: TestCluster;
  let root: string;
  let config: DrcTestConfig;
  /** The simulated present: the policy's clock for the run under test. */
  let now: Date;
  /** First segment of the real WAL archive; the simulated months lie below it. */
  let firstRealSegment: bigint;
  const batches: Array<{ batch: number; committedAt: Date }> = [];
  const simulated: Array<{ record: BackupRecord; ownChunk: string; onUsb: boolean }> = [];
  let realBackups: BackupRecord[] = [];
  let sharedChunk: string;
  let orphanPastGrace: string;
  let orphanInGrace: string;
  /** The USB stick was last refreshed this many days ago: it holds nothing newer. */
  const usbLastDay = 45;
  const historyDays = 395;

  beforeAll(async () => {
    source = await startCluster({ major: 15 });
    // Move the server's WAL far ahead, so 13 months of simulated WAL fit below it on timeline 1.
    await source.stop();
    await execFileAsync(join(source.bindir, 'pg_resetwal'), ['-l', '000000010000001000000000', '-D', source.dataDir], { env: { PATH: process.env.PATH, LANG: 'C' }, ...runAsUnprivileged() });
    await source.start();

    root = await makeTempDir('drc-retention-');
    // The real part goes to the NAS only; the USB stick joins the set afterwards.
    config = await writeTestConfig(root, source, ['nas']);
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    await source.sql('CREATE TABLE rsvp (id serial PRIMARY KEY, batch int NOT NULL, guest text)');

    await whileStreamingWal(source, config.path, async () => {
      const insertBatch = async (batch: number): Promise<void> => {
        await sleep(1100);
        await source.sql(`INSERT INTO rsvp (batch, guest) SELECT ${String(batch)}, 'guest ' || g FROM generate_series(1, 100) g`);
        const [after] = await source.sql<{ at: Date }>('SELECT clock_timestamp() AS at');
        batches.push({ batch, committedAt: after?.at ?? new Date() });
      };
      await insertBatch(1);
      expect((await drc(['backup', '--config', config.path])).code).toBe(0);
      await insertBatch(2);
      await insertBatch(3);
      expect((await drc(['backup', '--type', 'incremental', '--config', config.path])).code).toBe(0);
      await insertBatch(4);
    });

    config = await writeTestConfig(root, source, ['nas', 'usb']);
    expect((await drc(['repo', 'init', '--config', config.path])).code).toBe(0);
    now = new Date();
    await withRepositorySet(await createContext({ configPath: config.path }), undefined, async (set) => {
      const [nas, usb] = set.repositories;
      if (!nas || !usb) throw new Error('expected the nas and usb repositories');
      const places = { nas: { repository: nas, path: config.repositories.nas ?? '' }, usb: { repository: usb, path: config.repositories.usb ?? '' } };
      realBackups = (await listBackups([nas])).map((entry) => entry.record);
      const template = realBackups[0];
      if (!template) throw new Error('expected the real backups');
      const realFiles = (await nas.readManifest(template.id)).files;
      sharedChunk = realFiles.flatMap((file) => file.chunks)[0]?.id ?? '';
      await usb.target.put(chunkObjectName(sharedChunk), await nas.target.get(chunkObjectName(sharedChunk)));
      firstRealSegment = (await heldSegments(nas)).segments[0] ?? 0n;
      expect(firstRealSegment).toBeGreaterThan(BigInt(historyDays));

      // Day d's WAL is one segment, firstRealSegment - d; its backups lie inside it, in time order.
      for (let d = 1; d <= historyDays; d++) {
        const segment = firstRealSegment - BigInt(d);
        const dayEnd = now.getTime() - d * day;
        const onUsb = d >= usbLastDay;
        const targets = onUsb ? [places.nas, places.usb] : [places.nas];
        await writeSimulatedSegment(targets.map((place) => place.repository), segment, new Date(dayEnd - 20 * hour), new Date(dayEnd - hour));
        // Every backup sits hours away from any retention boundary, so a run minutes later sees the same ages.
        const todays: Array<[BackupType, number, number]> = [['full', 5, 0x100000]];
        if (d % 7 === 3) todays.push(['archive', 4, 0x200000]);
        if (d % 3 === 0) todays.push(['incremental', 3, 0x300000]);
        if ([2, 5, 9, 40, 200].includes(d)) todays.push(['manual', 2, 0x400000]);
        for (const [type, hoursBefore, offset] of todays) {
          const record = simulatedRecord(template, type, new Date(dayEnd - hoursBefore * hour), segment, offset);
          simulated.push({ record, ownChunk: await writeSimulatedBackup(targets, record, [sharedChunk]), onUsb });
        }
      }
      // Chunks no manifest names: a backup that crashed a day ago, and one still running.
      orphanPastGrace = await writeDatedChunk([places.nas], new Date(now.getTime() - 25 * hour));
      orphanInGrace = await writeDatedChunk([places.nas], new Date(now.getTime() - 23 * hour));
    });
  }, 600_000);

  afterAll(async () => {
    await source.remove();
    await rm(root, { recursive: true, force: true });
  });

  const nasHistory = (): Array<Pick<BackupRecord, 'id' | 'type' | 'stoppedAt'>> => [...simulated.map((entry) => entry.record), ...realBackups];
  const usbHistory = (): BackupRecord[] => simulated.filter((entry) => entry.onUsb).map((entry) => entry.record);

  it('plans with --dry-run without removing or recording anything', async () => {
    const result = await drc(['expire', '--dry-run', '--config', config.path, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = result.json<ExpireReport>();
    expect(report.dryRun).toBe(true);
    const nasKept = expectedKept(nasHistory(), now);
    expect(allIds(byName(report, 'nas').kept)).toEqual(nasKept);
    expect(allIds(byName(report, 'nas').removed)).toEqual(allIds(nasHistory()).filter((id) => !nasKept.includes(id)));
    await withRepositorySet(await createContext({ configPath: config.path }), undefined, async (set) => {
      const [nas, usb] = set.repositories;
      expect(await manifestIds(nas as Repository)).toEqual(allIds(nasHistory()));
      expect(await manifestIds(usb as Repository)).toEqual(allIds(usbHistory()));
      expect(await expireEvents(nas as Repository)).toEqual([]);
    });
  });

  it('keeps exactly the backups the policy keeps in each repository, the WAL the oldest of them needs, and chunks still in use or in their grace period', async () => {
    const report = await expire(await createContext({ configPath: config.path }), { dryRun: false, now: () => now });
    expect(report.ok).toBe(true);
    const nasKept = expectedKept(nasHistory(), now);
    const usbKept = expectedKept(usbHistory(), now);
    // Spot checks of the policy over this history: a year of weekly archives, a month of daily fulls, a week of the rest.
    const oldestNas = nasHistory().filter((record) => nasKept.includes(record.id)).sort((a, b) => a.stoppedAt.localeCompare(b.stoppedAt))[0];
    expect(oldestNas?.type).toBe('archive');
    expect(Math.floor((now.getTime() - Date.parse(oldestNas?.stoppedAt ?? '')) / day)).toBe(360);
    // The USB stick keeps its newest backup (45 days old) although its type's retention has passed.
    const usbNewest = usbHistory().sort((a, b) => a.stoppedAt.localeCompare(b.stoppedAt)).at(-1);
    expect(usbKept).toContain(usbNewest?.id);
    expect(nasKept).not.toContain(usbNewest?.id);

    await withRepositorySet(await createContext({ configPath: config.path }), undefined, async (set) => {
      const [nas, usb] = set.repositories as [Repository, Repository];
      expect(await manifestIds(nas)).toEqual(nasKept);
      expect(await manifestIds(usb)).toEqual(usbKept);
      expect(byName(report, 'nas').status).toBe('expired');
      expect(allIds(byName(report, 'usb').removed)).toEqual(allIds(usbHistory()).filter((id) => !usbKept.includes(id)));

      // WAL: nothing before the oldest kept backup's start segment; from there on, every segment with its summary.
      for (const [repository, kept, newestSegment] of [
        [nas, nasKept, undefined],
        [usb, usbKept, firstRealSegment - BigInt(usbLastDay)],
      ] as const) {
        const oldest = [...nasHistory()].filter((record) => kept.includes(record.id)).sort((a, b) => a.stoppedAt.localeCompare(b.stoppedAt))[0] as BackupRecord;
        const needed = segmentNumber(parseLsn(oldest.startLsn), segmentSize);
        const held = await heldSegments(repository);
        const objects = await listWalObjects(repository);
        expect(objects.every((object) => (parseSegmentFileName(object.file, segmentSize)?.segment ?? -1n) >= needed)).toBe(true);
        expect(held.segments[0]).toBe(needed);
        const last = newestSegment ?? held.segments.at(-1) ?? 0n;
        expect(held.segments).toEqual(Array.from({ length: Number(last - needed) + 1 }, (_, index) => needed + BigInt(index)));
        for (let segment = needed; segment < firstRealSegment && segment <= last; segment++) expect(held.summaries.has(segment)).toBe(true);
      }
      const nasResult = byName(report, 'nas');
      expect(nasResult.wal.removed).toEqual([
        { timeline: 1, first: segmentFileName(1, firstRealSegment - BigInt(historyDays), segmentSize), last: segmentFileName(1, firstRealSegment - 361n, segmentSize), segments: historyDays - 360 },
      ]);
      expect(nasResult.wal.keptFrom).toEqual([{ timeline: 1, segment: segmentFileName(1, firstRealSegment - 360n, segmentSize) }]);

      // Chunks: a removed backup's own chunk goes, a kept one's stays, the shared one stays; orphans go only past the grace period.
      for (const entry of simulated) expect(await chunkPresent(nas, entry.ownChunk)).toBe(nasKept.includes(entry.record.id));
      for (const entry of simulated.filter((candidate) => candidate.onUsb)) expect(await chunkPresent(usb, entry.ownChunk)).toBe(usbKept.includes(entry.record.id));
      expect(await chunkPresent(nas, sharedChunk)).toBe(true);
      expect(await chunkPresent(usb, sharedChunk)).toBe(true);
      expect(await chunkPresent(nas, orphanPastGrace)).toBe(false);
      expect(await chunkPresent(nas, orphanInGrace)).toBe(true);
      expect(nasResult.chunks.removed).toBe(simulated.filter((entry) => !nasKept.includes(entry.record.id)).length + 1);
      expect(nasResult.chunks.inGracePeriod).toBe(1);

      // One event per repository, naming what went.
      const [nasEvent, ...moreNas] = await expireEvents(nas);
      expect(moreNas).toEqual([]);
      expect(nasEvent?.outcome).toBe('success');
      expect(nasEvent?.time).toBe(now.toISOString());
      expect((nasEvent?.details.backups as Array<{ id: string }>).map((entry) => entry.id).sort()).toEqual(allIds(nasHistory()).filter((id) => !nasKept.includes(id)));
      expect(nasEvent?.details).toMatchObject({ chunks: { count: nasResult.chunks.removed, bytes: nasResult.chunks.bytes }, bytes: nasResult.bytesRemoved, wal: { ranges: nasResult.wal.removed } });
      expect(await expireEvents(usb)).toHaveLength(1);
    });
  });

  it('finds nothing more to expire on the next run, and the archive has no gap', async () => {
    const result = await drc(['expire', '--config', config.path, '--json']);
    expect(result.code).toBe(0);
    for (const repository of result.json<ExpireReport>().repositories) {
      expect(repository.removed).toEqual([]);
      expect(repository.wal.objects).toBe(0);
      expect(repository.chunks.removed).toBe(0);
    }
    const status = await drc(['wal', 'status', '--config', config.path, '--json']);
    expect(status.json<{ repositories: Array<{ gaps: unknown[] }> }>().repositories.map((entry) => entry.gaps)).toEqual([[], []]);
    expect(status.code).toBe(0);
  });

  it('still recovers to a point in time within the last 30 days', async () => {
    const target = join(root, 'restored');
    const between = new Date(((batches[1]?.committedAt.getTime() ?? 0) + (batches[2]?.committedAt.getTime() ?? 0)) / 2).toISOString();
    const result = await drc(['restore', '--config', config.path, '--from', 'nas', '--target-dir', target, '--time', between, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.json<RestoreReport>().backupId).toBe(realBackups[0]?.id);
    const copy = await startClusterFromDataDir(target, 15);
    try {
      const rows = await copy.sql<{ batch: number; count: number }>('SELECT batch, count(*)::int AS count FROM rsvp GROUP BY batch ORDER BY batch');
      expect(rows).toEqual([
        { batch: 1, count: 100 },
        { batch: 2, count: 100 },
      ]);
    } finally {
      await copy.remove();
    }
  });
});

describe('expire on repositories another operation uses, or that fail mid-way', () => {
  let dir: Awaited<ReturnType<typeof tempDirectory>>;
  let set: RepositorySet;
  const now = new Date('2026-06-30T12:00:00Z');
  const template = { systemId: '7', serverVersion: '15.8', serverVersionNum: 150008, cluster: 'test' };
  const records = [simulatedRecord(template, 'full', new Date(now.getTime() - 40 * day), 10n, 0), simulatedRecord(template, 'full', new Date(now.getTime() - 35 * day), 11n, 0), simulatedRecord(template, 'full', new Date(now.getTime() - day), 12n, 0)];

  beforeEach(async () => {
    dir = await tempDirectory();
    const targets = ['nas', 'usb'].map((name) => new LocalTarget({ name, path: join(dir.path, name) }));
    await initRepositorySet(targets, 'pass', { scrypt: { N: 2 ** 10, r: 8, p: 1 } });
    set = await openRepositorySet(targets, 'pass');
    const places = set.repositories.map((repository) => ({ repository, path: join(dir.path, repository.name) }));
    for (const [index, record] of records.entries()) {
      await writeSimulatedSegment(set.repositories, 10n + BigInt(index), new Date(Date.parse(record.stoppedAt) - hour), new Date(record.stoppedAt));
      await writeSimulatedBackup(places, record, []);
    }
  });
  afterEach(() => dir.remove());

  it('skips and reports a repository whose backup lock a running backup holds, and expires the others', async () => {
    const usb = set.repositories[1] as Repository;
    const running = await RepositoryLock.acquire(usb.target, 'backup', 'full backup', { settleMs: 0 });
    try {
      const report = await runExpiry(set, { policy, dryRun: false, now: () => now });
      expect(report.ok).toBe(false);
      expect(byName(report, 'nas')).toMatchObject({ status: 'expired', removed: [expect.objectContaining({ id: records[0]?.id })] });
      const skipped = byName(report, 'usb');
      expect(skipped.status).toBe('skipped');
      expect(skipped.error?.code).toBe('LOCK_HELD');
      expect(skipped.heldBy.join('\n')).toContain('full backup');
      expect(await manifestIds(usb)).toEqual(allIds(records));
      expect(await expireEvents(usb)).toEqual([]);

      // A dry run plans it all the same, and says who holds the lock.
      const plan = await runExpiry(set, { policy, dryRun: true, now: () => now });
      expect(byName(plan, 'usb')).toMatchObject({ status: 'planned', removed: [expect.objectContaining({ id: records[0]?.id })] });
      expect(byName(plan, 'usb').heldBy.join('\n')).toContain('full backup');
    } finally {
      await running.release();
    }
  });

  it('plans from the copy in another repository when a manifest is damaged in one (the same sealed object)', async () => {
    const [nas, usb] = set.repositories as [Repository, Repository];
    const damaged = `backups/${records[2]?.id ?? ''}.manifest`;
    await nas.target.put(damaged, Buffer.from('not a sealed manifest'));
    const report = await runExpiry(set, { policy, dryRun: false, now: () => now });
    expect(byName(report, 'nas').status).toBe('expired');
    expect(await manifestIds(nas)).toEqual(allIds(records.slice(1)));
    expect(await manifestIds(usb)).toEqual(allIds(records.slice(1)));
    expect(set.fallbacks).toContainEqual(expect.objectContaining({ object: damaged, failed: 'nas', usedInstead: 'usb' }));
  });

  it('removes nothing from a repository holding a manifest no repository can read: its chunks and the WAL it needs are unknown', async () => {
    const [nas, usb] = set.repositories as [Repository, Repository];
    for (const repository of [nas, usb]) await repository.target.put(`backups/${records[2]?.id ?? ''}.manifest`, Buffer.from('not a sealed manifest'));
    const report = await runExpiry(set, { policy, dryRun: false, now: () => now });
    expect(byName(report, 'nas')).toMatchObject({ status: 'failed', removed: [], error: expect.objectContaining({ code: 'OBJECT_CORRUPT' }) as unknown });
    expect(await manifestIds(nas)).toEqual(allIds(records));
    expect(byName(report, 'usb').status).toBe('failed');
    expect(await manifestIds(usb)).toEqual(allIds(records));
  });

  it('records what was removed when a deletion fails part-way, and leaves the rest for the next run', async () => {
    const nas = set.repositories[0] as Repository;
    class ChunkDeletesFail extends DelegatingTarget {
      override delete(names: readonly string[]): Promise<void> {
        if (names.some((name) => name.startsWith(objectPrefixes.chunks))) return Promise.reject(new Error('injected: the storage refused to delete chunks'));
        return super.delete(names);
      }
    }
    const failing = new Repository(new ChunkDeletesFail(nas.target), nas.header, nas.keys);
    const report = await runExpiry({ ...set, repositories: [failing] }, { policy, dryRun: false, now: () => now });
    const result = byName(report, 'nas');
    expect(result.status).toBe('failed');
    expect(result.error?.message).toContain('injected');
    expect(result.removed.map((entry) => entry.id)).toEqual([records[0]?.id]);
    expect(result.wal.removed).toEqual([{ timeline: 1, first: segmentFileName(1, 10n, segmentSize), last: segmentFileName(1, 10n, segmentSize), segments: 1 }]);
    expect(result.chunks.removed).toBe(0);
    const [event] = await expireEvents(nas);
    expect(event?.outcome).toBe('partial');
    expect(event?.summary).toContain('injected');
    expect((event?.details.backups as Array<{ id: string }>).map((entry) => entry.id)).toEqual([records[0]?.id]);

    // The next run (the storage working again) finds the orphaned chunk and removes it.
    const next = await runExpiry(set, { policy, dryRun: false, now: () => now });
    expect(byName(next, 'nas')).toMatchObject({ status: 'expired', removed: [], chunks: expect.objectContaining({ removed: 1 }) as unknown });
  });
});

