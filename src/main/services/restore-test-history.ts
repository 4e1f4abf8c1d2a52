import { restoreTestRecordSchema, type RestoreTestRecord } from '../../shared/contract/restore-test.js';
import type { HistoryEvent } from './events.js';
import { withRepositorySet, type ServiceContext } from './context.js';
import { readEventHistory } from './events.js';

/**
 * Restore tests as they were recorded: each `restore-test` event carries the whole record
 * (checks, durations, rows verified, binaries used). Newest first.
 */
export function restoreTestHistory(context: ServiceContext, options: { backupId?: string | undefined }): Promise<RestoreTestRecord[]> {
  return withRepositorySet(context, undefined, async (set) => restoreTestRecords((await readEventHistory(set.repositories)).events, options.backupId));
}

/**
 * The records of the events, for one backup or all. `recordedIn` is where the event is
 * held now (the record itself leaves it out: it is known only after writing). A record
 * that does not match the schema (written by an older drc) is left out rather than guessed at.
 */
export function restoreTestRecords(events: readonly HistoryEvent[], backupId: string | undefined): RestoreTestRecord[] {
  return events
    .filter((event) => event.type === 'restore-test' && (backupId === undefined || event.details.backupId === backupId))
    .flatMap((event) => {
      const parsed = restoreTestRecordSchema.safeParse({ ...event.details, id: event.id, recordedIn: event.repositories });
      return parsed.success ? [parsed.data] : [];
    })
    .sort((a, b) => b.completedAt.localeCompare(a.completedAt));
}
