import { execFile, spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTargetDirectory, prepareTargetDirectory } from '../../src/main/engines/restore/target-dir.js';
import { writeDataFiles } from '../../src/main/engines/restore/files.js';
import { CryptoPool } from '../../src/main/repo/crypto-pool.js';
import { decodeManifest, encodeManifest, manifestObjectName, type Manifest, type ManifestFile } from '../../src/main/repo/manifest.js';
import { ObjectSource } from '../../src/main/repo/object-source.js';
import { sealNamedObject } from '../../src/main/repo/objects.js';
import { initRepositorySet, openRepositorySet, type RepositorySet } from '../../src/main/repo/repository-set.js';
import { createContext, withRepositorySet } from '../../src/main/services/context.js';
import { alignedSlots } from '../../src/main/storage/direct-io.js';
import { LocalTarget } from '../../src/main/storage/local.js';
import { deriveKeys, newMasterKey } from '../../src/main/repo/keys.js';
import { openObject } from '../../src/main/repo/objects.js';
import type { BackupRecord } from '../../src/main/repo/backup-record.js';
import { drc } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters } from '../support/postgres.js';
import { writeSampleBackup } from '../support/sample-backup.js';
import { tempDirectory } from '../support/temp.js';
import { drcBinary } from '../support/drc-binary.js';

const execFileAsync = promisify(execFile);

process.env.DRC_TEST_PASSPHRASE = 'confined to the target';
afterAll(stopAllClusters);

const mtime = '2026-01-02T03:04:05.000Z';
const entry = (path: string, type: ManifestFile['type'] = 'file', link?: string): ManifestFile => ({ path, type, size: 0, mode: type === 'directory' ? 0o700 : 0o600, mtime, chunks: [], ...(link === undefined ? {} : { link }) });
const manifestOf = (files: ManifestFile[]): Manifest => ({ format: 1, backupId: 'crafted', createdAt: mtime, backup: {}, files, attachments: [] });

/** What `work` throws (undefined when it returns). */
function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** What a hostile repository writer can put in a manifest, each with a file some data directory really holds. */
const hostile: Record<string, ManifestFile[]> = {
  'a parent segment': [entry('base/1/1259'), entry('../outside')],
  'a parent segment further down': [entry('base/../../outside')],
  'an absolute path': [entry('/tmp/outside')],
  'an empty segment': [entry('base//1259')],
  'a NUL': [entry('base/1259\u0000.conf')],
  'a backslash': [entry('..\\outside')],
  'a newline': [entry('base/1259\n')],
  'the directory itself': [entry('.', 'directory')],
  'a duplicate path': [entry('base/1/1259'), entry('base/1/1259')],
  'a duplicate through ./': [entry('global/pg_control'), entry('./global/pg_control')],
  'a link outside pg_tblspc': [entry('pg_wal', 'symlink', '/tmp/outside')],
  'a tablespace link to a relative place': [entry('pg_tblspc/16500', 'symlink', '../../outside')],
  'a tablespace link with a parent segment': [entry('pg_tblspc/16500', 'symlink', '/srv/../etc')],
  'a tablespace link deeper than pg_tblspc/<oid>': [entry('pg_tblspc/16500/x', 'symlink', '/srv/x')],
  'a file under a link': [entry('pg_tblspc/16500', 'symlink', '/srv/tablespace'), entry('pg_tblspc/16500/PG_17/1/1259')],
  'a file under a file': [entry('PG_VERSION'), entry('PG_VERSION/x')],
};

describe('manifest paths, checked as a manifest is read and as it is written', () => {
  const keys = deriveKeys(newMasterKey());
  const sealedManifest = async (manifest: Manifest): Promise<Buffer> => openObject(keys, 'nas', manifestObjectName(manifest.backupId), await sealNamedObject(keys, manifestObjectName(manifest.backupId), Buffer.from(JSON.stringify(manifest)), 'zstd'));

  it.each(Object.entries(hostile))('refuses %s when reading (OBJECT_CORRUPT) and when writing (BACKUP_FAILED)', async (_, files) => {
    const manifest = manifestOf(files);
    // Sealed with the repository key, as a hostile writer holding it would: it authenticates.
    const plaintext = await sealedManifest(manifest);
    expect(thrown(() => decodeManifest(plaintext, 'nas', manifestObjectName('crafted')))).toMatchObject({ code: 'OBJECT_CORRUPT', hints: expect.arrayContaining([expect.stringContaining('tampered')]) as string[] });
    expect(thrown(() => encodeManifest(manifest))).toMatchObject({ code: 'BACKUP_FAILED' });
  });

  it('accepts what BASE_BACKUP sends: ./pg_wal/archive_status, pg_tblspc/<oid> directories, dotted names', async () => {
    const manifest = manifestOf([entry('pg_wal', 'directory'), entry('./pg_wal/archive_status', 'directory'), entry('pg_tblspc', 'directory'), entry('pg_tblspc/16500', 'directory'), entry('pg_tblspc/16500/PG_17_202406281/5/16390'), entry('base/5/16384.1'), entry('pg_logical/replorigin_checkpoint'), entry('pg_tblspc/16501', 'symlink', '/srv/tablespace')]);
    expect(decodeManifest(await sealedManifest(manifest), 'nas', manifestObjectName('crafted'))).toEqual(manifest);
  });

  it('refuses any manifest with one unsafe path among plain ones', async () => {
    const plain = fc.stringMatching(/^[0-9A-Za-z_]{1,8}$/);
    const unsafe = fc.oneof(
      fc.tuple(plain, plain).map(([a, b]) => `${a}/../../${b}`),
      plain.map((name) => `/${name}`),
      fc.tuple(plain, plain).map(([a, b]) => `${a}//${b}`),
      fc.tuple(plain, fc.integer({ min: 0, max: 31 })).map(([name, code]) => `${name}${String.fromCharCode(code)}`),
      plain.map((name) => `${name}\\..\\..\\x`),
      fc.constantFrom('..', '', './', './.'),
    );
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(plain, { maxLength: 6 }), unsafe, fc.nat(), async (names, bad, at) => {
        const files = names.map((name) => entry(`base/${name}`));
        files.splice(at % (files.length + 1), 0, entry(bad));
        expect(thrown(() => decodeManifest(Buffer.from(JSON.stringify(manifestOf(files))), 'nas', 'm'))).toMatchObject({ code: 'OBJECT_CORRUPT' });
        await Promise.resolve();
      }),
      { numRuns: 200 },
    );
  });
});

describe('writeDataFiles writes nothing outside its target', () => {
  let dir: Awaited<ReturnType<typeof tempDirectory>>;
  let set: RepositorySet;
  let sample: Manifest;

  beforeAll(async () => {
    dir = await tempDirectory('drc-confine-');
    const nas = new LocalTarget({ name: 'nas', path: join(dir.path, 'nas') });
    await initRepositorySet([nas], 'confined', { scrypt: { N: 2 ** 10, r: 8, p: 1 } });
    set = await openRepositorySet([nas], 'confined');
    sample = (await writeSampleBackup(set.repositories, 'sample')).manifest;
  });
  afterAll(async () => {
    await dir.remove();
  });

  /** Restores `manifest` into a new `target` beside an `outside` directory, and says what became of both. */
  async function restoreInto(manifest: Manifest, before?: (target: string, outside: string) => Promise<void>, source?: (plain: ObjectSource, target: string, outside: string) => ObjectSource): Promise<{ error: unknown; target: string; outside: string }> {
    const case_ = await tempDirectory('drc-confine-case-');
    const target = join(case_.path, 'target');
    const outside = join(case_.path, 'outside');
    await mkdir(target, { mode: 0o700 });
    await mkdir(outside);
    await before?.(target, outside);
    const slots = await alignedSlots(2, 256 * 1024, target);
    const pool = new CryptoPool(set.keys, 'zstd', slots.slots);
    try {
      const plain = new ObjectSource(set.repositories, pool);
      const error = await writeDataFiles(manifest, target, source ? source(plain, target, outside) : plain, slots, () => undefined).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      return { error, target, outside };
    } finally {
      await pool.close();
    }
  }

  it.each(Object.entries(hostile))('refuses %s even when it bypassed the reading (OBJECT_CORRUPT), before writing anything', async (_, files) => {
    const { error, target, outside } = await restoreInto({ ...sample, files: [...sample.files, ...files] });
    expect(error).toMatchObject({ code: 'OBJECT_CORRUPT' });
    expect(await readdir(outside)).toEqual([]);
    expect(await readdir(target)).toEqual([]);
    expect(await readdir(join(target, '..'))).toEqual(['outside', 'target']);
  });

  it('links a tablespace only where the tablespace mapping says: none, while tablespaces restore in place', async () => {
    const { error, outside } = await restoreInto({ ...sample, files: [...sample.files, entry('pg_tblspc/16500', 'symlink', '/srv/tablespace')] });
    expect(error).toMatchObject({ code: 'OBJECT_CORRUPT', message: expect.stringContaining('inside the data directory') as string });
    expect(await readdir(outside)).toEqual([]);
  });

  it('refuses a directory link planted in the target, and writes nothing through it', async () => {
    const { error, outside } = await restoreInto(sample, (target, outsideDir) => symlink(outsideDir, join(target, 'base')));
    expect(error).toMatchObject({ code: 'RESTORE_FAILED', message: expect.stringContaining('a symbolic link') as string });
    expect(await readdir(outside)).toEqual([]);
  });

  it('refuses a file link planted in the target, and leaves what it points to untouched', async () => {
    const { error, outside } = await restoreInto(sample, async (target, outsideDir) => {
      await writeFile(join(outsideDir, 'victim'), 'precious');
      await mkdir(join(target, 'global'));
      await symlink(join(outsideDir, 'victim'), join(target, 'global', 'pg_control'));
    });
    expect(error).toMatchObject({ code: 'RESTORE_FAILED' });
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('precious');
  });

  it('catches a directory swapped for a link between its mkdir and the open of a file in it, and removes what the open made', async () => {
    let swapped = false;
    const withDirectories = { ...sample, files: [entry('base', 'directory'), entry('base/5', 'directory'), entry('global', 'directory'), ...sample.files] };
    const { error, target, outside } = await restoreInto(withDirectories, undefined, (plain, target, outsideDir) => {
      const chunkInto = plain.chunkInto.bind(plain);
      // The first chunk is fetched after the directories are made and before a file is opened.
      plain.chunkInto = async (id, slot) => {
        if (!swapped) {
          swapped = true;
          await rename(join(target, 'base'), join(target, 'base.moved'));
          await mkdir(join(outsideDir, '5'));
          await symlink(outsideDir, join(target, 'base'));
        }
        return chunkInto(id, slot);
      };
      return plain;
    });
    expect(swapped).toBe(true);
    expect(error).toMatchObject({ code: 'RESTORE_FAILED', message: expect.stringContaining('through a link') as string });
    expect(await readdir(join(outside, '5'))).toEqual([]);
    expect((await stat(join(target, 'base.moved', '5'))).isDirectory()).toBe(true);
  });
});

describe('restore targets checked before anything is created', () => {
  let dir: Awaited<ReturnType<typeof tempDirectory>>;
  beforeAll(async () => {
    dir = await tempDirectory('drc-target-');
  });
  afterAll(async () => {
    await dir.remove();
  });

  const refusal = async (targetDir: string): Promise<{ code: string; message: string; hints: string[] }> => {
    const check = await checkTargetDirectory(targetDir);
    if (check.ready) throw new Error(`'${targetDir}' was found ready: ${check.message}`);
    return check.refusal;
  };

  it.each(['/proc/x', '/proc/self/x', '/sys/x', '/dev/x', '/dev/shm/x', '/proc'])('refuses %s, a pseudo file system, with a hint', async (targetDir) => {
    expect(await refusal(targetDir)).toMatchObject({ code: 'RESTORE_TARGET_UNREACHABLE', message: expect.stringContaining('pseudo file system') as string, hints: [expect.stringContaining('on a disk') as string] });
    await expect(prepareTargetDirectory(targetDir)).rejects.toMatchObject({ code: 'RESTORE_TARGET_UNREACHABLE' });
    await expect(stat('/dev/x')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses /proc reached through a link', async () => {
    await symlink('/proc', join(dir.path, 'looks-like-a-disk'));
    expect(await refusal(join(dir.path, 'looks-like-a-disk', 'x'))).toMatchObject({ code: 'RESTORE_TARGET_UNREACHABLE', message: expect.stringContaining('procfs') as string });
  });

  it('refuses a target whose parent does not exist, and creates neither', async () => {
    const targetDir = join(dir.path, 'no-such-parent', 'restored');
    expect(await refusal(targetDir)).toMatchObject({ code: 'RESTORE_TARGET_UNREACHABLE', message: expect.stringContaining('does not exist') as string, hints: [expect.stringContaining('mkdir -p') as string] });
    await expect(prepareTargetDirectory(targetDir)).rejects.toMatchObject({ code: 'RESTORE_TARGET_UNREACHABLE' });
    await expect(stat(join(dir.path, 'no-such-parent'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('says ready for a new directory under one that exists without creating it; the restore then creates it 0700', async () => {
    const targetDir = join(dir.path, 'new');
    expect(await checkTargetDirectory(targetDir)).toMatchObject({ ready: true, exists: false, filesystemDirectory: dir.path });
    await expect(stat(targetDir)).rejects.toMatchObject({ code: 'ENOENT' });
    await prepareTargetDirectory(targetDir);
    expect((await stat(targetDir)).mode & 0o777).toBe(0o700);
    expect(await checkTargetDirectory(targetDir)).toMatchObject({ ready: true, exists: true });
  });

  it('refuses a file, a directory that is not empty, and one where PostgreSQL runs', async () => {
    await writeFile(join(dir.path, 'a-file'), '');
    expect(await refusal(join(dir.path, 'a-file'))).toMatchObject({ code: 'RESTORE_TARGET_NOT_EMPTY' });
    await mkdir(join(dir.path, 'used'));
    await writeFile(join(dir.path, 'used', 'PG_VERSION'), '17');
    expect(await refusal(join(dir.path, 'used'))).toMatchObject({ code: 'RESTORE_TARGET_NOT_EMPTY' });
    await writeFile(join(dir.path, 'used', 'postmaster.pid'), '1');
    expect(await refusal(join(dir.path, 'used'))).toMatchObject({ code: 'RESTORE_TARGET_IN_USE' });
  });

  // A read-only mount needs root (mount --bind, then remount it read-only).
  it.runIf(process.getuid?.() === 0)('refuses a read-only mount, as a new directory under it and as an empty one on it', async () => {
    const mounted = join(dir.path, 'read-only');
    await mkdir(join(mounted, 'empty'), { recursive: true });
    await execFileAsync('mount', ['--bind', mounted, mounted]);
    try {
      await execFileAsync('mount', ['-o', 'remount,bind,ro', mounted]);
      for (const targetDir of [join(mounted, 'new'), join(mounted, 'empty')]) {
        expect(await refusal(targetDir)).toMatchObject({ code: 'RESTORE_TARGET_UNREACHABLE', message: expect.stringContaining('read-only file system') as string, hints: [expect.stringContaining('writable') as string] });
      }
    } finally {
      await execFileAsync('umount', [mounted]);
    }
  });
});

describe('drc restore, confined and never spinning, against a real backup (PostgreSQL 17)', () => {
  let root: string;
  let config: DrcTestConfig;
  let backupId: string;

  beforeAll(async () => {
    const source = await startCluster({ major: 17 });
    root = await makeTempDir('drc-confine-e2e-');
    config = await writeTestConfig(root, source);
    await source.sql("CREATE TABLE ledger AS SELECT g AS id, md5(g::text) AS entry FROM generate_series(1, 1000) g");
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    const backup = await drc(['backup', '--config', config.path, '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    backupId = backup.json<BackupRecord>().id;
    await source.stop();
  }, 180_000);
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('refuses --target-dir /proc/x up front and exits by itself (it used to spin at 100 % CPU, deaf to SIGTERM)', async () => {
    const child = spawn(process.execPath, [drcBinary, 'restore', '--config', config.path, '--latest', '--target-dir', '/proc/x'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env } });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal])));
    clearTimeout(deadline);
    expect(signal).toBeNull();
    expect(code).toBe(1);
    expect(stderr).toContain('RESTORE_TARGET_UNREACHABLE');
    expect(stderr).toContain('pseudo file system');
  }, 90_000);

  /** The real backup's manifest with its files changed by `craft`, sealed with the repository key under a new backup id in every repository. */
  async function plantCraftedManifest(id: string, craft: (files: ManifestFile[]) => ManifestFile[]): Promise<void> {
    await withRepositorySet(await createContext({ configPath: config.path }), undefined, async (set) => {
      for (const repository of set.repositories) {
        const real = await repository.readManifest(backupId);
        const crafted: Manifest = { ...real, backupId: id, backup: { ...real.backup, id }, files: craft(real.files) };
        const name = manifestObjectName(id);
        await repository.target.put(name, await sealNamedObject(repository.keys, name, Buffer.from(JSON.stringify(crafted)), repository.compression));
      }
    });
  }

  async function removeManifest(id: string): Promise<void> {
    await withRepositorySet(await createContext({ configPath: config.path }), undefined, async (set) => {
      for (const repository of set.repositories) await repository.target.delete([manifestObjectName(id)]);
    });
  }

  it('refuses a crafted manifest (../x, an absolute path, a duplicate, pg_wal -> outside) with its fault named, writing nothing anywhere', async () => {
    const outside = join(root, 'outside');
    await mkdir(outside);
    const cases: Record<string, [(files: ManifestFile[]) => ManifestFile[], string]> = {
      parent: [(files) => [...files, entry('../escaped')], "has a '..' segment"],
      absolute: [(files) => [...files, entry(join(outside, 'absolute'))], 'is absolute'],
      duplicate: [(files) => [...files, entry('global/pg_control')], 'is named twice'],
      // pg_wal a link instead of a directory, so that the WAL would be copied through it.
      walLink: [(files) => [...files.filter((file) => file.path !== 'pg_wal'), entry('pg_wal', 'symlink', outside)], 'only tablespace links'],
    };
    for (const [label, [craft, reason]] of Object.entries(cases)) {
      const id = `${backupId}-crafted-${label}`;
      await plantCraftedManifest(id, craft);
      const targetDir = join(root, `target-${label}`);
      try {
        const run = await drc(['restore', '--config', config.path, '--backup', id, '--latest', '--target-dir', targetDir, '--json']);
        expect(run.code, label).toBe(1);
        const { error } = run.json<{ error: { code: string; message: string; hints: string[] } }>();
        // Read with fallback: a manifest refused in every repository is reported as having no sound copy, each repository's reason a hint.
        expect(['OBJECT_CORRUPT', 'OBJECT_MISSING'], label).toContain(error.code);
        expect([error.message, ...error.hints].join('\n'), label).toContain(reason);
      } finally {
        await removeManifest(id);
      }
      await expect(stat(targetDir), label).rejects.toMatchObject({ code: 'ENOENT' });
    }
    expect(await readdir(outside)).toEqual([]);
    await expect(stat(join(root, 'escaped'))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 120_000);

  it('still restores the real backup, ./pg_wal/archive_status and all, into a directory PostgreSQL starts on', async () => {
    const targetDir = join(root, 'restored');
    const run = await drc(['restore', '--config', config.path, '--latest', '--target-dir', targetDir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect((await stat(join(targetDir, 'pg_wal', 'archive_status'))).isDirectory()).toBe(true);
    const restored = await startClusterFromDataDir(targetDir, 17);
    try {
      expect(await restored.sql("SELECT count(*)::int AS rows FROM ledger")).toEqual([{ rows: 1000 }]);
    } finally {
      await restored.remove();
    }
  }, 180_000);
});
