import type { BackupDetail, BackupList, BackupSummary } from '../../shared/contract/backups.js';
import type { MediaKind } from '../../shared/contract/status.js';
import { DrcError } from '../../shared/errors.js';
import { listBackups, type CatalogEntry } from '../engines/backup/catalog.js';
import { compliance321 } from '../engines/health/compliance.js';
import { latestRestoreTests } from '../engines/health/history.js';
import type { RepositoryEvent } from '../repo/events.js';
import type { RepositorySet } from '../repo/repository-set.js';
import { withRepositorySet, type ServiceContext } from './context.js';
import { readEventHistory } from './events.js';

/**
 * The Backups view: every backup the repositories hold, with its copies per configured
 * repository, 3-2-1 and its last restore test. Built from the catalog (one read of each
 * manifest) and the history; the detail reads the one manifest it shows.
 */
interface ConfiguredRepository {
  readonly name: string;
  readonly media: MediaKind;
  readonly offsite: boolean;
  readonly reachable: boolean;
}

export function configuredRepositories(set: RepositorySet): ConfiguredRepository[] {
  return [
    ...set.repositories.map((repository) => ({ name: repository.name, media: repository.target.capabilities.media, offsite: repository.target.capabilities.offsite, reachable: true })),
    ...set.unreachable.map((entry) => ({ name: entry.target.name, media: entry.target.capabilities.media, offsite: entry.target.capabilities.offsite, reachable: false })),
    ...set.uninitialized.map((target) => ({ name: target.name, media: target.capabilities.media, offsite: target.capabilities.offsite, reachable: true })),
  ];
}

/** One backup as the list shows it. `events` is the history the last restore test comes from. */
export function backupSummaryOf(entry: CatalogEntry, repositories: readonly ConfiguredRepository[], events: readonly RepositoryEvent[]): BackupSummary {
  const { record } = entry;
  const copies = repositories.map((repository) => ({
    repository: repository.name,
    // A copy recorded on a medium out of reach now (a stick in a drawer) is not known to be gone.
    state: entry.repositories.includes(repository.name) ? ('present' as const) : !repository.reachable && record.repositories.includes(repository.name) ? ('unreachable' as const) : ('missing' as const),
  }));
  const holders = repositories.filter((repository) => copies.some((copy) => copy.repository === repository.name && copy.state !== 'missing'));
  const test = latestRestoreTests(events).get(record.id);
  return {
    id: record.id,
    type: record.type,
    reason: record.reason,
    operator: record.operator,
    host: record.host,
    cluster: record.cluster,
    startedAt: record.startedAt,
    stoppedAt: record.stoppedAt,
    durationMs: record.durationMs,
    startLsn: record.startLsn,
    stopLsn: record.stopLsn,
    timeline: record.timeline,
    serverVersion: record.serverVersion,
    bytesRead: record.bytesRead,
    bytesStored: record.bytesStored,
    files: record.files,
    components: record.components ?? ['database'],
    copies,
    compliance: compliance321(holders),
    ...(test ? { lastRestoreTest: { time: test.time, outcome: test.outcome, summary: test.summary } } : {}),
  };
}

/** Newest first: the one a DBA looks for is usually the last. */
export function listBackupViews(context: ServiceContext): Promise<BackupList> {
  return withRepositorySet(context, undefined, async (set) => {
    const [backups, history] = await Promise.all([listBackups(set.repositories), readEventHistory(set.repositories)]);
    const repositories = configuredRepositories(set);
    return {
      backups: backups.map((entry) => backupSummaryOf(entry, repositories, history.events)).reverse(),
      unreachable: set.unreachable.map((entry) => ({ repository: entry.target.name, message: entry.error.message })),
    };
  });
}

export function backupDetail(context: ServiceContext, backupId: string): Promise<BackupDetail> {
  return withRepositorySet(context, undefined, async (set) => {
    const [backups, history] = await Promise.all([listBackups(set.repositories), readEventHistory(set.repositories)]);
    const entry = backups.find((candidate) => candidate.record.id === backupId);
    const holder = set.repositories.find((repository) => entry?.repositories.includes(repository.name));
    if (!entry || !holder) {
      throw new DrcError('BACKUP_NOT_FOUND', `unable to find backup '${backupId}'`, { hints: ['list backups with `drc list`; a backup on an unplugged medium appears once it is connected'] });
    }
    const manifest = await holder.readManifest(backupId);
    const tests = history.events
      .filter((event) => event.type === 'restore-test' && event.details.backupId === backupId)
      .sort((a, b) => b.time.localeCompare(a.time))
      .map((event) => ({
        id: event.id,
        time: event.time,
        outcome: event.outcome,
        summary: event.summary,
        durationMs: typeof event.details.durationMs === 'number' ? event.details.durationMs : 0,
        rowsVerified: typeof event.details.rowsVerified === 'number' ? event.details.rowsVerified : 0,
      }));
    const { record } = entry;
    return {
      ...backupSummaryOf(entry, configuredRepositories(set), history.events),
      ...(record.incrementalFrom === undefined ? {} : { incrementalFrom: record.incrementalFrom }),
      nativeIncremental: record.nativeIncremental,
      walSegmentSize: record.walSegmentSize,
      tablespaces: record.tablespaces,
      // The server's backup_manifest has no component: it is drc's own, not something the person kept.
      attachments: manifest.attachments.flatMap((attachment) => (attachment.component === undefined ? [] : [{ component: attachment.component, path: attachment.source ?? attachment.name, bytes: attachment.size }])),
      restoreTests: tests,
    };
  });
}
