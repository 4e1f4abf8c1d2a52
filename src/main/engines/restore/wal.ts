import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecoveryTarget } from '../../../shared/contract/restore.js';
import { DrcError } from '../../../shared/errors.js';
import { historyFileName, parseLsn, segmentNumber, segmentStart, type Lsn } from '../../postgres/lsn.js';
import { walHistoryObject, walSegmentObject } from '../../repo/wal-archive.js';
import type { WalCatalog } from '../wal/catalog.js';
import type { ObjectSource } from '../../repo/object-source.js';
import type { RecoveryPlan } from './select.js';
import { replaceFlags, replaceRestoredFile, writeFully } from '../../storage/direct-io.js';

export interface WalCopied {
  segments: number;
  first: string | undefined;
  last: string | undefined;
  usedPartial: boolean;
  targetTimeline: number;
  newestCommitTime: Date | undefined;
  warnings: string[];
}

/**
 * fetch WAL: every segment recovery needs, from the backup's start to the target, along
 * the timeline path PostgreSQL will follow (`recovery_target_timeline = 'latest'`), plus
 * the history files. The newest segment may exist only as a partial upload: it is
 * written zero-padded to full size, and recovery stops cleanly at the end of its valid
 * records — that is how the last seconds before a crash are recovered.
 */
export async function copyWal(plan: RecoveryPlan, target: RecoveryTarget, catalog: WalCatalog, source: ObjectSource, walDir: string, signal?: AbortSignal): Promise<WalCopied> {
  const record = plan.backup.record;
  // The backup carries the WAL from its start to its stop segment in its own pg_wal/;
  // the archive is needed from the stop segment on (its copy of that one may be fuller).
  const stopSegment = segmentNumber(parseLsn(record.stopLsn), catalog.segmentSize);
  const targetTimeline = catalog.latestDescendant(record.timeline, parseLsn(record.stopLsn));
  const copied: WalCopied = { segments: 0, first: undefined, last: undefined, usedPartial: false, targetTimeline, newestCommitTime: undefined, warnings: [] };

  for (const timeline of catalog.histories.keys()) {
    if (timeline > record.timeline && timeline <= targetTimeline) {
      await writeFile(join(walDir, historyFileName(timeline)), await source.read(walHistoryObject(timeline)), { mode: 0o600, flag: replaceFlags });
    }
  }

  const path = catalog.path(record.timeline, targetTimeline);
  let reachedBound = false;
  let gap = false;
  for (const step of path) {
    if (reachedBound || gap) break;
    const stepStart = segmentNumber(step.startLsn, catalog.segmentSize);
    const fromSegment = stopSegment > stepStart ? stopSegment : stepStart;
    const lastSegment = step.endLsn === undefined ? undefined : segmentNumber(step.endLsn, catalog.segmentSize);
    const held = catalog.segments(step.timeline);
    let expected = fromSegment === stopSegment && !held.some((holding) => holding.segment === stopSegment) ? stopSegment + 1n : fromSegment;
    for (const holding of held) {
      if (holding.segment < expected) continue;
      if (lastSegment !== undefined && holding.segment > lastSegment) break;
      if (holding.segment !== expected) {
        copied.warnings.push(gapWarning(step.timeline, expected, holding.file));
        gap = true;
        break;
      }
      expected += 1n;
      signal?.throwIfAborted();
      const partial = holding.complete.length === 0;
      if (partial && step.endLsn !== undefined) continue;
      const name = walSegmentObject(step.timeline, holding.file, partial);
      const content = await readHeldSegment(source, name, partial ? holding.partial : holding.complete);
      if (!content) {
        // Listed (or indexed) but no repository gives it back: a hole all the same.
        catalog.markMissing(step.timeline, holding.file);
        copied.warnings.push(`the WAL archive of timeline ${String(step.timeline)} has a gap at segment ${holding.file} (it is missing in every repository): recovery cannot replay past it`);
        gap = true;
        break;
      }
      // A partial upload older than the backup's end would replace the fuller copy the backup carries.
      if (holding.segment === stopSegment && content.length < Number(parseLsn(record.stopLsn) - segmentStart(stopSegment, catalog.segmentSize))) continue;
      await writeSegment(join(walDir, holding.file), content, catalog.segmentSize);
      copied.segments += 1;
      copied.first ??= holding.file;
      copied.last = holding.file;
      copied.usedPartial ||= partial;
      const summary = await catalog.summary(step.timeline, holding, partial);
      if (summary?.lastCommitTime !== undefined) copied.newestCommitTime = new Date(summary.lastCommitTime);
      if (pastBound(plan, holding.segment, catalog.segmentSize, summary?.lastCommitTime)) {
        reachedBound = true;
        break;
      }
    }
  }
  // A hole found only now (listed, but no copy gives the segment back) fails a restore that was promised the target.
  if (gap && !reachedBound && target.kind !== 'immediate' && !(target.kind === 'latest' && plan.acceptsGap)) {
    throw new DrcError('WAL_MISSING', `unable to restore to the requested target: ${copied.warnings.join('; ')}`, {
      hints: ['restore to an earlier target (with --latest: accept the loss with --accept-gap), or copy the missing segment into a repository (`drc sync`) if another copy exists', 'run `drc wal status` to see the archive per repository'],
    });
  }
  return copied;
}

/**
 * The segment from the repositories said to hold it, else from any other. Undefined only
 * when no repository stores it at all (a hole, as a listing would have shown): copies that
 * exist but do not authenticate, or a repository that cannot be asked, fail the restore.
 */
async function readHeldSegment(source: ObjectSource, name: string, holders: readonly string[]): Promise<Buffer | undefined> {
  const others = source.repositories.filter((repository) => !holders.includes(repository.name)).map((repository) => repository.name);
  let missing: DrcError;
  try {
    return await source.read(name, holders);
  } catch (error) {
    if (!(error instanceof DrcError) || error.code !== 'OBJECT_MISSING') throw error;
    missing = error;
  }
  if (others.length > 0) {
    try {
      return await source.read(name, others);
    } catch (error) {
      if (!(error instanceof DrcError) || error.code !== 'OBJECT_MISSING') throw error;
    }
  }
  const stored = await Promise.all(source.repositories.map((repository) => repository.target.head(name).catch(() => 'unknown' as const)));
  if (stored.some((info) => info !== undefined)) throw missing;
  return undefined;
}

function pastBound(plan: RecoveryPlan, segment: bigint, segmentSize: number, lastCommitTime: string | undefined): boolean {
  const segmentEnd: Lsn = segmentStart(segment + 1n, segmentSize);
  if (plan.walUntilLsn !== undefined && segmentEnd > plan.walUntilLsn) return true;
  return plan.walUntilTime !== undefined && lastCommitTime !== undefined && Date.parse(lastCommitTime) > plan.walUntilTime.getTime();
}

function gapWarning(timeline: number, expected: bigint, next: string): string {
  return `the WAL archive of timeline ${String(timeline)} has a gap before segment ${next} (segment number ${expected.toString(16).toUpperCase()} is missing in every repository): recovery cannot replay past it`;
}

/** Full segments are written as they are; a partial one is padded with zeros to segment size. */
async function writeSegment(path: string, content: Buffer, segmentSize: number): Promise<void> {
  const handle = await replaceRestoredFile(path, 0o600);
  try {
    await writeFully(handle, content, 0, content.length, 0);
    if (content.length < segmentSize) await handle.truncate(segmentSize);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
