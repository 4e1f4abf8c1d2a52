import { DrcError } from '../../../shared/errors.js';
import { parseLsn, parseSegmentFileName, segmentFileName, type Lsn } from '../../postgres/lsn.js';
import type { Repository } from '../../repo/repository.js';
import { listWalObjects, readWalSummary, walHistoryObject, type WalObject, type WalSummary } from '../../repo/wal-archive.js';

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

  private constructor(
    readonly repositories: readonly Repository[],
    readonly segmentSize: number,
    readonly timelines: Map<number, Map<string, SegmentHoldings>>,
    /** Per timeline, its ancestry from its history file (oldest first). */
    readonly histories: Map<number, TimelineSwitch[]>,
    readonly objectsByRepository: Map<string, WalObject[]>,
  ) {}

  static async load(repositories: readonly Repository[], segmentSize: number): Promise<WalCatalog> {
    const timelines = new Map<number, Map<string, SegmentHoldings>>();
    const objectsByRepository = new Map<string, WalObject[]>();
    const historyFiles = new Map<number, Repository>();
    for (const repository of repositories) {
      const objects = await listWalObjects(repository);
      objectsByRepository.set(repository.name, objects);
      for (const object of objects) {
        if (object.kind === 'history') {
          historyFiles.set(object.timeline, repository);
          continue;
        }
        if (object.kind !== 'segment' && object.kind !== 'partial') continue;
        const parsed = parseSegmentFileName(object.file, segmentSize);
        if (!parsed) continue;
        const segments = timelines.get(object.timeline) ?? new Map<string, SegmentHoldings>();
        timelines.set(object.timeline, segments);
        const holding = segments.get(object.file) ?? { file: object.file, segment: parsed.segment, complete: [], partial: [] };
        segments.set(object.file, holding);
        (object.kind === 'segment' ? holding.complete : holding.partial).push(repository.name);
      }
    }
    const histories = new Map<number, TimelineSwitch[]>();
    for (const [timeline, repository] of historyFiles) {
      histories.set(timeline, parseHistory((await repository.readObject(walHistoryObject(timeline))).toString('utf8')));
    }
    return new WalCatalog(repositories, segmentSize, timelines, histories, objectsByRepository);
  }

  /** Segments of a timeline in order. */
  segments(timeline: number): SegmentHoldings[] {
    return [...(this.timelines.get(timeline)?.values() ?? [])].sort((a, b) => (a.segment < b.segment ? -1 : a.segment > b.segment ? 1 : 0));
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
    const holders = partial ? holding.partial : holding.complete;
    for (const name of holders) {
      const repository = this.repositories.find((candidate) => candidate.name === name);
      const summaryName = `${walObjectPrefix(timeline)}${holding.file}${partial ? '.partial' : ''}.summary`;
      const present = this.objectsByRepository.get(name)?.some((object) => object.name === summaryName);
      if (!repository || !present) continue;
      try {
        const summary = await readWalSummary(repository, summaryName);
        this.summaries.set(key, summary);
        return summary;
      } catch (error) {
        if (!(error instanceof DrcError)) throw error;
      }
    }
    return undefined;
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
