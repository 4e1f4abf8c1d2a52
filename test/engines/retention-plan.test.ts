import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retentionConfigSchema, type RetentionConfig } from '../../src/shared/config.js';
import type { BackupType } from '../../src/shared/contract/backup.js';
import type { BackupRecord } from '../../src/main/repo/backup-record.js';
import { planExpiry, walRanges, type StoredBackup, type StoredChunk } from '../../src/main/engines/retention/plan.js';
import { formatLsn, parseSegmentFileName, segmentFileName, segmentStart } from '../../src/main/postgres/lsn.js';
import { parseWalObjectName, walHistoryObject, walSegmentObject, walSummaryObject, type WalObject } from '../../src/main/repo/wal-archive.js';
import { GcsTarget } from '../../src/main/storage/gcs.js';
import { LocalTarget } from '../../src/main/storage/local.js';
import { S3Target } from '../../src/main/storage/s3.js';
import type { StorageTarget } from '../../src/main/storage/target.js';
import { startGcsServer, type GcsServer } from '../support/gcs-server.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';
import { tempDirectory } from '../support/temp.js';

const policy: RetentionConfig = retentionConfigSchema.parse({});
const day = 86_400_000;
const hour = 3_600_000;
const segmentSize = 16 * 1024 * 1024;
const now = new Date('2026-06-30T12:00:00Z');

function backup(id: string, type: BackupType, stoppedAt: Date, options: { segment?: bigint; timeline?: number; chunks?: string[] } = {}): StoredBackup {
  const segment = options.segment ?? 100n;
  const record: BackupRecord = {
    id,
    type,
    reason: '',
    operator: 'test',
    host: 'test',
    cluster: 'test',
    startedAt: new Date(stoppedAt.getTime() - 60_000).toISOString(),
    stoppedAt: stoppedAt.toISOString(),
    startLsn: formatLsn(segmentStart(segment, segmentSize) + 40n),
    stopLsn: formatLsn(segmentStart(segment, segmentSize) + 4000n),
    timeline: options.timeline ?? 1,
    serverVersion: '15.8',
    serverVersionNum: 150008,
    systemId: '1',
    walSegmentSize: segmentSize,
    bytesRead: 0,
    bytesNew: 0,
    bytesStored: 0,
    durationMs: 60_000,
    files: 1,
    nativeIncremental: false,
    tablespaces: [],
    repositories: ['nas'],
    missingCopies: [],
  };
  return { record, chunks: new Set(options.chunks ?? []), manifestBytes: 1000 };
}

const ago = (ms: number): Date => new Date(now.getTime() - ms);

function wal(timeline: number, segment: bigint, kind: 'segment' | 'summary' | 'partial' = 'segment'): WalObject {
  const file = segmentFileName(timeline, segment, segmentSize);
  const name = kind === 'summary' ? walSummaryObject(timeline, file) : walSegmentObject(timeline, file, kind === 'partial');
  const parsed = parseWalObjectName(name, 100);
  if (!parsed) throw new Error(`not a WAL object name: ${name}`);
  return parsed;
}

function history(timeline: number): WalObject {
  const parsed = parseWalObjectName(walHistoryObject(timeline), 50);
  if (!parsed) throw new Error('not a history object name');
  return parsed;
}

const ids = (verdicts: ReadonlyArray<{ backup: StoredBackup }>): string[] => verdicts.map((verdict) => verdict.backup.record.id).sort();

describe('planExpiry: backups', () => {
  it('keeps each type for its own number of days, measured from when the backup stopped', () => {
    const backups = [
      backup('full-at-limit', 'full', ago(30 * day)),
      backup('full-past-limit', 'full', ago(30 * day + 1)),
      backup('archive-at-limit', 'archive', ago(365 * day)),
      backup('archive-past-limit', 'archive', ago(365 * day + 1)),
      backup('incremental-at-limit', 'incremental', ago(7 * day)),
      backup('incremental-past-limit', 'incremental', ago(7 * day + 1)),
      backup('manual-at-limit', 'manual', ago(7 * day)),
      backup('manual-past-limit', 'manual', ago(7 * day + 1)),
      backup('newest', 'full', ago(hour)),
    ];
    const plan = planExpiry(backups, [], [], policy, now);
    // full-at-limit stopped exactly at the start of the 30-day window: recovery to any moment in it can start there.
    expect(ids(plan.keep)).toEqual(['archive-at-limit', 'full-at-limit', 'incremental-at-limit', 'manual-at-limit', 'newest']);
    expect(ids(plan.remove)).toEqual(['archive-past-limit', 'full-past-limit', 'incremental-past-limit', 'manual-past-limit']);
    expect(plan.remove.find((verdict) => verdict.backup.record.id === 'manual-past-limit')?.reason).toBe('manual older than 7 days');
  });

  it('keeps the backup that starts the recovery window, and only that one beyond the full retention', () => {
    const fulls = Array.from({ length: 40 }, (_, index) => backup(`full-${String(index).padStart(2, '0')}`, 'full', ago(index * day + 2 * hour)));
    const plan = planExpiry(fulls, [], [], policy, now);
    // Ages 0 d 2 h … 29 d 2 h are within 30 days; 30 d 2 h is the newest one at or before the window start.
    expect(ids(plan.keep)).toEqual(fulls.slice(0, 31).map((entry) => entry.record.id).sort());
    expect(plan.keep.find((verdict) => verdict.backup.record.id === 'full-30')?.reason).toBe('start of the 30-day point-in-time recovery window');
  });

  it('never removes the newest backup, however old', () => {
    const plan = planExpiry([backup('old-manual', 'manual', ago(400 * day)), backup('older-full', 'full', ago(500 * day))], [], [], policy, now);
    expect(plan.keep.map((verdict) => [verdict.backup.record.id, verdict.reason])).toEqual([['old-manual', 'newest backup of the repository']]);
    expect(ids(plan.remove)).toEqual(['older-full']);
  });

  it('follows a configured policy', () => {
    const short = retentionConfigSchema.parse({ fullDays: 2, incrementalDays: 1 });
    const plan = planExpiry([backup('a', 'full', ago(3 * day + hour)), backup('b', 'full', ago(2 * day + hour)), backup('c', 'incremental', ago(day + hour)), backup('d', 'full', ago(hour))], [], [], short, now);
    expect(ids(plan.keep)).toEqual(['b', 'd']);
  });

  it('leaves a repository without backups alone', () => {
    const plan = planExpiry([], [wal(1, 5n), history(2)], [{ id: 'a'.repeat(64), size: 10, modified: ago(100 * day) }], policy, now);
    expect(plan.remove).toEqual([]);
    expect(plan.walRemove).toEqual([]);
    expect(plan.chunksRemove).toEqual([]);
  });
});

describe('planExpiry: WAL', () => {
  it('removes every object of a segment before the oldest kept backup starts, and keeps the rest', () => {
    const backups = [
      backup('too-old', 'full', ago(50 * day), { segment: 5n }),
      backup('anchor', 'full', ago(40 * day), { segment: 10n }),
      backup('recent', 'full', ago(20 * day), { segment: 20n }),
      backup('newest', 'full', ago(hour), { segment: 30n }),
    ];
    const objects = [4n, 5n, 9n, 10n, 21n, 30n].flatMap((segment) => [wal(1, segment), wal(1, segment, 'summary')]);
    objects.push(wal(1, 9n, 'partial'), wal(1, 31n, 'partial'));
    const plan = planExpiry(backups, objects, [], policy, now);
    expect(ids(plan.remove)).toEqual(['too-old']);
    expect(plan.walRemove.map((object) => object.name).sort()).toEqual(
      [wal(1, 4n), wal(1, 4n, 'summary'), wal(1, 5n), wal(1, 5n, 'summary'), wal(1, 9n), wal(1, 9n, 'summary'), wal(1, 9n, 'partial')].map((object) => object.name).sort(),
    );
    expect(plan.walKeptFrom).toEqual([{ timeline: 1, segment: segmentFileName(1, 10n, segmentSize) }]);
  });

  it('keeps WAL from where the oldest kept backup started, though the backup carries its own WAL up to its stop', () => {
    const spanning = backup('spanning', 'full', ago(day), { segment: 8n });
    const long = { ...spanning, record: { ...spanning.record, stopLsn: formatLsn(segmentStart(11n, segmentSize) + 100n) } };
    const plan = planExpiry([long], [7n, 8n, 9n, 10n, 11n].map((segment) => wal(1, segment)), [], policy, now);
    expect(plan.walRemove.map((object) => object.file)).toEqual([segmentFileName(1, 7n, segmentSize)]);
  });

  it('keeps WAL from the oldest kept backup on its timeline and every later one, and history files of those timelines', () => {
    const backups = [
      backup('tl1-old', 'full', ago(100 * day), { segment: 10n, timeline: 1 }),
      backup('tl2-archive', 'archive', ago(60 * day), { segment: 40n, timeline: 2 }),
      backup('tl3-newest', 'full', ago(hour), { segment: 70n, timeline: 3 }),
    ];
    const objects = [wal(1, 10n), wal(1, 41n), wal(2, 39n), wal(2, 40n), wal(2, 50n), wal(3, 60n), wal(3, 70n), history(2), history(3)];
    const plan = planExpiry(backups, objects, [], policy, now);
    expect(ids(plan.remove)).toEqual(['tl1-old']);
    // Timeline 1 is older than every kept backup's timeline: all of it goes. Timeline 2 keeps from the archive's start segment on.
    expect(plan.walRemove.map((object) => object.name).sort()).toEqual([wal(1, 10n), wal(1, 41n), wal(2, 39n)].map((object) => object.name).sort());
    expect(plan.walKeptFrom).toEqual([
      { timeline: 2, segment: segmentFileName(2, 40n, segmentSize) },
      { timeline: 3, segment: segmentFileName(3, 40n, segmentSize) },
    ]);
  });

  it('removes the history files of timelines older than every kept backup', () => {
    const backups = [backup('old', 'full', ago(400 * day), { timeline: 2 }), backup('anchor', 'full', ago(31 * day), { timeline: 3, segment: 190n }), backup('newest', 'full', ago(hour), { timeline: 3, segment: 200n })];
    const plan = planExpiry(backups, [history(2), history(3), wal(2, 150n), wal(3, 190n), wal(3, 200n)], [], policy, now);
    expect(ids(plan.remove)).toEqual(['old']);
    expect(plan.walRemove.map((object) => object.name).sort()).toEqual([history(2), wal(2, 150n)].map((object) => object.name).sort());
  });

  it('reports removed WAL as segment ranges per timeline', () => {
    expect(walRanges([wal(1, 7n), wal(1, 5n, 'summary'), wal(1, 5n), wal(1, 6n, 'partial'), wal(2, 9n), history(2)])).toEqual([
      { timeline: 1, first: segmentFileName(1, 5n, segmentSize), last: segmentFileName(1, 7n, segmentSize), segments: 3 },
      { timeline: 2, first: segmentFileName(2, 9n, segmentSize), last: segmentFileName(2, 9n, segmentSize), segments: 1 },
    ]);
  });
});

describe('planExpiry: chunks', () => {
  const chunk = (letter: string, modified: Date | undefined): StoredChunk => ({ id: letter.repeat(64), size: 100, modified });

  it('removes chunks no kept manifest references once they are older than the grace period', () => {
    const backups = [
      backup('expired', 'manual', ago(40 * day), { chunks: ['a'.repeat(64), 'b'.repeat(64)] }),
      backup('anchor', 'full', ago(31 * day), { chunks: ['b'.repeat(64)] }),
      backup('kept', 'full', ago(day), { chunks: ['b'.repeat(64)] }),
    ];
    const chunks = [
      chunk('a', ago(40 * day)), // only the expired backup used it
      chunk('b', ago(40 * day)), // shared with a kept backup
      chunk('c', ago(24 * hour + 1)), // a crashed backup's, past the grace period
      chunk('d', ago(24 * hour)), // a running backup's, within it
      chunk('e', undefined), // the storage did not say when it was written
    ];
    const plan = planExpiry(backups, [], chunks, policy, now);
    expect(ids(plan.remove)).toEqual(['expired']);
    expect(plan.chunksRemove.map((entry) => entry.id[0])).toEqual(['a', 'c']);
    expect(plan.chunksReferenced).toBe(1);
    expect(plan.chunksInGracePeriod).toBe(2);
  });
});

describe('planExpiry: properties', () => {
  const types: BackupType[] = ['full', 'archive', 'incremental', 'manual'];
  const history = fc.array(fc.record({ ageMinutes: fc.integer({ min: 0, max: 500 * 24 * 60 }), type: fc.constantFrom(...types), timeline: fc.integer({ min: 1, max: 3 }) }), { minLength: 1, maxLength: 60 });

  it('keeps the newest backup, every backup within its type window, a backup to start any recovery in the window from, and the WAL every kept backup needs', () => {
    fc.assert(
      fc.property(history, (entries) => {
        // LSNs grow with time, timelines never go back: the order a real cluster produces.
        const byAge = [...entries].sort((a, b) => b.ageMinutes - a.ageMinutes);
        let timeline = 1;
        const backups = byAge.map((entry, index) => {
          timeline = Math.max(timeline, entry.timeline);
          return backup(`b${String(index).padStart(3, '0')}`, entry.type, ago(entry.ageMinutes * 60_000), { segment: BigInt(100 + index * 3), timeline });
        });
        const walObjects = Array.from({ length: backups.length * 3 + 10 }, (_, index) => wal(3, BigInt(90 + index)));
        const plan = planExpiry(backups, walObjects, [], policy, now);
        const kept = new Set(ids(plan.keep));
        const days = { full: policy.fullDays, archive: policy.archiveDays, incremental: policy.incrementalDays, manual: policy.manualDays };
        expect(kept.has(backups.at(-1)?.record.id ?? '')).toBe(true);
        for (const entry of backups) {
          const age = now.getTime() - Date.parse(entry.record.stoppedAt);
          if (age <= days[entry.record.type] * day) expect(kept.has(entry.record.id)).toBe(true);
        }
        for (const verdict of plan.remove) expect(now.getTime() - Date.parse(verdict.backup.record.stoppedAt)).toBeGreaterThan(days[verdict.backup.record.type] * day);
        const windowStart = now.getTime() - policy.fullDays * day;
        if (backups.some((entry) => Date.parse(entry.record.stoppedAt) <= windowStart)) {
          expect(plan.keep.some((verdict) => Date.parse(verdict.backup.record.stoppedAt) <= windowStart)).toBe(true);
        }
        const oldestKeptSegment = 100 + Math.min(...plan.keep.map((verdict) => backups.indexOf(verdict.backup))) * 3;
        for (const object of plan.walRemove) expect(Number(parseSegmentFileName(object.file, segmentSize)?.segment)).toBeLessThan(oldestKeptSegment);
        expect(plan.walRemove).toHaveLength(Math.max(0, oldestKeptSegment - 90));
      }),
      { numRuns: 300 },
    );
  });
});

describe('object listings carry the write time the chunk grace period reads', () => {
  let local: Awaited<ReturnType<typeof tempDirectory>>;
  let s3: S3Server;
  let gcs: GcsServer;
  const targets: Array<[string, () => StorageTarget]> = [];
  beforeAll(async () => {
    local = await tempDirectory();
    s3 = await startS3Server();
    await s3.bucket('modified');
    gcs = await startGcsServer({ bucket: 'modified' });
  });
  afterAll(async () => {
    await Promise.all([local.remove(), s3.close(), gcs.close()]);
  });
  targets.push(
    ['local', () => new LocalTarget({ name: 'local', path: join(local.path, 'repo') })],
    ['s3', () => new S3Target({ name: 's3', bucket: 'modified', prefix: 'p', endpoint: s3.endpoint, forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey })],
    ['gcs', () => new GcsTarget({ name: 'gcs', bucket: 'modified', prefix: 'p', apiEndpoint: gcs.url })],
  );

  it.each(targets)('%s', async (_, make) => {
    const target = make();
    try {
      const before = Date.now();
      await target.put('chunks/ab/object', Buffer.from('x'));
      const [listed] = await target.list('chunks/');
      // S3 LastModified has whole seconds.
      expect(listed?.modified?.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
      expect(listed?.modified?.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    } finally {
      await target.close();
    }
  });
});
