import { formatLsn, segmentFileName, type Lsn } from '../../postgres/lsn.js';
import type { WalEvent } from '../../postgres/wal/records.js';
import type { WalSummary } from '../../repo/wal-archive.js';

/**
 * Accumulates what the WAL reader found in one segment, for its summary object: commit
 * times (the RPO and the recovery window are measured in commit time, not in bytes) and
 * named restore points.
 */
export class SegmentSummaryBuilder {
  private firstCommit: Date | undefined;
  private lastCommit: Date | undefined;
  private commits = 0;
  private readonly restorePoints: WalSummary['restorePoints'] = [];
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
    if (event.kind === 'restore-point' && event.name !== undefined && event.time) {
      this.restorePoints.push({ name: event.name, lsn: formatLsn(event.endLsn), time: event.time.toISOString() });
    }
  }

  /** `validEnd`: where the reader's last complete, valid record in this segment ends. */
  build(bytes: number, partial: boolean, validEnd: Lsn): WalSummary {
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
    };
  }
}
