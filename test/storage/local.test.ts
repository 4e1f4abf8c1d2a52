import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalTarget } from '../../src/main/storage/local.js';
import { RemovableTarget, mediaLabelObject } from '../../src/main/storage/removable.js';
import { withRetry } from '../../src/main/storage/wrappers/retry.js';
import { withVerifyAfterWrite } from '../../src/main/storage/wrappers/verify-after-write.js';
import { DelegatingTarget } from '../../src/main/storage/wrappers/delegate.js';
import { tempDirectory } from '../support/temp.js';
import { storageConformanceSuite } from './suite.js';

storageConformanceSuite('local', async () => {
  const dir = await tempDirectory();
  return { target: new LocalTarget({ name: 'nas', path: join(dir.path, 'repo') }), cleanup: dir.remove };
});

storageConformanceSuite('removable (with verify-after-write and retry)', async () => {
  const dir = await tempDirectory();
  await mkdir(join(dir.path, 'usb0'));
  const target = withRetry(withVerifyAfterWrite(new RemovableTarget({ name: 'usb', path: join(dir.path, 'usb0', 'drc') })));
  return { target, cleanup: dir.remove };
});

describe('local target', () => {
  it('leaves no temporary files behind after writes', async () => {
    const dir = await tempDirectory();
    try {
      const target = new LocalTarget({ name: 'nas', path: dir.path });
      await Promise.all(Array.from({ length: 20 }, (_, i) => target.put(`chunks/aa/${String(i)}`, Buffer.alloc(1000, i))));
      expect((await readdir(join(dir.path, 'chunks', 'aa'))).sort()).toEqual(Array.from({ length: 20 }, (_, i) => String(i)).sort());
    } finally {
      await dir.remove();
    }
  });

  it('writes large objects (past the page cache where it can) byte-exact, many at once, with their exact length', async () => {
    const dir = await tempDirectory();
    try {
      const target = new LocalTarget({ name: 'nas', path: dir.path });
      // Sizes around the direct-write threshold and block boundaries, a sealed 4 MiB chunk, and more at once than there are staging buffers.
      const sizes = [256 * 1024 - 1, 256 * 1024, 300 * 1024 + 7, 4 * 1024 * 1024 + 36, 4096 * 100, ...Array.from({ length: 10 }, (_, index) => 1024 * 1024 + index * 513)];
      const bodies = sizes.map((size) => randomBytes(size));
      await Promise.all(bodies.map((body, index) => target.put(`chunks/${String(index).padStart(2, '0')}/object`, body)));
      for (const [index, body] of bodies.entries()) {
        const name = `chunks/${String(index).padStart(2, '0')}/object`;
        expect((await target.get(name)).equals(body), name).toBe(true);
        expect((await stat(join(dir.path, name))).size).toBe(body.length);
      }
      // An object larger than a staging buffer goes through the page cache.
      const large = randomBytes(9 * 1024 * 1024 + 5);
      await target.put('big', large);
      expect((await target.get('big')).equals(large)).toBe(true);
      expect((await readdir(dir.path)).filter((name) => name.includes('probe') || name.includes('incomplete'))).toEqual([]);
    } finally {
      await dir.remove();
    }
  });

  it('refuses object names that would escape the repository directory', async () => {
    const dir = await tempDirectory();
    try {
      const target = new LocalTarget({ name: 'nas', path: join(dir.path, 'repo') });
      await expect(target.put('../outside', Buffer.from('x'))).rejects.toMatchObject({ code: 'INTERNAL' });
      await expect(target.get('/etc/passwd')).rejects.toMatchObject({ code: 'INTERNAL' });
    } finally {
      await dir.remove();
    }
  });
});

describe('removable target', () => {
  it('reports an unplugged medium as MEDIA_NOT_PRESENT and creates nothing', async () => {
    const dir = await tempDirectory();
    try {
      const target = new RemovableTarget({ name: 'usb', path: join(dir.path, 'media', 'usb0', 'drc') });
      const error = await target.put('drc-repo.json', Buffer.from('{}')).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'MEDIA_NOT_PRESENT' });
      expect((error as { hints: string[] }).hints.join(' ')).toContain(join(dir.path, 'media', 'usb0'));
      await expect(target.list('')).rejects.toMatchObject({ code: 'MEDIA_NOT_PRESENT' });
      expect(await readdir(dir.path)).toEqual([]);
    } finally {
      await dir.remove();
    }
  });

  it('labels a medium once and keeps the label', async () => {
    const dir = await tempDirectory();
    try {
      const target = new RemovableTarget({ name: 'usb', path: join(dir.path, 'drc') });
      const label = await target.ensureMediaLabel(new Date('2026-06-01T00:00:00Z'));
      expect(label).toMatchObject({ name: 'usb', firstUsed: '2026-06-01T00:00:00.000Z' });
      expect(await target.ensureMediaLabel()).toEqual(label);
      expect(JSON.parse(await readFile(join(dir.path, 'drc', mediaLabelObject), 'utf8'))).toEqual(label);
    } finally {
      await dir.remove();
    }
  });
});

/** A device that acknowledges writes but keeps a damaged copy the first `times` times. */
class LyingDevice extends DelegatingTarget {
  writes = 0;
  constructor(inner: LocalTarget, private times: number) {
    super(inner);
  }
  override async put(name: string, body: Buffer): Promise<void> {
    this.writes += 1;
    if (this.times > 0) {
      this.times -= 1;
      return this.inner.put(name, body.subarray(0, body.length - 1));
    }
    return this.inner.put(name, body);
  }
}

describe('verify-after-write', () => {
  it('catches a write the device did not keep, and the retry wrapper writes it again', async () => {
    const dir = await tempDirectory();
    try {
      const device = new LyingDevice(new LocalTarget({ name: 'usb', path: dir.path }), 2);
      const target = withRetry(withVerifyAfterWrite(device), { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 });
      await target.put('chunks/ab/cd', Buffer.from('a whole chunk'));
      expect(device.writes).toBe(3);
      expect((await target.get('chunks/ab/cd')).toString()).toBe('a whole chunk');
    } finally {
      await dir.remove();
    }
  });

  it('fails with STORAGE_VERIFY_FAILED when the device never keeps the data', async () => {
    const dir = await tempDirectory();
    try {
      const device = new LyingDevice(new LocalTarget({ name: 'usb', path: dir.path }), 100);
      const target = withRetry(withVerifyAfterWrite(device), { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 });
      await expect(target.put('chunks/ab/cd', Buffer.from('data'))).rejects.toMatchObject({ code: 'STORAGE_VERIFY_FAILED' });
      expect(device.writes).toBe(3);
    } finally {
      await dir.remove();
    }
  });
});
