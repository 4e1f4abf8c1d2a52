import type { MediaKind } from '../../../shared/contract/status.js';
import type { Timeline, TimelineRepository } from '../../../shared/contract/recovery.js';
import { parseLsn, segmentNumber } from '../../postgres/lsn.js';
import type { CatalogEntry } from '../backup/catalog.js';
import { backupMarkers, drEventMarkers, restorePointMarkers, restorePointsSeen, restoreTestMarkers, type HistoryRecord, type RestorePointSeen } from './markers.js';
import { describeGap, recoverableWindows, type TimedGap } from './windows.js';

/**
 * The recovery timeline from observations alone (no I/O, `now` given): the services
 * gather the catalog, each repository's WAL holes and newest commit, and the history.
 */
export interface RepositoryTimelineObservation {
  readonly repository: string;
  readonly media: MediaKind;
  readonly offsite: boolean;
  readonly reachable: boolean;
  readonly error?: string;
  readonly gaps: readonly TimedGap[];
  readonly newestCommit?: string;
  /** End of the newest valid WAL stored. */
  readonly newestLsn?: string;
}

export interface TimelineInput {
  readonly now: Date;
  readonly days: number;
  readonly segmentSize: number;
  readonly repositories: readonly RepositoryTimelineObservation[];
  /** Oldest first, as listBackups gives them. */
  readonly backups: readonly CatalogEntry[];
  readonly events: readonly HistoryRecord[];
  /** Restore points found in the WAL summaries that were read. */
  readonly summaryRestorePoints: readonly RestorePointSeen[];
}

/** How many recent successful restore tests the rate considers (the slowest counts, as for the RTO). */
const restoreRateSample = 3;

export function buildTimeline(input: TimelineInput): Timeline {
  const to = input.now.toISOString();
  const from = new Date(input.now.getTime() - input.days * 86_400_000).toISOString();
  const repositories = input.repositories.map((observation) => repositoryTimeline(observation, input));
  const windows = repositories.flatMap((repository) => repository.windows);
  const earliest = windows.map((window) => window.from).sort()[0];
  const latest = windows.map((window) => window.to).sort().at(-1);
  const inSpan = (time: string): boolean => time >= from && time <= to;
  const markers = [
    ...backupMarkers(input.backups, input.events),
    ...restorePointMarkers(restorePointsSeen(input.events, input.summaryRestorePoints)),
    ...restoreTestMarkers(input.events),
    ...drEventMarkers(input.events),
  ]
    .filter((marker) => inSpan(marker.time))
    .sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
  const restoreBytesPerSecond = restoreRate(input.events, input.backups);
  const walBytesPerSecond = walRate(input);
  return {
    generatedAt: to,
    from,
    to,
    ...(earliest === undefined ? {} : { earliest }),
    ...(latest === undefined ? {} : { latest }),
    repositories,
    backups: input.backups.map(({ record, repositories: holders }) => ({
      id: record.id,
      type: record.type,
      stoppedAt: record.stoppedAt,
      stopLsn: record.stopLsn,
      timeline: record.timeline,
      bytes: record.bytesRead,
      repositories: holders,
    })),
    markers,
    ...(restoreBytesPerSecond === undefined ? {} : { restoreBytesPerSecond }),
    ...(walBytesPerSecond === undefined ? {} : { walBytesPerSecond }),
  };
}

function repositoryTimeline(observation: RepositoryTimelineObservation, input: TimelineInput): TimelineRepository {
  const held = input.backups.filter((entry) => entry.repositories.includes(observation.repository));
  const onTimeline = held.map(({ record }) => ({ stoppedAt: record.stoppedAt, timeline: record.timeline, stopSegment: segmentNumber(parseLsn(record.stopLsn), input.segmentSize) }));
  const windows = observation.reachable ? recoverableWindows(onTimeline, observation.gaps, observation.newestCommit) : [];
  const gaps = observation.gaps.map((gap) => {
    // Without a commit on either side, the hole is placed at the end of the window it closes.
    const closes = windows
      .filter((window) => window.timeline === gap.timeline && (gap.firstCommitAfter === undefined || window.to <= gap.firstCommitAfter))
      .map((window) => window.to)
      .sort()
      .at(-1);
    const before = closes ?? input.now.toISOString();
    return describeGap(gap, { before, after: before });
  });
  return {
    repository: observation.repository,
    media: observation.media,
    offsite: observation.offsite,
    reachable: observation.reachable,
    ...(observation.error === undefined ? {} : { error: observation.error }),
    windows,
    gaps,
  };
}

/**
 * Bytes a restore writes per second, measured: each recent passing restore test's
 * restored bytes (the backup's size) over its restore phase. The slowest counts, so an
 * estimate from it is not optimistic.
 */
export function restoreRate(events: readonly HistoryRecord[], backups: readonly CatalogEntry[]): number | undefined {
  const rates = events
    .filter((event) => event.type === 'restore-test' && event.outcome === 'success')
    .sort((a, b) => a.time.localeCompare(b.time))
    .slice(-restoreRateSample)
    .flatMap((event) => {
      const { backupId, restoreDurationMs } = event.details;
      const bytes = backups.find((entry) => entry.record.id === backupId)?.record.bytesRead;
      return typeof restoreDurationMs === 'number' && restoreDurationMs > 0 && bytes !== undefined ? [bytes / (restoreDurationMs / 1000)] : [];
    });
  return rates.length === 0 ? undefined : Math.min(...rates);
}

/** WAL written per second of wall time, from the oldest backup's end to the newest WAL stored: how much a replay to a moment must read. */
export function walRate(input: Pick<TimelineInput, 'repositories' | 'backups'>): number | undefined {
  const oldest = input.backups[0]?.record;
  let best: number | undefined;
  for (const repository of input.repositories) {
    if (!oldest || repository.newestLsn === undefined || repository.newestCommit === undefined) continue;
    const seconds = (Date.parse(repository.newestCommit) - Date.parse(oldest.stoppedAt)) / 1000;
    const bytes = Number(parseLsn(repository.newestLsn) - parseLsn(oldest.stopLsn));
    if (seconds > 0 && bytes > 0) best = Math.max(best ?? 0, bytes / seconds);
  }
  return best;
}
