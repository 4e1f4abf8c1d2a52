import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrcError } from '../../src/shared/errors.js';
import type { StorageTarget } from '../../src/main/storage/target.js';

export interface TargetUnderTest {
  target: StorageTarget;
  /** Stops servers and removes directories the factory created. */
  cleanup: () => Promise<void>;
}

/**
 * The behaviour every storage driver promises (see `StorageTarget`). Each driver's test
 * file calls this with a factory that builds a target against a real peer: a temp
 * directory, s3rver, or the GCS JSON-API test server.
 */
export function storageConformanceSuite(driver: string, create: () => Promise<TargetUnderTest>): void {
  describe(`storage conformance: ${driver}`, () => {
    let subject: TargetUnderTest;
    let target: StorageTarget;
    beforeAll(async () => {
      subject = await create();
      target = subject.target;
    });
    afterAll(async () => {
      await target.close();
      await subject.cleanup();
    });

    it('stores and returns exactly the bytes put', async () => {
      const body = randomBytes(100_000);
      await target.put('conformance/round-trip', body);
      expect((await target.get('conformance/round-trip')).equals(body)).toBe(true);
    });

    it('stores an empty object', async () => {
      await target.put('conformance/empty', Buffer.alloc(0));
      expect((await target.get('conformance/empty')).length).toBe(0);
      expect(await target.head('conformance/empty')).toEqual({ name: 'conformance/empty', size: 0 });
    });

    it('replaces an object on a second put of the same name', async () => {
      await target.put('conformance/replace', Buffer.from('first version'));
      await target.put('conformance/replace', Buffer.from('second'));
      expect((await target.get('conformance/replace')).toString()).toBe('second');
      expect((await target.head('conformance/replace'))?.size).toBe(6);
    });

    it('stores a large object (multipart / resumable upload path)', async () => {
      const body = randomBytes(12 * 1024 * 1024 + 123);
      await target.put('conformance/large', body);
      const back = await target.get('conformance/large');
      expect(back.length).toBe(body.length);
      expect(back.equals(body)).toBe(true);
    });

    it('reads a byte range', async () => {
      const body = randomBytes(64 * 1024);
      await target.put('conformance/ranged', body);
      const slice = await target.get('conformance/ranged', { offset: 1000, length: 5000 });
      expect(slice.equals(body.subarray(1000, 6000))).toBe(true);
    });

    it('reports a missing object as STORAGE_NOT_FOUND from get and undefined from head', async () => {
      const error = await target.get('conformance/never-written').catch((e: unknown) => e);
      expect(isDrcError(error, 'STORAGE_NOT_FOUND')).toBe(true);
      expect(await target.head('conformance/never-written')).toBeUndefined();
    });

    it('returns size from head', async () => {
      await target.put('conformance/sized', Buffer.alloc(4321, 1));
      expect(await target.head('conformance/sized')).toEqual({ name: 'conformance/sized', size: 4321 });
    });

    // More objects than one page of S3 or GCS (1000), in 7 directories, beside a sibling
    // that sorts just before the prefix ('-' < '/'). Written once, by whichever listing test runs first.
    const names = Array.from({ length: 1105 }, (_, i) => `listing/${String(i % 7)}/${String(i).padStart(5, '0')}`);
    let listingWritten: Promise<void> | undefined;
    const writeListing = (): Promise<void> =>
      (listingWritten ??= (async () => {
        for (let i = 0; i < names.length; i += 50) {
          await Promise.all(names.slice(i, i + 50).map((name) => target.put(name, Buffer.from(name))));
        }
        await target.put('listing-sibling/x', Buffer.from('not under the prefix'));
      })());
    const listedNames = async (prefix: string, startAfter: string): Promise<string[]> => (await target.list(prefix, { startAfter })).map((o) => o.name).sort();
    const namesAfter = (prefix: string, startAfter: string): string[] => names.filter((name) => name.startsWith(prefix) && name > startAfter).sort();

    it('lists every object under a prefix, across pages, and nothing else', async () => {
      await writeListing();
      const listed = await target.list('listing/');
      expect(listed.map((o) => o.name).sort()).toEqual([...names].sort());
      expect(listed.find((o) => o.name === names[3])?.size).toBe(Buffer.byteLength(names[3] ?? ''));
      const narrow = await target.list('listing/3/');
      expect(narrow.length).toBe(names.filter((n) => n.startsWith('listing/3/')).length);
    });

    it('lists only the names after startAfter, across pages, with a prefix', async () => {
      await writeListing();
      // An existing name early in the first directory: more than a page of names follow it, and never itself.
      const fromExisting = await target.list('listing/', { startAfter: 'listing/0/00063' });
      expect(fromExisting.length).toBeGreaterThan(1000);
      expect(fromExisting.map((o) => o.name).sort()).toEqual(namesAfter('listing/', 'listing/0/00063'));
      expect(fromExisting.find((o) => o.name === 'listing/3/00500')?.size).toBe(Buffer.byteLength('listing/3/00500'));
      expect(await listedNames('listing/3/', 'listing/3/00500')).toEqual(namesAfter('listing/3/', 'listing/3/00500'));
      // Not an object: between two names of one directory, and a directory's own name.
      expect(await listedNames('listing/', 'listing/3/005')).toEqual(namesAfter('listing/', 'listing/3/005'));
      expect(await listedNames('listing/', 'listing/3')).toEqual(names.filter((name) => name >= 'listing/3/').sort());
    });

    it('lists everything under the prefix when startAfter sorts before it', async () => {
      await writeListing();
      expect(await listedNames('listing/', 'listing-sibling/x')).toEqual([...names].sort());
      expect(await listedNames('listing/5/', 'listing/4/99999')).toEqual(namesAfter('listing/5/', ''));
      expect(await listedNames('listing/5/', '')).toEqual(namesAfter('listing/5/', ''));
    });

    it('lists nothing when startAfter sorts after every name under the prefix', async () => {
      await writeListing();
      const greatest = [...names].sort().pop() ?? '';
      expect(await target.list('listing/', { startAfter: greatest })).toEqual([]);
      expect(await target.list('listing/', { startAfter: 'listing/7' })).toEqual([]);
      expect(await target.list('listing/2/', { startAfter: 'listing/3/' })).toEqual([]);
    });

    it('lists nothing under an unused prefix', async () => {
      expect(await target.list('nothing-here/')).toEqual([]);
    });

    it('deletes objects, and deleting a missing object is not an error', async () => {
      await target.put('conformance/delete-a', Buffer.from('a'));
      await target.put('conformance/delete-b', Buffer.from('b'));
      await target.delete(['conformance/delete-a', 'conformance/delete-b', 'conformance/delete-never']);
      expect(await target.head('conformance/delete-a')).toBeUndefined();
      expect(await target.head('conformance/delete-b')).toBeUndefined();
    });

    it('describes itself without credentials', () => {
      expect(target.describe()).not.toMatch(/secret|password|private_key/i);
    });
  });
}
