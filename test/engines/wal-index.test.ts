import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { syncRepositories } from '../../src/main/engines/sync.js';
import { verifyRepositories } from '../../src/main/engines/verify.js';
import { WalCatalog } from '../../src/main/engines/wal/catalog.js';
import { checkWalIndex, compactWalIndex, ensureWalIndex, forgetInWalIndex, listWalHoldings, readWalIndex, rebuildWalIndex, recordInWalIndex } from '../../src/main/engines/wal/wal-index.js';
import { formatLsn, segmentFileName } from '../../src/main/postgres/lsn.js';
import { initRepositorySet, openRepositorySet, type RepositorySet } from '../../src/main/repo/repository-set.js';
import type { Repository } from '../../src/main/repo/repository.js';
import { listWalObjects, walHistoryObject, walSegmentObject, writeWalSummary, type WalSummary } from '../../src/main/repo/wal-archive.js';
import { walIndexCatalogObject, walIndexPrefix, type SegmentRecord } from '../../src/main/repo/wal-index.js';
import { LocalTarget } from '../../src/main/storage/local.js';
import type { ListOptions, ObjectInfo } from '../../src/main/storage/target.js';
import { DelegatingTarget } from '../../src/main/storage/wrappers/delegate.js';
import { tempDirectory } from '../support/temp.js';

const segmentSize = 16 * 1024 * 1024;
const start = Date.parse('2026-11-01T00:00:00Z');

/** What `wal push` would have summarized: one commit a minute, a restore point on every tenth segment. */
function summaryOf(timeline: number, segment: number): WalSummary {
  const file = segmentFileName(timeline, BigInt(segment), segmentSize);
  const time = (offset: number) => new Date(start + segment * 60_000 + offset).toISOString();
  return {
    timeline,
    segment: file,
    partial: false,
    bytes: segmentSize,
    endLsn: formatLsn(BigInt(segment + 1) * BigInt(segmentSize) - 40n),
    firstCommitTime: time(1_000),
    lastCommitTime: time(59_000),
    commits: 10,
    restorePoints: segment % 10 === 0 ? [{ name: `point-${String(segment)}`, lsn: formatLsn(BigInt(segment) * BigInt(segmentSize) + 100n), time: time(30_000) }] : [],
  };
}

/** Stores a segment and its summary as every writer does, before it records them in the index. */
async function storeSegment(repository: Repository, timeline: number, segment: number): Promise<WalSummary> {
  const summary = summaryOf(timeline, segment);
  await repository.writeNamedObject(walSegmentObject(timeline, summary.segment), Buffer.from(`segment ${summary.segment}`));
  await writeWalSummary(repository, summary);
  return summary;
}

/** How a writer names a stored segment to the index (the size here is what the test wrote, not checked). */
function recorded(summary: WalSummary): SegmentRecord {
  return { file: summary.segment, summary, storedBytes: 1000 };
}

function fail(): never {
  throw new Error('expected a segment');
}

/** A page's name: its bucket of 4,096 segment numbers and the newest segment it holds. */
const page = (bucket: number, newest: number): string => `wal-index/00000001/${bucket.toString(16).padStart(16, '0')}-${segmentFileName(1, BigInt(newest), segmentSize)}.page`;

async function indexObjects(repository: Repository): Promise<string[]> {
  return (await repository.target.list(walIndexPrefix)).map((object) => object.name).sort();
}

describe('the WAL index', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let set: RepositorySet;
  let nas: Repository;
  let usb: Repository;

  beforeEach(async () => {
    dir = await tempDirectory('drc-wal-index-');
    const targets = ['nas', 'usb'].map((name) => new LocalTarget({ name, path: join(dir.path, name) }));
    await initRepositorySet(targets, 'pass', { scrypt: { N: 2 ** 10, r: 8, p: 1 } });
    set = await openRepositorySet(targets, 'pass');
    [nas, usb] = set.repositories as [Repository, Repository];
  });
  afterEach(async () => {
    await dir.remove();
  });

  it('reads a repository an older DR Console wrote segment by segment, then migrates it on the first WAL write', async () => {
    for (let segment = 1; segment <= 30; segment++) await storeSegment(nas, 1, segment);
    const legacy = await listWalHoldings(nas);
    expect(legacy.index).toBeUndefined();
    expect(legacy.objects.filter((object) => object.kind === 'segment')).toHaveLength(30);

    const newest = await storeSegment(nas, 1, 31);
    expect(await recordInWalIndex(nas, 1, { segments: [recorded(newest)] }, segmentSize)).toEqual({ migrated: true });
    expect(await indexObjects(nas)).toEqual([page(0, 31), walIndexCatalogObject]);

    const indexed = await listWalHoldings(nas);
    expect(indexed.objects).toEqual([]);
    expect([...(indexed.index?.segments.get(1)?.keys() ?? [])].sort()).toEqual(legacy.objects.filter((object) => object.kind === 'segment').map((object) => object.file).concat(newest.segment).sort());
    expect(indexed.index?.segments.get(1)?.get(newest.segment)?.summary).toEqual(newest);
  });

  it('a WAL writer does not wait for a build another process holds, and its segment still ends up in the index', async () => {
    for (let segment = 1; segment <= 3; segment++) await storeSegment(nas, 1, segment);
    const building = await nas.lock('wal-index', 'build the WAL index');
    const newest = await storeSegment(nas, 1, 4);
    try {
      expect(await recordInWalIndex(nas, 1, { segments: [recorded(newest)] }, segmentSize)).toEqual({ migrated: false });
      expect((await indexObjects(nas)).filter((name) => name.endsWith('.delta'))).toHaveLength(1);
    } finally {
      await building.release();
    }
    await ensureWalIndex(nas, segmentSize);
    expect([...((await readWalIndex(nas))?.segments.get(1)?.keys() ?? [])].sort()).toEqual([1, 2, 3, 4].map((segment) => segmentFileName(1, BigInt(segment), segmentSize)));
  });

  it('answers the catalog from the index exactly as from the summaries, without reading a summary', async () => {
    for (let segment = 1; segment <= 40; segment++) await storeSegment(nas, 1, segment);
    const fromSummaries = await WalCatalog.load([nas], segmentSize);
    const expected = await Promise.all(fromSummaries.segments(1).map((holding) => fromSummaries.summary(1, holding, false)));
    await ensureWalIndex(nas, segmentSize);

    const reads: string[] = [];
    const watched = new (class extends DelegatingTarget {
      override get(name: string, range?: { offset: number; length: number }): Promise<Buffer> {
        reads.push(name);
        return super.get(name, range);
      }
    })(nas.target);
    const watchedRepository = new (nas.constructor as typeof Repository)(watched, nas.header, nas.keys);
    const fromIndex = await WalCatalog.load([watchedRepository], segmentSize);
    const actual = await Promise.all(fromIndex.segments(1).map((holding) => fromIndex.summary(1, holding, false)));
    expect(actual).toEqual(expected);
    expect(reads.filter((name) => name.startsWith('wal/'))).toEqual([]);
    expect(fromIndex.indexedRestorePoints().map((point) => point.name).sort()).toEqual(['point-10', 'point-20', 'point-30', 'point-40']);
  });

  it('keeps the bytes each segment occupies, so usage needs no listing of the archive', async () => {
    for (let segment = 1; segment <= 12; segment++) await storeSegment(nas, 1, segment);
    const listed = (await nas.target.list('wal/')).reduce((sum, object) => sum + object.size, 0);
    expect((await WalCatalog.load([nas], segmentSize)).storedBytes.get('nas')).toBe(listed);
    await ensureWalIndex(nas, segmentSize);
    expect((await WalCatalog.load([nas], segmentSize)).storedBytes.get('nas')).toBe(listed);
  });

  it('records each write as a delta, compacts them into pages, and loses no entry on the way', async () => {
    await ensureWalIndex(nas, segmentSize);
    for (let segment = 1; segment <= 70; segment++) {
      const summary = await storeSegment(nas, 1, segment);
      await recordInWalIndex(nas, 1, { segments: [recorded(summary)] }, segmentSize);
    }
    const objects = await indexObjects(nas);
    // The 64th delta triggered a compaction into the page; the six written since are still deltas.
    expect(objects.filter((name) => name.endsWith('.delta'))).toHaveLength(6);
    expect(objects.filter((name) => name.endsWith('.page'))).toEqual([page(0, 64)]);
    const index = await readWalIndex(nas);
    expect([...(index?.segments.get(1)?.keys() ?? [])].sort()).toEqual(Array.from({ length: 70 }, (_, at) => segmentFileName(1, BigInt(at + 1), segmentSize)));

    await compactWalIndex(nas, { wait: true });
    expect((await indexObjects(nas)).filter((name) => name.endsWith('.delta'))).toEqual([]);
    expect((await readWalIndex(nas))?.segments.get(1)?.size).toBe(70);
  });

  it('puts segments past a page boundary in the next page', async () => {
    await ensureWalIndex(nas, segmentSize);
    for (const segment of [4094, 4095, 4096, 4097]) await recordInWalIndex(nas, 1, { segments: [recorded(await storeSegment(nas, 1, segment))] }, segmentSize);
    await compactWalIndex(nas, { wait: true });
    expect((await indexObjects(nas)).filter((name) => name.endsWith('.page'))).toEqual([page(0, 4095), page(1, 4097)]);
    expect((await readWalIndex(nas))?.segments.get(1)?.size).toBe(4);
  });

  it('finds segments stored but not yet recorded (a writer that died in between) and timelines newer than any indexed', async () => {
    for (let segment = 1; segment <= 5; segment++) await storeSegment(nas, 1, segment);
    await ensureWalIndex(nas, segmentSize);
    await storeSegment(nas, 1, 6);
    await nas.writeNamedObject(walSegmentObject(1, segmentFileName(1, 7n, segmentSize), true), Buffer.from('partial'));
    await storeSegment(nas, 2, 7);
    await nas.writeNamedObject(walHistoryObject(2), Buffer.from('1\t0/7000000\tno recovery target specified\n'));

    const holdings = await listWalHoldings(nas);
    const names = holdings.objects.map((object) => `${String(object.timeline)}:${object.file}:${object.kind}`);
    expect(names.sort()).toEqual([`1:${segmentFileName(1, 6n, segmentSize)}:segment`, `1:${segmentFileName(1, 7n, segmentSize)}:partial`, `2:${segmentFileName(2, 7n, segmentSize)}:segment`, `2:${segmentFileName(2, 7n, segmentSize)}:summary`, '2:00000002.history:history', `1:${segmentFileName(1, 6n, segmentSize)}:summary`].sort());
    const catalog = await WalCatalog.load([nas], segmentSize);
    expect(catalog.segments(1)).toHaveLength(7);
    expect(catalog.histories.get(2)).toEqual([{ parent: 1, switchLsn: 0x7000000n }]);
  });

  it('lists only past the newest indexed segment, not the whole archive', async () => {
    for (let segment = 1; segment <= 20; segment++) await storeSegment(nas, 1, segment);
    await ensureWalIndex(nas, segmentSize);
    const listings: Array<{ prefix: string; startAfter: string | undefined; returned: number }> = [];
    const watched = new (class extends DelegatingTarget {
      override async list(prefix: string, options?: ListOptions): Promise<ObjectInfo[]> {
        const listed = await super.list(prefix, options);
        listings.push({ prefix, startAfter: options?.startAfter, returned: listed.length });
        return listed;
      }
    })(nas.target);
    const repository = new (nas.constructor as typeof Repository)(watched, nas.header, nas.keys);
    await listWalHoldings(repository);
    const walListings = listings.filter((listing) => listing.prefix.startsWith('wal/'));
    expect(walListings.every((listing) => listing.startAfter !== undefined)).toBe(true);
    expect(walListings.reduce((sum, listing) => sum + listing.returned, 0)).toBe(0);
  });

  it('takes expired segments out of the index before they are deleted, and drops pages left empty', async () => {
    for (let segment = 1; segment <= 10; segment++) await storeSegment(nas, 1, segment);
    for (const segment of [4096, 4097]) await storeSegment(nas, 1, segment);
    await nas.writeNamedObject(walHistoryObject(1), Buffer.from(''));
    await ensureWalIndex(nas, segmentSize);
    const objects = await listWalObjects(nas);
    const expired = objects.filter((object) => object.kind === 'history' || (object.kind === 'segment' && object.file < segmentFileName(1, 4096n, segmentSize)));
    await forgetInWalIndex(nas, expired);
    expect(await indexObjects(nas)).toEqual([page(1, 4097), walIndexCatalogObject]);
    expect([...((await readWalIndex(nas))?.segments.get(1)?.keys() ?? [])]).toEqual([segmentFileName(1, 4096n, segmentSize), segmentFileName(1, 4097n, segmentSize)]);
  });

  it('refuses an index written by a newer DR Console and changes nothing', async () => {
    await ensureWalIndex(nas, segmentSize);
    await nas.writeNamedObject(walIndexCatalogObject, Buffer.from(JSON.stringify({ format: 2, segmentSize, createdAt: new Date().toISOString() })));
    await expect(readWalIndex(nas)).rejects.toMatchObject({ code: 'REPO_FORMAT_TOO_NEW', hints: [expect.stringContaining('upgrade DR Console')] });
    await expect(WalCatalog.load([nas], segmentSize)).rejects.toMatchObject({ code: 'REPO_FORMAT_TOO_NEW' });
  });

  it('reads again when a compaction deletes a delta between the listing and the read', async () => {
    await ensureWalIndex(nas, segmentSize);
    await recordInWalIndex(nas, 1, { segments: [recorded(await storeSegment(nas, 1, 1))] }, segmentSize);
    let vanished = false;
    const racing = new (class extends DelegatingTarget {
      override async list(prefix: string, options?: ListOptions): Promise<ObjectInfo[]> {
        const listed = await super.list(prefix, options);
        // The first listing of the index names a delta a compaction has just removed.
        if (prefix === walIndexPrefix && !vanished) {
          vanished = true;
          return [...listed, { name: `wal-index/00000001/${segmentFileName(1, 1n, segmentSize)}-gone.delta`, size: 10 }];
        }
        return listed;
      }
    })(nas.target);
    const repository = new (nas.constructor as typeof Repository)(racing, nas.header, nas.keys);
    expect((await readWalIndex(repository))?.segments.get(1)?.size).toBe(1);
    expect(vanished).toBe(true);
  });

  it('lists the archive instead when its index cannot be read, and says so: a damaged index never blocks a restore', async () => {
    for (let segment = 1; segment <= 8; segment++) await storeSegment(nas, 1, segment);
    await ensureWalIndex(nas, segmentSize);
    const damaged = join(dir.path, 'nas', ...page(0, 8).split('/'));
    const bytes = await readFile(damaged);
    bytes[10] = (bytes[10] ?? 0) ^ 0xff;
    await writeFile(damaged, bytes);
    const catalog = await WalCatalog.load([nas], segmentSize);
    expect(catalog.segments(1).map((holding) => holding.file)).toEqual(Array.from({ length: 8 }, (_, at) => segmentFileName(1, BigInt(at + 1), segmentSize)));
    expect((await catalog.summary(1, catalog.segments(1)[7] ?? fail(), false))?.restorePoints).toEqual([]);
    expect(catalog.warnings).toEqual([expect.stringContaining("the WAL index of repository 'nas' could not be read, so its archive was listed instead (run `drc verify --repair` to rebuild it)")]);
    await rm(damaged);
    expect((await WalCatalog.load([nas], segmentSize)).segments(1)).toHaveLength(8);
  });

  it('verify reports an index that no longer matches the archive, and --repair rebuilds it', async () => {
    for (let segment = 1; segment <= 8; segment++) await storeSegment(nas, 1, segment);
    for (let segment = 1; segment <= 8; segment++) await storeSegment(usb, 1, segment);
    await ensureWalIndex(nas, segmentSize);
    // A page damaged on disk: its bytes no longer authenticate.
    const damaged = join(dir.path, 'nas', ...page(0, 8).split('/'));
    const bytes = await readFile(damaged);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    await writeFile(damaged, bytes);
    expect((await checkWalIndex(nas)).problems).toEqual([expect.stringContaining(page(0, 8))]);

    const report = await verifyRepositories(set, { repair: false });
    expect(report.ok).toBe(false);
    expect(report.repositories.find((result) => result.repository === 'nas')?.problems).toEqual([expect.objectContaining({ object: walIndexPrefix, problem: 'corrupt', repaired: false })]);

    const repaired = await verifyRepositories(set, { repair: true });
    expect(repaired.repositories.find((result) => result.repository === 'nas')?.problems).toEqual([expect.objectContaining({ object: walIndexPrefix, repaired: true, detail: expect.stringContaining('rebuilt from the 8 segment(s)') as unknown })]);
    expect((await readWalIndex(nas))?.segments.get(1)?.size).toBe(8);
    expect((await verifyRepositories(set, { repair: false })).ok).toBe(true);
  });

  it('verify finds a segment stored below the newest indexed one that the index does not name', async () => {
    for (const segment of [1, 2, 4]) await storeSegment(nas, 1, segment);
    await ensureWalIndex(nas, segmentSize);
    await storeSegment(nas, 1, 3);
    expect((await checkWalIndex(nas)).problems).toEqual([`segment ${segmentFileName(1, 3n, segmentSize)} of timeline 1 is stored but missing from the WAL index`]);
    await rm(join(dir.path, 'nas', 'wal', '00000001', segmentFileName(1, 4n, segmentSize)));
    expect((await checkWalIndex(nas)).problems).toContain(`the WAL index names segment ${segmentFileName(1, 4n, segmentSize)} of timeline 1, which the repository does not hold`);
    expect(await rebuildWalIndex(nas)).toEqual({ segments: 3, unsummarized: 0 });
    expect((await checkWalIndex(nas)).problems).toEqual([]);
  });

  it('sync records in the destination index what it copied, also when a cut-short sync is run again', async () => {
    for (let segment = 1; segment <= 12; segment++) await storeSegment(nas, 1, segment);
    await nas.writeNamedObject(walHistoryObject(1), Buffer.from(''));
    await ensureWalIndex(usb, segmentSize);
    // A sync cut short: some segments reached the stick, its index was never told.
    for (let segment = 1; segment <= 4; segment++) await storeSegment(usb, 1, segment);
    await syncRepositories(set, { from: 'nas', to: 'usb' });
    const index = await readWalIndex(usb);
    expect(index?.segments.get(1)?.size).toBe(12);
    expect(index?.segments.get(1)?.get(segmentFileName(1, 10n, segmentSize))?.summary?.restorePoints).toEqual([expect.objectContaining({ name: 'point-10' })]);
    expect(index?.histories.has(1)).toBe(true);
    expect((await checkWalIndex(usb)).problems).toEqual([]);
  });
});
