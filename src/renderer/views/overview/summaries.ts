import type { EventEntry } from '../../../shared/contract/events.js';
import type { RepositoryInfo } from '../../../shared/contract/repository.js';
import type { HealthReport } from '../../../shared/contract/status.js';

/**
 * What the Overview says, worked out without React: the gauges' words, the chart data
 * and their one-sentence summaries, so each is tested on its own.
 */

function plural(count: number, unit: string, units = `${unit}s`): string {
  return `${String(count)} ${count === 1 ? unit : units}`;
}

/** "4 minutes", "1 hour 5 minutes", "2 days 3 hours": what a screen reader should say, not "4 min". */
export function spokenDuration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  if (whole < 60) return plural(whole, 'second');
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return plural(minutes, 'minute');
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 === 0 ? plural(hours, 'hour') : `${plural(hours, 'hour')} ${plural(minutes % 60, 'minute')}`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? plural(days, 'day') : `${plural(days, 'day')} ${plural(hours % 24, 'hour')}`;
}

export interface ObjectiveGauge {
  readonly name: 'RPO' | 'RTO';
  /** Absent when nothing has been measured yet: the view then shows words, not an empty meter. */
  readonly seconds: number | undefined;
  readonly goalSeconds: number;
  readonly met: boolean;
  /** The meter's upper end: twice the objective, or the value when it is worse still, so a breach is visible. */
  readonly maxSeconds: number;
  /** "RPO 4 minutes, objective 60 minutes, met". */
  readonly text: string;
}

function gauge(name: 'RPO' | 'RTO', seconds: number | undefined, goalSeconds: number, met: boolean, unmeasured: string): ObjectiveGauge {
  const verdict = met ? 'met' : 'not met';
  const value = seconds === undefined ? unmeasured : spokenDuration(seconds);
  return {
    name,
    seconds,
    goalSeconds,
    met,
    maxSeconds: Math.max(goalSeconds * 2, seconds ?? 0, 1),
    text: `${name} ${value}, objective ${spokenDuration(goalSeconds)}, ${verdict}`,
  };
}

export function objectiveGauges(report: HealthReport): [ObjectiveGauge, ObjectiveGauge] {
  const { rpo, rto } = report.objectives;
  return [
    gauge('RPO', rpo.seconds, rpo.goalSeconds, rpo.met, 'unknown (no repository holds a recovery point)'),
    gauge('RTO', rto.estimateSeconds, rto.goalSeconds, rto.met, 'unknown (no restore test has run yet)'),
  ];
}

export interface RepositoryStorage {
  readonly repository: string;
  /** Absent when the repository cannot be read now. */
  readonly bytes: number | undefined;
}

/** Bytes per repository: from the status report where it knows them, else the sum of the repository's objects. */
export function storagePerRepository(report: HealthReport | undefined, infos: readonly RepositoryInfo[] | undefined): RepositoryStorage[] {
  const names = new Set([...(report?.repositories.map((entry) => entry.repository) ?? []), ...(infos?.map((info) => info.repository) ?? [])]);
  return [...names].map((repository) => {
    const fromStatus = report?.repositories.find((entry) => entry.repository === repository)?.bytesUsed;
    const info = infos?.find((entry) => entry.repository === repository);
    const fromObjects = info && !info.error ? Object.values(info.objects).reduce((sum, kind) => sum + kind.bytes, 0) : undefined;
    return { repository, bytes: fromStatus ?? fromObjects };
  });
}

export function summarizeStorage(storage: readonly RepositoryStorage[], format: (bytes: number) => string): string {
  const known = storage.filter((entry): entry is RepositoryStorage & { bytes: number } => entry.bytes !== undefined);
  if (known.length === 0) return 'No repository could report its size.';
  const largest = known.reduce((best, entry) => (entry.bytes > best.bytes ? entry : best));
  const total = known.reduce((sum, entry) => sum + entry.bytes, 0);
  const unknown = storage.length - known.length;
  return `${plural(known.length, 'repository', 'repositories')} ${known.length === 1 ? 'holds' : 'hold'} ${format(total)} in all; the largest is ${largest.repository} with ${format(largest.bytes)}${
    unknown > 0 ? `; ${String(unknown)} could not be read` : ''
  }.`;
}

export interface BackupDay {
  /** YYYY-MM-DD, UTC. */
  readonly day: string;
  readonly success: number;
  readonly partial: number;
  readonly failure: number;
}

/** Backup outcomes per UTC day over the last `days` days, oldest first, days without backups included. */
export function backupOutcomesByDay(events: readonly EventEntry[], days: number, now: Date): BackupDay[] {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const counts = new Map<string, { success: number; partial: number; failure: number }>();
  for (let offset = days - 1; offset >= 0; offset -= 1) {
    counts.set(new Date(today - offset * 86_400_000).toISOString().slice(0, 10), { success: 0, partial: 0, failure: 0 });
  }
  for (const event of events) {
    if (event.type !== 'backup') continue;
    const day = counts.get(new Date(event.time).toISOString().slice(0, 10));
    if (day) day[event.outcome] += 1;
  }
  return [...counts].map(([day, count]) => ({ day, ...count }));
}

export function summarizeBackupDays(days: readonly BackupDay[]): string {
  const total = days.reduce((sum, day) => sum + day.success + day.partial + day.failure, 0);
  if (total === 0) return `No backups ran in the last ${plural(days.length, 'day')}.`;
  const succeeded = days.reduce((sum, day) => sum + day.success, 0);
  const failedDays = days.filter((day) => day.failure > 0).length;
  return `${String(succeeded)} of ${plural(total, 'backup')} in the last ${plural(days.length, 'day')} succeeded fully; ${
    failedDays === 0 ? 'no day had a failure' : `${plural(failedDays, 'day')} had a failure`
  }.`;
}
