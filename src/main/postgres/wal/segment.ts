import { DrcError } from '../../../shared/errors.js';
import { formatLsn, type Lsn } from '../lsn.js';
import type { WalEvent } from './events.js';
import { WalReader, type ContinuedRecord } from './reader.js';

export interface SegmentSummary {
  readonly events: WalEvent[];
  readonly firstCommitTime?: Date;
  readonly lastCommitTime?: Date;
  readonly lastValidRecordEnd: Lsn;
  /** True when valid WAL ended inside this segment (a partial segment's tail). */
  readonly ended: boolean;
  /** The record with an event that runs on into the next segment: hand it to that segment's call. */
  readonly continuedRecord?: ContinuedRecord;
}

/**
 * Reads one segment file (or the written part of the one being written). A record is
 * summarized in the segment where it ends, never where it starts: recovery (XLogReadRecord)
 * evaluates recovery_target_name, _time and _xid only on a record it has read whole and
 * whose CRC it has checked, so the restore point or commit is reachable only once the
 * segment holding its last byte is archived, and the summaries must say the same.
 *
 * Without `continuing` it starts fresh at the segment, skipping a record continued from
 * the previous one; with the previous segment's `continuedRecord` it completes that record
 * first. A head that this segment does not continue (one of another history) is dropped:
 * the segment is read on its own, as without one.
 */
export function summarizeSegment(segment: Buffer, segmentStartLsn: Lsn, segmentSize: number, continuing?: ContinuedRecord): SegmentSummary {
  if (segmentStartLsn % BigInt(segmentSize) !== 0n || segment.length > segmentSize) {
    throw new DrcError('USAGE', `unable to read WAL segment at '${formatLsn(segmentStartLsn)}': a segment starts at a multiple of ${String(segmentSize)} bytes and is no longer than that`);
  }
  const reader = new WalReader({ segmentSize, startLsn: segmentStartLsn, ...(continuing === undefined ? {} : { continuing }) });
  const events = reader.push(segment);
  let firstCommitTime: Date | undefined;
  let lastCommitTime: Date | undefined;
  for (const event of events) {
    if (event.kind !== 'commit') continue;
    firstCommitTime ??= event.time;
    lastCommitTime = event.time;
  }
  const continuedRecord = segment.length === segmentSize && !reader.ended ? reader.continuedRecord() : undefined;
  return {
    events,
    ...(firstCommitTime === undefined ? {} : { firstCommitTime }),
    ...(lastCommitTime === undefined ? {} : { lastCommitTime }),
    lastValidRecordEnd: reader.lastValidRecordEnd,
    ended: reader.ended,
    ...(continuedRecord === undefined ? {} : { continuedRecord }),
  };
}
