import type { RetentionConfig } from '../../../shared/config.js';
import type { BackupType } from '../../../shared/contract/backup.js';
import type { BackupRecord } from '../../repo/backup-record.js';
import type { WalRange } from '../../../shared/contract/retention.js';
import { parseLsn, parseSegmentFileName, segmentFileName, segmentNumber } from '../../postgres/lsn.js';
import type { WalObject } from '../../repo/wal-archive.js';

/**
 * plan: what one repository keeps and what it may lose, decided from its listing alone —
 * no I/O, and `now` is a parameter, so the policy is testable over any simulated history.
 *
 * Backups (every manifest is a complete backup — native incrementals are rebuilt into
 * full manifests — so no backup depends on another):
 *  - kept while younger than its type's retention: full `fullDays`, archive
 *    `archiveDays`, incremental `incrementalDays`, manual `manualDays` (age = now − stoppedAt);
 *  - the newest backup of the repository is always kept, however old;
 *  - the newest backup that stopped at or before now − `fullDays` is kept too: without it,
 *    point-in-time recovery to the first hours of the `fullDays` window would have no
 *    backup to start from.
 * WAL: every object of a segment before the first one a kept backup needs is removed. A
 * kept backup needs WAL from its start segment on (the backup carries its own WAL too;
 * starting there is the safe side), on its timeline and every later one. History files
 * go only for timelines older than every kept backup's. A repository without backups
 * loses nothing: no backup tells what its WAL is for.
 * Chunks: removed when no kept manifest references them and the storage says they were
 * written more than `chunkGraceHours` ago (a running or crashed backup's chunks are not
 * referenced yet); one whose write time is unknown is kept.
 */
export interface StoredBackup {
  readonly record: BackupRecord;
  /** Chunk ids its manifest references. */
  readonly chunks: ReadonlySet<string>;
  /** Stored size of the manifest object. */
  readonly manifestBytes: number;
}

export interface StoredChunk {
  readonly id: string;
  readonly size: number;
  readonly modified: Date | undefined;
}

export interface BackupVerdict {
  readonly backup: StoredBackup;
  readonly reason: string;
}

export interface ExpiryPlan {
  readonly keep: BackupVerdict[];
  readonly remove: BackupVerdict[];
  /** Per timeline with WAL left, the first segment kept. */
  readonly walKeptFrom: Array<{ timeline: number; segment: string }>;
  readonly walRemove: WalObject[];
  readonly chunksRemove: StoredChunk[];
  readonly chunksInGracePeriod: number;
  readonly chunksReferenced: number;
}

const dayMs = 86_400_000;
const hourMs = 3_600_000;

export function retentionDays(type: BackupType, policy: RetentionConfig): number {
  switch (type) {
    case 'full':
      return policy.fullDays;
    case 'archive':
      return policy.archiveDays;
    case 'incremental':
      return policy.incrementalDays;
    case 'manual':
      return policy.manualDays;
  }
}

export function planExpiry(backups: readonly StoredBackup[], walObjects: readonly WalObject[], chunks: readonly StoredChunk[], policy: RetentionConfig, now: Date): ExpiryPlan {
  if (backups.length === 0) {
    return { keep: [], remove: [], walKeptFrom: [], walRemove: [], chunksRemove: [], chunksInGracePeriod: 0, chunksReferenced: 0 };
  }
  const { keep, remove } = judgeBackups(backups, policy, now);
  const kept = keep.map((verdict) => verdict.backup);
  return { keep, remove, ...planWal(kept, walObjects), ...planChunks(kept, chunks, policy, now) };
}

function judgeBackups(backups: readonly StoredBackup[], policy: RetentionConfig, now: Date): { keep: BackupVerdict[]; remove: BackupVerdict[] } {
  const oldestFirst = [...backups].sort((a, b) => a.record.stoppedAt.localeCompare(b.record.stoppedAt) || a.record.id.localeCompare(b.record.id));
  const newest = oldestFirst.at(-1);
  const windowStart = now.getTime() - policy.fullDays * dayMs;
  const anchor = oldestFirst.filter((backup) => Date.parse(backup.record.stoppedAt) <= windowStart).at(-1);
  const keep: BackupVerdict[] = [];
  const remove: BackupVerdict[] = [];
  for (const backup of oldestFirst) {
    const days = retentionDays(backup.record.type, policy);
    if (now.getTime() - Date.parse(backup.record.stoppedAt) <= days * dayMs) keep.push({ backup, reason: `${backup.record.type} within ${String(days)} days` });
    else if (backup === newest) keep.push({ backup, reason: 'newest backup of the repository' });
    else if (backup === anchor) keep.push({ backup, reason: `start of the ${String(policy.fullDays)}-day point-in-time recovery window` });
    else remove.push({ backup, reason: `${backup.record.type} older than ${String(days)} days` });
  }
  return { keep, remove };
}

function planWal(kept: readonly StoredBackup[], walObjects: readonly WalObject[]): Pick<ExpiryPlan, 'walKeptFrom' | 'walRemove'> {
  const starts = kept.map((backup) => ({
    timeline: backup.record.timeline,
    segment: segmentNumber(parseLsn(backup.record.startLsn), backup.record.walSegmentSize),
    segmentSize: backup.record.walSegmentSize,
  }));
  const byTimeline = new Map<number, (typeof starts)[number] | undefined>();
  /** The first segment any kept backup on this timeline or an earlier one needs (once per timeline: a year of WAL is many objects). */
  const firstNeeded = (timeline: number): (typeof starts)[number] | undefined => {
    if (!byTimeline.has(timeline)) {
      byTimeline.set(timeline, starts.filter((start) => start.timeline <= timeline).reduce<(typeof starts)[number] | undefined>((first, start) => (first === undefined || start.segment < first.segment ? start : first), undefined));
    }
    return byTimeline.get(timeline);
  };

  const walRemove: WalObject[] = [];
  const keptTimelines = new Set<number>();
  for (const object of walObjects) {
    const needed = firstNeeded(object.timeline);
    if (object.kind === 'history') {
      if (needed === undefined) walRemove.push(object);
      continue;
    }
    const parsed = needed && parseSegmentFileName(object.file, needed.segmentSize);
    if (needed === undefined || (parsed !== undefined && parsed.segment < needed.segment)) walRemove.push(object);
    else keptTimelines.add(object.timeline);
  }
  const walKeptFrom = [...keptTimelines]
    .sort((a, b) => a - b)
    .flatMap((timeline) => {
      const needed = firstNeeded(timeline);
      return needed ? [{ timeline, segment: segmentFileName(timeline, needed.segment, needed.segmentSize) }] : [];
    });
  return { walKeptFrom, walRemove };
}

function planChunks(kept: readonly StoredBackup[], chunks: readonly StoredChunk[], policy: RetentionConfig, now: Date): Pick<ExpiryPlan, 'chunksRemove' | 'chunksInGracePeriod' | 'chunksReferenced'> {
  const referenced = new Set<string>();
  for (const backup of kept) for (const id of backup.chunks) referenced.add(id);
  const graceMs = policy.chunkGraceHours * hourMs;
  const chunksRemove: StoredChunk[] = [];
  let chunksInGracePeriod = 0;
  let chunksReferenced = 0;
  for (const chunk of chunks) {
    if (referenced.has(chunk.id)) chunksReferenced += 1;
    else if (chunk.modified !== undefined && now.getTime() - chunk.modified.getTime() > graceMs) chunksRemove.push(chunk);
    else chunksInGracePeriod += 1;
  }
  return { chunksRemove, chunksInGracePeriod, chunksReferenced };
}

/** Removed WAL as ranges of segments per timeline (summaries and partials fold into their segment). */
export function walRanges(objects: readonly WalObject[]): WalRange[] {
  const byTimeline = new Map<number, Set<string>>();
  for (const object of objects) {
    if (object.kind === 'history') continue;
    const files = byTimeline.get(object.timeline) ?? new Set<string>();
    files.add(object.file);
    byTimeline.set(object.timeline, files);
  }
  return [...byTimeline]
    .sort(([a], [b]) => a - b)
    .map(([timeline, files]) => {
      // Segment file names are fixed-width upper-case hex: text order is segment order.
      const sorted = [...files].sort();
      return { timeline, first: sorted[0] ?? '', last: sorted.at(-1) ?? '', segments: sorted.length };
    });
}
