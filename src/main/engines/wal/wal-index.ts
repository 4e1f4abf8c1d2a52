import { randomBytes } from 'node:crypto';
import { DrcError } from '../../../shared/errors.js';
import { parseSegmentFileName } from '../../postgres/lsn.js';
import { forEachConcurrent } from '../../parallel.js';
import type { RepositoryLock } from '../../repo/locks.js';
import type { Repository } from '../../repo/repository.js';
import { listWalObjects, readWalSummary, walSummaryObject, type WalObject, type WalSummary } from '../../repo/wal-archive.js';
import {
  parseWalIndexObjectName,
  readWalIndexCatalog,
  readWalIndexEntries,
  segmentsPerPage,
  walIndexCatalogObject,
  walIndexDeltaObject,
  walIndexHistoryObject,
  walIndexPageObject,
  walIndexPrefix,
  writeWalIndexCatalog,
  writeWalIndexEntries,
  segmentsOf,
  type IndexedSegment,
  type SegmentRecord,
  type WalIndexCatalog,
  type WalIndexObject,
} from '../../repo/wal-index.js';
import { INITDB_DEFAULT_WAL_SEGMENT_SIZE } from '../../postgres/wal/segment-size.js';

/**
 * Keeping the WAL index (see `repo/wal-index.ts`) true to the archive, and reading it.
 *
 * Writers (wal push, wal stream, sync) record each complete segment as a small delta
 * after storing it; once enough deltas pile up, one writer compacts them into pages under
 * the index lock (another writer that finds the lock taken leaves it for later). Expire
 * takes entries out before deleting segments, so the index never names a deleted one.
 * A repository written before the index existed is read segment by segment until its
 * first WAL write builds the index (the migration).
 */
const indexLock = 'wal-index';
/** Deltas a writer leaves before it compacts: bounds what a reader fetches besides pages. */
const compactAfterDeltas = 64;
const readsInFlight = 16;
/** How long expire, repair and the migration wait for a compaction in progress. */
const lockWaitMs = 30_000;

type SegmentsByTimeline = Map<number, Map<string, IndexedSegment>>;
type RecordsByTimeline = Map<number, Map<string, SegmentRecord>>;

/** What the index says one repository holds: per timeline, complete segment file → its record. */
export interface IndexedWal {
  readonly catalog: WalIndexCatalog;
  readonly segments: SegmentsByTimeline;
  readonly histories: Set<number>;
  /** The index objects read, for compaction to replace. */
  readonly objects: WalIndexObject[];
  /** Per delta read: the segment files it records, so compaction knows which pages it touches. */
  readonly deltaFiles: Map<string, string[]>;
  /** The named restore points the indexed segments hold. */
  readonly restorePoints: IndexedRestorePoint[];
}

export interface IndexedRestorePoint {
  readonly timeline: number;
  readonly segment: string;
  readonly name: string;
  readonly lsn: string;
  readonly time: string;
}

/**
 * The WAL a repository holds: its index and the objects past it (the tail), or, without
 * an index, every WAL object listed.
 */
export interface WalHoldings {
  readonly index: IndexedWal | undefined;
  readonly objects: WalObject[];
  /** Set when the index could not be read and the archive was listed instead: why. */
  readonly indexUnreadable?: string;
}

export async function listWalHoldings(repository: Repository): Promise<WalHoldings> {
  // The tail is listed while the index is read: its bounds come from the index objects' names.
  let tail: Promise<WalObject[]> | undefined;
  let index: IndexedWal | undefined;
  try {
    index = await readWalIndex(repository, (_catalog, objects) => {
      tail ??= listTail(repository, objects);
    });
  } catch (error) {
    await tail?.catch(() => undefined);
    // A damaged or vanished index must never block a restore: the segments are the truth,
    // and listing them is only slower. Verify reports the damage; repair rebuilds it.
    if (error instanceof DrcError && (error.code === 'OBJECT_CORRUPT' || error.code === 'STORAGE_NOT_FOUND')) {
      return { index: undefined, objects: await listWalObjects(repository), indexUnreadable: error.message };
    }
    throw error;
  }
  if (!index || !tail) return { index: undefined, objects: await listWalObjects(repository) };
  const indexed = index.segments;
  const objects = (await tail).filter((object) => object.kind === 'history' || indexed.get(object.timeline)?.has(object.file) !== true);
  return { index, objects };
}

/**
 * What may lie past the index: per timeline, objects from the newest segment a page or
 * delta can hold on (a few more than strictly needed, never fewer), and every timeline
 * newer than any indexed.
 */
function listTail(repository: Repository, objects: readonly WalIndexObject[]): Promise<WalObject[]> {
  const from = new Map<number, string | undefined>();
  for (const object of objects) {
    const first = object.kind === 'delta' ? object.firstSegment : object.lastSegment;
    const known = from.get(object.timeline);
    if (!from.has(object.timeline) || (first !== undefined && (known === undefined || first > known))) from.set(object.timeline, first);
  }
  const timelines = [...from.keys()].sort((a, b) => a - b);
  const listings = timelines.map((timeline) => {
    const first = from.get(timeline);
    // That segment is indexed, and so is its summary, which sorts after its other objects.
    return listWalObjects(repository, timelinePrefix(timeline), first === undefined ? undefined : walSummaryObject(timeline, first));
  });
  const newestTimeline = timelines.at(-1);
  // Every name of an indexed timeline sorts before `wal/<newest TLI + 1>` and every name of a
  // newer one after it: a listing that starts there skips the indexed directories unread
  // (s3rver and the local driver prune by that bound; S3 and GCS seek to it).
  listings.push(listWalObjects(repository, 'wal/', newestTimeline === undefined ? undefined : timelinePrefix(newestTimeline + 1).slice(0, -1)));
  return Promise.all(listings).then((lists) => lists.flat());
}

const timelinePrefix = (timeline: number): string => `wal/${timeline.toString(16).toUpperCase().padStart(8, '0')}/`;

/** The index, or undefined when the repository has none yet (never migrated, or a rebuild is under way). */
export async function readWalIndex(repository: Repository, onListed?: (catalog: WalIndexCatalog, objects: WalIndexObject[]) => void): Promise<IndexedWal | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readIndexOnce(repository, onListed);
    } catch (error) {
      // A compaction deleted a delta between our listing and our read: its entries are in a page now.
      if (attempt < 3 && error instanceof DrcError && error.code === 'STORAGE_NOT_FOUND') continue;
      throw error;
    }
  }
}

async function readIndexOnce(repository: Repository, onListed: ((catalog: WalIndexCatalog, objects: WalIndexObject[]) => void) | undefined): Promise<IndexedWal | undefined> {
  const listed = await repository.target.list(walIndexPrefix);
  if (!listed.some((object) => object.name === walIndexCatalogObject)) return undefined;
  const catalog = await readWalIndexCatalog(repository);
  const objects = listed.flatMap((object) => parseWalIndexObjectName(object.name) ?? []);
  onListed?.(catalog, objects);
  const index: IndexedWal = { catalog, segments: new Map(), histories: new Set(), objects, deltaFiles: new Map(), restorePoints: [] };
  const contents = new Map<string, Awaited<ReturnType<typeof readWalIndexEntries>>>();
  await forEachConcurrent(
    objects.filter((object) => object.kind !== 'history'),
    readsInFlight,
    async (object) => {
      contents.set(object.name, await readWalIndexEntries(repository, object.name));
    },
  );
  for (const object of objects) {
    if (object.kind === 'history') {
      index.histories.add(object.timeline);
      continue;
    }
    const entries = contents.get(object.name);
    if (!entries) continue;
    const recorded = segmentsOf(entries);
    mergeSegments(index.segments, object.timeline, recorded);
    if (object.kind === 'delta') index.deltaFiles.set(object.name, recorded.map((segment) => segment.file));
  }
  // A segment recorded twice (a page and a delta not compacted yet) counts once: the copy that won the merge.
  for (const entries of contents.values()) {
    for (const point of entries.restorePoints) {
      if (index.segments.get(entries.timeline)?.get(point.segment)?.entries === entries) index.restorePoints.push({ timeline: entries.timeline, ...point });
    }
  }
  return index;
}

function mergeSegments(into: SegmentsByTimeline, timeline: number, recorded: readonly IndexedSegment[]): void {
  const segments = into.get(timeline) ?? new Map<string, IndexedSegment>();
  into.set(timeline, segments);
  // A summary recorded anywhere wins over "unknown" recorded elsewhere; otherwise the first copy read stays.
  for (const segment of recorded) {
    const file = segment.file;
    const held = segments.get(file);
    if (held === undefined || (!held.summarized && segment.summarized)) segments.set(file, segment);
  }
}

/**
 * Records complete segments (and, with `history`, the timeline's history file) that are
 * already stored. Builds the index first if the repository has none. Returns whether it
 * had to build it (the migration of a repository an older DR Console wrote).
 */
export async function recordInWalIndex(repository: Repository, timeline: number, stored: { segments?: readonly SegmentRecord[]; history?: boolean }, segmentSize?: number): Promise<{ migrated: boolean }> {
  let ensured: { migrated: boolean };
  try {
    ensured = await ensureWalIndex(repository, segmentSize, { waitMs: 0 });
  } catch (error) {
    if (!(error instanceof DrcError) || error.code !== 'LOCK_HELD') throw error;
    // Another process is building the index right now. A WAL writer does not wait for it
    // (the stream would fall behind): its delta is written all the same. A build removes
    // only index objects it saw when it started, and lists the archive after that, so
    // this segment ends up in the index either way.
    ensured = { migrated: false };
  }
  // A fresh build listed the archive after these were stored: they are in it already.
  if (ensured.migrated) return { migrated: true };
  const segments = stored.segments ?? [];
  const first = segments.map((segment) => segment.file).sort()[0];
  if (first !== undefined) await writeWalIndexEntries(repository, walIndexDeltaObject(timeline, first, randomBytes(6).toString('hex')), timeline, segments);
  if (stored.history === true) await repository.writeNamedObject(walIndexHistoryObject(timeline), Buffer.alloc(0));
  const deltas = (await repository.target.list(walIndexPrefix)).filter((object) => parseWalIndexObjectName(object.name)?.kind === 'delta').length;
  if (deltas >= compactAfterDeltas) await compactWalIndex(repository, { wait: false });
  return { migrated: false };
}

/**
 * Records every complete segment and history file the repository holds that its index
 * does not name: what `sync` calls after copying WAL, so a sync cut short and run again
 * (which skips what is already there) still leaves the index whole.
 */
export async function reconcileWalIndex(repository: Repository, segmentSize?: number): Promise<{ recorded: number }> {
  if ((await ensureWalIndex(repository, segmentSize)).migrated) return { recorded: 0 };
  const index = await readWalIndex(repository);
  const objects = await listWalObjects(repository);
  const missing = objects.filter((object) => object.kind === 'segment' && index?.segments.get(object.timeline)?.has(object.file) !== true);
  const byTimeline = new Map<number, { segments: SegmentRecord[]; history: boolean }>();
  const entry = (timeline: number) => {
    const found = byTimeline.get(timeline) ?? { segments: [], history: false };
    byTimeline.set(timeline, found);
    return found;
  };
  for (const segment of await describeSegments(repository, objects, missing)) entry(segment.timeline).segments.push(segment);
  for (const object of objects) if (object.kind === 'history' && index?.histories.has(object.timeline) !== true) entry(object.timeline).history = true;
  for (const [timeline, segments] of byTimeline) await recordInWalIndex(repository, timeline, segments, segmentSize);
  return { recorded: missing.length };
}

/** Per repository object: whether this process has already seen its index (one read per run, not per segment). */
const knownIndexed = new WeakSet<Repository>();

/**
 * Builds the index from the segments' summaries if the repository has none. A repository
 * whose index another process is building right now is waited for.
 */
export async function ensureWalIndex(repository: Repository, segmentSize?: number, options: { waitMs?: number } = {}): Promise<{ migrated: boolean; segments: number }> {
  if (knownIndexed.has(repository)) return { migrated: false, segments: 0 };
  if (await repository.target.head(walIndexCatalogObject)) {
    knownIndexed.add(repository);
    return { migrated: false, segments: 0 };
  }
  const built = await withIndexLock(repository, 'build the WAL index', options.waitMs ?? lockWaitMs, async () => {
    // Built by another process while we waited for its lock.
    if (await repository.target.head(walIndexCatalogObject)) return undefined;
    return buildWalIndex(repository, segmentSize);
  });
  knownIndexed.add(repository);
  return built === undefined ? { migrated: false, segments: 0 } : { migrated: true, segments: built.segments };
}

/**
 * Rebuilds the index from what the archive holds (`verify --repair`, and the migration):
 * every summary read, pages written, then every other index object removed. The catalog
 * object goes last: until it exists, readers list the archive instead of trusting pages.
 */
export async function rebuildWalIndex(repository: Repository, segmentSize?: number): Promise<{ segments: number; unsummarized: number }> {
  const built = await withIndexLock(repository, 'rebuild the WAL index', lockWaitMs, () => buildWalIndex(repository, segmentSize));
  knownIndexed.add(repository);
  return built;
}

async function buildWalIndex(repository: Repository, segmentSize: number | undefined): Promise<{ segments: number; unsummarized: number }> {
  const previous = (await repository.target.list(walIndexPrefix)).map((object) => object.name);
  const objects = await listWalObjects(repository);
  const described = await describeSegments(repository, objects, objects.filter((object) => object.kind === 'segment'));
  const size = segmentSize ?? described.find((segment) => segment.summary !== null)?.summary?.bytes ?? INITDB_DEFAULT_WAL_SEGMENT_SIZE;
  const segments: RecordsByTimeline = new Map();
  for (const segment of described) {
    const onTimeline = segments.get(segment.timeline) ?? new Map<string, SegmentRecord>();
    segments.set(segment.timeline, onTimeline);
    onTimeline.set(segment.file, segment);
  }
  const written = await writePages(repository, segments, size);
  const histories = objects.filter((object) => object.kind === 'history');
  for (const history of histories) {
    const name = walIndexHistoryObject(history.timeline);
    await repository.writeNamedObject(name, Buffer.alloc(0));
    written.add(name);
  }
  await repository.target.delete(previous.filter((name) => name !== walIndexCatalogObject && !written.has(name)));
  await writeWalIndexCatalog(repository, size);
  return { segments: described.length, unsummarized: described.filter((segment) => segment.summary === null).length };
}

/** Index records for listed complete segments: their summaries read, their sizes from the listing. */
async function describeSegments(repository: Repository, listed: readonly WalObject[], complete: readonly WalObject[]): Promise<Array<SegmentRecord & { timeline: number }>> {
  const sizes = new Map(listed.map((object) => [object.name, object.size]));
  const described: Array<SegmentRecord & { timeline: number }> = [];
  await forEachConcurrent(complete, readsInFlight, async (object) => {
    const name = walSummaryObject(object.timeline, object.file);
    const summary = sizes.has(name) ? await readSummaryOrNull(repository, name) : null;
    described.push({ timeline: object.timeline, file: object.file, summary, storedBytes: object.size + (sizes.get(name) ?? 0) });
  });
  return described;
}

async function readSummaryOrNull(repository: Repository, name: string): Promise<WalSummary | null> {
  try {
    return await readWalSummary(repository, name);
  } catch (error) {
    // A damaged summary leaves the segment in the index as "what it holds is unknown"; verify reports the damage.
    if (error instanceof DrcError && (error.code === 'OBJECT_CORRUPT' || error.code === 'STORAGE_NOT_FOUND')) return null;
    throw error;
  }
}

const bucketKey = (timeline: number, bucket: bigint): string => `${String(timeline)}/${bucket.toString(16)}`;

/** Writes one page per run of `segmentsPerPage` segment numbers; returns the names written. */
async function writePages(repository: Repository, segments: RecordsByTimeline, segmentSize: number): Promise<Set<string>> {
  const pages = new Map<string, { timeline: number; bucket: bigint; segments: SegmentRecord[] }>();
  for (const [timeline, files] of segments) {
    for (const segment of [...files.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))) {
      const parsed = parseSegmentFileName(segment.file, segmentSize);
      if (!parsed) continue;
      const bucket = parsed.segment / segmentsPerPage;
      const key = bucketKey(timeline, bucket);
      const page = pages.get(key) ?? { timeline, bucket, segments: [] };
      pages.set(key, page);
      page.segments.push(segment);
    }
  }
  const written = new Set<string>();
  await forEachConcurrent(pages.values(), readsInFlight, async (page) => {
    const name = walIndexPageObject(page.timeline, page.bucket, page.segments.at(-1)?.file ?? '');
    await writeWalIndexEntries(repository, name, page.timeline, page.segments);
    written.add(name);
  });
  return written;
}

/**
 * Folds deltas into pages. Only the pages the deltas touch are rewritten, each before the
 * deltas it absorbs are deleted, so a reader at any moment sees every entry at least once.
 * With `wait: false` a compaction already running elsewhere is left to finish the job.
 */
export async function compactWalIndex(repository: Repository, options: { wait: boolean }): Promise<void> {
  try {
    await withIndexLock(repository, 'compact the WAL index', options.wait ? lockWaitMs : 0, () => rewriteIndex(repository, () => true));
  } catch (error) {
    if (!options.wait && error instanceof DrcError && error.code === 'LOCK_HELD') return;
    throw error;
  }
}

/**
 * Takes segments and history files out of the index before expire deletes them, so the
 * index never names WAL that is gone. A crash after this and before the deletion leaves
 * segments the index does not name, which expire's next run (it lists the archive) removes.
 */
export async function forgetInWalIndex(repository: Repository, removed: readonly WalObject[]): Promise<void> {
  if (removed.length === 0 || !(await repository.target.head(walIndexCatalogObject))) return;
  const segments = new Set(removed.filter((object) => object.kind === 'segment').map((object) => `${String(object.timeline)}/${object.file}`));
  const histories = new Set(removed.filter((object) => object.kind === 'history').map((object) => object.timeline));
  await withIndexLock(repository, 'expire WAL from the index', lockWaitMs, async () => {
    await rewriteIndex(repository, (timeline, file) => !segments.has(`${String(timeline)}/${file}`));
    const markers = [...histories].map((timeline) => walIndexHistoryObject(timeline));
    await repository.target.delete(markers);
  });
}

/** Rewrites the pages that deltas touch or that lose entries, keeping the entries `keep` accepts. */
async function rewriteIndex(repository: Repository, keep: (timeline: number, file: string) => boolean): Promise<void> {
  const index = await readWalIndex(repository);
  if (!index) return;
  const deltas = index.objects.filter((object) => object.kind === 'delta');
  const segmentSize = index.catalog.segmentSize;
  // Which pages change: those a delta adds to, and those holding an entry to drop.
  // Pages by bucket: a rewritten page gets a new name (its newest segment is in it).
  const touched = new Set<string>();
  const kept: SegmentsByTimeline = new Map();
  for (const [timeline, files] of index.segments) {
    for (const segment of files.values()) {
      const parsed = parseSegmentFileName(segment.file, segmentSize);
      if (!parsed) continue;
      if (keep(timeline, segment.file)) mergeSegments(kept, timeline, [segment]);
      else touched.add(bucketKey(timeline, parsed.segment / segmentsPerPage));
    }
  }
  for (const delta of deltas) {
    for (const file of index.deltaFiles.get(delta.name) ?? []) {
      const parsed = parseSegmentFileName(file, segmentSize);
      if (parsed) touched.add(bucketKey(delta.timeline, parsed.segment / segmentsPerPage));
    }
  }
  const rewritten: SegmentsByTimeline = new Map();
  for (const [timeline, files] of kept) {
    for (const segment of files.values()) {
      const parsed = parseSegmentFileName(segment.file, segmentSize);
      if (parsed && touched.has(bucketKey(timeline, parsed.segment / segmentsPerPage))) mergeSegments(rewritten, timeline, [segment]);
    }
  }
  const written = await writePages(repository, rewritten, segmentSize);
  const replaced = index.objects.filter((object) => object.kind === 'page' && object.bucket !== undefined && touched.has(bucketKey(object.timeline, object.bucket)) && !written.has(object.name));
  await repository.target.delete([...replaced.map((page) => page.name), ...deltas.map((delta) => delta.name)]);
}

async function withIndexLock<T>(repository: Repository, operation: string, waitMs: number, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + waitMs;
  let lock: RepositoryLock;
  for (;;) {
    try {
      lock = await repository.lock(indexLock, operation);
      break;
    } catch (error) {
      if (!(error instanceof DrcError) || error.code !== 'LOCK_HELD' || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    const result = await work();
    lock.assertHeld();
    return result;
  } finally {
    await lock.release();
  }
}

/** Whether the index names every complete segment and history file the archive holds, and nothing else. */
export async function checkWalIndex(repository: Repository): Promise<{ indexed: boolean; problems: string[] }> {
  let index: IndexedWal | undefined;
  try {
    index = await readWalIndex(repository);
  } catch (error) {
    if (error instanceof DrcError && (error.code === 'OBJECT_CORRUPT' || error.code === 'STORAGE_NOT_FOUND')) return { indexed: true, problems: [error.message] };
    throw error;
  }
  if (!index) return { indexed: false, problems: [] };
  const objects = await listWalObjects(repository);
  const problems: string[] = [];
  const stored = new Set(objects.filter((object) => object.kind === 'segment').map((object) => `${String(object.timeline)}/${object.file}`));
  for (const [timeline, files] of index.segments) {
    for (const file of files.keys()) {
      if (!stored.has(`${String(timeline)}/${file}`)) problems.push(`the WAL index names segment ${file} of timeline ${String(timeline)}, which the repository does not hold`);
    }
  }
  for (const object of objects) {
    if (object.kind !== 'segment' || index.segments.get(object.timeline)?.has(object.file) === true) continue;
    // Past the newest indexed segment is the tail readers list anyway; an unindexed segment below it is invisible to them.
    const newest = [...(index.segments.get(object.timeline)?.keys() ?? [])].sort().at(-1);
    if (newest !== undefined && object.file < newest) problems.push(`segment ${object.file} of timeline ${String(object.timeline)} is stored but missing from the WAL index`);
  }
  return { indexed: true, problems };
}
