import { formatLsn, segmentFileName, type Lsn } from '../../postgres/lsn.js';
import type { WalEvent } from '../../postgres/wal/events.js';
import type { ContinuedRecord } from '../../postgres/wal/reader.js';
import { readFromFirstSound } from '../../repo/object-source.js';
import type { Repository } from '../../repo/repository.js';
import { readWalSummary, walSummaryObject, type WalSummary } from '../../repo/wal-archive.js';
import { DrcError } from '../../../shared/errors.js';

/**
 * Accumulates what the WAL reader found in one segment, for its summary object: commit
 * times (the RPO and the recovery window are measured in commit time, not in bytes),
 * named restore points, and the transactions that ended (so `restore --xid` can tell
 * before writing anything whether recovery will meet the one it names).
 */
export class SegmentSummaryBuilder {
  private firstCommit: Date | undefined;
  private lastCommit: Date | undefined;
  private commits = 0;
  private readonly restorePoints: WalSummary['restorePoints'] = [];
  private readonly endedXids: number[] = [];
  endLsn: Lsn;

  constructor(
    readonly timeline: number,
    readonly segment: bigint,
    private readonly segmentSize: number,
    startLsn: Lsn,
  ) {
    this.endLsn = startLsn;
  }

  add(event: WalEvent): void {
    if (event.endLsn > this.endLsn) this.endLsn = event.endLsn;
    if (event.kind === 'commit' && event.time) {
      this.commits += 1;
      this.firstCommit ??= event.time;
      this.lastCommit = event.time;
    }
    if (event.kind === 'commit' || event.kind === 'abort') this.endedXids.push(event.xid);
    if (event.kind === 'restore-point' && event.name !== undefined && event.time) {
      this.restorePoints.push({ name: event.name, lsn: formatLsn(event.endLsn), time: event.time.toISOString() });
    }
  }

  /**
   * `validEnd`: where the reader's last complete, valid record in this segment ends.
   * `continuedRecord`: the record with an event that the next segment completes (complete segments only).
   */
  build(bytes: number, partial: boolean, validEnd: Lsn, continuedRecord?: ContinuedRecord): WalSummary {
    if (validEnd > this.endLsn) this.endLsn = validEnd;
    return {
      timeline: this.timeline,
      segment: segmentFileName(this.timeline, this.segment, this.segmentSize),
      partial,
      bytes,
      endLsn: formatLsn(this.endLsn),
      ...(this.firstCommit ? { firstCommitTime: this.firstCommit.toISOString() } : {}),
      ...(this.lastCommit ? { lastCommitTime: this.lastCommit.toISOString() } : {}),
      commits: this.commits,
      restorePoints: [...this.restorePoints],
      endedXids: xidRuns(this.endedXids),
      ...(continuedRecord === undefined || partial ? {} : { continuedRecord }),
    };
  }
}

/**
 * Xids as sorted runs [first, last]: transactions take consecutive xids and, on a busy
 * server, end close together, so a segment's thousands of commits fold into few runs.
 */
export function xidRuns(xids: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const xid of [...new Set(xids)].sort((a, b) => a - b)) {
    const last = runs.at(-1);
    if (last && last[1] + 1 === xid) last[1] = xid;
    else runs.push([xid, xid]);
  }
  return runs;
}

/**
 * The record the segment before `segment` left for it to complete, from that segment's
 * summary in whichever repository holds a sound one.
 *
 * Why from the summary: `wal push` runs once per segment, often in a new process, and the
 * previous segment may have gone to other repositories (one added or unplugged since) or
 * been recycled out of pg_wal already; its summary is small, stored beside it everywhere
 * it went, and holds exactly the bytes needed. Undefined when no repository has that
 * summary (the archive starts here, or has a hole): the segment is then read on its own
 * and a record straddling into it is left out, as recovery could not replay it either.
 */
export async function continuedRecordBefore(repositories: readonly Repository[], timeline: number, segment: bigint, segmentSize: number): Promise<ContinuedRecord | undefined> {
  if (segment === 0n) return undefined;
  const name = walSummaryObject(timeline, segmentFileName(timeline, segment - 1n, segmentSize));
  try {
    return (await readFromFirstSound(name, repositories, (repository) => readWalSummary(repository, name), [])).continuedRecord;
  } catch (error) {
    // A missing or unreadable neighbour must never fail the archiving of this segment.
    if (error instanceof DrcError) return undefined;
    throw error;
  }
}
