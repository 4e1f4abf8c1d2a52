import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RepositoryInfo, SyncReport, VerifyReport } from '../../src/shared/contract/repository.js';
import { RepositoryLock } from '../../src/main/repo/locks.js';
import { chunkObjectName } from '../../src/main/repo/objects.js';
import { manifestObjectName } from '../../src/main/repo/manifest.js';
import { createContext, withRepositorySet, withTargets } from '../../src/main/services/context.js';
import type { StorageTarget } from '../../src/main/storage/target.js';
import { drc } from '../support/cli.js';
import { startGcsServer, type GcsServer } from '../support/gcs-server.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';
import { writeSampleBackup } from '../support/sample-backup.js';
import { tempDirectory } from '../support/temp.js';
import { drcBinary } from '../support/drc-binary.js';

const passphrase = 'wedding season 2026';
const kdf = ['--kdf-cost', '10'];

describe('drc repository commands on local, removable, S3 and GCS repositories', () => {
  let dir: Awaited<ReturnType<typeof tempDirectory>>;
  let s3: S3Server;
  let gcs: GcsServer;
  let configPath: string;
  let chunkIds: string[] = [];

  const run = (args: string[], input?: string) => drc([...args, '--config', configPath], input);
  const withTarget = async <T>(name: string, work: (target: StorageTarget) => Promise<T>): Promise<T> =>
    withTargets(await createContext({ configPath }), name, async ([target]) => {
      if (!target) throw new Error(`no target ${name}`);
      return work(target);
    });
  const flipByte = (name: string, object: string) =>
    withTarget(name, async (target) => {
      const body = await target.get(object);
      body[body.length - 20] = (body[body.length - 20] ?? 0) ^ 0x01;
      await target.put(object, body);
    });

  beforeAll(async () => {
    dir = await tempDirectory();
    s3 = await startS3Server();
    await s3.bucket('drc-backups');
    gcs = await startGcsServer({ bucket: 'drc-offsite' });
    await mkdir(join(dir.path, 'media', 'usb0'), { recursive: true });
    process.env.DRC_TEST_PASSPHRASE = passphrase;
    process.env.DRC_TEST_S3_KEY = s3.accessKeyId;
    process.env.DRC_TEST_S3_SECRET = s3.secretAccessKey;
    configPath = join(dir.path, 'config.json');
    await writeFile(
      configPath,
      JSON.stringify({
        cluster: { name: 'wedsync', host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' },
        encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' },
        repositories: [
          { name: 'usb', type: 'removable', path: join(dir.path, 'media', 'usb0', 'drc') },
          { name: 'nas', type: 'local', path: join(dir.path, 'nas') },
          { name: 's3', type: 's3', bucket: 'drc-backups', prefix: 'wedsync', region: 'eu-west-1', endpoint: s3.endpoint, forcePathStyle: true, accessKeyId: 'env:DRC_TEST_S3_KEY', secretAccessKey: 'env:DRC_TEST_S3_SECRET', offsite: true },
          { name: 'gcs', type: 'gcs', bucket: 'drc-offsite', prefix: 'wedsync', apiEndpoint: gcs.url, offsite: true },
        ],
      }),
    );
  });

  afterAll(async () => {
    await s3.close();
    await gcs.close();
    await dir.remove();
  });

  it('initializes one repository, then fills an empty USB stick from it with sync', async () => {
    const init = await run(['repo', 'init', '--repo', 'nas', '--json', ...kdf]);
    expect(init.code).toBe(0);
    expect(init.json<{ created: string[] }>().created).toEqual(['nas']);

    const context = await createContext({ configPath });
    chunkIds = (await withRepositorySet(context, 'nas', (set) => writeSampleBackup(set.repositories, '20261127T100000Z-full'))).chunkIds;

    const sync = await run(['sync', '--from', 'nas', '--to', 'usb', '--json']);
    expect(sync.code).toBe(0);
    const report = sync.json<SyncReport>();
    expect(report.objectsCopied).toBe(chunkIds.length + 1);
    expect(report.skippedCorrupt).toEqual([]);
    const label = JSON.parse(await readFile(join(dir.path, 'media', 'usb0', 'drc', 'drc-repo.json'), 'utf8')) as { repositoryId: string };
    const nasHeader = JSON.parse(await readFile(join(dir.path, 'nas', 'drc-repo.json'), 'utf8')) as { repositoryId: string };
    expect(label.repositoryId).toBe(nasHeader.repositoryId);

    const verifyUsb = await run(['verify', '--repo', 'usb', '--json']);
    expect(verifyUsb.code).toBe(0);
    expect(verifyUsb.json<VerifyReport>().repositories[0]?.objectsChecked).toBeGreaterThan(chunkIds.length);
  });

  it('creates the repository on the cloud targets and copies the backup there', async () => {
    const init = await run(['repo', 'init', '--json', ...kdf]);
    expect(init.code).toBe(0);
    expect(init.json<{ created: string[]; alreadyInitialized: string[] }>()).toMatchObject({ created: expect.arrayContaining(['s3', 'gcs']) as unknown, alreadyInitialized: expect.arrayContaining(['nas', 'usb']) as unknown });
    expect((await run(['sync', '--from', 'nas', '--to', 's3'])).code).toBe(0);
    const toGcs = await run(['sync', '--from', 'usb', '--to', 'gcs']);
    expect(toGcs.code).toBe(0);
    expect(toGcs.stdout).toMatch(/copied \d+ object\(s\)/);
  });

  it('describes every repository without key material or credentials', async () => {
    const info = await run(['repo', 'info', '--json']);
    expect(info.code).toBe(0);
    const repositories = info.json<{ repositories: RepositoryInfo[] }>().repositories;
    expect(repositories.map((repository) => repository.repository)).toEqual(['usb', 'nas', 's3', 'gcs']);
    expect(new Set(repositories.map((repository) => repository.repositoryId)).size).toBe(1);
    expect(repositories.every((repository) => repository.initialized && repository.keySlots.length === 1)).toBe(true);
    expect(repositories.find((repository) => repository.repository === 'usb')).toMatchObject({ media: 'removable', offsite: false });
    expect(repositories.find((repository) => repository.repository === 's3')).toMatchObject({ media: 'cloud', offsite: true, location: expect.stringContaining('s3://drc-backups/wedsync') as unknown });
    expect(repositories.find((repository) => repository.repository === 'gcs')?.objects.chunks?.count).toBe(chunkIds.length);
    expect(info.stdout).not.toContain('wrappedKey');
    expect(info.stdout).not.toContain(passphrase);
    const text = await run(['repo', 'info']);
    expect(text.stdout).toContain('key slots:');
  });

  it('verifies every repository clean', async () => {
    const result = await run(['verify', '--json']);
    expect(result.code).toBe(0);
    const report = result.json<VerifyReport>();
    expect(report.ok).toBe(true);
    expect(report.repositories.map((repository) => repository.repository).sort()).toEqual(['gcs', 'nas', 's3', 'usb']);
    expect(report.repositories.every((repository) => repository.problems.length === 0)).toBe(true);
  });

  it('names a flipped chunk, a flipped manifest and a missing chunk by object and repository, then repairs them', async () => {
    const damagedChunk = chunkObjectName(chunkIds[2] ?? '');
    const missingChunk = chunkObjectName(chunkIds[0] ?? '');
    const manifest = manifestObjectName('20261127T100000Z-full');
    await flipByte('nas', damagedChunk);
    await flipByte('s3', manifest);
    await withTarget('gcs', (target) => target.delete([missingChunk]));

    const found = await run(['verify', '--json']);
    expect(found.code).toBe(1);
    const report = found.json<VerifyReport>();
    expect(report.ok).toBe(false);
    const problems = (name: string) => report.repositories.find((repository) => repository.repository === name)?.problems ?? [];
    expect(problems('nas')).toEqual([expect.objectContaining({ object: damagedChunk, problem: 'corrupt', repaired: false })]);
    expect(problems('s3')).toEqual([expect.objectContaining({ object: manifest, problem: 'corrupt' })]);
    expect(problems('gcs')).toEqual([expect.objectContaining({ object: missingChunk, problem: 'missing', referencedBy: manifest })]);
    expect(problems('usb')).toEqual([]);

    const human = await run(['verify']);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(`nas: 1 problem(s)`);
    expect(human.stdout).toContain(`CORRUPT ${damagedChunk}`);
    expect(human.stdout).toContain('drc verify --repair');

    const repair = await run(['verify', '--repair', '--json']);
    expect(repair.code).toBe(0);
    const repaired = repair.json<VerifyReport>().repositories.flatMap((repository) => repository.problems.map((problem) => ({ repository: repository.repository, ...problem })));
    expect(repaired).toHaveLength(3);
    expect(repaired.every((problem) => problem.repaired && problem.repairedFrom !== undefined && problem.repairedFrom !== problem.repository)).toBe(true);

    const after = await run(['verify', '--json']);
    expect(after.code).toBe(0);
    expect(after.json<VerifyReport>().ok).toBe(true);
  });

  it('refuses a second writer while the first holds the lock, naming the holder', async () => {
    const lock = await withTarget('usb', (target) => RepositoryLock.acquire(target, 'write', 'backup', { settleMs: 1 }));
    try {
      const refused = await run(['sync', '--from', 'nas', '--to', 'usb', '--json']);
      expect(refused.code).toBe(1);
      const error = refused.json<{ error: { code: string; message: string; hints: string[] } }>().error;
      expect(error.code).toBe('LOCK_HELD');
      expect(error.message).toContain('backup');
      expect(error.hints.join(' ')).toContain('wait for the backup');
    } finally {
      await lock.release();
    }
  });

  it('refuses a wrong passphrase with a stable code, exit 1, and writes nothing', async () => {
    process.env.DRC_TEST_PASSPHRASE = 'not the passphrase';
    try {
      const before = await run(['repo', 'info', '--json']);
      const result = await run(['verify', '--json']);
      expect(result.code).toBe(1);
      expect(result.json<{ error: { code: string } }>().error.code).toBe('PASSPHRASE_WRONG');
      const after = await run(['repo', 'info', '--json']);
      expect(after.json()).toEqual(before.json());
    } finally {
      process.env.DRC_TEST_PASSPHRASE = passphrase;
    }
  });

  it('adds a passphrase read from stdin and removes the original slot', async () => {
    const added = await run(['repo', 'passphrase', 'add', '--label', 'on-call', '--json', ...kdf], 'second passphrase\n');
    expect(added.code).toBe(0);
    const { slotId, updated } = added.json<{ slotId: string; updated: string[] }>();
    expect(updated.sort()).toEqual(['gcs', 'nas', 's3', 'usb']);
    const info = (await run(['repo', 'info', '--json'])).json<{ repositories: RepositoryInfo[] }>();
    const original = info.repositories[0]?.keySlots.find((slot) => slot.id !== slotId)?.id ?? '';
    expect(info.repositories.every((repository) => repository.keySlots.length === 2)).toBe(true);

    // From here on the second passphrase is the only one.
    process.env.DRC_TEST_PASSPHRASE = 'second passphrase';
    const removed = await run(['repo', 'passphrase', 'remove', '--slot', original]);
    expect(removed.code).toBe(0);
    expect((await run(['verify'])).code).toBe(0);
    const last = await run(['repo', 'passphrase', 'remove', '--slot', slotId, '--json']);
    expect(last.code).toBe(1);
    expect(last.json<{ error: { code: string } }>().error.code).toBe('PASSPHRASE_LAST_SLOT');
  });

  it('says the removable medium is not present instead of writing to the workstation disk', async () => {
    await rm(join(dir.path, 'media', 'usb0'), { recursive: true, force: true });
    const result = await run(['verify', '--json']);
    expect(result.code).toBe(1);
    const usb = result.json<VerifyReport>().repositories.find((repository) => repository.repository === 'usb');
    expect(usb?.error?.code).toBe('MEDIA_NOT_PRESENT');
    const init = await run(['repo', 'init', '--repo', 'usb', '--json']);
    expect(init.json<{ unreachable: Array<{ error: { code: string } }> }>().unreachable[0]?.error.code).toBe('MEDIA_NOT_PRESENT');
    await expect(readFile(join(dir.path, 'media', 'usb0', 'drc', 'drc-repo.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('rejects a bad config with exit 2, naming the field', async () => {
    const badPath = join(dir.path, 'bad.json');
    await writeFile(badPath, JSON.stringify({ encryption: { passphrase: 'hunter2-literal' }, repositories: [{ name: 'nas', type: 'local', path: '/x' }, { name: 's3', type: 's3', region: 'x' }] }));
    const result = await drc(['repo', 'info', '--config', badPath, '--json']);
    expect(result.code).toBe(2);
    const error = result.json<{ error: { code: string; message: string; hints: string[] } }>().error;
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('encryption.passphrase');
    expect(error.message).toContain('repositories[1].bucket');
    expect(result.stdout).not.toContain('hunter2-literal');
  });

  it('answers usage errors with exit 2 and a hint', async () => {
    const unknown = await drc(['repo', 'explode', '--json']);
    expect(unknown.code).toBe(2);
    expect(unknown.json<{ error: { code: string } }>().error.code).toBe('USAGE');
    const missing = await run(['sync', '--from', 'nas']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--to is required');
    const missingConfig = await drc(['repo', 'info', '--config', join(dir.path, 'nope.json')]);
    expect(missingConfig.code).toBe(2);
    expect(missingConfig.stderr).toContain('CONFIG_NOT_FOUND');
  });

  it('runs as a real process with one JSON document on stdout', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [drcBinary, 'repo', 'info', '--repo', 'nas', '--json', '--config', configPath],
      { env: { ...process.env } },
    );
    const parsed = JSON.parse(stdout) as { repositories: RepositoryInfo[] };
    expect(parsed.repositories[0]?.repository).toBe('nas');
  });
});
