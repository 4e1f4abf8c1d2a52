import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../src/main/repo/backup-record.js';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import { isDrcError } from '../../src/shared/errors.js';
import { chunkObjectName } from '../../src/main/repo/objects.js';
import { backup } from '../../src/main/services/backup.js';
import { createContext, withRepositorySet } from '../../src/main/services/context.js';
import { drc } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters, type TestCluster } from '../support/postgres.js';

process.env.DRC_TEST_PASSPHRASE = 'backup faults test';
afterAll(stopAllClusters);

const digest = "SELECT count(*)::int AS rows, md5(string_agg(payload, '' ORDER BY id)) AS digest FROM invoices";

describe('backup and restore faults (PostgreSQL 15)', () => {
  let source: TestCluster;
  let root: string;
  let config: DrcTestConfig;
  const usbMount = (): string => join(root, 'media', 'usb0');

  beforeAll(async () => {
    source = await startCluster({ major: 15 });
    root = await makeTempDir('drc-faults-');
    config = await writeTestConfig(root, source);
    await source.sql('CREATE TABLE invoices (id int PRIMARY KEY, payload text)');
    await source.sql("INSERT INTO invoices SELECT g, md5(g::text) || repeat('z', 100) FROM generate_series(1, 600000) g");
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
  });

  afterAll(async () => {
    await source.remove();
    await rm(root, { recursive: true, force: true });
  });

  it('finishes the backup in the other repositories when the USB stick is pulled mid-backup, and reports the missing copy', async () => {
    let pulled: Promise<void> | undefined;
    const record = await backup(await createContext({ configPath: config.path }), {
      type: 'full',
      reason: 'stick pulled',
      onProgress: (progress) => {
        // Unplugging: the mount point disappears at once, with writes in flight.
        if (progress.phase === 'stream' && progress.bytesDone > 0) pulled ??= rename(usbMount(), `${usbMount()}-unplugged`);
      },
    });
    await pulled;
    expect(record.repositories).toEqual(['nas']);
    expect(record.missingCopies).toEqual([expect.objectContaining({ repository: 'usb', error: expect.objectContaining({ code: 'MEDIA_NOT_PRESENT' }) as unknown })]);

    // Plugged back in: the stick has no manifest (no half backup), and sync completes it.
    await rename(`${usbMount()}-unplugged`, usbMount());
    await expect(readdir(join(usbMount(), 'drc', 'backups'))).rejects.toMatchObject({ code: 'ENOENT' });
    const synced = await drc(['sync', '--from', 'nas', '--to', 'usb', '--config', config.path, '--json']);
    expect(synced.code).toBe(0);
    const list = await drc(['list', '--config', config.path, '--json']);
    expect(list.json<{ backups: Array<{ id: string; copies: string[] }> }>().backups).toEqual([expect.objectContaining({ id: record.id, copies: ['nas', 'usb'] })]);
  });

  it('fails with a clear error and leaves no manifest when the server stops mid-backup; the next run reuses the chunks', async () => {
    let stopping: Promise<void> | undefined;
    const failure = await backup(await createContext({ configPath: config.path }), {
      type: 'full',
      reason: 'server stops',
      onProgress: (progress) => {
        if (progress.phase === 'stream' && progress.bytesDone > 20 * 1024 * 1024) stopping ??= source.stop('immediate');
      },
    }).catch((error: unknown) => error);
    await stopping;
    expect(isDrcError(failure)).toBe(true);
    expect((failure as Error).message).toMatch(/unable to/);
    const manifests = await readdir(join(config.repositories.nas ?? '', 'backups'));
    expect(manifests).toHaveLength(1);
    // The failed attempt is in the history, as every backup is.
    const history = (await drc(['events', '--type', 'backup', '--config', config.path, '--json'])).json<{ events: Array<{ outcome: string; summary: string }> }>();
    expect(history.events.filter((event) => event.outcome === 'failure')).toEqual([expect.objectContaining({ summary: expect.stringContaining('full backup') as unknown })]);

    await source.start();
    await source.sql("UPDATE invoices SET payload = payload || 'x' WHERE id <= 1000");
    const again = await drc(['backup', '--config', config.path, '--json']);
    expect(again.code).toBe(0);
    const record = again.json<BackupRecord>();
    expect(record.repositories).toEqual(['nas', 'usb']);
    expect(record.bytesNew).toBeLessThan(0.2 * record.bytesRead);
    expect((await readdir(join(config.repositories.nas ?? '', 'backups'))).length).toBe(2);
  });

  it('restores from the preferred repository and falls back to another for a chunk it lost', async () => {
    const [expected] = await source.sql<{ rows: number; digest: string }>(digest);
    const newest = await withRepositorySet(await createContext({ configPath: config.path }), 'nas', async (set) => {
      const repository = set.repositories[0];
      if (!repository) throw new Error('nas is not open');
      const ids = await repository.listBackupIds();
      return repository.readManifest(ids.at(-1) ?? '');
    });
    const largest = [...newest.files].sort((a, b) => b.size - a.size)[0];
    const lost = largest?.chunks[1]?.id ?? '';
    await rm(join(config.repositories.nas ?? '', ...chunkObjectName(lost).split('/')));

    await source.stop();
    const target = join(root, 'restored');
    const result = await drc(['restore', '--config', config.path, '--target-dir', target, '--immediate', '--from', 'nas', '--json']);
    expect(result.stdout).not.toContain('"error"');
    expect(result.code).toBe(0);
    const report = result.json<RestoreReport>();
    expect(report.from).toBe('nas');
    expect(report.fallbacks).toEqual([expect.objectContaining({ object: chunkObjectName(lost), failed: 'nas', usedInstead: 'usb' })]);
    const copy = await startClusterFromDataDir(target, 15);
    expect((await copy.sql<{ rows: number; digest: string }>(digest))[0]).toEqual(expected);
    await copy.remove();
    await source.start();
  });

  it('fails a restore whose chunk no repository holds, leaving a directory PostgreSQL refuses to start', async () => {
    const newest = await withRepositorySet(await createContext({ configPath: config.path }), 'nas', async (set) => {
      const repository = set.repositories[0];
      if (!repository) throw new Error('nas is not open');
      return repository.readManifest((await repository.listBackupIds()).at(-1) ?? '');
    });
    const largest = [...newest.files].sort((a, b) => b.size - a.size)[0];
    const lost = largest?.chunks[2]?.id ?? '';
    for (const path of Object.values(config.repositories)) await rm(join(path, ...chunkObjectName(lost).split('/')), { force: true });

    const target = join(root, 'restored-incomplete');
    const result = await drc(['restore', '--config', config.path, '--target-dir', target, '--immediate', '--json']);
    expect(result.code).toBe(1);
    const error = result.json<{ error: { code: string; message: string; hints: string[] } }>().error;
    expect(error.code).toBe('OBJECT_MISSING');
    expect(error.message).toContain(chunkObjectName(lost));
    expect(error.hints.join('\n')).toContain('incomplete');
    // pg_control is written last: the half-restored directory cannot be started by mistake.
    expect(existsSync(join(target, 'global', 'pg_control'))).toBe(false);
    await expect(startClusterFromDataDir(target, 15)).rejects.toThrow();
  });

  it('refuses a non-empty target directory and one where PostgreSQL runs, changing nothing', async () => {
    const busy = await drc(['restore', '--config', config.path, '--target-dir', source.dataDir, '--latest', '--json']);
    expect(busy.code).toBe(2);
    expect(busy.json<{ error: { code: string } }>().error.code).toBe('RESTORE_TARGET_IN_USE');
    const occupied = join(root, 'occupied');
    await mkdir(occupied);
    await mkdir(join(occupied, 'something'));
    const notEmpty = await drc(['restore', '--config', config.path, '--target-dir', occupied, '--latest', '--json']);
    expect(notEmpty.code).toBe(2);
    expect(notEmpty.json<{ error: { code: string; hints: string[] } }>().error.code).toBe('RESTORE_TARGET_NOT_EMPTY');
    expect(await readdir(occupied)).toEqual(['something']);
  });
});
