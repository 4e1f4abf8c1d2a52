import type { BackupKind } from '../../../shared/contract/backups.js';
import type { TimelineMarker } from '../../../shared/contract/recovery.js';
import type { CatalogEntry } from '../backup/catalog.js';

/**
 * The moments a DBA picks a recovery target by: backups by type, named restore points,
 * restore tests (passed or failed) and DR events (restores). Each has a label in words,
 * for the marker grid and the screen reader.
 */

/** An event record as the history gives it: with the repositories holding it. */
export interface HistoryRecord {
  readonly id: string;
  readonly time: string;
  readonly type: string;
  readonly outcome: 'success' | 'failure' | 'partial';
  readonly summary: string;
  readonly details: Record<string, unknown>;
  readonly repositories: readonly string[];
}

export interface RestorePointSeen {
  readonly name: string;
  readonly lsn: string;
  readonly time: string;
  readonly repositories: readonly string[];
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

export function backupMarkers(backups: readonly CatalogEntry[], events: readonly HistoryRecord[]): TimelineMarker[] {
  const kept = backups.map(({ record, repositories }): TimelineMarker => ({
    id: `backup:${record.id}`,
    kind: 'backup',
    time: record.stoppedAt,
    label: `${record.type} backup${record.reason ? ` — ${record.reason}` : ''}`,
    backupType: record.type,
    backupId: record.id,
    outcome: record.missingCopies.length === 0 ? 'success' : 'partial',
    lsn: record.stopLsn,
    repositories,
  }));
  // A failed backup left no manifest, only its record: shown so the hole in the schedule has a cause.
  const failed = events
    .filter((event) => event.type === 'backup' && event.outcome === 'failure')
    .map((event): TimelineMarker => {
      const type = text(event.details.type);
      const backupType = type === 'full' || type === 'incremental' || type === 'archive' || type === 'manual' ? (type satisfies BackupKind) : undefined;
      return { id: `backup-failed:${event.id}`, kind: 'backup', time: event.time, label: `failed ${backupType === undefined ? '' : `${backupType} `}backup: ${event.summary}`, ...(backupType ? { backupType } : {}), outcome: 'failure', repositories: [...event.repositories] };
    });
  return [...kept, ...failed];
}

/**
 * Restore points from the `restore-point` records `drc restore-point` writes, and from the
 * WAL summaries that were read (ones created on the server by hand appear only there).
 * The same point seen both ways is one marker.
 */
export function restorePointsSeen(events: readonly HistoryRecord[], fromSummaries: readonly RestorePointSeen[]): RestorePointSeen[] {
  const byKey = new Map<string, RestorePointSeen>();
  for (const event of events) {
    if (event.type !== 'restore-point') continue;
    const name = text(event.details.name);
    const lsn = text(event.details.lsn);
    const time = text(event.details.time);
    if (name !== undefined && lsn !== undefined && time !== undefined) byKey.set(`${name}@${lsn}`, { name, lsn, time, repositories: event.repositories });
  }
  for (const point of fromSummaries) {
    const key = `${point.name}@${point.lsn}`;
    const known = byKey.get(key);
    byKey.set(key, known ? { ...known, repositories: [...new Set([...known.repositories, ...point.repositories])].sort() } : point);
  }
  return [...byKey.values()];
}

export function restorePointMarkers(points: readonly RestorePointSeen[]): TimelineMarker[] {
  return points.map((point) => ({ id: `restore-point:${point.name}@${point.lsn}`, kind: 'restore-point', time: point.time, label: `restore point '${point.name}'`, name: point.name, lsn: point.lsn, repositories: [...point.repositories] }));
}

export function restoreTestMarkers(events: readonly HistoryRecord[]): TimelineMarker[] {
  return events
    .filter((event) => event.type === 'restore-test')
    .map((event) => {
      const backupId = text(event.details.backupId);
      const verdict = event.outcome === 'success' ? 'passed' : 'failed';
      return {
        id: `restore-test:${event.id}`,
        kind: 'restore-test',
        time: event.time,
        label: `restore test ${verdict}${backupId === undefined ? '' : ` — backup ${backupId}`}`,
        ...(backupId === undefined ? {} : { backupId }),
        outcome: event.outcome,
        repositories: [...event.repositories],
      };
    });
}

/** DR events: the restores and partial restores run from the console or `drc`, and incidents recorded as `dr-event` (the demo's accidental DELETE). */
export function drEventMarkers(events: readonly HistoryRecord[]): TimelineMarker[] {
  return events
    .filter((event) => event.type === 'restore' || event.type === 'partial-restore' || event.type === 'dr-event')
    .map((event) => {
      const backupId = text(event.details.backupId);
      return {
        id: `dr-event:${event.id}`,
        kind: 'dr-event',
        time: event.time,
        label: `${event.type === 'restore' ? 'restore' : event.type === 'partial-restore' ? 'partial restore' : 'DR event'}: ${event.summary}`,
        ...(backupId === undefined ? {} : { backupId }),
        outcome: event.outcome,
        repositories: [...event.repositories],
      };
    });
}
