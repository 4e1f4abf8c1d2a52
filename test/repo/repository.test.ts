import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { headerObject } from '../../src/main/repo/header.js';
import { RepositoryLock } from '../../src/main/repo/locks.js';
import { addPassphrase, initRepositorySet, openRepositorySet, removePassphrase } from '../../src/main/repo/repository-set.js';
import { LocalTarget } from '../../src/main/storage/local.js';
import { tempDirectory } from '../support/temp.js';

const fastKdf = { N: 2 ** 10, r: 8, p: 1 };

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name).slice(root.length + 1));
}

describe('repository set', () => {
  let dir: Awaited<ReturnType<typeof tempDirectory>>;
  let nas: LocalTarget;
  let usb: LocalTarget;
  beforeEach(async () => {
    dir = await tempDirectory();
    nas = new LocalTarget({ name: 'nas', path: join(dir.path, 'nas') });
    usb = new LocalTarget({ name: 'usb', path: join(dir.path, 'usb') });
  });
  afterEach(() => dir.remove());

  it('creates one set on every target, so each opens alone with the passphrase', async () => {
    const result = await initRepositorySet([nas, usb], 'correct horse', { scrypt: fastKdf });
    expect(result.created.sort()).toEqual(['nas', 'usb']);
    const fromUsb = await openRepositorySet([usb], 'correct horse');
    const fromNas = await openRepositorySet([nas], 'correct horse');
    expect(fromUsb.repositoryId).toBe(fromNas.repositoryId);
    const chunk = await fromNas.repositories[0]?.writeChunk(Buffer.from('page'.repeat(2048)));
    // Same keys everywhere: a sealed object copied byte for byte opens in the other repository.
    const name = `chunks/${chunk?.id.slice(0, 2) ?? ''}/${chunk?.id ?? ''}`;
    await usb.put(name, await nas.get(name));
    expect((await fromUsb.repositories[0]?.readChunk(chunk?.id ?? ''))?.toString()).toBe('page'.repeat(2048));
  });

  it('never stores the passphrase or the master key in the plaintext header', async () => {
    await initRepositorySet([nas], 'correct horse battery', { scrypt: fastKdf });
    const header = await readFile(join(dir.path, 'nas', headerObject), 'utf8');
    expect(header).not.toContain('correct horse battery');
    const set = await openRepositorySet([nas], 'correct horse battery');
    expect(header).not.toContain(set.keys.dataKey.toString('base64'));
    expect(header).not.toContain(set.keys.dataKey.toString('hex'));
  });

  it('refuses a wrong passphrase with PASSPHRASE_WRONG and writes nothing', async () => {
    await initRepositorySet([nas], 'right', { scrypt: fastKdf });
    const before = await listFiles(join(dir.path, 'nas'));
    await expect(openRepositorySet([nas, usb], 'wrong')).rejects.toMatchObject({ code: 'PASSPHRASE_WRONG' });
    await expect(initRepositorySet([nas, usb], 'wrong', { scrypt: fastKdf })).rejects.toMatchObject({ code: 'PASSPHRASE_WRONG' });
    expect(await listFiles(join(dir.path, 'nas'))).toEqual(before);
    expect(await usb.list('')).toEqual([]);
  });

  it('extends the set to a new target with the existing header', async () => {
    await initRepositorySet([nas], 'pass', { scrypt: fastKdf });
    const result = await initRepositorySet([nas, usb], 'pass', { scrypt: fastKdf });
    expect(result.created).toEqual(['usb']);
    expect(result.alreadyInitialized).toEqual(['nas']);
    expect(await usb.get(headerObject)).toEqual(await nas.get(headerObject));
  });

  it('refuses a repository written by a newer format, changing nothing', async () => {
    await initRepositorySet([nas], 'pass', { scrypt: fastKdf });
    const header = JSON.parse((await nas.get(headerObject)).toString()) as Record<string, unknown>;
    await nas.put(headerObject, Buffer.from(JSON.stringify({ ...header, format: 3, somethingNew: true })));
    const error = await openRepositorySet([nas], 'pass').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'REPO_FORMAT_TOO_NEW' });
    expect((error as Error).message).toMatch(/format 3.*up to format 2/);
  });

  it('refuses a pre-release format 1 repository (chunks named by HMAC-SHA256), changing nothing', async () => {
    await initRepositorySet([nas], 'pass', { scrypt: fastKdf });
    const before = Buffer.from(JSON.stringify({ ...(JSON.parse((await nas.get(headerObject)).toString()) as Record<string, unknown>), format: 1 }));
    await nas.put(headerObject, before);
    const error = await openRepositorySet([nas], 'pass').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'REPO_FORMAT_TOO_OLD' });
    expect((error as Error).message).toMatch(/format 1.*reads format 2/);
    expect(await nas.get(headerObject)).toEqual(before);
  });

  it('notices a tampered header (key slot label changed)', async () => {
    await initRepositorySet([nas], 'pass', { scrypt: fastKdf });
    const header = JSON.parse((await nas.get(headerObject)).toString()) as { keySlots: Array<{ label: string }> };
    const [slot] = header.keySlots;
    if (slot) slot.label = 'attacker';
    await nas.put(headerObject, Buffer.from(JSON.stringify(header)));
    await expect(openRepositorySet([nas], 'pass')).rejects.toMatchObject({ code: 'REPO_HEADER_INVALID' });
  });

  it('refuses to mix two different repository sets', async () => {
    await initRepositorySet([nas], 'pass', { scrypt: fastKdf });
    await initRepositorySet([usb], 'pass', { scrypt: fastKdf });
    await expect(openRepositorySet([nas, usb], 'pass')).rejects.toMatchObject({ code: 'REPO_MISMATCH' });
  });

  it('adds and removes passphrases without touching data, never the last one', async () => {
    await initRepositorySet([nas, usb], 'first', { scrypt: fastKdf });
    let set = await openRepositorySet([nas, usb], 'first');
    const chunk = await set.repositories[0]?.writeChunk(randomBytes(3000));
    const added = await addPassphrase(set, 'first', 'second', 'for the on-call DBA', fastKdf);
    expect(added.updated.sort()).toEqual(['nas', 'usb']);

    set = await openRepositorySet([usb], 'second');
    const original = (await openRepositorySet([nas], 'first')).repositories[0]?.header.keySlots[0]?.id ?? '';
    set = await openRepositorySet([nas, usb], 'second');
    await removePassphrase(set, original);
    await expect(openRepositorySet([nas], 'first')).rejects.toMatchObject({ code: 'PASSPHRASE_WRONG' });
    set = await openRepositorySet([nas], 'second');
    expect(await set.repositories[0]?.readChunk(chunk?.id ?? '')).toHaveLength(3000);
    await expect(removePassphrase(set, added.slotId)).rejects.toMatchObject({ code: 'PASSPHRASE_LAST_SLOT' });
  });
});

describe('locks', () => {
  let dir: Awaited<ReturnType<typeof tempDirectory>>;
  beforeEach(async () => {
    dir = await tempDirectory();
  });
  afterEach(() => dir.remove());

  it('refuses a second writer with a hint naming the holder', async () => {
    const target = new LocalTarget({ name: 'nas', path: dir.path });
    const first = await RepositoryLock.acquire(target, 'write', 'sync from s3', { settleMs: 10 });
    const error = await RepositoryLock.acquire(target, 'write', 'verify --repair', { settleMs: 10 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'LOCK_HELD' });
    expect((error as Error).message).toContain('sync from s3');
    expect((error as Error).message).toContain(`pid ${String(process.pid)}`);
    await first.release();
    const second = await RepositoryLock.acquire(target, 'write', 'verify --repair', { settleMs: 10 });
    await second.release();
  });

  it('lets exactly one of two racing writers in', async () => {
    const target = new LocalTarget({ name: 'nas', path: dir.path });
    const results = await Promise.allSettled([
      RepositoryLock.acquire(target, 'write', 'a', { settleMs: 50 }),
      RepositoryLock.acquire(target, 'write', 'b', { settleMs: 50 }),
    ]);
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    expect(rejected?.reason).toMatchObject({ code: 'LOCK_HELD' });
    for (const result of results) if (result.status === 'fulfilled') await result.value.release();
  });

  it('takes a free lock on a local disk at once, and lets exactly one of many racing writers in', async () => {
    const target = new LocalTarget({ name: 'nas', path: dir.path });
    // A settle wait this long would show: the atomic create needs none.
    const started = Date.now();
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, index) => RepositoryLock.acquire(target, 'backup', `writer ${String(index)}`, { settleMs: 10_000 })));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    const refused = results.flatMap((result): unknown[] => (result.status === 'rejected' ? [result.reason] : []));
    expect(refused).toHaveLength(7);
    for (const reason of refused) expect(reason).toMatchObject({ code: 'LOCK_HELD' });
    for (const result of results) if (result.status === 'fulfilled') await result.value.release();
  });

  it('creates an object exclusively on a local disk: the second create writes nothing', async () => {
    const target = new LocalTarget({ name: 'nas', path: dir.path });
    expect(await target.createExclusive('locks/x.json', Buffer.from('first'))).toBe(true);
    expect(await target.createExclusive('locks/x.json', Buffer.from('second'))).toBe(false);
    expect((await target.get('locks/x.json')).toString()).toBe('first');
    expect((await target.list('locks/')).map((object) => object.name)).toEqual(['locks/x.json']);
  });

  it('takes over a lock torn by a crash mid-write', async () => {
    const target = new LocalTarget({ name: 'nas', path: dir.path });
    await target.put('locks/backup.json', Buffer.from('{"token":'));
    const lock = await RepositoryLock.acquire(target, 'backup', 'full backup', { settleMs: 1 });
    await lock.release();
  });

  it('takes over an expired lock', async () => {
    const target = new LocalTarget({ name: 'nas', path: dir.path });
    const now = Date.now();
    await RepositoryLock.acquire(target, 'write', 'crashed backup', { settleMs: 1, ttlMs: 1000, now: () => new Date(now - 60_000) });
    const lock = await RepositoryLock.acquire(target, 'write', 'sync', { settleMs: 1 });
    await lock.release();
  });
});

describe('crash safety', () => {
  it('a process killed during a write leaves no visible half-object', async () => {
    const dir = await tempDirectory();
    try {
      const target = new LocalTarget({ name: 'nas', path: dir.path });
      await target.put('chunks/ab/old', Buffer.from('previous complete version'));
      const script = `
        import { LocalTarget } from ${JSON.stringify(join(process.cwd(), 'src/main/storage/local.ts'))};
        const target = new LocalTarget({ name: 'nas', path: ${JSON.stringify(dir.path)} });
        const big = Buffer.alloc(64 * 1024 * 1024, 7);
        process.stdout.write('writing\\n');
        for (;;) { await target.put('chunks/ab/old', big); await target.put('chunks/ab/new', big); }
      `;
      await writeFile(join(dir.path, 'writer.mts'), script);
      const child = spawn(process.execPath, ['--import', 'tsx', join(dir.path, 'writer.mts')], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`writer exited early with code ${String(code)}`)));
      });
      await new Promise((resolve) => setTimeout(resolve, 400));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));

      const listed = await target.list('chunks/');
      for (const object of listed) {
        const body = await target.get(object.name);
        // Either the earlier complete version or a complete new one: never a prefix.
        expect(body.toString() === 'previous complete version' || body.length === 64 * 1024 * 1024).toBe(true);
      }
      expect(listed.map((object) => object.name)).toContain('chunks/ab/old');
      expect(listed.every((object) => !object.name.includes('drc-incomplete'))).toBe(true);
    } finally {
      await dir.remove();
    }
  });
});
