import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import { listBackups } from '../../src/main/engines/backup/catalog.js';
import { archivedWalSegmentSize } from '../../src/main/engines/wal/segment-size.js';
import { parseSegmentFileName } from '../../src/main/postgres/lsn.js';
import { readWalSummary, walSummaryObject } from '../../src/main/repo/wal-archive.js';
import { createContext, withRepositorySet } from '../../src/main/services/context.js';
import { drc } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters, type TestCluster } from '../support/postgres.js';

/**
 * A cluster made with `initdb --wal-segsize=64`: nothing may assume 16 MiB segments. Its
 * backup records the server's size, `wal push` takes each file's own, the WAL index and
 * summaries number segments with it, and a restore to a named point starts.
 */

process.env.DRC_TEST_PASSPHRASE = 'sixty-four MiB segments';
afterAll(stopAllClusters);

const MiB = 1024 * 1024;

describe('64 MiB WAL segments (PostgreSQL 17)', () => {
  let source: TestCluster;
  let root: string;
  let config: DrcTestConfig;

  beforeAll(async () => {
    source = await startCluster({ major: 17, initdbArgs: ['--wal-segsize=64'], settings: { wal_keep_size: "'2GB'", autovacuum: 'off' } });
    root = await makeTempDir('drc-segsize-');
    config = await writeTestConfig(root, source, ['nas']);
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await source.remove();
    await rm(root, { recursive: true, force: true });
  });

  it('backs up, archives with wal push, restores to a named point and starts', async () => {
    expect((await source.sql<{ wal_segment_size: string }>('SHOW wal_segment_size'))[0]?.wal_segment_size).toBe('64MB');
    await source.sql('CREATE TABLE guests (batch int NOT NULL, name text)');
    expect((await drc(['backup', '--config', config.path])).code).toBe(0);

    await source.sql("INSERT INTO guests SELECT 1, 'before ' || g FROM generate_series(1, 1000) g");
    await source.sql('SELECT pg_switch_wal()');
    expect((await drc(['restore-point', 'before-batch-2', '--config', config.path])).code).toBe(0);
    await source.sql("INSERT INTO guests SELECT 2, 'after ' || g FROM generate_series(1, 1000) g");
    await source.sql('SELECT pg_switch_wal()');
    await source.sql('CREATE TABLE later AS SELECT 1 AS one');
    await source.sql('SELECT pg_switch_wal()');

    // What archive_command would be given: every complete segment, each by its own command.
    const [current] = await source.sql<{ file: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS file');
    const segments = (await readdir(join(source.dataDir, 'pg_wal'))).filter((name) => /^[0-9A-F]{24}$/.test(name) && name < (current?.file ?? '')).sort();
    expect(segments.length).toBeGreaterThanOrEqual(3);
    for (const segment of segments) expect((await drc(['wal', 'push', join(source.dataDir, 'pg_wal', segment), '--config', config.path])).code).toBe(0);

    await withRepositorySet(await createContext({ configPath: config.path }), undefined, async (set) => {
      const backups = await listBackups(set.repositories);
      expect(backups.at(-1)?.record.walSegmentSize).toBe(64 * MiB);
      // Without a backup to ask, the archive's own WAL index says the size.
      expect(await archivedWalSegmentSize(set.repositories, [])).toBe(64 * MiB);
      const repository = set.repositories[0];
      const last = segments.at(-1) ?? '';
      if (!repository) throw new Error('no repository');
      const summary = await readWalSummary(repository, walSummaryObject(1, last));
      expect(summary.bytes).toBe(64 * MiB);
      // 64 MiB segments: 64 of them per 4 GiB "log" file, so the name's last part counts to 0x3F.
      expect(parseSegmentFileName(last, 64 * MiB)?.segment).toBe(BigInt(parseInt(last.slice(16), 16)));
    });

    const target = join(root, 'restored');
    const restored = await drc(['restore', '--config', config.path, '--target-dir', target, '--name', 'before-batch-2', '--json']);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    expect(restored.json<RestoreReport>().backupId).toBeDefined();
    const copy = await startClusterFromDataDir(target, 17);
    try {
      expect((await copy.sql<{ wal_segment_size: string }>('SHOW wal_segment_size'))[0]?.wal_segment_size).toBe('64MB');
      const batches = await copy.sql<{ batch: number; rows: string }>('SELECT batch, count(*)::text AS rows FROM guests GROUP BY batch ORDER BY batch');
      expect(batches).toEqual([{ batch: 1, rows: '1000' }]);
    } finally {
      await copy.remove();
    }
  }, 300_000);
});
