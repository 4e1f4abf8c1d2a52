import { DrcError } from '../../../shared/errors.js';
import { parseLsn, parseSegmentFileName, segmentFileName, type Lsn } from '../../postgres/lsn.js';
import { describeFallback, readFromFirstSound, type Fallback } from '../../repo/object-source.js';
import type { Repository } from '../../repo/repository.js';
import { readWalSummary, walHistoryObject, type WalObject, type WalSummary } from '../../repo/wal-archive.js';
import { listWalHoldings, type IndexedRestorePoint, type IndexedWal } from './wal-index.js';

/**
 * What WAL the repositories hold, merged: per timeline, which segments exist (complete
 * or partial) and where, plus the timeline history. Summaries are read lazily (and once).
 */
export interface SegmentHoldings {
  readonly file: string;
  readonly segment: bigint;
  /** Repositories holding the complete segment. */
  readonly complete: string[];
  /** Repositories holding only a partial upload of it (the segment being written). */
  readonly partial: string[];
}

export interface TimelineSwitch {
  /** The parent timeline, and the LSN at which the child branched off it. */
  readonly parent: number;
  readonly switchLsn: Lsn;
}

export class WalCatalog {
  private readonly summaries = new Map<string, WalSummary>();
  /** Per timeline, its segments in order (sorting 150,000 holdings on every call adds up). */
  private readonly sorted = new Map<number, SegmentHoldings[]>();

  private constructor(
    readonly repositories: readonly Repository[],
    readonly segmentSize: number,
    readonly timelines: Map<number, Map<string, SegmentHoldings>>,
    /** Per timeline, its ancestry from its history file (oldest first). */
    readonly histories: Map<number, TimelineSwitch[]>,
    /** Per repository, the names of the WAL objects listed (everything, or the tail past its index). */
    private readonly namesByRepository: Map<string, Set<string>>,
    /** Per repository, the bytes its WAL objects occupy. */
    readonly storedBytes: Map<string, number>,
    /** Per repository, its WAL index, when it has one. */
    private readonly indexes: Map<string, IndexedWal>,
    /** What a reader should be told: a repository whose WAL index could not be read (its archive was listed instead). */
    readonly warnings: string[],
  ) {}

  static async load(repositories: readonly Repository[], segmentSize: number): Promise<WalCatalog> {
    const timelines = new Map<number, Map<string, SegmentHoldings>>();
    const namesByRepository = new Map<string, Set<string>>();
    const storedBytes = new Map<string, number>();
    const indexes = new Map<string, IndexedWal>();
    const historyFiles = new Map<number, Repository[]>();
    const holdHistory = (timeline: number, repository: Repository): void => {
      const holders = historyFiles.get(timeline) ?? [];
      if (!holders.includes(repository)) holders.push(repository);
      historyFiles.set(timeline, holders);
    };
    const warnings: string[] = [];
    const hold = (repository: string, timeline: number, file: string, complete: boolean): void => {
      const segments = timelines.get(timeline) ?? new Map<string, SegmentHoldings>();
      timelines.set(timeline, segments);
      let holding = segments.get(file);
      if (!holding) {
        const parsed = parseSegmentFileName(file, segmentSize);
        if (!parsed) return;
        holding = { file, segment: parsed.segment, complete: [], partial: [] };
        segments.set(file, holding);
      }
      (complete ? holding.complete : holding.partial).push(repository);
    };
    const holdings = await Promise.all(repositories.map((repository) => listWalHoldings(repository)));
    for (const [position, repository] of repositories.entries()) {
      const { index, objects, indexUnreadable } = holdings[position] ?? { index: undefined, objects: [] };
      if (indexUnreadable !== undefined) warnings.push(`the WAL index of repository '${repository.name}' could not be read, so its archive was listed instead (run \`drc verify --repair\` to rebuild it): ${indexUnreadable}`);
      namesByRepository.set(repository.name, new Set(objects.map((object: WalObject) => object.name)));
      let bytes = objects.reduce((sum, object) => sum + object.size, 0);
      if (index) {
        indexes.set(repository.name, index);
        for (const [timeline, segments] of index.segments) {
          for (const segment of segments.values()) {
            hold(repository.name, timeline, segment.file, true);
            bytes += segment.storedBytes;
          }
        }
        for (const timeline of index.histories) holdHistory(timeline, repository);
      }
      storedBytes.set(repository.name, bytes);
      for (const object of objects) {
        if (object.kind === 'history') holdHistory(object.timeline, repository);
        // A segment the index names may show up again in the tail (a writer that stored it twice): hold it once.
        else if ((object.kind === 'segment' || object.kind === 'partial') && !index?.segments.get(object.timeline)?.has(object.file)) hold(repository.name, object.timeline, object.file, object.kind === 'segment');
      }
    }
    const histories = new Map<number, TimelineSwitch[]>();
    // A history file damaged in one repository is read from another that holds it.
    const fallbacks: Fallback[] = [];
    for (const [timeline, holders] of historyFiles) {
      histories.set(timeline, parseHistory((await readFromFirstSound(walHistoryObject(timeline), holders, (repository) => repository.readObject(walHistoryObject(timeline)), fallbacks)).toString('utf8')));
    }
    warnings.push(...fallbacks.map(describeFallback));
    return new WalCatalog(repositories, segmentSize, timelines, histories, namesByRepository, storedBytes, indexes, warnings);
  }

  /** The restore points the repositories' WAL indexes name, without reading any object (each once). */
  indexedRestorePoints(): IndexedRestorePoint[] {
    const seen = new Map<string, IndexedRestorePoint>();
    for (const index of this.indexes.values()) for (const point of index.restorePoints) seen.set(`${String(point.timeline)}/${point.lsn}/${point.name}`, point);
    return [...seen.values()];
  }

  /** Whether a repository's index records this complete segment (its summary needs no read). */
  isIndexed(timeline: number, file: string): boolean {
    for (const index of this.indexes.values()) if (index.segments.get(timeline)?.get(file)?.summarized === true) return true;
    return false;
  }

  /** A complete segment's summary from an index, without reading anything. */
  indexedSummary(timeline: number, file: string): WalSummary | undefined {
    for (const index of this.indexes.values()) {
      const segment = index.segments.get(timeline)?.get(file);
      if (segment?.summarized === true) return segment.summary ?? undefined;
    }
    return undefined;
  }

  /** Segments of a timeline in order. */
  segments(timeline: number): SegmentHoldings[] {
    let sorted = this.sorted.get(timeline);
    if (!sorted) {
      sorted = [...(this.timelines.get(timeline)?.values() ?? [])].sort((a, b) => (a.segment < b.segment ? -1 : a.segment > b.segment ? 1 : 0));
      this.sorted.set(timeline, sorted);
    }
    return [...sorted];
  }

  /**
   * The timeline recovery ends on, following PostgreSQL's `recovery_target_timeline =
   * 'latest'`: the newest timeline that descends from `from` after `afterLsn`.
   */
  latestDescendant(from: number, afterLsn: Lsn): number {
    let best = from;
    for (const [timeline, history] of this.histories) {
      if (timeline <= best) continue;
      const branch = history.find((entry) => entry.parent === from);
      if (branch && branch.switchLsn >= afterLsn) best = timeline;
    }
    return best;
  }

  /** The timelines from `from` to `to`, each with the LSN range it covers on the way. */
  path(from: number, to: number): Array<{ timeline: number; startLsn: Lsn; endLsn: Lsn | undefined }> {
    if (from === to) return [{ timeline: from, startLsn: 0n, endLsn: undefined }];
    const history = this.histories.get(to) ?? [];
    const steps: Array<{ timeline: number; startLsn: Lsn; endLsn: Lsn | undefined }> = [];
    let start = 0n;
    for (const entry of history) {
      if (entry.parent < from) continue;
      steps.push({ timeline: entry.parent, startLsn: start, endLsn: entry.switchLsn });
      start = entry.switchLsn;
    }
    steps.push({ timeline: to, startLsn: start, endLsn: undefined });
    return steps;
  }

  async summary(timeline: number, holding: SegmentHoldings, partial: boolean): Promise<WalSummary | undefined> {
    const key = `${String(timeline)}/${holding.file}/${String(partial)}`;
    const cached = this.summaries.get(key);
    if (cached) return cached;
    const indexed = partial ? undefined : this.indexedSummary(timeline, holding.file);
    if (indexed) return indexed;
    const holders = partial ? holding.partial : holding.complete;
    const summaryName = `${walObjectPrefix(timeline)}${holding.file}${partial ? '.partial' : ''}.summary`;
    const candidates = holders.flatMap((name) => {
      const repository = this.repositories.find((candidate) => candidate.name === name);
      return repository && this.namesByRepository.get(name)?.has(summaryName) === true ? [repository] : [];
    });
    if (candidates.length === 0) return undefined;
    const fallbacks: Fallback[] = [];
    try {
      const summary = await readFromFirstSound(summaryName, candidates, (repository) => readWalSummary(repository, summaryName), fallbacks);
      this.summaries.set(key, summary);
      return summary;
    } catch (error) {
      // No copy of the summary is sound: the segment is still there, only its summary is unknown.
      if (!(error instanceof DrcError)) throw error;
      this.warn(`${summaryName}: no repository holds a sound copy of this WAL summary (run \`drc verify --repair\`): ${(error.code === 'OBJECT_MISSING' ? error.hints.slice(0, -1) : [error.message]).join('; ')}`);
      return undefined;
    } finally {
      for (const fallback of fallbacks) this.warn(describeFallback(fallback));
    }
  }

  /** Adds a warning once: a damaged summary may be asked for many times. */
  private warn(warning: string): void {
    if (!this.warnings.includes(warning)) this.warnings.push(warning);
  }

  /** A segment the listing or index named but no repository could give back: from now on it counts as missing. */
  markMissing(timeline: number, file: string): void {
    this.timelines.get(timeline)?.delete(file);
    this.sorted.delete(timeline);
  }

  /** The first segment missing between two held ones on a timeline, if any. */
  firstGap(timeline: number, fromSegment: bigint): string | undefined {
    const held = this.segments(timeline).filter((holding) => holding.segment >= fromSegment);
    let expected = fromSegment;
    for (const holding of held) {
      if (holding.segment !== expected) return segmentFileName(timeline, expected, this.segmentSize);
      expected += 1n;
    }
    return undefined;
  }
}

const walObjectPrefix = (timeline: number): string => `wal/${timeline.toString(16).toUpperCase().padStart(8, '0')}/`;

/** A timeline history file: "<parent TLI>\t<switch LSN>\t<reason>" per line. */
export function parseHistory(text: string): TimelineSwitch[] {
  const switches: TimelineSwitch[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)/.exec(line);
    if (match?.[1] && match[2]) switches.push({ parent: Number(match[1]), switchLsn: parseLsn(match[2]) });
  }
  return switches;
}
