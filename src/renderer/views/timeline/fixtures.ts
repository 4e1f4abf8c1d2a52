import type { Timeline, TimelineMarker } from '../../../shared/contract/recovery.js';

/**
 * A 30-day history the size issue 9 measures against (a full backup a day, a restore
 * point an hour), for the view's tests. Three repositories: `local` and `usb` hold
 * everything, `cloud` lost ten minutes of WAL on 2026-12-04 (a gap only it has), and all
 * three lost 05:00–05:30 on 2026-12-01 (a stretch nothing can restore to).
 */
export const fixtureNow = Date.parse('2026-12-05T12:00:00Z');
export const sharedGap = { from: Date.parse('2026-12-01T05:00:00Z'), to: Date.parse('2026-12-01T05:30:00Z') };
export const cloudGap = { from: Date.parse('2026-12-04T10:00:00Z'), to: Date.parse('2026-12-04T10:10:00Z') };

const iso = (moment: number): string => new Date(moment).toISOString();
const hourMs = 3_600_000;
const dayMs = 24 * hourMs;

function lsnAt(moment: number, start: number): string {
  // 1 MiB of WAL a minute, as a steady writer would produce.
  const position = Math.round(((moment - start) / 60_000) * 1_048_576) + 0x1000000;
  return `${Math.floor(position / 2 ** 32).toString(16).toUpperCase()}/${(position % 2 ** 32).toString(16).toUpperCase()}`;
}

export function thirtyDayTimeline(options: { restoreBytesPerSecond?: number; latest?: number } = {}): Timeline {
  const from = fixtureNow - 30 * dayMs;
  const latest = options.latest ?? fixtureNow - 60_000;
  const firstBackup = Date.parse('2026-11-05T02:10:00Z');
  const backups = Array.from({ length: 30 }, (_, index) => {
    const stoppedAt = firstBackup + index * dayMs;
    return {
      id: `20261105T021000F-${String(index).padStart(2, '0')}`,
      type: index % 7 === 0 ? ('archive' as const) : ('full' as const),
      stoppedAt: iso(stoppedAt),
      stopLsn: lsnAt(stoppedAt, from),
      timeline: 1,
      bytes: 2 * 1024 ** 3,
      // The usb drive is plugged in weekly: it holds only the archives.
      repositories: index % 7 === 0 ? ['local', 'usb', 'cloud'] : ['local', 'cloud'],
    };
  });
  const markers: TimelineMarker[] = [
    ...backups.map((backup) => ({
      id: `backup-${backup.id}`,
      kind: 'backup' as const,
      time: backup.stoppedAt,
      label: `${backup.type} backup — nightly`,
      backupType: backup.type,
      backupId: backup.id,
      outcome: 'success' as const,
      lsn: backup.stopLsn,
      repositories: backup.repositories,
    })),
    ...Array.from({ length: 720 }, (_, index) => {
      const time = from + index * hourMs + 30 * 60_000;
      return {
        id: `rp-${String(index)}`,
        kind: 'restore-point' as const,
        time: iso(time),
        label: `restore point hourly-${String(index)}`,
        name: `hourly-${String(index)}`,
        lsn: lsnAt(time, from),
        repositories: ['local', 'cloud'],
      };
    }).filter((marker) => Date.parse(marker.time) > firstBackup && Date.parse(marker.time) < latest),
    {
      id: 'test-1',
      kind: 'restore-test',
      time: '2026-12-03T03:00:00Z',
      label: 'restore test passed',
      outcome: 'success',
      backupId: backups[28]?.id,
      repositories: ['local'],
    },
    {
      id: 'test-2',
      kind: 'restore-test',
      time: '2026-12-04T03:00:00Z',
      label: 'restore test failed: amcheck found a corrupt index',
      outcome: 'failure',
      backupId: backups[29]?.id,
      repositories: ['local'],
    },
    { id: 'event-1', kind: 'dr-event', time: '2026-12-01T05:15:00Z', label: 'DR event: archive_command failing', outcome: 'failure', repositories: [] },
  ];
  const window = { from: iso(firstBackup), to: iso(latest), timeline: 1 };
  const gap = (span: { from: number; to: number }) => ({ from: iso(span.from), to: iso(span.to), timeline: 1, firstMissing: '000000010000000A00000010', missingSegments: 3 });
  return {
    generatedAt: iso(fixtureNow),
    from: iso(from),
    to: iso(fixtureNow),
    earliest: iso(firstBackup),
    latest: iso(latest),
    repositories: [
      { repository: 'cloud', media: 'cloud', offsite: true, reachable: true, windows: [window], gaps: [gap(sharedGap), gap(cloudGap)] },
      { repository: 'local', media: 'fixed', offsite: false, reachable: true, windows: [window], gaps: [gap(sharedGap)] },
      { repository: 'usb', media: 'removable', offsite: true, reachable: true, windows: [window], gaps: [gap(sharedGap)] },
    ],
    backups,
    markers,
    walBytesPerSecond: 1_048_576 / 60,
    ...(options.restoreBytesPerSecond === undefined ? {} : { restoreBytesPerSecond: options.restoreBytesPerSecond }),
  };
}
