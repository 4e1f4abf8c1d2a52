import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../src/main/repo/backup-record.js';
import { createContext, withRepositorySet } from '../../src/main/services/context.js';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import { drc } from '../support/cli.js';
import { writeTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters, type TestCluster } from '../support/postgres.js';

/**
 * A cluster made with `initdb --waldir`, backed up by reading its data directory in place
 * (issue 10, leftover): pg_wal is a link to another directory, which a backup must hold as
 * a directory and a restore must make a real one, as PostgreSQL's BASE_BACKUP does. Other
 * links in the data directory are skipped with a warning, as BASE_BACKUP skips them.
 */
process.env.DRC_TEST_PASSPHRASE = 'a wal directory of its own';
afterAll(stopAllClusters);

const digest = "SELECT count(*)::int AS rows, md5(string_agg(md5(t::text), '' ORDER BY id)) AS digest FROM trips t";

describe('a data directory whose pg_wal is a link (initdb --waldir), read in place (PostgreSQL 17)', () => {
  it('backs up pg_wal as a directory, skips other links with a warning, and restores a copy that starts with the same data', async () => {
    // Without WAL summaries, 17 reads the data directory in place rather than streaming it.
    const source: TestCluster = await startCluster({ major: 17, separateWalDirectory: true, settings: { summarize_wal: 'off' } });
    const root = await makeTempDir('drc-waldir-');
    try {
      expect((await lstat(join(source.dataDir, 'pg_wal'))).isSymbolicLink()).toBe(true);
      const walDirectory = await readlink(join(source.dataDir, 'pg_wal'));

      // Links a DBA might leave: a log directory on another disk, a file kept elsewhere.
      await mkdir(join(root, 'elsewhere', 'logs'), { recursive: true });
      await writeFile(join(root, 'elsewhere', 'notes.txt'), 'kept outside the data directory');
      await symlink(join(root, 'elsewhere', 'logs'), join(source.dataDir, 'log_elsewhere'));
      await symlink(join(root, 'elsewhere', 'notes.txt'), join(source.dataDir, 'notes.txt'));

      const config = await writeTestConfig(root, source, ['nas']);
      const json = JSON.parse(await readFile(config.path, 'utf8')) as { cluster: Record<string, unknown> };
      json.cluster.dataDirectory = source.dataDir;
      await writeFile(config.path, JSON.stringify(json));

      await source.sql('CREATE TABLE trips (id int PRIMARY KEY, rider text)');
      await source.sql("INSERT INTO trips SELECT g, 'rider ' || g FROM generate_series(1, 20000) g");
      expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);

      const run = await drc(['backup', '--config', config.path, '--type', 'full', '--json']);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const record = run.json<BackupRecord>();
      expect(record.warnings).toEqual([expect.stringContaining("skipped 'log_elsewhere', a link to"), expect.stringContaining("skipped 'notes.txt', a link to")]);

      // Read in place: the manifest holds pg_wal as a directory with the backup's segments, and no other link.
      const manifest = await withRepositorySet(await createContext({ configPath: config.path }), 'nas', async (set) => {
        const nas = set.repositories[0];
        if (!nas) throw new Error('nas is not open');
        return nas.readManifest(record.id);
      });
      expect(manifest.files.find((file) => file.path === 'pg_wal')?.type).toBe('directory');
      expect(manifest.files.some((file) => file.path.startsWith('pg_wal/0000000'))).toBe(true);
      expect(manifest.files.filter((file) => file.type === 'symlink')).toEqual([]);
      expect(manifest.files.some((file) => file.path === 'log_elsewhere' || file.path === 'notes.txt')).toBe(false);

      const [expected] = await source.sql<{ rows: number; digest: string }>(digest);
      await source.stop();
      const target = join(root, 'restored');
      const restored = await drc(['restore', '--config', config.path, '--target-dir', target, '--immediate', '--json']);
      expect(restored.code, restored.stdout + restored.stderr).toBe(0);
      expect(restored.json<RestoreReport>().backupId).toBe(record.id);
      // A real directory in the target, never a link back to the source's WAL disk.
      const restoredWal = await lstat(join(target, 'pg_wal'));
      expect(restoredWal.isDirectory()).toBe(true);
      expect(restoredWal.isSymbolicLink()).toBe(false);
      expect(await readdir(target)).not.toContain('log_elsewhere');

      const copy = await startClusterFromDataDir(target, 17);
      try {
        expect((await copy.sql<{ rows: number; digest: string }>(digest))[0]).toEqual(expected);
      } finally {
        await copy.remove();
      }
      // The source's own WAL directory was only read.
      expect((await readdir(walDirectory)).length).toBeGreaterThan(0);
    } finally {
      await source.remove();
    }
  }, 240_000);
});
