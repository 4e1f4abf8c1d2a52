import { randomBytes } from 'node:crypto';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../src/main/repo/backup-record.js';
import { eventObjectName, newEvent } from '../../src/main/repo/events.js';
import { headerObject, type RepositoryHeader } from '../../src/main/repo/header.js';
import { manifestObjectName } from '../../src/main/repo/manifest.js';
import { recordInEvery } from '../../src/main/repo/repository.js';
import { initRepositorySet, openRepositorySet } from '../../src/main/repo/repository-set.js';
import { readEventHistory } from '../../src/main/services/events.js';
import { LocalTarget } from '../../src/main/storage/local.js';
import type { HealthReport } from '../../src/shared/contract/status.js';
import type { VerifyReport } from '../../src/shared/contract/repository.js';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import { drc } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters, type TestCluster } from '../support/postgres.js';
import { tempDirectory } from '../support/temp.js';

/**
 * Any good copy serves (issue 10, rows 6 and 7): one damaged manifest, header or key slot
 * in one repository is reported, and the copy in the other repository does the work.
 */
const passphrase = 'any copy serves, twice over';
process.env.DRC_TEST_PASSPHRASE = passphrase;
afterAll(stopAllClusters);

const fastKdf = { N: 2 ** 10, r: 8, p: 1 };

/** Flips one byte in the middle of a file, as a failing disk sector would. */
async function flipByte(path: string, at?: number): Promise<void> {
  const bytes = await readFile(path);
  const position = at ?? Math.floor(bytes.length / 2);
  bytes[position] = (bytes[position] ?? 0) ^ 0x5a;
  await writeFile(path, bytes);
}

/** Swaps the first and last characters of a slot's wrapped key: same length, no longer the key. */
function damageSlot(header: RepositoryHeader): RepositoryHeader {
  const [slot] = header.keySlots;
  if (!slot) throw new Error('a repository header without key slots');
  const wrapped = Buffer.from(slot.wrappedKey, 'base64');
  wrapped[20] = (wrapped[20] ?? 0) ^ 0xff;
  return { ...header, keySlots: [{ ...slot, wrappedKey: wrapped.toString('base64') }, ...header.keySlots.slice(1)] };
}

describe('a repository set with one damaged header', () => {
  let dir: Awaited<ReturnType<typeof tempDirectory>>;
  let nas: LocalTarget;
  let usb: LocalTarget;
  beforeEach(async () => {
    dir = await tempDirectory();
    nas = new LocalTarget({ name: 'nas', path: join(dir.path, 'nas') });
    usb = new LocalTarget({ name: 'usb', path: join(dir.path, 'usb') });
    await initRepositorySet([nas, usb], passphrase, { scrypt: fastKdf });
  });
  afterEach(() => dir.remove());

  const header = async (target: LocalTarget): Promise<RepositoryHeader> => JSON.parse((await target.get(headerObject)).toString('utf8')) as RepositoryHeader;

  it('opens from the good copy when the first header does not parse, and reports the damaged one', async () => {
    await nas.put(headerObject, Buffer.from('{"format": 2, "repositoryId": '));
    const set = await openRepositorySet([nas, usb], passphrase);
    expect(set.repositories.map((repository) => repository.name)).toEqual(['usb']);
    expect(set.unreachable).toEqual([{ target: nas, error: expect.objectContaining({ code: 'REPO_HEADER_INVALID' }) as unknown }]);
  });

  it('opens from the good copy when the first header has a damaged key slot', async () => {
    await nas.put(headerObject, Buffer.from(JSON.stringify(damageSlot(await header(nas)))));
    const set = await openRepositorySet([nas, usb], passphrase);
    expect(set.repositories.map((repository) => repository.name)).toEqual(['usb']);
    expect(set.unreachable[0]?.error).toMatchObject({ code: 'REPO_HEADER_INVALID', message: expect.stringContaining("'nas'") as unknown });
  });

  it('tells a damaged repository id from another set: only the id field changed, so the header authenticates with it put back', async () => {
    const original = await header(nas);
    const altered = `${original.repositoryId.slice(0, -1)}${original.repositoryId.endsWith('0') ? '1' : '0'}`;
    await nas.put(headerObject, Buffer.from(JSON.stringify({ ...original, repositoryId: altered })));
    const set = await openRepositorySet([nas, usb], passphrase);
    expect(set.repositories.map((repository) => repository.name)).toEqual(['usb']);
    expect(set.unreachable[0]?.error.message).toContain('repository id was altered');
  });

  it('still refuses a wrong passphrase with PASSPHRASE_WRONG, naming the damaged header it could not try', async () => {
    await expect(openRepositorySet([nas, usb], 'not the passphrase at all')).rejects.toMatchObject({ code: 'PASSPHRASE_WRONG' });
    await nas.put(headerObject, Buffer.from('not json'));
    await expect(openRepositorySet([nas, usb], 'not the passphrase at all')).rejects.toMatchObject({
      code: 'PASSPHRASE_WRONG',
      hints: expect.arrayContaining([expect.stringContaining("the header of 'nas' is damaged")]) as unknown,
    });
  });

  it('still refuses the header of another set with REPO_MISMATCH, even with the same passphrase', async () => {
    const foreign = new LocalTarget({ name: 'foreign', path: join(dir.path, 'foreign') });
    await initRepositorySet([foreign], passphrase, { scrypt: fastKdf });
    await nas.put(headerObject, await foreign.get(headerObject));
    await expect(openRepositorySet([nas, usb], passphrase)).rejects.toMatchObject({ code: 'REPO_MISMATCH' });
    await expect(openRepositorySet([usb, nas], passphrase)).rejects.toMatchObject({ code: 'REPO_MISMATCH' });
  });

  it('refuses when no header authenticates at all, and when the only header is damaged', async () => {
    await nas.put(headerObject, Buffer.from('not json'));
    await expect(openRepositorySet([nas], passphrase)).rejects.toMatchObject({ code: 'REPO_HEADER_INVALID' });
    const tampered = await header(usb);
    await usb.put(headerObject, Buffer.from(JSON.stringify({ ...tampered, createdAt: '2001-01-01T00:00:00.000Z' })));
    await expect(openRepositorySet([nas, usb], passphrase)).rejects.toMatchObject({ code: 'REPO_HEADER_INVALID' });
  });

  it('reads an event record damaged in one repository from the other, and logs the damaged copy', async () => {
    const set = await openRepositorySet([nas, usb], passphrase);
    const event = newEvent('backup', 'success', 'a backup to remember', {});
    await recordInEvery(set.repositories, event);
    await nas.put(eventObjectName(event), Buffer.from('not a sealed event'));
    const history = await readEventHistory(set.repositories);
    expect(history.events.map((entry) => entry.summary)).toEqual(['a backup to remember']);
    expect(history.unreadable).toEqual([]);
    expect(set.fallbacks).toEqual([expect.objectContaining({ object: eventObjectName(event), failed: 'nas', usedInstead: 'usb' })]);
  });

  it('`repo init` rewrites a damaged header of this set from the good copy, but never one beside another set\'s objects', async () => {
    const set = await openRepositorySet([nas, usb], passphrase);
    await set.repositories[0]?.writeChunk(randomBytes(2000));
    await nas.put(headerObject, Buffer.from('not json'));
    const result = await initRepositorySet([nas, usb], passphrase, { scrypt: fastKdf });
    expect(result).toMatchObject({ created: [], alreadyInitialized: ['usb'], repaired: ['nas'], unreachable: [] });
    expect(await nas.get(headerObject)).toEqual(await usb.get(headerObject));
    expect((await openRepositorySet([nas, usb], passphrase)).repositories.map((repository) => repository.name).sort()).toEqual(['nas', 'usb']);

    // Beside chunks sealed with another key, a header that does not parse is left as it is.
    const other = new LocalTarget({ name: 'other', path: join(dir.path, 'other') });
    await initRepositorySet([other], 'another set, another key', { scrypt: fastKdf });
    await (await openRepositorySet([other], 'another set, another key')).repositories[0]?.writeChunk(randomBytes(2000));
    await other.put(headerObject, Buffer.from('not json'));
    const refused = await initRepositorySet([usb, other], passphrase, { scrypt: fastKdf });
    expect(refused.repaired).toEqual([]);
    expect(refused.unreachable.map((entry) => entry.target.name)).toEqual(['other']);
    expect((await other.get(headerObject)).toString()).toBe('not json');
  });
});

describe('any good copy serves (PostgreSQL 17)', () => {
  let root: string;
  let config: DrcTestConfig;
  let source: TestCluster;
  let backups: BackupRecord[];
  const restoredClusters: TestCluster[] = [];

  beforeAll(async () => {
    source = await startCluster({ major: 17 });
    root = await makeTempDir('drc-anycopy-');
    config = await writeTestConfig(root, source);
    await source.sql('CREATE TABLE parcels (id serial PRIMARY KEY, label text NOT NULL)');
    await source.sql("INSERT INTO parcels (label) SELECT 'parcel ' || g FROM generate_series(1, 1000) g");
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    const older = await drc(['backup', '--config', config.path, '--json']);
    expect(older.code).toBe(0);
    await source.sql("INSERT INTO parcels (label) SELECT 'late parcel ' || g FROM generate_series(1, 500) g");
    const newer = await drc(['backup', '--config', config.path, '--json']);
    expect(newer.code).toBe(0);
    backups = [older.json<BackupRecord>(), newer.json<BackupRecord>()];
    // Keep a pristine copy of nas to put back after each test damages it.
    await cp(config.repositories.nas ?? '', join(root, 'nas-pristine'), { recursive: true });
  }, 180_000);

  afterEach(async () => {
    for (const cluster of restoredClusters.splice(0)) await cluster.remove();
    await rm(config.repositories.nas ?? '', { recursive: true, force: true });
    await cp(join(root, 'nas-pristine'), config.repositories.nas ?? '', { recursive: true });
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const nasPath = (name: string): string => join(config.repositories.nas ?? '', name);

  /** Restores into a fresh directory, starts it, and counts the parcels. */
  async function restoreAndCount(args: string[]): Promise<{ report: RestoreReport; rows: number }> {
    const target = join(root, `restored-${randomBytes(4).toString('hex')}`);
    const result = await drc(['restore', '--config', config.path, '--target-dir', target, ...args, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const copy = await startClusterFromDataDir(target, 17);
    restoredClusters.push(copy);
    await copy.promote().catch(() => undefined);
    const [row] = await copy.sql<{ rows: number }>('SELECT count(*)::int AS rows FROM parcels');
    return { report: result.json<RestoreReport>(), rows: row?.rows ?? -1 };
  }

  it('lists, reports status, plans expiry and restores the latest when an old manifest in nas is damaged, naming it; verify still reports it', async () => {
    const damaged = manifestObjectName(backups[0]?.id ?? '');
    await flipByte(nasPath(damaged));

    const list = await drc(['list', '--config', config.path, '--json']);
    expect(list.code, list.stderr).toBe(0);
    const inventory = list.json<{ backups: Array<{ id: string; copies: string[] }>; warnings: string[] }>();
    expect(inventory.backups.map((backup) => backup.id)).toEqual(backups.map((backup) => backup.id));
    expect(inventory.warnings).toEqual([expect.stringMatching(new RegExp(`^${damaged}: unusable in 'nas' .*read from 'usb'`))]);
    expect((await drc(['list', '--config', config.path])).stdout).toContain(`WARNING ${damaged}: unusable in 'nas'`);

    const status = await drc(['status', '--config', config.path, '--json']);
    expect(status.stdout).not.toContain('OBJECT_CORRUPT');
    expect(status.json<HealthReport>().repositories.map((repository) => repository.state)).toEqual(['ok', 'ok']);

    const expiry = await drc(['expire', '--dry-run', '--config', config.path, '--json']);
    expect(expiry.code, expiry.stdout).toBe(0);

    const { report, rows } = await restoreAndCount(['--latest']);
    expect(report.backupId).toBe(backups[1]?.id);
    expect(report.fallbacks).toContainEqual(expect.objectContaining({ object: damaged, failed: 'nas', usedInstead: 'usb' }));
    expect(rows).toBe(1500);

    const verify = await drc(['verify', '--config', config.path, '--json']);
    expect(verify.code).toBe(1);
    const nasResult = verify.json<VerifyReport>().repositories.find((repository) => repository.repository === 'nas');
    expect(nasResult?.problems).toContainEqual(expect.objectContaining({ object: damaged, problem: 'corrupt' }));
  });

  it('restores --from usb when the header of nas is damaged; the restored directory starts; status raises the alert; repo init repairs it', async () => {
    await flipByte(nasPath(headerObject), 40);
    const { report, rows } = await restoreAndCount(['--from', 'usb', '--immediate']);
    expect(report.from).toBe('usb');
    expect(rows).toBe(1500);

    const status = await drc(['status', '--config', config.path, '--json']);
    expect(status.json<HealthReport>().alerts).toContainEqual(expect.objectContaining({ code: 'REPOSITORY_HEADER_DAMAGED', repository: 'nas' }));

    const init = await drc(['repo', 'init', '--config', config.path, '--json']);
    expect(init.code, init.stderr).toBe(0);
    expect(init.json<{ repaired: string[] }>().repaired).toEqual(['nas']);
    expect(await readFile(nasPath(headerObject))).toEqual(await readFile(join(config.repositories.usb ?? '', headerObject)));
  });

  it('restores --from usb when the key slot in the header of nas is damaged, and the restored directory starts', async () => {
    const header = JSON.parse(await readFile(nasPath(headerObject), 'utf8')) as RepositoryHeader;
    await writeFile(nasPath(headerObject), JSON.stringify(damageSlot(header)));
    const { report, rows } = await restoreAndCount(['--from', 'usb', '--latest']);
    expect(report.from).toBe('usb');
    expect(rows).toBe(1500);
  });

  it('still refuses a wrong passphrase (PASSPHRASE_WRONG) and a header of another set (REPO_MISMATCH)', async () => {
    process.env.DRC_TEST_PASSPHRASE = 'a wrong passphrase, long enough';
    try {
      const wrong = await drc(['list', '--config', config.path, '--json']);
      expect(wrong.code).toBe(1);
      expect(wrong.json<{ error: { code: string } }>().error.code).toBe('PASSPHRASE_WRONG');
    } finally {
      process.env.DRC_TEST_PASSPHRASE = passphrase;
    }

    const foreignRoot = join(root, 'foreign');
    const foreign = await writeTestConfig(foreignRoot, source, ['nas']);
    expect((await drc(['repo', 'init', '--config', foreign.path, '--kdf-cost', '10'])).code).toBe(0);
    await cp(join(foreign.repositories.nas ?? '', headerObject), nasPath(headerObject));
    const target = join(root, 'never-written');
    const refused = await drc(['restore', '--config', config.path, '--target-dir', target, '--from', 'usb', '--immediate', '--json']);
    expect(refused.code).toBe(1);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe('REPO_MISMATCH');
  });
});
