import { z } from 'zod';
import { DrcError } from '../../shared/errors.js';
import type { Repository } from './repository.js';
import type { WalSummary } from './wal-archive.js';

/**
 * The WAL index: what a repository's WAL archive holds, in a few objects instead of one
 * summary per segment, so `restore --name`, `list`, `status` and the timeline read tens
 * of objects, not hundreds of thousands.
 *
 *   wal-index/catalog                   format version and the cluster's segment size
 *   wal-index/<TLI>/<bucket>-<newest segment>.page
 *                                       the summaries of the complete segments of one
 *                                       run of 4,096 segment numbers (compacted)
 *   wal-index/<TLI>/<segment>-<id>.delta summaries recorded by one write (wal push,
 *                                       wal stream, sync) since the last compaction
 *   wal-index/<TLI>/history             the timeline's history file is archived
 *
 * The index only ever describes complete segments and history files that are already
 * stored: writers store the segment and its summary first, then record them here. So a
 * crash between the two leaves a segment the index does not name yet, never a name
 * without a segment; readers find such segments by listing only past the newest indexed
 * one (the tail), and `verify --repair` rebuilds the index from the segments.
 *
 * Every index object is sealed like the rest of the repository: its name is
 * authenticated, so a page cannot be swapped for another.
 */
export const walIndexFormat = 1;
export const walIndexPrefix = 'wal-index/';
export const walIndexCatalogObject = `${walIndexPrefix}catalog`;
/** Segment numbers per page: at 16 MiB a page covers 64 GiB of WAL. */
export const segmentsPerPage = 4096n;

const catalogSchema = z.object({
  format: z.number().int(),
  segmentSize: z.number().int().positive(),
  createdAt: z.string(),
});
export type WalIndexCatalog = z.infer<typeof catalogSchema>;

/**
 * A page or delta: one column per field, one row per complete segment. Columns, not one
 * object per segment: 150,000 segments are 17 MB of JSON this way against 45 MB as
 * objects, and a reader builds a summary only for the segments it asks about.
 * Summary columns are null on a row whose segment was stored without a readable summary.
 */
export interface WalIndexEntries {
  readonly format: number;
  readonly timeline: number;
  readonly files: string[];
  /** Bytes the sealed segment and summary objects occupy, so usage needs no listing. */
  readonly storedBytes: number[];
  readonly bytes: Array<number | null>;
  readonly endLsn: Array<string | null>;
  readonly firstCommitTime: Array<string | null>;
  readonly lastCommitTime: Array<string | null>;
  readonly commits: Array<number | null>;
  readonly restorePoints: Array<{ segment: string; name: string; lsn: string; time: string }>;
  /** The summaries' ended-transaction runs; absent in pages written before them, null on rows whose summary lacks them. */
  readonly endedXids?: Array<Array<[number, number]> | null>;
}

/** One complete segment to record: its summary (null: none readable) and the bytes it occupies. */
export interface SegmentRecord {
  readonly file: string;
  readonly summary: WalSummary | null;
  readonly storedBytes: number;
}

export function toEntries(timeline: number, segments: readonly SegmentRecord[]): WalIndexEntries {
  return {
    format: walIndexFormat,
    timeline,
    files: segments.map((segment) => segment.file),
    storedBytes: segments.map((segment) => segment.storedBytes),
    bytes: segments.map((segment) => segment.summary?.bytes ?? null),
    endLsn: segments.map((segment) => segment.summary?.endLsn ?? null),
    firstCommitTime: segments.map((segment) => segment.summary?.firstCommitTime ?? null),
    lastCommitTime: segments.map((segment) => segment.summary?.lastCommitTime ?? null),
    commits: segments.map((segment) => segment.summary?.commits ?? null),
    restorePoints: segments.flatMap((segment) => (segment.summary?.restorePoints ?? []).map((point) => ({ segment: segment.file, ...point }))),
    endedXids: segments.map((segment) => segment.summary?.endedXids ?? null),
  };
}

/** Row `row`'s summary, rebuilt as the segment's own summary object said it. */
export function summaryAt(entries: WalIndexEntries, row: number): WalSummary | null {
  const bytes = entries.bytes[row];
  const endLsn = entries.endLsn[row];
  const commits = entries.commits[row];
  const segment = entries.files[row];
  if (bytes === null || bytes === undefined || endLsn === null || endLsn === undefined || commits === null || commits === undefined || segment === undefined) return null;
  const first = entries.firstCommitTime[row];
  const last = entries.lastCommitTime[row];
  const ended = entries.endedXids?.[row];
  return {
    timeline: entries.timeline,
    segment,
    partial: false,
    bytes,
    endLsn,
    ...(first ? { firstCommitTime: first } : {}),
    ...(last ? { lastCommitTime: last } : {}),
    commits,
    restorePoints: entries.restorePoints.filter((point) => point.segment === segment).map(({ name, lsn, time }) => ({ name, lsn, time })),
    ...(ended ? { endedXids: ended } : {}),
  };
}

/** A row of a page or delta read back: its summary is rebuilt only when someone asks for it. */
export class IndexedSegment implements SegmentRecord {
  constructor(
    readonly entries: WalIndexEntries,
    private readonly row: number,
  ) {}

  get file(): string {
    return this.entries.files[this.row] ?? '';
  }

  get storedBytes(): number {
    return this.entries.storedBytes[this.row] ?? 0;
  }

  get summarized(): boolean {
    return this.entries.bytes[this.row] !== null;
  }

  get summary(): WalSummary | null {
    return summaryAt(this.entries, this.row);
  }
}

export function segmentsOf(entries: WalIndexEntries): IndexedSegment[] {
  return entries.files.map((_, row) => new IndexedSegment(entries, row));
}

const isInt = (value: unknown): value is number => Number.isInteger(value);
const isString = (value: unknown): value is string => typeof value === 'string';
const column = (value: unknown, length: number, cell: (item: unknown) => boolean, nullable: boolean): boolean =>
  Array.isArray(value) && value.length === length && value.every((item) => (nullable && item === null) || cell(item));

/** A hand-written shape check: a schema library walking a million cells costs more than reading them. */
function isEntries(json: unknown): json is WalIndexEntries {
  const entries = json as Partial<Record<keyof WalIndexEntries, unknown>> | null;
  if (!entries || !isInt(entries.timeline) || !Array.isArray(entries.files)) return false;
  const rows = entries.files.length;
  return (
    column(entries.files, rows, isString, false) &&
    column(entries.storedBytes, rows, isInt, false) &&
    column(entries.bytes, rows, isInt, true) &&
    column(entries.endLsn, rows, isString, true) &&
    column(entries.firstCommitTime, rows, isString, true) &&
    column(entries.lastCommitTime, rows, isString, true) &&
    column(entries.commits, rows, isInt, true) &&
    (entries.endedXids === undefined || column(entries.endedXids, rows, isXidRuns, true)) &&
    Array.isArray(entries.restorePoints) &&
    entries.restorePoints.every((point) => restorePointSchema.safeParse(point).success)
  );
}

const isXidRuns = (value: unknown): boolean => Array.isArray(value) && value.every((run) => Array.isArray(run) && run.length === 2 && isInt(run[0]) && isInt(run[1]));

const restorePointSchema = z.object({ segment: z.string(), name: z.string(), lsn: z.string(), time: z.string() });

const timelineDir = (timeline: number): string => `${walIndexPrefix}${timeline.toString(16).toUpperCase().padStart(8, '0')}/`;

/** A page is named by its bucket and its newest segment, so a reader knows from the name alone where the tail starts. */
export function walIndexPageObject(timeline: number, bucket: bigint, lastSegment: string): string {
  return `${timelineDir(timeline)}${bucket.toString(16).toUpperCase().padStart(16, '0')}-${lastSegment}.page`;
}

export function walIndexDeltaObject(timeline: number, firstSegment: string, writeId: string): string {
  return `${timelineDir(timeline)}${firstSegment}-${writeId}.delta`;
}

export function walIndexHistoryObject(timeline: number): string {
  return `${timelineDir(timeline)}history`;
}

export type WalIndexObjectKind = 'page' | 'delta' | 'history';

export interface WalIndexObject {
  readonly name: string;
  readonly timeline: number;
  readonly kind: WalIndexObjectKind;
  /** A page's bucket (segment number / segmentsPerPage). */
  readonly bucket?: bigint;
  /** A delta's first segment file. */
  readonly firstSegment?: string;
  /** A page's newest segment file. */
  readonly lastSegment?: string;
}

const indexNamePattern = /^wal-index\/([0-9A-F]{8})\/(?:([0-9A-F]{16})-([0-9A-F]{24})\.page|([0-9A-F]{24})-[0-9a-z]+\.delta|(history))$/;

export function parseWalIndexObjectName(name: string): WalIndexObject | undefined {
  const match = indexNamePattern.exec(name);
  if (!match?.[1]) return undefined;
  const timeline = parseInt(match[1], 16);
  if (match[2] && match[3]) return { name, timeline, kind: 'page', bucket: BigInt(`0x${match[2]}`), lastSegment: match[3] };
  if (match[4]) return { name, timeline, kind: 'delta', firstSegment: match[4] };
  return { name, timeline, kind: 'history' };
}

function corrupt(repository: Repository, name: string, why: string): DrcError {
  return new DrcError('OBJECT_CORRUPT', `unable to read WAL index object '${name}' in repository '${repository.name}': ${why}`, {
    hints: ['run `drc verify --repair` to rebuild the WAL index from the segments'],
  });
}

function parseJson(repository: Repository, name: string, bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw corrupt(repository, name, 'it is not JSON');
  }
}

/** Refuses an index written by a newer DR Console before trying to read its shape. */
function checkFormat(repository: Repository, name: string, json: unknown): void {
  const format = (json as { format?: unknown } | null)?.format;
  if (typeof format === 'number' && format > walIndexFormat) {
    throw new DrcError('REPO_FORMAT_TOO_NEW', `unable to read the WAL index of repository '${repository.name}': '${name}' uses index format ${String(format)}, this DR Console reads up to ${String(walIndexFormat)}`, {
      hints: ['upgrade DR Console on this workstation; nothing was changed in the repository'],
    });
  }
}

export async function readWalIndexCatalog(repository: Repository): Promise<WalIndexCatalog> {
  const json = parseJson(repository, walIndexCatalogObject, await repository.readObject(walIndexCatalogObject));
  checkFormat(repository, walIndexCatalogObject, json);
  const parsed = catalogSchema.safeParse(json);
  if (!parsed.success) throw corrupt(repository, walIndexCatalogObject, 'unexpected content');
  return parsed.data;
}

export async function writeWalIndexCatalog(repository: Repository, segmentSize: number): Promise<WalIndexCatalog> {
  const catalog: WalIndexCatalog = { format: walIndexFormat, segmentSize, createdAt: new Date().toISOString() };
  await repository.writeNamedObject(walIndexCatalogObject, Buffer.from(JSON.stringify(catalog)));
  return catalog;
}

export async function readWalIndexEntries(repository: Repository, name: string): Promise<WalIndexEntries> {
  const json = parseJson(repository, name, await repository.readObject(name));
  checkFormat(repository, name, json);
  if (!isEntries(json)) throw corrupt(repository, name, 'unexpected content');
  return json;
}

export async function writeWalIndexEntries(repository: Repository, name: string, timeline: number, segments: readonly SegmentRecord[]): Promise<void> {
  await repository.writeNamedObject(name, Buffer.from(JSON.stringify(toEntries(timeline, segments))));
}
