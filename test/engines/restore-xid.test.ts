import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import { DrcError } from '../../src/shared/errors.js';
import type { CatalogEntry } from '../../src/main/engines/backup/catalog.js';
import { selectBackup } from '../../src/main/engines/restore/select.js';
import { WalCatalog } from '../../src/main/engines/wal/catalog.js';
import { xidRuns } from '../../src/main/engines/wal/segment-summary.js';
import { formatLsn, segmentFileName, segmentStart } from '../../src/main/postgres/lsn.js';
import { initRepositorySet, openRepositorySet } from '../../src/main/repo/repository-set.js';
import { Repository } from '../../src/main/repo/repository.js';
import { endsTransaction, walSegmentObject, writeWalSummary, type WalSummary } from '../../src/main/repo/wal-archive.js';
import { LocalTarget } from '../../src/main/storage/local.js';
import { DelegatingTarget } from '../../src/main/storage/wrappers/delegate.js';
import { drc, type CliRun } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, startPromotedCopy, stopAllClusters, type TestCluster, type TestMajor } from '../support/postgres.js';
import { tempDirectory } from '../support/temp.js';
import { whileStreamingWal } from '../support/wal-streaming.js';

process.env.DRC_TEST_PASSPHRASE = 'restore xid test';
afterAll(stopAllClusters);

/**
 * Issue 10, item 1: an xid target must be reachable. PostgreSQL stops at
 * recovery_target_xid when it replays that transaction's COMMIT or ABORT record; the WAL
 * summaries list the transactions that end in each segment, so a restore knows before
 * writing anything whether recovery will meet the record, and copies WAL only up to it.
 */

const segmentSize = 16 * 1024 * 1024;

describe('ended transactions in WAL summaries', () => {
  it('folds xids into sorted runs, and finds an xid in them', () => {
    const runs = xidRuns([907, 905, 906, 1200, 4_294_967_295, 3, 905]);
    expect(runs).toEqual([
      [3, 3],
      [905, 907],
      [1200, 1200],
      [4_294_967_295, 4_294_967_295],
    ]);
    const summary = { endedXids: runs } as WalSummary;
    for (const xid of [3, 905, 906, 907, 1200, 4_294_967_295]) expect(endsTransaction(summary, xid)).toBe(true);
    for (const xid of [0, 4, 904, 908, 1199, 1201]) expect(endsTransaction(summary, xid)).toBe(false);
    expect(endsTransaction({} as WalSummary, 905)).toBeUndefined();
  });
});

describe('choosing the WAL for an xid target', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let repository: Repository;
  const reads: string[] = [];

  /** Segment n (1…6) holds the ends of transactions 100 + 10(n-1) … 109 + 10(n-1), as a busy server writes them. */
  const store = async (withXids: boolean): Promise<void> => {
    for (let segment = 1; segment <= 6; segment++) {
      const file = segmentFileName(1, BigInt(segment), segmentSize);
      const first = 100 + 10 * (segment - 1);
      const summary: WalSummary = {
        timeline: 1,
        segment: file,
        partial: false,
        bytes: segmentSize,
        endLsn: formatLsn(segmentStart(BigInt(segment + 1), segmentSize) - 40n),
        commits: 10,
        restorePoints: [],
        ...(withXids ? { endedXids: xidRuns(Array.from({ length: 10 }, (_, offset) => first + offset)) } : {}),
      };
      await repository.writeNamedObject(walSegmentObject(1, file), Buffer.from(`segment ${file}`));
      await writeWalSummary(repository, summary);
    }
  };

  const backup: CatalogEntry = {
    repositories: ['nas'],
    record: {
      id: '20261101T000000F',
      type: 'full',
      reason: 'test',
      operator: 'dba',
      host: 'db1',
      cluster: 'main',
      startedAt: '2026-11-01T00:00:00Z',
      stoppedAt: '2026-11-01T00:01:00Z',
      startLsn: formatLsn(segmentStart(1n, segmentSize) + 40n),
      stopLsn: formatLsn(segmentStart(1n, segmentSize) + 4096n),
      timeline: 1,
      serverVersion: '17.0',
      serverVersionNum: 170000,
      systemId: '7000000000000000000',
      walSegmentSize: segmentSize,
      nextXid: '100',
      bytesRead: 0,
      bytesNew: 0,
      bytesStored: 0,
      durationMs: 0,
      files: 0,
      nativeIncremental: false,
      tablespaces: [],
      repositories: ['nas'],
      missingCopies: [],
    },
  };

  const catalog = (): Promise<WalCatalog> => WalCatalog.load([repository], segmentSize);

  beforeEach(async () => {
    dir = await tempDirectory('drc-xid-select-');
    const target = new LocalTarget({ name: 'nas', path: join(dir.path, 'nas') });
    await initRepositorySet([target], 'pass', { scrypt: { N: 2 ** 10, r: 8, p: 1 } });
    const opened = (await openRepositorySet([target], 'pass')).repositories[0];
    if (!opened) throw new Error('expected the repository');
    // Counts the summaries read, to show the search stops at the first hit.
    const watched = new (class extends DelegatingTarget {
      override get(name: string, range?: { offset: number; length: number }): Promise<Buffer> {
        reads.push(name);
        return super.get(name, range);
      }
    })(opened.target);
    repository = new Repository(watched, opened.header, opened.keys);
    reads.length = 0;
  });
  afterEach(async () => {
    await dir.remove();
  });

  it('copies WAL through the segment where the transaction ends, reading summaries only that far', async () => {
    await store(true);
    const walCatalog = await catalog();
    reads.length = 0;
    const plan = await selectBackup([backup], { kind: 'xid', xid: '125' }, walCatalog);
    expect(plan.walUntilLsn).toBe(segmentStart(3n, segmentSize));
    expect(plan.warnings).toBeUndefined();
    const summariesRead = reads.filter((name) => name.endsWith('.summary')).map((name) => name.slice(-32, -8));
    // Segments 1 to 3 while searching, and the newest one for the end of the window: never 4 and 5.
    expect(summariesRead.sort()).toEqual([1, 2, 3, 6].map((segment) => segmentFileName(1, BigInt(segment), segmentSize)));
  });

  it('reads txid_current() values with an epoch by their low 32 bits, as PostgreSQL does', async () => {
    await store(true);
    const plan = await selectBackup([backup], { kind: 'xid', xid: String((1n << 32n) + 151n) }, await catalog());
    expect(plan.walUntilLsn).toBe(segmentStart(6n, segmentSize));
  });

  it('refuses an xid that ends nowhere in the window, naming the window', async () => {
    await store(true);
    const refused = await selectBackup([backup], { kind: 'xid', xid: '160' }, await catalog()).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DrcError);
    expect((refused as DrcError).code).toBe('RECOVERY_TARGET_UNREACHABLE');
    expect((refused as DrcError).message).toContain('transaction 160');
    expect((refused as DrcError).hints.join('\n')).toMatch(/recovery can reach any moment from .* on timeline 1/);
  });

  it('refuses as a hole when a missing segment cuts the window before the transaction could end', async () => {
    await store(true);
    await repository.target.delete([walSegmentObject(1, segmentFileName(1, 3n, segmentSize))]);
    const refused = await selectBackup([backup], { kind: 'xid', xid: '145' }, await catalog()).catch((error: unknown) => error);
    expect((refused as DrcError).code).toBe('WAL_MISSING');
    // Before the hole it is still found.
    expect((await selectBackup([backup], { kind: 'xid', xid: '115' }, await catalog())).walUntilLsn).toBe(segmentStart(2n, segmentSize));
  });

  it('accepts an xid it cannot check in summaries written before ended transactions were recorded, and says so', async () => {
    await store(false);
    const plan = await selectBackup([backup], { kind: 'xid', xid: '999' }, await catalog());
    expect(plan.walUntilLsn).toBeUndefined();
    expect(plan.warnings?.join('\n')).toMatch(/transaction 999 could not be checked before restoring: 6 WAL segment summaries/);
  });
});

describe.each([17, 15] as TestMajor[])('restore --xid on PostgreSQL %i', (major) => {
  let source: TestCluster;
  let root: string;
  let config: DrcTestConfig;
  const xids = { first: '', aborted: '', second: '' };

  beforeAll(async () => {
    source = await startCluster({ major });
    root = await makeTempDir('drc-xid-');
    config = await writeTestConfig(root, source);
    await source.sql('CREATE TABLE rsvp (id serial PRIMARY KEY, batch int NOT NULL)');
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    expect((await drc(['backup', '--config', config.path])).code).toBe(0);
    const client = new pg.Client(source.connection);
    await client.connect();
    /** One transaction writing a batch; its xid as txid_current() shows it (the DBA's view). */
    const batch = async (number: number, end: 'COMMIT' | 'ROLLBACK'): Promise<string> => {
      await client.query('BEGIN');
      await client.query(`INSERT INTO rsvp (batch) SELECT ${String(number)} FROM generate_series(1, 50)`);
      const [row] = (await client.query<{ xid: string }>('SELECT txid_current()::text AS xid')).rows;
      await client.query(end);
      return row?.xid ?? '';
    };
    try {
      await whileStreamingWal(source, config.path, async () => {
        xids.first = await batch(1, 'COMMIT');
        // Each transaction ends in its own segment, so the WAL copied for the first stops short of the rest.
        await source.sql('SELECT pg_switch_wal()');
        xids.aborted = await batch(99, 'ROLLBACK');
        await source.sql('SELECT pg_switch_wal()');
        xids.second = await batch(2, 'COMMIT');
        await source.sql('SELECT pg_switch_wal()');
        await source.sql('INSERT INTO rsvp (batch) SELECT 3 FROM generate_series(1, 50)');
      });
    } finally {
      await client.end();
    }
  });

  afterAll(async () => {
    await source.remove();
    await rm(root, { recursive: true, force: true });
  });

  const restoreInto = async (name: string, args: string[]): Promise<{ run: CliRun; target: string }> => {
    const target = join(root, name);
    return { run: await drc(['restore', '--config', config.path, '--target-dir', target, '--json', ...args]), target };
  };

  const batchesIn = async (target: string): Promise<number[]> => {
    const copy = await startPromotedCopy(target, major);
    try {
      const rows = await copy.sql<{ batch: number }>('SELECT DISTINCT batch FROM rsvp ORDER BY batch');
      return rows.map((row) => row.batch);
    } finally {
      await copy.remove();
    }
  };

  it('restores to a committed xid: the copy starts with that transaction and nothing later, from WAL copied only that far', async () => {
    const { run, target } = await restoreInto('committed', ['--xid', xids.first]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = run.json<RestoreReport>();
    const latest = await restoreInto('latest', ['--latest']);
    expect(latest.run.code).toBe(0);
    expect(report.walSegments).toBeLessThan(latest.run.json<RestoreReport>().walSegments);
    expect(await batchesIn(target)).toEqual([1]);
  });

  it('restores to a rolled-back xid, and to a committed one given with an epoch', async () => {
    const aborted = await restoreInto('aborted', ['--xid', xids.aborted]);
    expect(aborted.run.stderr).toBe('');
    expect(aborted.run.code).toBe(0);
    expect(await batchesIn(aborted.target)).toEqual([1]);
    // Epoch 1: PostgreSQL keeps the low 32 bits, and so does the check.
    const withEpoch = await restoreInto('epoch', ['--xid', String((1n << 32n) + BigInt(xids.second))]);
    expect(withEpoch.run.stderr).toBe('');
    expect(withEpoch.run.code).toBe(0);
    expect(await batchesIn(withEpoch.target)).toEqual([1, 2]);
  });

  it('refuses an xid no transaction in the archived WAL ended with, before writing anything', async () => {
    const { run, target } = await restoreInto('beyond', ['--xid', String(BigInt(xids.second) + 1_000_000n)]);
    expect(run.code).toBe(1);
    const error = run.json<{ error: { code: string; hints: string[] } }>().error;
    expect(error.code).toBe('RECOVERY_TARGET_UNREACHABLE');
    expect(error.hints.join('\n')).toMatch(/recovery can reach any moment from .* to /);
    await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
