import type { Timeline } from '../../shared/contract/recovery.js';
import { DrcError } from '../../shared/errors.js';
import { listBackups, type CatalogEntry } from '../engines/backup/catalog.js';
import { buildTimeline, type RepositoryTimelineObservation } from '../engines/recovery-timeline/build.js';
import type { RestorePointSeen } from '../engines/recovery-timeline/markers.js';
import { missingRuns, type TimedGap } from '../engines/recovery-timeline/windows.js';
import { parseLsn, segmentFileName, segmentNumber } from '../postgres/lsn.js';
import type { Repository } from '../repo/repository.js';
import { openRepositorySet, type RepositorySet } from '../repo/repository-set.js';
import type { WalSummary } from '../repo/wal-archive.js';
import { WalCatalog } from '../engines/wal/catalog.js';
import { resolvePassphrase, withTargets, type ServiceContext } from './context.js';
import { readEventHistory } from './events.js';
import { archivedWalSegmentSize } from '../engines/wal/segment-size.js';
import { INITDB_DEFAULT_WAL_SEGMENT_SIZE } from '../postgres/wal/segment-size.js';

/**
 * The recovery timeline's data: what each repository can recover to, where its WAL has
 * holes, and the moments to pick a target by. It reads the backup catalog once and each
 * repository's WAL index once; an archive without an index yet is listed, and its
 * summaries read only beside each hole and at the newest segments (restore points then
 * come from the `restore-point` records).
 */
/** How far from a hole (or back from the newest segment) to look for a segment that records a commit. */
const commitSearchSegments = 32;

export async function recoveryTimeline(context: ServiceContext, request: { days: number }, options: { now?: Date } = {}): Promise<Timeline> {
  const now = options.now ?? new Date();
  const since = new Date(now.getTime() - request.days * 86_400_000);
  const passphrase = await resolvePassphrase(context);
  return withTargets(context, undefined, async (targets) => {
    let set: RepositorySet;
    try {
      set = await openRepositorySet(targets, passphrase, context.unlocked);
    } catch (error) {
      // No repository opens: the timeline is empty and says why, per repository.
      if (!(error instanceof DrcError) || (error.code !== 'STORAGE_UNAVAILABLE' && error.code !== 'REPO_NOT_INITIALIZED')) throw error;
      const repositories = targets.map((target): RepositoryTimelineObservation => ({ repository: target.name, media: target.capabilities.media, offsite: target.capabilities.offsite, reachable: false, error: error.message, gaps: [] }));
      return buildTimeline({ now, days: request.days, segmentSize: INITDB_DEFAULT_WAL_SEGMENT_SIZE, repositories, backups: [], events: [], summaryRestorePoints: [] });
    }
    const backups = await listBackups(set.repositories);
    const segmentSize = await archivedWalSegmentSize(set.repositories, backups);
    const history = await readEventHistory(set.repositories, { since });
    const summaryRestorePoints: RestorePointSeen[] = [];
    const repositories = await Promise.all(
      targets.map(async (target): Promise<RepositoryTimelineObservation> => {
        const described = { repository: target.name, media: target.capabilities.media, offsite: target.capabilities.offsite };
        const unreachable = set.unreachable.find((entry) => entry.target === target);
        if (unreachable) return { ...described, reachable: false, error: unreachable.error.message, gaps: [] };
        const repository = set.repositories.find((candidate) => candidate.target === target);
        if (!repository) return { ...described, reachable: false, error: `repository '${target.name}' holds no repository yet`, gaps: [] };
        const wal = await observeWal(repository, backups, segmentSize);
        summaryRestorePoints.push(...wal.restorePoints.map((point) => ({ ...point, repositories: [repository.name] })));
        return { ...described, reachable: true, gaps: wal.gaps, ...(wal.newestCommit === undefined ? {} : { newestCommit: wal.newestCommit }), ...(wal.newestLsn === undefined ? {} : { newestLsn: wal.newestLsn }) };
      }),
    );
    return buildTimeline({ now, days: request.days, segmentSize, repositories, backups, events: history.events, summaryRestorePoints });
  });
}

interface WalObservation {
  gaps: TimedGap[];
  newestCommit: string | undefined;
  newestLsn: string | undefined;
  restorePoints: WalSummary['restorePoints'];
}

/** One repository's WAL archive: its holes with their time span, and the newest commit it reaches. */
async function observeWal(repository: Repository, backups: readonly CatalogEntry[], segmentSize: number): Promise<WalObservation> {
  const catalog = await WalCatalog.load([repository], segmentSize);
  // An indexed archive hands over every restore point at no cost; an unindexed one only those of the summaries read.
  const restorePoints = new Map<string, WalSummary['restorePoints'][number]>();
  const remember = (summary: WalSummary): void => {
    for (const point of summary.restorePoints) restorePoints.set(`${point.lsn}/${point.name}`, point);
  };
  for (const point of catalog.indexedRestorePoints()) restorePoints.set(`${point.lsn}/${point.name}`, { name: point.name, lsn: point.lsn, time: point.time });
  const observation: WalObservation = { gaps: [], newestCommit: undefined, newestLsn: undefined, restorePoints: [] };
  const mine = backups.filter((entry) => entry.repositories.includes(repository.name));
  let newestEnd = -1n;
  for (const timeline of catalog.timelines.keys()) {
    const holdings = catalog.segments(timeline);
    const bySegment = new Map(holdings.map((holding) => [holding.segment, holding]));
    const numbers = holdings.map((holding) => holding.segment);
    const read = async (segment: bigint): Promise<WalSummary | undefined> => {
      const holding = bySegment.get(segment);
      // A damaged summary only costs this moment's precision; verify reports the damage.
      const summary = holding ? await catalog.summary(timeline, holding, holding.complete.length === 0) : undefined;
      if (summary) remember(summary);
      return summary;
    };
    const oldest = mine.find((entry) => entry.record.timeline === timeline)?.record;
    const from = oldest === undefined ? numbers[0] : segmentNumber(parseLsn(oldest.stopLsn), segmentSize);
    if (from === undefined) continue;
    for (const run of missingRuns(timeline, numbers, from)) {
      const before = await commitNear(numbers, run.firstMissing - 1n, -1, read, 'lastCommitTime');
      const after = await commitNear(numbers, run.firstMissing + BigInt(run.count), 1, read, 'firstCommitTime');
      observation.gaps.push({ ...run, firstMissingName: segmentFileName(timeline, run.firstMissing, segmentSize), lastCommitBefore: before, firstCommitAfter: after });
    }
    const last = numbers.at(-1);
    if (last === undefined) continue;
    const newest = await read(last);
    const end = newest ? parseLsn(newest.endLsn) : -1n;
    if (newest && end > newestEnd) {
      newestEnd = end;
      observation.newestLsn = newest.endLsn;
    }
    const commit = await commitNear(numbers, last, -1, read, 'lastCommitTime');
    if (commit !== undefined && (observation.newestCommit === undefined || commit > observation.newestCommit)) observation.newestCommit = commit;
  }
  observation.restorePoints = [...restorePoints.values()];
  return observation;
}

/**
 * The commit time nearest to `start` in `direction`, looking through held segments only
 * and at most `commitSearchSegments` of them (an idle server's segments record none).
 */
async function commitNear(held: readonly bigint[], start: bigint, direction: 1 | -1, read: (segment: bigint) => Promise<WalSummary | undefined>, field: 'firstCommitTime' | 'lastCommitTime'): Promise<string | undefined> {
  const first = held[0];
  const last = held.at(-1);
  if (first === undefined || last === undefined) return undefined;
  let segment = start;
  for (let step = 0; step < commitSearchSegments && segment >= first && segment <= last; step++, segment += BigInt(direction)) {
    const time = (await read(segment))?.[field];
    if (time !== undefined) return time;
  }
  return undefined;
}
