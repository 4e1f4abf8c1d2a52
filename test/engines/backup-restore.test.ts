import { chown, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runAsUnprivileged } from '../../src/main/postgres/binaries.js';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../src/main/repo/backup-record.js';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import { drc } from '../support/cli.js';
import { writeTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters, type TestMajor } from '../support/postgres.js';

process.env.DRC_TEST_PASSPHRASE = 'backup restore test';
afterAll(stopAllClusters);

const tableDigest = "SELECT count(*)::int AS rows, md5(string_agg(v::text, ',' ORDER BY id)) AS digest FROM wedding_guests v";

describe.each([15, 16, 17, 18] as TestMajor[])('backup and restore on PostgreSQL %i', (major) => {
  it('restores a cluster whose data equals the source at the backup stop point', async () => {
    const source = await startCluster({ major });
    const root = await makeTempDir('drc-br-');
    const config = await writeTestConfig(root, source);
    await source.sql('CREATE TABLE wedding_guests (id serial PRIMARY KEY, name text NOT NULL, rsvp boolean, note text)');
    await source.sql("INSERT INTO wedding_guests (name, rsvp, note) SELECT 'guest ' || g, g % 3 = 0, repeat('x', g % 200) FROM generate_series(1, 50000) g");
    await source.sql('CREATE INDEX ON wedding_guests (name)');
    // A table in its own tablespace: restored inside the data directory, it must still start.
    const tablespace = join(root, 'seating-space');
    await mkdir(tablespace);
    const ids = runAsUnprivileged();
    if (ids) await chown(tablespace, ids.uid, ids.gid);
    await source.sql(`CREATE TABLESPACE seating LOCATION '${tablespace}'`);
    await source.sql("CREATE TABLE seating_plan TABLESPACE seating AS SELECT g AS seat, 'table ' || (g % 40) AS place FROM generate_series(1, 5000) g");
    const [atBackup] = await source.sql<{ rows: number; digest: string }>(tableDigest);

    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    const backup = await drc(['backup', '--config', config.path, '--reason', 'test', '--json']);
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const record = backup.json<BackupRecord>();
    expect(record).toMatchObject({ type: 'full', reason: 'test', serverVersionNum: expect.any(Number) as unknown, repositories: ['nas', 'usb'], missingCopies: [] });
    expect(Math.floor(record.serverVersionNum / 10000)).toBe(major);

    // Written after the backup: must not be in an --immediate restore.
    await source.sql("INSERT INTO wedding_guests (name) VALUES ('late arrival')");

    const target = join(root, 'restored');
    const restored = await drc(['restore', '--config', config.path, '--target-dir', target, '--immediate', '--from', 'usb', '--json']);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    const report = restored.json<RestoreReport>();
    expect(report).toMatchObject({ backupId: record.id, from: 'usb', fallbacks: [] });

    // Restored as root, the directory goes to the server user: pg_ctl start works as it is.
    if (ids) expect((await stat(join(target, 'base'))).uid).toBe(ids.uid);

    await source.stop();
    const copy = await startClusterFromDataDir(target, major);
    await copy.promote().catch(() => undefined);
    const [after] = await copy.sql<{ rows: number; digest: string }>(tableDigest);
    expect(after).toEqual(atBackup);
    expect((await copy.sql<{ seats: number }>('SELECT count(*)::int AS seats FROM seating_plan'))[0]?.seats).toBe(5000);
    await copy.remove();
    await source.remove();
  });
});
