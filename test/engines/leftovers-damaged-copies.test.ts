import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../src/main/repo/backup-record.js';
import { manifestObjectName, type Manifest } from '../../src/main/repo/manifest.js';
import { ObjectSource } from '../../src/main/repo/object-source.js';
import { chunkObjectName } from '../../src/main/repo/objects.js';
import { createContext, withRepositorySet } from '../../src/main/services/context.js';
import type { ExpireReport } from '../../src/shared/contract/retention.js';
import type { HealthReport } from '../../src/shared/contract/status.js';
import { drc } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, stopAllClusters, type TestCluster } from '../support/postgres.js';

/**
 * Damaged copies, counted and said as they are (issue 10, leftovers): a manifest that does
 * not authenticate in one repository is not a copy there (3-2-1 counts good copies), every
 * command that reads past it says so (list, expire, and status with an alert), and an object
 * damaged in every repository is OBJECT_CORRUPT, not "missing".
 */
process.env.DRC_TEST_PASSPHRASE = 'damaged copies are not copies';
afterAll(stopAllClusters);

/** Flips one byte in the middle of a file, as a failing disk sector would. */
async function flipByte(path: string): Promise<void> {
  const bytes = await readFile(path);
  const position = Math.floor(bytes.length / 2);
  bytes[position] = (bytes[position] ?? 0) ^ 0x5a;
  await writeFile(path, bytes);
}

interface Listing {
  backups: Array<{ id: string; copies: string[] }>;
  warnings: string[];
}

describe('a manifest or a chunk damaged in one repository or in all (PostgreSQL 17)', () => {
  let root: string;
  let config: DrcTestConfig;
  let source: TestCluster;
  let backups: BackupRecord[];

  beforeAll(async () => {
    source = await startCluster({ major: 17 });
    root = await makeTempDir('drc-damaged-');
    config = await writeTestConfig(root, source);
    await source.sql('CREATE TABLE meters (id serial PRIMARY KEY, reading text NOT NULL)');
    await source.sql("INSERT INTO meters (reading) SELECT 'reading ' || g FROM generate_series(1, 2000) g");
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    backups = [];
    for (let run = 0; run < 2; run++) {
      const backup = await drc(['backup', '--config', config.path, '--json']);
      expect(backup.code, backup.stderr).toBe(0);
      backups.push(backup.json<BackupRecord>());
    }
    // Pristine copies of both repositories, put back after each test damages them.
    for (const name of ['nas', 'usb']) await cp(config.repositories[name] ?? '', join(root, `${name}-pristine`), { recursive: true });
  }, 180_000);

  afterEach(async () => {
    for (const name of ['nas', 'usb']) {
      await rm(config.repositories[name] ?? '', { recursive: true, force: true });
      await cp(join(root, `${name}-pristine`), config.repositories[name] ?? '', { recursive: true });
    }
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const objectPath = (repository: string, name: string): string => join(config.repositories[repository] ?? '', ...name.split('/'));

  it('counts only good copies: a manifest damaged in nas leaves that backup with one copy, in list and in 3-2-1', async () => {
    const [older, newer] = backups.map((backup) => backup.id);
    const damaged = manifestObjectName(older ?? '');
    await flipByte(objectPath('nas', damaged));

    const list = await drc(['list', '--config', config.path, '--json']);
    expect(list.code, list.stderr).toBe(0);
    const listing = list.json<Listing>();
    expect(listing.backups.find((backup) => backup.id === older)?.copies).toEqual(['usb']);
    expect(listing.backups.find((backup) => backup.id === newer)?.copies).toEqual(['nas', 'usb']);

    const status = await drc(['status', '--config', config.path, '--json']);
    const points = status.json<HealthReport>().compliance.recoveryPoints;
    const olderPoint = points.find((point) => point.backupId === older);
    const newerPoint = points.find((point) => point.backupId === newer);
    expect(olderPoint?.repositories).toEqual(['usb']);
    // Production and one repository copy, against production and two for the sound backup.
    expect(olderPoint?.compliance.copies).toBe((newerPoint?.compliance.copies ?? 0) - 1);
  });

  it('counts a damaged copy out even when it lies after the copy that served (usb damaged, nas sound)', async () => {
    const older = backups[0]?.id ?? '';
    const damaged = manifestObjectName(older);
    await flipByte(objectPath('usb', damaged));
    const list = await drc(['list', '--config', config.path, '--json']);
    expect(list.code, list.stderr).toBe(0);
    const listing = list.json<Listing>();
    expect(listing.backups.find((backup) => backup.id === older)?.copies).toEqual(['nas']);
    expect(listing.warnings).toEqual([expect.stringMatching(new RegExp(`^${damaged}: unusable in 'usb' .*read from 'nas'`))]);
  });

  it('surfaces the fallback in status (a COPY_DAMAGED alert naming nas) and in expire (a warning, in --json and in text)', async () => {
    const damaged = manifestObjectName(backups[0]?.id ?? '');
    await flipByte(objectPath('nas', damaged));

    const status = await drc(['status', '--config', config.path, '--json']);
    const alert = status.json<HealthReport>().alerts.find((candidate) => candidate.code === 'COPY_DAMAGED');
    expect(alert).toMatchObject({ severity: 'warning', repository: 'nas', message: expect.stringContaining(damaged) as string, hint: expect.stringContaining('drc verify --repo nas --repair') as string });
    expect(status.code).toBe(1);
    expect((await drc(['status', '--config', config.path])).stdout).toContain('COPY_DAMAGED');

    const expiry = await drc(['expire', '--dry-run', '--config', config.path, '--json']);
    expect(expiry.code, expiry.stdout).toBe(0);
    expect(expiry.json<ExpireReport>().warnings).toEqual([expect.stringMatching(new RegExp(`^${damaged}: unusable in 'nas' .*read from 'usb'`))]);
    expect((await drc(['expire', '--dry-run', '--config', config.path])).stdout).toContain(`WARNING ${damaged}: unusable in 'nas'`);
  });

  it('says OBJECT_CORRUPT, naming the object and each repository, when every copy of a chunk is damaged; OBJECT_MISSING when none exists', async () => {
    const manifest = await withRepositorySet(await createContext({ configPath: config.path }), 'nas', async (set) => {
      const nas = set.repositories[0];
      if (!nas) throw new Error('nas is not open');
      return nas.readManifest(backups[1]?.id ?? '');
    });
    const largest = [...manifest.files].sort((a, b) => b.size - a.size)[0] as Manifest['files'][number];
    const chunk = chunkObjectName(largest.chunks[0]?.id ?? '');
    for (const repository of ['nas', 'usb']) await flipByte(objectPath(repository, chunk));

    const target = join(root, 'never-started');
    const restored = await drc(['restore', '--config', config.path, '--target-dir', target, '--immediate', '--json']);
    expect(restored.code).toBe(1);
    const { error } = restored.json<{ error: { code: string; message: string; hints: string[] } }>();
    expect(error.code).toBe('OBJECT_CORRUPT');
    expect(error.message).toContain(chunk);
    expect(error.message).toContain("'nas' and 'usb'");
    expect(error.hints.filter((hint) => hint.startsWith('nas: ') || hint.startsWith('usb: '))).toHaveLength(2);

    // The same read, object by object: damaged in one and gone from the other is still damage; gone from both is missing.
    await withRepositorySet(await createContext({ configPath: config.path }), undefined, async (set) => {
      await rm(objectPath('usb', chunk));
      await expect(new ObjectSource(set.repositories).read(chunk)).rejects.toMatchObject({ code: 'OBJECT_CORRUPT', message: expect.stringContaining("the copy in 'nas' is damaged") as string });
      await rm(objectPath('nas', chunk));
      await expect(new ObjectSource(set.repositories).read(chunk)).rejects.toMatchObject({ code: 'OBJECT_MISSING' });
    });
  });
});
