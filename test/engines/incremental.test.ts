import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../src/main/repo/backup-record.js';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import { drc } from '../support/cli.js';
import { writeTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters, type TestMajor } from '../support/postgres.js';

process.env.DRC_TEST_PASSPHRASE = 'incremental test';
afterAll(stopAllClusters);

const rows = 2_000_000;
const digest = "SELECT count(*)::int AS rows, md5(string_agg(md5(b::text), '' ORDER BY id)) AS digest FROM bookings b";

describe.each([15, 17] as TestMajor[])('incremental backup on PostgreSQL %i', (major) => {
  it('stores a small fraction after a contiguous 5% update, and restores it whole', async () => {
    const source = await startCluster({ major, settings: { max_wal_size: '4GB', checkpoint_timeout: '30min' } });
    const root = await makeTempDir('drc-incr-');
    const config = await writeTestConfig(root, source, ['nas']);
    await source.sql('CREATE TABLE bookings (id int PRIMARY KEY, vendor int, payload text)');
    await source.sql(`INSERT INTO bookings SELECT g, g % 500, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, ${String(rows)}) g`);
    await source.sql('VACUUM ANALYZE bookings');
    const [size] = await source.sql<{ bytes: string }>("SELECT pg_table_size('bookings')::text AS bytes");
    expect(Number(size?.bytes)).toBeGreaterThan(200 * 1024 * 1024);

    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    const first = (await drc(['backup', '--config', config.path, '--type', 'full', '--json'])).json<BackupRecord>();

    // A live workload touches its recent rows: one contiguous id range, 5% of the table.
    await source.sql(`UPDATE bookings SET vendor = vendor + 1 WHERE id <= ${String(rows / 20)}`);
    const [expected] = await source.sql<{ rows: number; digest: string }>(digest);

    const secondRun = await drc(['backup', '--config', config.path, '--type', 'incremental', '--json']);
    expect(secondRun.code).toBe(0);
    const second = secondRun.json<BackupRecord>();
    expect(second.type).toBe('incremental');
    expect(second.bytesStored).toBeLessThanOrEqual(0.15 * first.bytesStored);
    if (major >= 17) {
      // The server sent changed blocks only.
      expect(second.nativeIncremental).toBe(true);
      expect(second.incrementalFrom).toBe(first.id);
      expect(second.bytesRead).toBeLessThan(0.3 * first.bytesRead);
    } else {
      expect(second.nativeIncremental).toBe(false);
      expect(second.bytesRead).toBeGreaterThan(0.9 * first.bytesRead);
    }

    // The incremental is a complete backup on its own: restore it and compare.
    await source.stop();
    const target = join(root, 'restored');
    const restored = await drc(['restore', '--config', config.path, '--target-dir', target, '--immediate', '--json']);
    expect(restored.code).toBe(0);
    expect(restored.json<RestoreReport>().backupId).toBe(second.id);
    const copy = await startClusterFromDataDir(target, major);
    expect((await copy.sql<{ rows: number; digest: string }>(digest))[0]).toEqual(expected);
    await copy.remove();
    await source.remove();
  });
});
