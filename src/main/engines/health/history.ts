import type { RepositoryEvent } from '../../repo/events.js';

/**
 * Reading the operation history the health rules judge by. Events carry their details as
 * free-form records (each writer has its own shape), so every accessor checks what it reads.
 */

/** What a `restore-test` record (RestoreTestRecord) says about which backup it restored and how long that took. */
export function restoreTestFigures(event: RepositoryEvent): { backupId?: string; durationMs?: number } {
  const { backupId, durationMs } = event.details;
  return { ...(typeof backupId === 'string' ? { backupId } : {}), ...(typeof durationMs === 'number' ? { durationMs } : {}) };
}

/** The newest restore test of each backup, by backup id. */
export function latestRestoreTests(events: readonly RepositoryEvent[]): Map<string, RepositoryEvent> {
  const latest = new Map<string, RepositoryEvent>();
  for (const event of events) {
    const backupId = event.type === 'restore-test' ? restoreTestFigures(event).backupId : undefined;
    const known = backupId === undefined ? undefined : latest.get(backupId);
    if (backupId !== undefined && (known === undefined || event.time > known.time)) latest.set(backupId, event);
  }
  return latest;
}

export interface VerifyEntry {
  repository: string;
  problems: number;
  repaired: number;
  error?: string;
}

/** Per repository, what a `verify` or `verify-repair` record found. */
export function verifyEntries(event: RepositoryEvent): VerifyEntry[] {
  if (event.type !== 'verify' && event.type !== 'verify-repair') return [];
  const entries = event.details.repositories;
  if (!Array.isArray(entries)) return [];
  return entries.flatMap((entry: unknown) => {
    if (typeof entry !== 'object' || entry === null) return [];
    const { repository, problems, repaired, error } = entry as Record<string, unknown>;
    if (typeof repository !== 'string') return [];
    return [{ repository, problems: typeof problems === 'number' ? problems : 0, repaired: typeof repaired === 'number' ? repaired : 0, ...(typeof error === 'string' ? { error } : {}) }];
  });
}

/** The newest event that matches, by its time (whatever order the events came in). */
export function latestEvent(events: readonly RepositoryEvent[], matches: (event: RepositoryEvent) => boolean): RepositoryEvent | undefined {
  let found: RepositoryEvent | undefined;
  for (const event of events) if (matches(event) && (found === undefined || event.time > found.time)) found = event;
  return found;
}

/** The repository took part in this operation and answered: a backup copy, a sync, a clean verify, a restore from it. */
export function touched(event: RepositoryEvent, repository: string): boolean {
  const details = event.details;
  switch (event.type) {
    case 'backup':
      return Array.isArray(details.repositories) && details.repositories.includes(repository);
    case 'sync':
      return details.from === repository || details.to === repository;
    case 'restore':
      return details.from === repository;
    default:
      return verifyEntries(event).some((entry) => entry.repository === repository && entry.error === undefined);
  }
}
