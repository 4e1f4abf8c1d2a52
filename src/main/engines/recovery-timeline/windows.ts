import type { WalGap } from '../../../shared/contract/recovery.js';

/**
 * Where point-in-time recovery can land, per repository: from the end of a backup to the
 * newest commit its WAL reaches, broken by every hole in the WAL archive. Past a hole,
 * recovery can resume only from a backup that ended after it: replay cannot jump a gap.
 */

/** A run of missing segments on one timeline, by segment number. */
export interface MissingRun {
  readonly timeline: number;
  readonly firstMissing: bigint;
  readonly count: number;
}

/**
 * The holes among the held segments of one timeline, from `fromSegment` on (the oldest
 * backup's stop segment: WAL before it is not needed). `held` must be ascending.
 */
export function missingRuns(timeline: number, held: readonly bigint[], fromSegment: bigint): MissingRun[] {
  const runs: MissingRun[] = [];
  // The backup carries its own stop segment in its pg_wal: the archive may start right after it.
  let expected = held.includes(fromSegment) ? fromSegment : fromSegment + 1n;
  for (const segment of held) {
    if (segment < expected) continue;
    if (segment > expected) runs.push({ timeline, firstMissing: expected, count: Number(segment - expected) });
    expected = segment + 1n;
  }
  return runs;
}

/** A hole with its time span: the last commit before it and the first after it, as the neighbouring segment summaries say. */
export interface TimedGap extends MissingRun {
  readonly lastCommitBefore: string | undefined;
  readonly firstCommitAfter: string | undefined;
  /** The segment file name of the first missing segment. */
  readonly firstMissingName: string;
}

export interface BackupOnTimeline {
  readonly stoppedAt: string;
  readonly timeline: number;
  /** The segment holding the backup's stop LSN. */
  readonly stopSegment: bigint;
}

export interface Window {
  readonly from: string;
  readonly to: string;
  readonly timeline: number;
}

/**
 * The recoverable windows of one repository. `backups` are the backups it holds; `gaps`
 * its holes; `newestCommit` the newest commit time its newest segments record.
 */
export function recoverableWindows(backups: readonly BackupOnTimeline[], gaps: readonly TimedGap[], newestCommit: string | undefined): Window[] {
  const windows: Window[] = [];
  for (const timeline of [...new Set(backups.map((backup) => backup.timeline))].sort((a, b) => a - b)) {
    const onTimeline = backups.filter((backup) => backup.timeline === timeline).sort((a, b) => a.stoppedAt.localeCompare(b.stoppedAt));
    const holes = gaps.filter((gap) => gap.timeline === timeline).sort((a, b) => (a.firstMissing < b.firstMissing ? -1 : 1));
    // Runs of continuous WAL: before the first hole, between holes, after the last.
    for (let run = 0; run <= holes.length; run++) {
      const after = holes[run - 1];
      const before = holes[run];
      const lastMissingBefore = after === undefined ? undefined : after.firstMissing + BigInt(after.count) - 1n;
      const starters = onTimeline.filter(
        (backup) => (lastMissingBefore === undefined || backup.stopSegment >= lastMissingBefore) && (before === undefined || backup.stopSegment < before.firstMissing),
      );
      const first = starters[0];
      const last = starters.at(-1);
      if (!first || !last) continue;
      const reach = before === undefined ? newestCommit : before.lastCommitBefore;
      const to = [last.stoppedAt, ...(reach === undefined ? [] : [reach])].sort().at(-1) ?? last.stoppedAt;
      windows.push({ from: first.stoppedAt, to, timeline });
    }
  }
  return windows;
}

/** The contract's view of a hole: when it starts and ends in commit time, falling back to the nearest known moment. */
export function describeGap(gap: TimedGap, fallback: { before: string; after: string }): WalGap {
  const from = gap.lastCommitBefore ?? gap.firstCommitAfter ?? fallback.before;
  const to = gap.firstCommitAfter ?? fallback.after;
  return { from, to: to < from ? from : to, timeline: gap.timeline, firstMissing: gap.firstMissingName, missingSegments: gap.count };
}
