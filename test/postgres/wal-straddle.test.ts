import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackups } from '../../src/main/engines/backup/catalog.js';
import { selectBackup } from '../../src/main/engines/restore/select.js';
import { WalCatalog } from '../../src/main/engines/wal/catalog.js';
import { formatLsn, parseLsn, segmentFileName, segmentNumber, segmentStart, type Lsn } from '../../src/main/postgres/lsn.js';
import { WalReader } from '../../src/main/postgres/wal/reader.js';
import type { Repository } from '../../src/main/repo/repository.js';
import { readWalSummary, walSummaryObject, type WalSummary } from '../../src/main/repo/wal-archive.js';
import { createContext, withRepositorySet } from '../../src/main/services/context.js';
import { streamWalForever } from '../../src/main/services/wal.js';
import { drc } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, stopAllClusters, type TestCluster } from '../support/postgres.js';

/**
 * A restore point whose record starts in one WAL segment and ends in the next, archived
 * both ways: `wal push` once per segment (the two segments by separate commands, the
 * second into a repository the first never reached) and `wal stream`. Both must put it in
 * the summary of the segment where it ends, once, and `restore --name` must find it.
 */

process.env.DRC_TEST_PASSPHRASE = 'wal straddle passphrase';
afterAll(stopAllClusters);

const pointName = 'straddles-the-boundary';

interface Straddle {
  /** Where the restore point record starts (in segment N) and the LSN the server returned (its end, in N+1). */
  readonly start: Lsn;
  readonly end: Lsn;
  readonly segment: bigint;
}

const lsnOf = async (cluster: TestCluster, expression: string): Promise<Lsn> => parseLsn((await cluster.sql<{ lsn: string }>(`SELECT (${expression})::text AS lsn`))[0]?.lsn ?? '');

/**
 * Pads WAL with logical messages until the insert position is 48 bytes before a segment
 * boundary, then creates the restore point there: its 98-byte record then straddles.
 * The background writer may slip a record in between; the attempt is then repeated.
 */
async function straddleRestorePoint(cluster: TestCluster, segmentSize: number): Promise<Straddle> {
  const size = BigInt(segmentSize);
  for (let round = 0; round < 400; round++) {
    const insert = await lsnOf(cluster, 'pg_current_wal_insert_lsn()');
    const left = Number((insert / size + 1n) * size - insert);
    if (left >= 8 && left <= 96) {
      const [row] = await cluster.sql<{ start: string; end: string }>('SELECT pg_current_wal_insert_lsn()::text AS start, pg_create_restore_point($1)::text AS end', [pointName]);
      const start = parseLsn(row?.start ?? '');
      const end = parseLsn(row?.end ?? '');
      if (segmentNumber(start, segmentSize) + 1n === segmentNumber(end, segmentSize) && end - start < 200n) return { start, end, segment: segmentNumber(start, segmentSize) };
      throw new Error(`the restore point did not straddle: ${formatLsn(start)}–${formatLsn(end)}`);
    }
    // Leave 48 bytes: the record's length is what is wanted minus the page headers it will cross.
    const want = left - 48;
    const pageLeft = 8192 - Number(insert % 8192n);
    const crossings = want > pageLeft ? Math.ceil((want - pageLeft) / (8192 - 24)) : 0;
    const record = want - 24 * crossings;
    // XLogRecord (24) + main data header (2 bytes, or 5 past 255) + xl_logical_message (24) + prefix 'p\0' (2) + content.
    const content = Math.max(0, 26 + record - 52 <= 255 ? record - 52 : record - 55);
    await cluster.sql("SELECT pg_logical_emit_message(false, 'p', repeat('x', $1))", [Math.min(content, 4_000_000)]);
  }
  throw new Error('could not bring the insert position near a segment boundary');
}

async function summaryOf(repository: Repository, timeline: number, segment: bigint, segmentSize: number): Promise<WalSummary> {
  return readWalSummary(repository, walSummaryObject(timeline, segmentFileName(timeline, segment, segmentSize)));
}

function namedPoints(summary: WalSummary): WalSummary['restorePoints'] {
  return summary.restorePoints.filter((point) => point.name === pointName);
}

describe('a restore point straddling a segment boundary (PostgreSQL 17)', () => {
  let source: TestCluster;
  let pushRoot: string;
  let streamRoot: string;
  let pushConfig: DrcTestConfig;
  let nasOnly: string;
  let streamConfig: DrcTestConfig;
  let segmentSize: number;
  let straddle: Straddle;
  const controller = new AbortController();
  let streaming: Promise<unknown> = Promise.resolve();
  /** The segment the push archive starts with: the one written before its backup. */
  let firstPushed: bigint;

  beforeAll(async () => {
    source = await startCluster({ major: 17, settings: { wal_keep_size: "'1GB'", autovacuum: 'off' } });
    segmentSize = Number((await source.sql<{ bytes: string }>("SELECT setting AS bytes FROM pg_settings WHERE name = 'wal_segment_size'"))[0]?.bytes);
    pushRoot = await makeTempDir('drc-straddle-push-');
    streamRoot = await makeTempDir('drc-straddle-stream-');
    pushConfig = await writeTestConfig(pushRoot, source, ['nas', 'usb']);
    streamConfig = await writeTestConfig(streamRoot, source, ['nas']);
    // Segment N goes to the NAS alone; N+1 to both, so USB never holds N itself.
    nasOnly = join(pushRoot, 'nas-only.json');
    const full = JSON.parse(await readFile(pushConfig.path, 'utf8')) as { repositories: Array<{ name: string }> };
    await writeFile(nasOnly, JSON.stringify({ ...full, repositories: full.repositories.filter((repository) => repository.name === 'nas') }));
    for (const config of [pushConfig.path, streamConfig.path]) expect((await drc(['repo', 'init', '--config', config, '--kdf-cost', '10'])).code).toBe(0);
    // The stream runs (its slot exists) before the backups, so its archive reaches back to them.
    streaming = streamWalForever(await createContext({ configPath: streamConfig.path }), { signal: controller.signal });
    streaming.catch(() => undefined);
    for (let waited = 0; (await source.sql('SELECT 1 FROM pg_replication_slots WHERE active')).length === 0; waited += 100) {
      if (waited > 20_000) throw new Error('wal stream did not start');
      await sleep(100);
    }
    firstPushed = segmentNumber(await lsnOf(source, 'pg_current_wal_lsn()'), segmentSize);
    for (const config of [pushConfig.path, streamConfig.path]) expect((await drc(['backup', '--config', config])).code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    controller.abort();
    await streaming.catch(() => undefined);
    await source.remove();
    await rm(pushRoot, { recursive: true, force: true });
    await rm(streamRoot, { recursive: true, force: true });
  });

  it('summarizes it in the segment where it ends, once, by wal push and by wal stream alike, and restore --name finds it from either', async () => {
    try {
      straddle = await straddleRestorePoint(source, segmentSize);
      await source.sql('SELECT pg_switch_wal()');
      await source.sql('CREATE TABLE after_the_point AS SELECT 1 AS one');
      await source.sql('SELECT pg_switch_wal()');

      // What PostgreSQL wrote: the record starts in N and ends in N+1.
      const names = [straddle.segment, straddle.segment + 1n].map((segment) => segmentFileName(1, segment, segmentSize));
      const files = await Promise.all(names.map((name) => readFile(join(source.dataDir, 'pg_wal', name))));
      const reader = new WalReader({ segmentSize, startLsn: segmentStart(straddle.segment, segmentSize) });
      const events = files.flatMap((file) => reader.push(file));
      expect(events.filter((event) => event.kind === 'restore-point' && event.name === pointName)).toMatchObject([{ lsn: straddle.start, endLsn: straddle.end }]);

      // wal push, as archive_command runs it: one command per segment, N into the NAS alone, N+1 into both.
      for (let segment = firstPushed; segment < straddle.segment; segment++) {
        expect((await drc(['wal', 'push', join(source.dataDir, 'pg_wal', segmentFileName(1, segment, segmentSize)), '--config', pushConfig.path])).code).toBe(0);
      }
      expect((await drc(['wal', 'push', join(source.dataDir, 'pg_wal', names[0] ?? ''), '--config', nasOnly])).code).toBe(0);
      expect((await drc(['wal', 'push', join(source.dataDir, 'pg_wal', names[1] ?? ''), '--config', pushConfig.path])).code).toBe(0);

      // wal stream: until it has stored N+1 complete.
      await withRepositorySet(await createContext({ configPath: streamConfig.path }), undefined, async (set) => {
        for (let waited = 0; ; waited += 200) {
          const catalog = await WalCatalog.load(set.repositories, segmentSize);
          if (catalog.segments(1).some((holding) => holding.segment === straddle.segment + 1n && holding.complete.length > 0)) break;
          if (waited > 30_000) throw new Error('wal stream did not store the segment after the restore point');
          await sleep(200);
        }
      });
    } finally {
      controller.abort();
      await streaming;
    }

    const pushed = await summariesIn(pushConfig.path, ['nas', 'usb']);
    const streamed = await summariesIn(streamConfig.path, ['nas']);
    const pushedBefore = pushed.get('nas')?.[0];
    const streamedBefore = streamed.get('nas')?.[0];
    // Segment N names no restore point and hands the record's head over; N+1 names it once, at the LSN the server returned.
    for (const [before, after] of [...pushed.values(), ...streamed.values()]) {
      if (after === undefined) throw new Error('no summary of segment N+1');
      if (before !== undefined) expect(namedPoints(before)).toEqual([]);
      expect(namedPoints(after)).toEqual([{ name: pointName, lsn: formatLsn(straddle.end), time: expect.any(String) as string }]);
    }
    expect(pushedBefore?.continuedRecord?.lsn).toBe(formatLsn(straddle.start));
    expect(streamedBefore?.continuedRecord).toEqual(pushedBefore?.continuedRecord);
    // The USB copy of N+1 was summarized without N in that repository: from the NAS's summary of N.
    expect(pushed.get('usb')?.[1]).toEqual(streamed.get('nas')?.[1]);

    // restore --name's selection, from each archive: the point is found, at its end.
    for (const config of [pushConfig.path, streamConfig.path]) {
      await withRepositorySet(await createContext({ configPath: config }), undefined, async (set) => {
        const backups = await listBackups(set.repositories);
        const catalog = await WalCatalog.load(set.repositories, segmentSize);
        const plan = await selectBackup(backups, { kind: 'name', name: pointName }, catalog);
        expect(plan.walUntilLsn).toBe(straddle.end);
      });
    }
  }, 180_000);

  /** Per repository: the summaries of N (undefined where N was not stored) and N+1. */
  async function summariesIn(config: string, names: string[]): Promise<Map<string, [WalSummary | undefined, WalSummary | undefined]>> {
    return withRepositorySet(await createContext({ configPath: config }), undefined, async (set) => {
      const found = new Map<string, [WalSummary | undefined, WalSummary | undefined]>();
      for (const name of names) {
        const repository = set.repositories.find((each) => each.name === name);
        if (!repository) throw new Error(`no repository '${name}'`);
        const read = (segment: bigint): Promise<WalSummary | undefined> => summaryOf(repository, 1, segment, segmentSize).catch(() => undefined);
        found.set(name, [await read(straddle.segment), await read(straddle.segment + 1n)]);
      }
      return found;
    });
  }
});
