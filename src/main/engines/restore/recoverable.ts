import { formatLsn, parseLsn, segmentFileName, segmentNumber, segmentStart, type Lsn } from '../../postgres/lsn.js';
import type { CatalogEntry } from '../backup/catalog.js';
import { endsTransaction } from '../../repo/wal-archive.js';
import type { SegmentHoldings, WalCatalog } from '../wal/catalog.js';

/**
 * How far recovery from one backup can go with the WAL the repositories hold: from the
 * backup's end, segment after segment along the timeline path PostgreSQL follows, to the
 * first hole or the end of the archive. A target outside this window is one PostgreSQL
 * would never reach ("recovery ended before configured recovery target was reached"),
 * so a restore checks it here, before it writes a byte.
 */
export interface RestorePointOnPath {
  readonly name: string;
  /** The end of its record, as pg_create_restore_point() returned it: recovery stops there. */
  readonly lsn: Lsn;
  readonly time: string;
  readonly timeline: number;
}

export interface WalCut {
  readonly timeline: number;
  /** The segment file name that is missing in every repository. */
  readonly file: string;
}

/** Where recovery meets the COMMIT or ABORT record of a transaction, as the WAL summaries tell. */
export type TransactionEnd =
  | { readonly kind: 'ends'; readonly timeline: number; readonly segment: bigint }
  /** Not listed in any summary that records ended transactions, but `unchecked` segments have summaries that predate it (or none). */
  | { readonly kind: 'unknown'; readonly unchecked: number }
  | { readonly kind: 'absent' };

interface PathStep {
  readonly timeline: number;
  readonly startLsn: Lsn;
  readonly endLsn: Lsn | undefined;
}

export class RecoverableWindow {
  private newestCommit: Promise<string | undefined> | undefined;

  private constructor(
    readonly backup: CatalogEntry,
    private readonly catalog: WalCatalog,
    /** The timeline recovery ends on (`recovery_target_timeline = 'latest'`). */
    readonly timeline: number,
    private readonly steps: readonly PathStep[],
    /** The segments recovery replays past the backup, in order, each with its timeline. */
    private readonly replayed: ReadonlyArray<{ timeline: number; holding: SegmentHoldings }>,
    /** The end of the last valid record recovery can replay. */
    readonly endLsn: Lsn,
    /** The first missing segment, when the repositories hold WAL past it: replay stops there. */
    readonly gap: WalCut | undefined,
  ) {}

  static async of(backup: CatalogEntry, catalog: WalCatalog): Promise<RecoverableWindow> {
    const record = backup.record;
    const stopLsn = parseLsn(record.stopLsn);
    const stopSegment = segmentNumber(stopLsn, catalog.segmentSize);
    const timeline = catalog.latestDescendant(record.timeline, stopLsn);
    const steps = catalog.path(record.timeline, timeline);
    const replayed: Array<{ timeline: number; holding: SegmentHoldings }> = [];
    let cut: WalCut | undefined;
    let pastCut = false;
    for (const [position, step] of steps.entries()) {
      const stepStart = segmentNumber(step.startLsn, catalog.segmentSize);
      const fromSegment = stopSegment > stepStart ? stopSegment : stepStart;
      // A parent timeline is replayed up to the segment the child branched in; the child's copy of that one takes over.
      const lastSegment = step.endLsn === undefined ? undefined : segmentNumber(step.endLsn, catalog.segmentSize);
      const held = catalog.segments(step.timeline).filter((holding) => holding.segment >= fromSegment && (lastSegment === undefined || holding.segment <= lastSegment));
      if (cut) {
        pastCut ||= held.length > 0;
        continue;
      }
      // The backup carries its stop segment in its own pg_wal/: the archive may start just after it.
      let expected = fromSegment === stopSegment && held[0]?.segment !== stopSegment ? stopSegment + 1n : fromSegment;
      const final = position === steps.length - 1;
      for (const holding of held) {
        if (holding.segment < expected) continue;
        if (holding.segment !== expected) {
          cut = { timeline: step.timeline, file: segmentFileName(step.timeline, expected, catalog.segmentSize) };
          pastCut = true;
          break;
        }
        expected += 1n;
        // Only the newest segment of the newest timeline may be a partial upload; a parent's partial is the child's to replace.
        if (holding.complete.length === 0 && !final) continue;
        replayed.push({ timeline: step.timeline, holding });
      }
      if (!cut && lastSegment !== undefined && expected < lastSegment) cut = { timeline: step.timeline, file: segmentFileName(step.timeline, expected, catalog.segmentSize) };
    }
    const last = replayed.at(-1);
    let endLsn = stopLsn;
    if (last) {
      const partial = last.holding.complete.length === 0;
      const summary = await catalog.summary(last.timeline, last.holding, partial);
      // Without a summary, a complete segment counts as replayed to its end; a partial one, only to its start.
      const end = summary ? parseLsn(summary.endLsn) : segmentStart(last.holding.segment + (partial ? 0n : 1n), catalog.segmentSize);
      if (end > endLsn) endLsn = end;
    }
    return new RecoverableWindow(backup, catalog, timeline, steps, replayed, endLsn, pastCut ? cut : undefined);
  }

  /** Where recovery from this backup becomes consistent: no target before it can be reached. */
  get startLsn(): Lsn {
    return parseLsn(this.backup.record.stopLsn);
  }

  get startTime(): string {
    return this.backup.record.stoppedAt;
  }

  /**
   * The newest commit recovery replays. PostgreSQL stops a time target at the first
   * commit after it, so a time at or past this one is never reached.
   */
  newestCommitTime(): Promise<string | undefined> {
    this.newestCommit ??= (async () => {
      for (let position = this.replayed.length - 1; position >= 0; position -= 1) {
        const entry = this.replayed[position];
        if (!entry) break;
        const summary = await this.catalog.summary(entry.timeline, entry.holding, entry.holding.complete.length === 0);
        if (summary?.lastCommitTime !== undefined) return summary.lastCommitTime;
      }
      return undefined;
    })();
    return this.newestCommit;
  }

  /**
   * The first segment recovery replays in which the transaction with this 32-bit xid ends.
   * Read from the backup forward and stopped at the first hit: a target in the first hour
   * reads an hour of summaries, not the month the archive holds; only a refusal reads them all.
   */
  async transactionEnd(xid: number): Promise<TransactionEnd> {
    let unchecked = 0;
    for (const entry of this.replayed) {
      const summary = await this.catalog.summary(entry.timeline, entry.holding, entry.holding.complete.length === 0);
      const ends = summary === undefined ? undefined : endsTransaction(summary, xid);
      if (ends === true) return { kind: 'ends', timeline: entry.timeline, segment: entry.holding.segment };
      if (ends === undefined) unchecked += 1;
    }
    return unchecked > 0 ? { kind: 'unknown', unchecked } : { kind: 'absent' };
  }

  /** Whether a restore point lies where this recovery replays it, after the backup became consistent. */
  contains(point: RestorePointOnPath): boolean {
    if (point.lsn <= this.startLsn || point.lsn > this.endLsn) return false;
    return this.steps.some((step) => step.timeline === point.timeline && point.lsn > step.startLsn && (step.endLsn === undefined || point.lsn <= step.endLsn));
  }

  describe(newestCommit: string | undefined): string {
    const until = newestCommit === undefined ? `LSN ${formatLsn(this.endLsn)} (no commit is recorded after the backup)` : `${newestCommit} (the newest commit, LSN up to ${formatLsn(this.endLsn)})`;
    return `from backup ${this.backup.record.id}, recovery can reach any moment from ${this.startTime} (LSN ${this.backup.record.stopLsn}) to ${until} on timeline ${String(this.timeline)}`;
  }
}

/**
 * Every restore point the WAL holds, oldest first: from the WAL indexes, plus the
 * summaries of segments no index covers yet (the unindexed tail, or a repository
 * written before the index existed).
 */
export async function restorePointsInWal(catalog: WalCatalog): Promise<RestorePointOnPath[]> {
  const seen = new Map<string, RestorePointOnPath>();
  const add = (timeline: number, point: { name: string; lsn: string; time: string }): void => {
    seen.set(`${String(timeline)}/${point.lsn}/${point.name}`, { name: point.name, lsn: parseLsn(point.lsn), time: point.time, timeline });
  };
  for (const point of catalog.indexedRestorePoints()) add(point.timeline, point);
  for (const timeline of catalog.timelines.keys()) {
    for (const holding of catalog.segments(timeline)) {
      for (const partial of [false, true]) {
        if ((partial ? holding.partial : holding.complete).length === 0 || (!partial && catalog.isIndexed(timeline, holding.file))) continue;
        for (const point of (await catalog.summary(timeline, holding, partial))?.restorePoints ?? []) add(timeline, point);
      }
    }
  }
  return [...seen.values()].sort((a, b) => (a.lsn < b.lsn ? -1 : a.lsn > b.lsn ? 1 : a.timeline - b.timeline));
}
