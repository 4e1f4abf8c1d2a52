import { DrcError, type ErrorData } from '../../../shared/errors.js';
import { chunkObjectName, objectPrefixes } from '../../repo/objects.js';
import type { Repository } from '../../repo/repository.js';
import type { ChunkRef } from '../../repo/manifest.js';
import type { ChunkSealer } from './chunk-sealer.js';

/**
 * Stores chunks in every repository of a backup at once. Each chunk is hashed and sealed
 * once; the sealed bytes go to each repository that lacks that id, through one queue per
 * repository so a slow USB stick does not hold up S3 (until its queue is full, which
 * is the backpressure that keeps memory bounded). A repository whose write fails for
 * good is dropped from this backup and reported; the others carry on.
 */

interface RepositoryQueue {
  readonly repository: Repository;
  readonly known: Set<string>;
  readonly inFlight: Set<Promise<void>>;
  readonly limit: number;
  failure: ErrorData | undefined;
  storedBytes: number;
  newChunks: number;
}

export interface ChunkWriterStats {
  chunks: number;
  /** Plaintext bytes of chunks that at least one repository lacked. */
  bytesNew: number;
  /** Sealed bytes written, summed over repositories. */
  bytesStored: number;
}

/** Lists the chunk ids each repository already holds: a crashed backup's chunks are reused. */
export async function knownChunks(repository: Repository): Promise<Set<string>> {
  const objects = await repository.target.list(objectPrefixes.chunks);
  return new Set(objects.map((object) => object.name.slice(object.name.lastIndexOf('/') + 1)));
}

export class ChunkWriter {
  private readonly queues: RepositoryQueue[];
  readonly stats: ChunkWriterStats = { chunks: 0, bytesNew: 0, bytesStored: 0 };
  /** Ids every live repository holds: these need hashing only, not sealing. */
  private readonly everywhere: Set<string>;

  constructor(
    repositories: ReadonlyArray<{ repository: Repository; known: Set<string> }>,
    readonly sealer: ChunkSealer,
  ) {
    this.queues = repositories.map(({ repository, known }) => ({
      repository,
      known,
      inFlight: new Set(),
      limit: repository.target.capabilities.media === 'cloud' ? 16 : 4,
      failure: undefined,
      storedBytes: 0,
      newChunks: 0,
    }));
    const [first, ...rest] = repositories;
    this.everywhere = new Set([...(first?.known ?? [])].filter((id) => rest.every((other) => other.known.has(id))));
    sealer.markHeldEverywhere([...this.everywhere]);
  }

  /**
   * Resolves once the chunk is queued everywhere it is needed (not necessarily written);
   * the plaintext is no longer needed then. A buffer that is not a shared slot is handed
   * over to a worker thread: do not use it afterwards.
   */
  async store(plaintext: Buffer): Promise<ChunkRef> {
    this.assertSomeRepositoryLive();
    const length = plaintext.length;
    const sealed = await this.sealer.seal(plaintext);
    this.stats.chunks += 1;
    const ref = { id: sealed.id, length };
    const lacking = this.live().filter((queue) => !queue.known.has(sealed.id));
    if (lacking.length === 0) return ref;
    if (!sealed.sealed) {
      // The workers skip only ids every live repository holds; a lacking one means that set is wrong.
      throw new DrcError('INTERNAL', `unable to store chunk ${sealed.id}: it was not sealed although '${lacking[0]?.repository.name ?? ''}' lacks it`);
    }
    this.stats.bytesNew += length;
    for (const queue of lacking) {
      queue.known.add(sealed.id);
      await this.enqueue(queue, sealed.id, sealed.sealed);
    }
    if (this.live().every((queue) => queue.known.has(sealed.id)) && !this.everywhere.has(sealed.id)) {
      this.everywhere.add(sealed.id);
      this.sealer.markHeldEverywhere([sealed.id]);
    }
    return ref;
  }

  private assertSomeRepositoryLive(): void {
    if (this.live().length > 0) return;
    const failures = [...this.failures()];
    // What failed in each repository, then what the storage layer advises (network, credentials, space), once each.
    const reasons = failures.map(([name, error]) => `${name}: ${error.message}`);
    throw new DrcError('BACKUP_FAILED', 'unable to write the backup to any repository', { hints: [...reasons, ...new Set(failures.flatMap(([, error]) => error.hints))] });
  }

  /** Whether every repository still receiving this backup holds (or is being sent) this chunk. */
  heldEverywhere(id: string): boolean {
    return this.live().every((queue) => queue.known.has(id));
  }

  /** Waits for every queued write; returns the repositories that failed, with why. */
  async drain(): Promise<Map<string, ErrorData>> {
    for (const queue of this.queues) await Promise.all(queue.inFlight);
    return this.failures();
  }

  failures(): Map<string, ErrorData> {
    return new Map(this.queues.flatMap((queue) => (queue.failure ? [[queue.repository.name, queue.failure] as const] : [])));
  }

  /** Repositories still receiving this backup. */
  live(): RepositoryQueue[] {
    return this.queues.filter((queue) => queue.failure === undefined);
  }

  liveRepositories(): Repository[] {
    return this.live().map((queue) => queue.repository);
  }

  storedBytesOf(repository: string): number {
    return this.queues.find((queue) => queue.repository.name === repository)?.storedBytes ?? 0;
  }

  private async enqueue(queue: RepositoryQueue, id: string, body: Buffer): Promise<void> {
    while (queue.inFlight.size >= queue.limit) await Promise.race(queue.inFlight);
    if (queue.failure) return;
    const write = queue.repository.target.put(chunkObjectName(id), body).then(
      () => {
        queue.storedBytes += body.length;
        queue.newChunks += 1;
        this.stats.bytesStored += body.length;
      },
      (error: unknown) => {
        queue.failure ??= error instanceof DrcError ? error.toData() : { code: 'INTERNAL', message: String(error), hints: [], retryable: false };
      },
    );
    const tracked = write.finally(() => queue.inFlight.delete(tracked));
    queue.inFlight.add(tracked);
  }
}
