import type { ObjectProblem, RepositoryProgress, RepositoryVerifyResult, VerifyReport } from '../../shared/contract/repository.js';
import { DrcError, type ErrorData } from '../../shared/errors.js';
import { forEachConcurrent } from '../parallel.js';
import { newEvent } from '../repo/events.js';
import { backupIdOf, decodeManifest, referencedChunks } from '../repo/manifest.js';
import { chunkObjectName, isSealedObject, objectPrefixes } from '../repo/objects.js';
import { lockAll, recordInEvery, releaseAll, type Repository } from '../repo/repository.js';
import type { RepositorySet } from '../repo/repository-set.js';
import { walIndexPrefix } from '../repo/wal-index.js';
import type { ObjectInfo } from '../storage/target.js';
import { checkWalIndex, rebuildWalIndex } from './wal/wal-index.js';

export interface VerifyOptions {
  readonly repair: boolean;
  /** Objects read at once per repository. */
  readonly concurrency?: number;
  readonly onProgress?: (progress: RepositoryProgress) => void;
}

/** What one repository holds, as found by reading every object in it. */
interface Scan {
  readonly repository: Repository;
  readonly present: Set<string>;
  readonly problems: ObjectProblem[];
  objectsChecked: number;
  bytesChecked: number;
}

const sealedPrefixes = [objectPrefixes.chunks, objectPrefixes.wal, objectPrefixes.backups, objectPrefixes.events];

/**
 * verify: read every object of every repository, authenticate it, and check that every
 * chunk a manifest names is there. With repair, rewrite each bad or missing object from
 * a copy that authenticates in another repository of the set.
 */
export async function verifyRepositories(set: RepositorySet, options: VerifyOptions): Promise<VerifyReport> {
  const concurrency = options.concurrency ?? 8;
  // Scan: repositories in parallel (a slow USB stick does not hold up S3).
  const scans = await Promise.all(set.repositories.map((repository) => scanRepository(repository, concurrency, options.onProgress)));

  // Repair: only where something is wrong, under the write lock of the damaged repositories.
  const damaged = scans.filter((scan) => scan.problems.length > 0);
  if (options.repair && damaged.length > 0) {
    const locks = await lockAll(damaged.map((scan) => scan.repository), 'verify --repair');
    try {
      for (const scan of damaged) await repairFromOtherCopies(scan, scans);
    } finally {
      await releaseAll(locks);
    }
  }

  // The WAL index describes its own repository's archive: it is checked against it and rebuilt, never copied.
  for (const scan of scans) await checkIndex(scan, options.repair);

  const results: RepositoryVerifyResult[] = [
    ...scans.map((scan) => ({ repository: scan.repository.name, objectsChecked: scan.objectsChecked, bytesChecked: scan.bytesChecked, problems: scan.problems })),
    ...set.unreachable.map((entry) => ({ repository: entry.target.name, objectsChecked: 0, bytesChecked: 0, problems: [], error: entry.error })),
  ];
  const ok = results.every((result) => result.error === undefined && result.problems.every((problem) => problem.repaired));
  const unrecorded = await recordVerifyEvent(set, results, ok, options.repair);
  for (const result of results) {
    const failure = unrecorded.get(result.repository);
    if (failure && result.error === undefined) result.error = failure;
  }
  return { ok: ok && unrecorded.size === 0, repaired: options.repair, repositories: results };
}

async function scanRepository(repository: Repository, concurrency: number, onProgress: VerifyOptions['onProgress']): Promise<Scan> {
  const scan: Scan = { repository, present: new Set(), problems: [], objectsChecked: 0, bytesChecked: 0 };
  const objects: ObjectInfo[] = [];
  for (const prefix of sealedPrefixes) objects.push(...(await repository.target.list(prefix)));
  const referenced = new Map<string, string>();

  await forEachConcurrent(objects, concurrency, async (object) => {
    if (!isSealedObject(object.name)) return;
    scan.present.add(object.name);
    try {
      const plaintext = await repository.readObject(object.name);
      if (backupIdOf(object.name) !== undefined) {
        for (const id of referencedChunks(decodeManifest(plaintext, repository.name, object.name))) referenced.set(chunkObjectName(id), object.name);
      }
    } catch (error) {
      if (!(error instanceof DrcError) || (error.code !== 'OBJECT_CORRUPT' && error.code !== 'STORAGE_NOT_FOUND')) throw error;
      scan.problems.push({ object: object.name, problem: error.code === 'OBJECT_CORRUPT' ? 'corrupt' : 'missing', detail: error.message, repaired: false });
    }
    scan.objectsChecked += 1;
    scan.bytesChecked += object.size;
    onProgress?.({ operation: 'verify', repository: repository.name, done: scan.objectsChecked, total: objects.length, bytes: scan.bytesChecked });
  });

  for (const [name, manifest] of referenced) {
    if (!scan.present.has(name)) {
      scan.problems.push({ object: name, problem: 'missing', detail: `referenced by ${manifest} but not in the repository`, referencedBy: manifest, repaired: false });
    }
  }
  // Chunks first: a repaired manifest is only useful once its chunks are back.
  scan.problems.sort((a, b) => rank(a.object) - rank(b.object) || a.object.localeCompare(b.object));
  return scan;
}

function rank(name: string): number {
  return name.startsWith(objectPrefixes.chunks) ? 0 : name.startsWith(objectPrefixes.wal) ? 1 : name.startsWith(objectPrefixes.backups) ? 2 : 3;
}

async function repairFromOtherCopies(damaged: Scan, scans: readonly Scan[]): Promise<void> {
  const isBadIn = (scan: Scan, name: string): boolean => scan.problems.some((problem) => problem.object === name && !problem.repaired);
  for (const problem of damaged.problems) {
    const sources = scans.filter((scan) => scan !== damaged && scan.present.has(problem.object) && !isBadIn(scan, problem.object));
    for (const source of sources) {
      try {
        const sealed = await source.repository.target.get(problem.object);
        // Authenticate the copy before spreading it, and again after writing it.
        await source.repository.readObject(problem.object);
        await damaged.repository.target.put(problem.object, sealed);
        await damaged.repository.readObject(problem.object);
        problem.repaired = true;
        problem.repairedFrom = source.repository.name;
        damaged.present.add(problem.object);
        break;
      } catch (error) {
        if (!(error instanceof DrcError)) throw error;
        problem.detail = `${problem.detail}; copy from '${source.repository.name}' failed: ${error.message}`;
      }
    }
  }
}

async function checkIndex(scan: Scan, repair: boolean): Promise<void> {
  const { problems } = await checkWalIndex(scan.repository);
  if (problems.length === 0) return;
  const problem: ObjectProblem = { object: walIndexPrefix, problem: 'corrupt', detail: problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${String(problems.length - 5)} more` : ''), repaired: false };
  scan.problems.push(problem);
  if (!repair) return;
  const rebuilt = await rebuildWalIndex(scan.repository);
  problem.repaired = true;
  problem.detail = `${problem.detail}; rebuilt from the ${String(rebuilt.segments)} segment(s) stored`;
}

/** Writes the verify record to every repository; returns the ones where that failed, with why. */
async function recordVerifyEvent(set: RepositorySet, results: RepositoryVerifyResult[], ok: boolean, repair: boolean): Promise<Map<string, ErrorData>> {
  const problems = results.reduce((sum, result) => sum + result.problems.length, 0);
  const repaired = results.reduce((sum, result) => sum + result.problems.filter((problem) => problem.repaired).length, 0);
  const summary = ok && problems === 0 ? 'all objects authenticated' : `${String(problems)} problem(s) found, ${String(repaired)} repaired`;
  const event = newEvent(repair ? 'verify-repair' : 'verify', ok ? 'success' : 'failure', summary, {
    repositories: results.map((result) => ({ repository: result.repository, objectsChecked: result.objectsChecked, problems: result.problems.length, repaired: result.problems.filter((problem) => problem.repaired).length, error: result.error?.code })),
  });
  const { failed } = await recordInEvery(set.repositories, event);
  return new Map(failed.map((entry) => [entry.repository, entry.error]));
}
