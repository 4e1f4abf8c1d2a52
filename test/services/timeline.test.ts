import { describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../src/main/repo/backup-record.js';
import type { CatalogEntry } from '../../src/main/engines/backup/catalog.js';
import { buildTimeline, restoreRate, type RepositoryTimelineObservation } from '../../src/main/engines/recovery-timeline/build.js';
import type { HistoryRecord } from '../../src/main/engines/recovery-timeline/markers.js';
import { describeGap, missingRuns, recoverableWindows, type TimedGap } from '../../src/main/engines/recovery-timeline/windows.js';

const now = new Date('2026-06-18T12:00:00.000Z');
const at = (hour: number, minute = 0): string => new Date(Date.UTC(2026, 5, 18, hour, minute)).toISOString();
const segmentSize = 16 * 1024 * 1024;
/** An LSN in segment `n` (16 MiB segments). */
const lsnIn = (segment: number): string => `0/${(segment * segmentSize + 0x28).toString(16).toUpperCase()}`;

function backup(id: string, stoppedAt: string, stopSegment: number, repositories: string[], extra: Partial<BackupRecord> = {}): CatalogEntry {
  const record: BackupRecord = {
    id,
    type: 'full',
    reason: 'nightly',
    operator: 'dba',
    host: 'ws1',
    cluster: 'wedsync',
    startedAt: stoppedAt,
    stoppedAt,
    startLsn: lsnIn(stopSegment),
    stopLsn: lsnIn(stopSegment),
    timeline: 1,
    serverVersion: '15.8',
    serverVersionNum: 150008,
    systemId: '7000000000000000001',
    walSegmentSize: segmentSize,
    bytesRead: 1_000_000_000,
    bytesNew: 0,
    bytesStored: 0,
    durationMs: 60_000,
    files: 10,
    nativeIncremental: false,
    tablespaces: [],
    repositories,
    missingCopies: [],
    ...extra,
  };
  return { record, repositories };
}

function gap(firstMissing: number, count: number, lastCommitBefore?: string, firstCommitAfter?: string): TimedGap {
  return { timeline: 1, firstMissing: BigInt(firstMissing), count, firstMissingName: `00000001000000000000000${firstMissing.toString(16).toUpperCase()}`, lastCommitBefore, firstCommitAfter };
}

function history(type: string, time: string, details: Record<string, unknown> = {}, outcome: HistoryRecord['outcome'] = 'success'): HistoryRecord {
  return { id: `${type}-${time}`, time, type, outcome, summary: `${type} at ${time}`, details, repositories: ['nas'] };
}

describe('WAL holes (pure)', () => {
  it('finds each run of missing segments after the oldest backup, the backup carrying its own stop segment', () => {
    expect(missingRuns(1, [3n, 4n, 5n], 2n)).toEqual([]);
    expect(missingRuns(1, [2n, 3n, 6n, 7n, 9n], 2n)).toEqual([
      { timeline: 1, firstMissing: 4n, count: 2 },
      { timeline: 1, firstMissing: 8n, count: 1 },
    ]);
    // Nothing archived right after the backup: the hole starts after its stop segment.
    expect(missingRuns(1, [6n], 2n)).toEqual([{ timeline: 1, firstMissing: 3n, count: 3 }]);
    // Segments older than the oldest backup are not needed, so their holes do not count.
    expect(missingRuns(1, [0n, 5n, 6n], 5n)).toEqual([]);
  });

  it('dates a hole by the commits beside it, and places one with no commit known at the end of the window it closes', () => {
    expect(describeGap(gap(4, 2, at(9), at(10)), { before: at(1), after: at(1) })).toMatchObject({ from: at(9), to: at(10), firstMissing: '000000010000000000000004', missingSegments: 2 });
    expect(describeGap(gap(4, 2), { before: at(8), after: at(8) })).toMatchObject({ from: at(8), to: at(8) });
  });
});

describe('recoverable windows (pure)', () => {
  const backups = [
    { stoppedAt: at(1), timeline: 1, stopSegment: 2n },
    { stoppedAt: at(11), timeline: 1, stopSegment: 12n },
  ];

  it('runs from the oldest backup to the newest commit when the WAL is continuous', () => {
    expect(recoverableWindows(backups, [], at(11, 45))).toEqual([{ from: at(1), to: at(11, 45), timeline: 1 }]);
  });

  it('splits at a hole, and resumes only at the first backup that ended after it', () => {
    // Segments 5-6 are missing: 01:00 … 04:00 from the first backup, then 11:00 … 11:45 from the second.
    expect(recoverableWindows(backups, [gap(5, 2, at(4), at(5))], at(11, 45))).toEqual([
      { from: at(1), to: at(4), timeline: 1 },
      { from: at(11), to: at(11, 45), timeline: 1 },
    ]);
  });

  it('has nothing after a hole that no backup follows', () => {
    expect(recoverableWindows(backups.slice(0, 1), [gap(5, 2, at(4), at(5))], at(11, 45))).toEqual([{ from: at(1), to: at(4), timeline: 1 }]);
  });

  it('never ends a window before its newest backup, even on an idle server with no commit recorded', () => {
    expect(recoverableWindows(backups, [], undefined)).toEqual([{ from: at(1), to: at(11), timeline: 1 }]);
  });
});

describe('the timeline (pure)', () => {
  const nas: RepositoryTimelineObservation = { repository: 'nas', media: 'fixed', offsite: false, reachable: true, gaps: [], newestCommit: at(11, 50), newestLsn: lsnIn(40) };
  const usb: RepositoryTimelineObservation = { repository: 'usb', media: 'removable', offsite: true, reachable: true, gaps: [gap(5, 1, at(3), at(4))], newestCommit: at(11, 50) };
  const s3: RepositoryTimelineObservation = { repository: 's3', media: 'cloud', offsite: true, reachable: false, error: 'unable to reach bucket', gaps: [] };
  const backups = [backup('b1', at(1), 2, ['nas', 'usb']), backup('b2', at(10), 30, ['nas'], { type: 'incremental', reason: 'before deploy 4.2' })];
  const events: HistoryRecord[] = [
    history('backup', at(10), { type: 'incremental' }),
    history('backup', at(6), { type: 'full' }, 'failure'),
    history('restore-point', at(7), { name: 'before-migration', lsn: lsnIn(20), time: at(7) }),
    history('restore-test', at(2), { backupId: 'b1', restoreDurationMs: 100_000 }),
    history('restore-test', at(3), { backupId: 'b1', restoreDurationMs: 50_000 }, 'failure'),
    history('restore', at(9), { backupId: 'b1' }),
    history('partial-restore', at(9, 30), { backupId: 'b1' }, 'partial'),
    history('verify', at(8)),
  ];
  const timeline = buildTimeline({
    now,
    days: 1,
    segmentSize,
    repositories: [nas, usb, s3],
    backups,
    events,
    summaryRestorePoints: [
      { name: 'before-migration', lsn: lsnIn(20), time: at(7), repositories: ['usb'] },
      { name: 'typed-by-hand', lsn: lsnIn(25), time: at(8, 15), repositories: ['nas'] },
    ],
  });

  it('gives each repository its windows and holes, and an unreachable one none, with why', () => {
    expect(timeline.repositories.map((repository) => [repository.repository, repository.windows.map((window) => `${window.from} … ${window.to}`)])).toEqual([
      ['nas', [`${at(1)} … ${at(11, 50)}`]],
      ['usb', [`${at(1)} … ${at(3)}`]],
      ['s3', []],
    ]);
    expect(timeline.repositories[1]?.gaps).toEqual([{ from: at(3), to: at(4), timeline: 1, firstMissing: '000000010000000000000005', missingSegments: 1 }]);
    expect(timeline.repositories[2]).toMatchObject({ reachable: false, error: 'unable to reach bucket' });
    expect([timeline.earliest, timeline.latest]).toEqual([at(1), at(11, 50)]);
    expect([timeline.from, timeline.to]).toEqual(['2026-06-17T12:00:00.000Z', now.toISOString()]);
  });

  it('marks backups by type, restore points once each, restore tests passed and failed, and DR events, in time order', () => {
    expect(timeline.markers.map((marker) => `${marker.time.slice(11, 16)} ${marker.kind} ${marker.outcome ?? '-'} ${marker.label}`)).toEqual([
      '01:00 backup success full backup — nightly',
      '02:00 restore-test success restore test passed — backup b1',
      '03:00 restore-test failure restore test failed — backup b1',
      '06:00 backup failure failed full backup: backup at ' + at(6),
      "07:00 restore-point - restore point 'before-migration'",
      "08:15 restore-point - restore point 'typed-by-hand'",
      '09:00 dr-event success restore: restore at ' + at(9),
      '09:30 dr-event partial partial restore: partial-restore at ' + at(9, 30),
      '10:00 backup success incremental backup — before deploy 4.2',
    ]);
    // The same restore point, from its record and from a WAL summary, is one marker held by both.
    expect(timeline.markers.find((marker) => marker.name === 'before-migration')).toMatchObject({ lsn: lsnIn(20), repositories: ['nas', 'usb'] });
  });

  it('measures the restore rate from passing restore tests and the WAL rate from the archive', () => {
    // b1 (1 GB) restored in 100 s by the passing test; the failed one does not count.
    expect(timeline.restoreBytesPerSecond).toBe(10_000_000);
    expect(restoreRate([], backups)).toBeUndefined();
    // 38 segments of WAL after b1 over 10 h 50 min.
    expect(timeline.walBytesPerSecond).toBeCloseTo((38 * segmentSize) / (10 * 3600 + 50 * 60), 3);
    expect(timeline.backups.map((entry) => [entry.id, entry.type, entry.repositories])).toEqual([
      ['b1', 'full', ['nas', 'usb']],
      ['b2', 'incremental', ['nas']],
    ]);
  });

  it('leaves out what happened before the span shown', () => {
    const short = buildTimeline({ now, days: 1, segmentSize, repositories: [nas], backups: [backup('old', '2026-06-10T00:00:00.000Z', 1, ['nas'])], events: [], summaryRestorePoints: [] });
    expect(short.markers).toEqual([]);
    // The window still starts at that backup: it is what a restore would start from.
    expect(short.earliest).toBe('2026-06-10T00:00:00.000Z');
  });
});
