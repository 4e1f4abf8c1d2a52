import { DrcError, type ErrorData } from '../../shared/errors.js';
import type { StorageTarget } from '../storage/target.js';
import type { Compression } from './envelope.js';
import { eventObjectName, eventSchema, type RepositoryEvent } from './events.js';
import type { RepositoryHeader } from './header.js';
import type { RepositoryKeys } from './keys.js';
import { RepositoryLock, type LockOptions } from './locks.js';
import { backupIdOf, decodeManifest, encodeManifest, manifestObjectName, type Manifest } from './manifest.js';
import { readFromFirstSound, recordFallback, type Fallback } from './object-source.js';
import { chunkId, chunkObjectName, corruptObject, objectPrefixes, openObject, sealChunk, sealNamedObject } from './objects.js';

/**
 * The repositories of one opened set, as each member sees the others: a manifest or an
 * event record is the same sealed object in every member, so a damaged copy in one is
 * read from another. Each copy passed over is logged once, for the command to report.
 */
export class SetMembers {
  readonly members: Repository[] = [];
  readonly fallbacks: Fallback[] = [];

  /** The members other than `repository`, in the set's order. */
  othersThan(repository: Repository): Repository[] {
    return this.members.filter((member) => member !== repository);
  }
}

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
    /** The set this repository was opened in; alone, a damaged copy has no other to fall back on. */
    readonly set: SetMembers = new SetMembers(),
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

  /**
   * A backup's manifest: this repository's copy, or — when that copy is damaged — the
   * copy of another member of the set (the same sealed object), logged as a fallback.
   * `verify` reads objects with `readObject`, which never falls back, so it still reports
   * the damaged copy.
   */
  readManifest(backupId: string): Promise<Manifest> {
    const name = manifestObjectName(backupId);
    return this.readOwnOrOtherCopy(name, async (repository) => decodeManifest(await repository.readObject(name), repository.name, name));
  }

  async listBackupIds(): Promise<string[]> {
    const objects = await this.target.list(objectPrefixes.backups);
    return objects.flatMap((object) => backupIdOf(object.name) ?? []).sort();
  }

  async appendEvent(event: RepositoryEvent): Promise<void> {
    await this.writeNamedObject(eventObjectName(event), Buffer.from(JSON.stringify(event)));
  }

  /** An event record, from this repository or, when its copy is damaged, from another member (see readManifest). */
  readEvent(name: string): Promise<RepositoryEvent> {
    return this.readOwnOrOtherCopy(name, async (repository) => {
      const plaintext = await repository.readObject(name);
      let json: unknown;
      try {
        json = JSON.parse(plaintext.toString('utf8'));
      } catch {
        throw corruptObject(repository.name, name, 'not JSON');
      }
      const parsed = eventSchema.safeParse(json);
      if (!parsed.success) throw corruptObject(repository.name, name, 'not an event record');
      return parsed.data;
    });
  }

  /**
   * Only a damaged copy is replaced by another member's: an object this repository does
   * not hold at all is not its object, and a medium that cannot be read says so.
   */
  private async readOwnOrOtherCopy<T>(name: string, read: (repository: Repository) => Promise<T>): Promise<T> {
    try {
      return await read(this);
    } catch (error) {
      if (!(error instanceof DrcError) || error.code !== 'OBJECT_CORRUPT') throw error;
      const others = this.set.othersThan(this);
      if (others.length === 0) throw error;
      let servedBy = '';
      const served = async (repository: Repository): Promise<T> => {
        const value = await read(repository);
        servedBy = repository.name;
        return value;
      };
      try {
        // Members that simply do not hold the object are no finding: only this copy is reported.
        const value = await readFromFirstSound(name, others, served, []);
        recordFallback(this.set.fallbacks, { object: name, failed: this.name, usedInstead: servedBy, reason: error.message });
        return value;
      } catch (otherError) {
        // No other copy is sound either: this repository's own damage is the answer.
        if (otherError instanceof DrcError && (otherError.code === 'OBJECT_MISSING' || otherError.code === 'OBJECT_CORRUPT')) throw error;
        throw otherError;
      }
    }
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
