import { z } from 'zod';
import { DrcError } from '../../shared/errors.js';
import type { Repository } from './repository.js';

/**
 * The WAL archive inside a repository:
 *
 *   wal/<TLI>/<segment>                   a complete segment, sealed
 *   wal/<TLI>/<segment>.partial           the segment being written, its first N bytes
 *   wal/<TLI>/<segment>[.partial].summary what the reader found in it: commit times,
 *                                         restore points, end of valid WAL (sealed JSON)
 *   wal/<TLI>/<TLI>.history               timeline history file
 *
 * Summaries let `wal status`, `list` and restore target selection answer "what time
 * does this WAL reach" without downloading and decrypting every segment.
 */
export const walSummarySchema = z.object({
  timeline: z.number().int(),
  segment: z.string(),
  partial: z.boolean(),
  /** Bytes of WAL the object holds (the full segment size, or the partial's length). */
  bytes: z.number().int(),
  /** End of the last complete, valid record in the object. */
  endLsn: z.string(),
  firstCommitTime: z.string().optional(),
  lastCommitTime: z.string().optional(),
  commits: z.number().int(),
  restorePoints: z.array(z.object({ name: z.string(), lsn: z.string(), time: z.string() })),
  /**
   * The transactions whose COMMIT or ABORT record (prepared ones included) ends in this segment, as the
   * 32-bit xids the records hold, in sorted runs [first, last]: where `recovery_target_xid` can stop.
   * Absent in summaries written before DR Console recorded it: such a segment's transactions are unknown.
   */
  endedXids: z.array(z.tuple([z.number().int(), z.number().int()])).optional(),
  /** A restore point or commit that starts here and ends in the next segment, as far as this one holds it (see `postgres/wal/reader.ts`). */
  continuedRecord: z.object({ lsn: z.string(), head: z.string() }).optional(),
});
export type WalSummary = z.infer<typeof walSummarySchema>;

/**
 * Whether the transaction with this 32-bit xid ended in the summarized segment; undefined
 * when the summary predates the record of ended transactions. Binary search over the runs:
 * a busy segment has hundreds of them.
 */
export function endsTransaction(summary: WalSummary, xid: number): boolean | undefined {
  const runs = summary.endedXids;
  if (runs === undefined) return undefined;
  let low = 0;
  let high = runs.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const run = runs[middle];
    if (!run) return false;
    if (xid < run[0]) high = middle - 1;
    else if (xid > run[1]) low = middle + 1;
    else return true;
  }
  return false;
}

const timelineDir = (timeline: number): string => `wal/${timeline.toString(16).toUpperCase().padStart(8, '0')}/`;

export function walSegmentObject(timeline: number, segmentName: string, partial = false): string {
  return `${timelineDir(timeline)}${segmentName}${partial ? '.partial' : ''}`;
}

export function walSummaryObject(timeline: number, segmentName: string, partial = false): string {
  return `${walSegmentObject(timeline, segmentName, partial)}.summary`;
}

export function walHistoryObject(timeline: number): string {
  return `${timelineDir(timeline)}${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

export type WalObjectKind = 'segment' | 'partial' | 'summary' | 'partial-summary' | 'history';

export interface WalObject {
  readonly name: string;
  readonly timeline: number;
  /** The 24-hex-digit segment file name (or the history file's name). */
  readonly file: string;
  readonly kind: WalObjectKind;
  readonly size: number;
}

const walNamePattern = /^wal\/([0-9A-F]{8})\/([0-9A-F]{24}|[0-9A-F]{8}\.history)(\.partial)?(\.summary)?$/;

export function parseWalObjectName(name: string, size = 0): WalObject | undefined {
  const match = walNamePattern.exec(name);
  if (!match?.[1] || !match[2]) return undefined;
  const history = match[2].endsWith('.history');
  if (history && (match[3] || match[4])) return undefined;
  const kind: WalObjectKind = history ? 'history' : match[3] ? (match[4] ? 'partial-summary' : 'partial') : match[4] ? 'summary' : 'segment';
  return { name, timeline: parseInt(match[1], 16), file: match[2], kind, size };
}

/**
 * Every WAL object of a repository (or under `prefix`, named after `startAfter`), parsed;
 * names that are not WAL objects are left out.
 */
export async function listWalObjects(repository: Repository, prefix = 'wal/', startAfter?: string): Promise<WalObject[]> {
  const listed = await repository.target.list(prefix, startAfter === undefined ? undefined : { startAfter });
  return listed.flatMap((object) => parseWalObjectName(object.name, object.size) ?? []);
}

export async function readWalSummary(repository: Repository, name: string): Promise<WalSummary> {
  const parsed = walSummarySchema.safeParse(JSON.parse((await repository.readObject(name)).toString('utf8')));
  if (!parsed.success) {
    throw new DrcError('OBJECT_CORRUPT', `unable to read WAL summary '${name}' in repository '${repository.name}': unexpected content`, {
      hints: ['run `drc verify --repair`'],
    });
  }
  return parsed.data;
}

/** Returns the bytes the sealed summary occupies. */
export async function writeWalSummary(repository: Repository, summary: WalSummary): Promise<number> {
  return repository.writeNamedObject(walSummaryObject(summary.timeline, summary.segment, summary.partial), Buffer.from(JSON.stringify(summary)));
}
