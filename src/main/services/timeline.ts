import type { Timeline } from '../../shared/contract/recovery.js';
import { DrcError } from '../../shared/errors.js';
import { listBackups, type CatalogEntry } from '../engines/backup/catalog.js';
import { buildTimeline, type RepositoryTimelineObservation } from '../engines/recovery-timeline/build.js';
import type { RestorePointSeen } from '../engines/recovery-timeline/markers.js';
import { missingRuns, type TimedGap } from '../engines/recovery-timeline/windows.js';
import { parseLsn, parseSegmentFileName, segmentFileName, segmentNumber } from '../postgres/lsn.js';
import type { Repository } from '../repo/repository.js';
import { openRepositorySet, type RepositorySet } from '../repo/repository-set.js';
import { listWalObjects, readWalSummary, walSummaryObject, type WalSummary } from '../repo/wal-archive.js';
import { resolvePassphrase, withTargets, type ServiceContext } from './context.js';
import { readEventHistory } from './events.js';
import { ImmutableObjectCache } from './immutable-cache.js';

/**
 * The recovery timeline's data: what each repository can recover to, where its WAL has
 * holes, and the moments to pick a target by. It reads the backup catalog once, lists
 * each repository's WAL archive once, and reads WAL summaries only beside each hole and
 * at the newest segments — restore points come from the `restore-point` records, not
 * from reading every summary.
 */
const defaultSegmentSize = 16 * 1024 * 1024;

/** How far from a hole (or back from the newest segment) to look for a segment that records a commit. */
const commitSearchSegments = 32;

/** Summaries of complete segments are sealed once; a partial's summary is rewritten as the segment grows, so it is never cached. */
const summaryCache = new ImmutableObjectCache<WalSummary>(20_000);

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
      return buildTimeline({ now, days: request.days, segmentSize: defaultSegmentSize, repositories, backups: [], events: [], summaryRestorePoints: [] });
    }
    const backups = await listBackups(set.repositories);
    const segmentSize = backups.at(-1)?.record.walSegmentSize ?? defaultSegmentSize;
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
  const objects = await listWalObjects(repository);
  const summaries = new Set(objects.filter((object) => object.kind === 'summary' || object.kind === 'partial-summary').map((object) => object.name));
  // Per timeline: segment number → held complete (false: only a partial upload).
  const held = new Map<number, Map<bigint, boolean>>();
  for (const object of objects) {
    if (object.kind !== 'segment' && object.kind !== 'partial') continue;
    const parsed = parseSegmentFileName(object.file, segmentSize);
    if (!parsed) continue;
    const segments = held.get(object.timeline) ?? new Map<bigint, boolean>();
    held.set(object.timeline, segments);
    segments.set(parsed.segment, (segments.get(parsed.segment) ?? false) || object.kind === 'segment');
  }
  const observation: WalObservation = { gaps: [], newestCommit: undefined, newestLsn: undefined, restorePoints: [] };
  const read = async (timeline: number, segment: bigint): Promise<WalSummary | undefined> => {
    const complete = held.get(timeline)?.get(segment);
    if (complete === undefined) return undefined;
    const name = walSummaryObject(timeline, segmentFileName(timeline, segment, segmentSize), !complete);
    if (!summaries.has(name)) return undefined;
    try {
      const load = () => readWalSummary(repository, name);
      const summary = complete ? await summaryCache.get(`${repository.header.repositoryId}/${name}`, load) : await load();
      observation.restorePoints.push(...summary.restorePoints);
      return summary;
    } catch (error) {
      // A damaged summary only costs this moment's precision; verify reports the damage.
      if (error instanceof DrcError) return undefined;
      throw error;
    }
  };
  const mine = backups.filter((entry) => entry.repositories.includes(repository.name));
  let newestEnd = -1n;
  for (const [timeline, segments] of held) {
    const numbers = [...segments.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const oldest = mine.find((entry) => entry.record.timeline === timeline)?.record;
    const from = oldest === undefined ? numbers[0] : segmentNumber(parseLsn(oldest.stopLsn), segmentSize);
    if (from === undefined) continue;
    for (const run of missingRuns(timeline, numbers, from)) {
      const before = await commitNear(numbers, run.firstMissing - 1n, -1, (segment) => read(timeline, segment), 'lastCommitTime');
      const after = await commitNear(numbers, run.firstMissing + BigInt(run.count), 1, (segment) => read(timeline, segment), 'firstCommitTime');
      observation.gaps.push({ ...run, firstMissingName: segmentFileName(timeline, run.firstMissing, segmentSize), lastCommitBefore: before, firstCommitAfter: after });
    }
    const last = numbers.at(-1);
    if (last === undefined) continue;
    const newest = await read(timeline, last);
    const end = newest ? parseLsn(newest.endLsn) : -1n;
    if (newest && end > newestEnd) {
      newestEnd = end;
      observation.newestLsn = newest.endLsn;
    }
    const commit = await commitNear(numbers, last, -1, (segment) => read(timeline, segment), 'lastCommitTime');
    if (commit !== undefined && (observation.newestCommit === undefined || commit > observation.newestCommit)) observation.newestCommit = commit;
  }
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
