import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../src/main/repo/backup-record.js';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import { copyDataDirectory, type DataDirectorySink } from '../../src/main/engines/backup/data-directory.js';
import { withSql } from '../../src/main/postgres/cluster.js';
import { segmentFileName, segmentNumber } from '../../src/main/postgres/lsn.js';
import { createContext, withRepositorySet } from '../../src/main/services/context.js';
import { drc } from '../support/cli.js';
import { writeTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters, type TestCluster, type TestMajor } from '../support/postgres.js';

process.env.DRC_TEST_PASSPHRASE = 'data directory test';
afterAll(stopAllClusters);

const digest = "SELECT count(*)::int AS rows, md5(string_agg(md5(b::text), '' ORDER BY id)) AS digest FROM bookings b";

/** A config whose cluster names its data directory, so backups read it in place. */
async function directConfig(root: string, cluster: TestCluster, dataDirectory = cluster.dataDir): Promise<string> {
  const config = await writeTestConfig(root, cluster, ['nas']);
  const json = JSON.parse(await readFile(config.path, 'utf8')) as { cluster: Record<string, unknown> };
  json.cluster.dataDirectory = dataDirectory;
  await writeFile(config.path, JSON.stringify(json));
  return config.path;
}

async function backup(config: string, type: 'full' | 'incremental'): Promise<BackupRecord> {
  const run = await drc(['backup', '--config', config, '--type', type, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return run.json<BackupRecord>();
}

describe.each([15, 16] as TestMajor[])('backups read from the data directory on PostgreSQL %i', (major) => {
  it('restore to the data at the stop point, skip what BASE_BACKUP skips, and read only changed files for an incremental', async () => {
    const source = await startCluster({ major, settings: { max_wal_size: '1GB' } });
    const root = await makeTempDir('drc-direct-');
    const config = await directConfig(root, source);
    await source.sql('CREATE TABLE bookings (id int PRIMARY KEY, vendor int, payload text)');
    await source.sql("INSERT INTO bookings SELECT g, g % 50, md5(g::text) FROM generate_series(1, 200000) g");
    await source.sql('CREATE TABLE history (id int, note text)');
    await source.sql("INSERT INTO history SELECT g, repeat('x', 200) FROM generate_series(1, 100000) g");
    await source.sql('CREATE UNLOGGED TABLE scratch (id int)');
    await source.sql('INSERT INTO scratch SELECT generate_series(1, 50000)');
    // Settled files: hint bits and the visibility map written now, not by the backup's own checkpoint.
    await source.sql('VACUUM (FREEZE, ANALYZE)');
    await source.sql('CHECKPOINT');
    await new Promise((done) => setTimeout(done, 1100));
    // Files the server owns while running, which no backup may carry.
    await mkdir(join(source.dataDir, 'base', 'pgsql_tmp'), { recursive: true });
    await writeFile(join(source.dataDir, 'base', 'pgsql_tmp', 'pgsql_tmp123.0'), 'spill');

    expect((await drc(['repo', 'init', '--config', config, '--kdf-cost', '10'])).code).toBe(0);
    const full = await backup(config, 'full');
    const paths = await backupPaths(config, full.id);
    expect(paths).toContain('backup_label');
    expect(paths).toContain('global/pg_control');
    expect(paths.some((path) => path.startsWith('pg_wal/0000000'))).toBe(true);
    expect(paths).not.toContain('postmaster.pid');
    expect(paths.some((path) => path.includes('pgsql_tmp123'))).toBe(false);
    const [scratch] = await source.sql<{ path: string }>("SELECT pg_relation_filepath('scratch') AS path");
    expect(paths).toContain(`${scratch?.path ?? ''}_init`);
    expect(paths).not.toContain(scratch?.path);

    // A contiguous update touches bookings only: history's files are carried over without being read.
    await new Promise((done) => setTimeout(done, 1100));
    await source.sql('UPDATE bookings SET vendor = vendor + 1 WHERE id <= 10000');
    await source.sql('CHECKPOINT');
    const [expected] = await source.sql<{ rows: number; digest: string }>(digest);
    const incremental = await backup(config, 'incremental');
    expect(incremental.bytesRead).toBeLessThan(0.8 * full.bytesRead);

    await source.stop();
    const target = join(root, 'restored');
    const restored = await drc(['restore', '--config', config, '--target-dir', target, '--immediate', '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.json<RestoreReport>().backupId).toBe(incremental.id);
    const copy = await startClusterFromDataDir(target, major);
    expect((await copy.sql<{ rows: number; digest: string }>(digest))[0]).toEqual(expected);
    expect((await copy.sql<{ rows: number }>('SELECT count(*)::int AS rows FROM history'))[0]?.rows).toBe(100000);
    // An unlogged table comes back empty, from its init fork, as after a crash.
    expect((await copy.sql<{ rows: number }>('SELECT count(*)::int AS rows FROM scratch'))[0]?.rows).toBe(0);
    await copy.remove();
    await source.remove();
  });
});

describe('a data directory that is not the connected server’s (PostgreSQL 15)', () => {
  it('fails the backup with a clear error and leaves no manifest', async () => {
    const source = await startCluster({ major: 15 });
    const other = await startCluster({ major: 15 });
    const root = await makeTempDir('drc-direct-wrong-');
    const config = await directConfig(root, source, other.dataDir);
    const init = await drc(['repo', 'init', '--config', config, '--kdf-cost', '10']);
    expect(init.code, init.stdout + init.stderr).toBe(0);
    const run = await drc(['backup', '--config', config, '--type', 'full', '--json']);
    expect(run.code).not.toBe(0);
    expect(run.stdout + run.stderr).toContain('BACKUP_FAILED');
    expect(run.stdout + run.stderr).toContain(other.dataDir);
    expect(await readdir(join(root, 'nas', 'backups')).catch(() => [])).toEqual([]);
    // Nothing was left on the server: no slot holding WAL back.
    expect(await source.sql('SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    await other.remove();
    await source.remove();
  });
});

/** The file paths a backup's manifest lists. */
async function backupPaths(configPath: string, id: string): Promise<string[]> {
  const manifest = await withRepositorySet(await createContext({ configPath }), 'nas', async (set) => {
    const repository = set.repositories[0];
    if (!repository) throw new Error('nas is not open');
    return repository.readManifest(id);
  });
  return manifest.files.map((file) => file.path);
}

describe('a backup user without the privileges of an in-place backup (PostgreSQL 15)', () => {
  it('fails with the missing privilege named and what to grant, leaving no manifest and no slot', async () => {
    const source = await startCluster({ major: 15 });
    await source.sql('CREATE ROLE backup_operator LOGIN REPLICATION');
    const root = await makeTempDir('drc-direct-privileges-');
    const config = await directConfig(root, source);
    const json = JSON.parse(await readFile(config, 'utf8')) as { cluster: Record<string, unknown> };
    json.cluster.user = 'backup_operator';
    await writeFile(config, JSON.stringify(json));
    expect((await drc(['repo', 'init', '--config', config, '--kdf-cost', '10'])).code).toBe(0);

    const run = await drc(['backup', '--config', config, '--type', 'full', '--json']);
    expect(run.code).not.toBe(0);
    const output = run.stdout + run.stderr;
    expect(output).toContain('BACKUP_FAILED');
    expect(output).toMatch(/permission denied|must be superuser|pg_read_all_settings/);
    expect(output).toContain('pg_backup_start');
    expect(await readdir(join(root, 'nas', 'backups')).catch(() => [])).toEqual([]);
    expect(await source.sql('SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    await source.remove();
  });
});

describe('a WAL segment of the backup that is gone from pg_wal (PostgreSQL 15)', () => {
  it('fails the backup naming the segment, instead of committing a backup that cannot be restored', async () => {
    const source = await startCluster({ major: 15 });
    await source.sql('CREATE TABLE bookings AS SELECT g AS id FROM generate_series(1, 1000) g');
    const [setting] = await source.sql<{ setting: string }>("SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'");
    const walSegmentSize = Number(setting?.setting);
    let startSegment = '';
    let removed = false;
    const sink: DataDirectorySink = {
      // The start segment disappears while the files are copied (as if something cleaned pg_wal).
      onEntry: async () => {
        if (removed) return;
        removed = true;
        // Enough WAL that the server has finished with that segment and moved on, then it goes.
        await source.sql('INSERT INTO bookings SELECT g FROM generate_series(1, 400000) g');
        await source.sql('SELECT pg_switch_wal()');
        await rm(join(source.dataDir, 'pg_wal', startSegment));
      },
      readContent: async (size, read) => {
        const into = Buffer.alloc(Math.min(size, 1024 * 1024));
        for (let done = 0; done < size; ) {
          const filled = await read(into.subarray(0, Math.min(into.length, size - done)));
          if (filled === 0) break;
          done += filled;
        }
      },
      onEntryEnd: () => undefined,
    };
    const failure = await withSql(source.connection, (client) =>
      copyDataDirectory(client, source.dataDir, {
        label: 'test',
        walSegmentSize,
        sink,
        onStart: (lsn) => {
          startSegment = segmentFileName(1, segmentNumber(lsn, walSegmentSize), walSegmentSize);
        },
      }),
    ).catch((error: unknown) => error);
    expect(removed).toBe(true);
    expect(failure).toMatchObject({ code: 'BACKUP_FAILED' });
    // Either the segment is missing, or the server re-created it without its first records.
    expect((failure as Error).message).toMatch(new RegExp(`${startSegment}|valid up to`));
    // The server goes on, with no backup running and no slot left behind.
    expect(await source.sql('SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    expect((await source.sql<{ rows: number }>('SELECT count(*)::int AS rows FROM bookings'))[0]?.rows).toBe(401000);
    await source.remove();
  });
});

describe('a data directory on PostgreSQL 17 that summarizes WAL', () => {
  it('is streamed after all, so the next incremental gets changed blocks from the server', async () => {
    const source = await startCluster({ major: 17 });
    const root = await makeTempDir('drc-direct-17-');
    const config = await directConfig(root, source);
    await source.sql("CREATE TABLE bookings AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 100000) g");
    expect((await drc(['repo', 'init', '--config', config, '--kdf-cost', '10'])).code).toBe(0);
    const full = await backup(config, 'full');
    await source.sql('UPDATE bookings SET payload = upper(payload) WHERE id <= 1000');
    const incremental = await backup(config, 'incremental');
    expect(incremental.nativeIncremental).toBe(true);
    expect(incremental.incrementalFrom).toBe(full.id);
    await source.remove();
  });
});
