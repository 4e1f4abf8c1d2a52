import type { RepositoryProgress, SyncReport } from '../../shared/contract/repository.js';
import { DrcError } from '../../shared/errors.js';
import { forEachConcurrent } from '../parallel.js';
import { newEvent } from '../repo/events.js';
import { encodeHeader, headerObject } from '../repo/header.js';
import { backupIdOf, decodeManifest, referencedChunks } from '../repo/manifest.js';
import { chunkObjectName, objectPrefixes } from '../repo/objects.js';
import { everything, ReadLease } from '../repo/leases.js';
import { Repository, lockAll, releaseAll } from '../repo/repository.js';
import type { RepositorySet } from '../repo/repository-set.js';
import type { ObjectInfo } from '../storage/target.js';
import { reconcileWalIndex } from './wal/wal-index.js';

export interface SyncOptions {
  readonly from: string;
  readonly to: string;
  readonly concurrency?: number;
  readonly onProgress?: (progress: RepositoryProgress) => void;
  /** Aborting stops between objects: every object copied so far is whole, the lock and lease are released. */
  readonly signal?: AbortSignal;
}

/**
 * sync: copy into one repository every object another holds and it lacks — how a USB
 * stick is filled from the NAS. Objects are copied as sealed bytes (the set shares its
 * keys) after authenticating them at the source, in commit order: chunks and WAL first,
 * then manifests whose chunks are all present at the destination, then events.
 *
 * The destination is locked (expire and other writers wait); the source is leased, so that
 * an expire run there leaves what the sync reads — it reads everything — until it ends.
 * Cancelled, it stops between objects: each copied object is whole, and a manifest is
 * never copied before its chunks, so the destination holds no backup it cannot restore.
 */
export async function syncRepositories(set: RepositorySet, options: SyncOptions): Promise<SyncReport> {
  const source = findRepository(set, options.from);
  const destination = await destinationRepository(set, source, options.to);
  const [lock] = await lockAll([destination], `sync from ${source.name}`);
  const report: SyncReport = { from: source.name, to: destination.name, objectsCopied: 0, bytesCopied: 0, objectsAlreadyPresent: 0, skippedCorrupt: [] };
  const lease = await ReadLease.take([source], `sync to ${destination.name}`, everything);
  try {
    const held = new Set((await listSealed(destination)).map((object) => `${object.name}\u0000${String(object.size)}`));
    const wanted = (await listSealed(source)).filter((object) => {
      const present = held.has(`${object.name}\u0000${String(object.size)}`);
      if (present) report.objectsAlreadyPresent += 1;
      return !present;
    });
    const byPhase = (prefixes: readonly string[]): ObjectInfo[] => wanted.filter((object) => prefixes.some((prefix) => object.name.startsWith(prefix)));
    const total = wanted.length;
    const copy = async (object: ObjectInfo): Promise<void> => {
      if (options.signal?.aborted) throw cancelled(source.name, destination.name, report, options.signal.reason);
      try {
        await source.readObject(object.name);
      } catch (error) {
        if (error instanceof DrcError && error.code === 'OBJECT_CORRUPT') {
          report.skippedCorrupt.push(object.name);
          return;
        }
        throw error;
      }
      await destination.target.put(object.name, await source.target.get(object.name));
      report.objectsCopied += 1;
      report.bytesCopied += object.size;
      options.onProgress?.({ operation: 'sync', repository: destination.name, done: report.objectsCopied, total, bytes: report.bytesCopied });
    };
    const concurrency = options.concurrency ?? 8;
    await forEachConcurrent(byPhase([objectPrefixes.chunks, objectPrefixes.wal]), concurrency, copy);
    // The destination's WAL index describes its own archive: record what it holds now.
    await reconcileWalIndex(destination);

    // A manifest is the commit point: copy it only when every chunk it names is at the destination.
    const chunksThere = new Set((await destination.target.list(objectPrefixes.chunks)).map((object) => object.name));
    const manifests = byPhase([objectPrefixes.backups]).filter((object) => backupIdOf(object.name) !== undefined);
    await forEachConcurrent(manifests, concurrency, async (object) => {
      let manifestChunks: Set<string>;
      try {
        manifestChunks = referencedChunks(decodeManifest(await source.readObject(object.name), source.name, object.name));
      } catch (error) {
        if (error instanceof DrcError && error.code === 'OBJECT_CORRUPT') {
          report.skippedCorrupt.push(object.name);
          return;
        }
        throw error;
      }
      const lacking = [...manifestChunks].filter((id) => !chunksThere.has(chunkObjectName(id)));
      if (lacking.length > 0) {
        report.skippedCorrupt.push(`${object.name} (needs ${String(lacking.length)} chunk(s) that could not be copied)`);
        return;
      }
      await copy(object);
    });
    await forEachConcurrent(byPhase([objectPrefixes.events]), concurrency, copy);
    lock?.assertHeld();
  } finally {
    await lease.release();
    await releaseAll(lock ? [lock] : []);
  }
  const event = newEvent('sync', report.skippedCorrupt.length === 0 ? 'success' : 'partial', `copied ${String(report.objectsCopied)} object(s) from '${source.name}' to '${destination.name}'`, { ...report });
  await Promise.all([source.appendEvent(event), destination.appendEvent(event)]);
  return report;
}

function cancelled(from: string, to: string, report: SyncReport, reason: unknown): DrcError {
  return new DrcError('SYNC_INCOMPLETE', `the sync from '${from}' to '${to}' was cancelled after ${String(report.objectsCopied)} object(s)`, {
    hints: ['every object copied is whole, and no backup was copied without its chunks; run the same sync again to copy the rest'],
    cause: reason,
  });
}

function findRepository(set: RepositorySet, name: string): Repository {
  const found = set.repositories.find((repository) => repository.name === name);
  if (found) return found;
  const unreachable = set.unreachable.find((entry) => entry.target.name === name);
  if (unreachable) throw new DrcError(unreachable.error.code, unreachable.error.message, { hints: unreachable.error.hints });
  throw new DrcError('REPO_NOT_INITIALIZED', `unable to sync from repository '${name}': it holds no repository`, { hints: ['run `drc repo init` first'] });
}

/** An empty destination becomes a member of the set by receiving a copy of the header. */
async function destinationRepository(set: RepositorySet, source: Repository, name: string): Promise<Repository> {
  if (name === source.name) throw new DrcError('USAGE', `unable to sync repository '${name}' to itself`, { hints: ['--from and --to must name different repositories'] });
  const fresh = set.uninitialized.find((target) => target.name === name);
  if (!fresh) return findRepository(set, name);
  await fresh.put(headerObject, encodeHeader(source.header));
  return new Repository(fresh, source.header, set.keys);
}

async function listSealed(repository: Repository): Promise<ObjectInfo[]> {
  const prefixes = [objectPrefixes.chunks, objectPrefixes.wal, objectPrefixes.backups, objectPrefixes.events];
  return (await Promise.all(prefixes.map((prefix) => repository.target.list(prefix)))).flat();
}
