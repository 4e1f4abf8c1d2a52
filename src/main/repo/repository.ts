import { DrcError, type ErrorData } from '../../shared/errors.js';
import type { StorageTarget } from '../storage/target.js';
import type { Compression } from './envelope.js';
import { eventObjectName, eventSchema, type RepositoryEvent } from './events.js';
import type { RepositoryHeader } from './header.js';
import type { RepositoryKeys } from './keys.js';
import { RepositoryLock, type LockOptions } from './locks.js';
import { backupIdOf, decodeManifest, encodeManifest, manifestObjectName, type Manifest } from './manifest.js';
import { chunkId, chunkObjectName, corruptObject, objectPrefixes, openObject, sealChunk, sealNamedObject } from './objects.js';

/**
 * One unlocked repository on one storage target. Every read authenticates what it
 * returns; every write is a whole sealed object. Commit order (chunks, then manifest) is
 * the caller's duty and is what makes a manifest's existence mean "complete backup".
 */
export class Repository {
  constructor(
    readonly target: StorageTarget,
    readonly header: RepositoryHeader,
    readonly keys: RepositoryKeys,
  ) {}

  get name(): string {
    return this.target.name;
  }

  get compression(): Compression {
    return this.header.compression;
  }

  chunkId(plaintext: Buffer): string {
    return chunkId(this.keys, plaintext);
  }

  /** Seals and stores a chunk; returns its id and the bytes it occupies in the repository. */
  async writeChunk(plaintext: Buffer): Promise<{ id: string; storedBytes: number }> {
    const id = this.chunkId(plaintext);
    const sealed = await sealChunk(this.keys, id, plaintext, this.compression);
    await this.target.put(chunkObjectName(id), sealed);
    return { id, storedBytes: sealed.length };
  }

  readChunk(id: string): Promise<Buffer> {
    return this.readObject(chunkObjectName(id));
  }

  /** Reads and authenticates any sealed object by name. */
  async readObject(name: string): Promise<Buffer> {
    return openObject(this.keys, this.name, name, await this.target.get(name));
  }

  async writeNamedObject(name: string, plaintext: Buffer): Promise<number> {
    const sealed = await sealNamedObject(this.keys, name, plaintext, this.compression);
    await this.target.put(name, sealed);
    return sealed.length;
  }

  async writeManifest(manifest: Manifest): Promise<void> {
    await this.writeNamedObject(manifestObjectName(manifest.backupId), encodeManifest(manifest));
  }

  async readManifest(backupId: string): Promise<Manifest> {
    const name = manifestObjectName(backupId);
    return decodeManifest(await this.readObject(name), this.name, name);
  }

  async listBackupIds(): Promise<string[]> {
    const objects = await this.target.list(objectPrefixes.backups);
    return objects.flatMap((object) => backupIdOf(object.name) ?? []).sort();
  }

  async appendEvent(event: RepositoryEvent): Promise<void> {
    await this.writeNamedObject(eventObjectName(event), Buffer.from(JSON.stringify(event)));
  }

  async readEvent(name: string): Promise<RepositoryEvent> {
    const parsed = eventSchema.safeParse(JSON.parse((await this.readObject(name)).toString('utf8')));
    if (!parsed.success) throw corruptObject(this.name, name, 'not an event record');
    return parsed.data;
  }

  lock(lockName: string, operation: string, options?: LockOptions): Promise<RepositoryLock> {
    return RepositoryLock.acquire(this.target, lockName, operation, options);
  }
}

/**
 * Runs one write on every repository at once. A repository whose write fails does not
 * stop the others: it is returned, with why, for the caller to report.
 */
export async function inEveryRepository(repositories: readonly Repository[], write: (repository: Repository) => Promise<unknown>): Promise<{ done: string[]; failed: Array<{ repository: string; error: ErrorData }> }> {
  const done: string[] = [];
  const failed: Array<{ repository: string; error: ErrorData }> = [];
  await Promise.all(
    repositories.map(async (repository) => {
      try {
        await write(repository);
        done.push(repository.name);
      } catch (error) {
        if (!(error instanceof DrcError)) throw error;
        failed.push({ repository: repository.name, error: error.toData() });
      }
    }),
  );
  return { done: done.sort(), failed };
}

/**
 * Appends an event record to every repository. One that cannot take it does not fail the
 * operation being recorded (it has already happened); the caller reports it.
 */
export async function recordInEvery(repositories: readonly Repository[], event: RepositoryEvent): Promise<{ recorded: string[]; failed: Array<{ repository: string; error: ErrorData }> }> {
  const { done, failed } = await inEveryRepository(repositories, (repository) => repository.appendEvent(event));
  return { recorded: done, failed };
}

/** The lock every operation that writes to a repository takes. */
export const writeLock = 'write';

/** Takes a lock (the write lock unless named) on every repository, or none: on refusal the ones taken are released. */
export async function lockAll(repositories: readonly Repository[], operation: string, options: LockOptions & { lock?: string } = {}): Promise<RepositoryLock[]> {
  const held: RepositoryLock[] = [];
  try {
    for (const repository of repositories) held.push(await repository.lock(options.lock ?? writeLock, operation, options));
    return held;
  } catch (error) {
    await releaseAll(held);
    throw error;
  }
}

/**
 * Releases every lock. A lock that cannot be released (its repository went away) is not
 * an error of the operation: it expires by itself, and this process no longer counts as
 * its holder, so the next operation takes it over. Returns what could not be released.
 */
export async function releaseAll(locks: readonly RepositoryLock[]): Promise<string[]> {
  const results = await Promise.allSettled(locks.map((lock) => lock.release()));
  return results.flatMap((result) => (result.status === 'rejected' ? [result.reason instanceof Error ? result.reason.message : String(result.reason)] : []));
}
