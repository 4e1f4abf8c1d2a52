import { createHash } from 'node:crypto';
import type { ChunkRef, ManifestFile } from '../../repo/manifest.js';
import type { SharedSlots } from '../../repo/shared-slots.js';
import type { TarEntry, TarSink } from './tar-reader.js';

/**
 * Turns the files of a base backup into chunks. Large files (relation segments) are cut
 * at fixed offsets that are multiples of PostgreSQL's 8 KiB page, so a changed page
 * changes one chunk and the rest deduplicate against earlier backups. Small files are
 * packed into bundles; a bundle closes after a file whose name hashes to a boundary (or
 * at the size cap), so one changed catalog file disturbs only its own bundle.
 */
export interface ChunkerOptions {
  /** Bytes per chunk of a large file; a multiple of 8192. */
  readonly chunkSize: number;
  /** Files smaller than this go into bundles. */
  readonly bundleBelow: number;
  readonly bundleCap: number;
  /** Chunks being sealed and queued at once: enough to keep every worker thread busy. */
  readonly inFlight: number;
}

export const defaultChunkerOptions: ChunkerOptions = { chunkSize: 4 * 1024 * 1024, bundleBelow: 128 * 1024, bundleCap: 4 * 1024 * 1024, inFlight: 8 };

const pageSize = 8192;

/** Where each chunk goes; resolves when it is accepted (backpressure). */
export type StoreChunk = (plaintext: Buffer) => Promise<ChunkRef>;

interface PendingBundled {
  readonly file: ManifestFile;
  readonly offset: number;
  readonly length: number;
}

/**
 * For incremental backups without the server's help (PostgreSQL 15/16): a file whose size
 * and modification time equal the previous backup's, and which was last modified before
 * that backup started, cannot have changed since — its content is streamed past, not
 * hashed again, and it keeps the previous backup's chunk references (the same rule
 * pgBackRest applies to incremental backups).
 */
export interface UnchangedFiles {
  readonly previous: ReadonlyMap<string, ManifestFile>;
  readonly modifiedBefore: Date;
  /** A reference can be carried over only if every repository of this backup holds its chunk. */
  readonly heldEverywhere: (id: string) => boolean;
}

export class FileChunker implements TarSink {
  readonly files: ManifestFile[] = [];
  /** Files whose chunks were carried over from the previous backup without reading them. */
  filesReused = 0;
  private current: { entry: TarEntry; file: ManifestFile; bundled: boolean; reused: boolean } | undefined;
  /** The chunk and the bundle being filled: shared slots, so the workers read them in place. */
  private chunk: Buffer | undefined;
  private chunkFill = 0;
  private bundle: Buffer | undefined;
  private bundleFill = 0;
  private bundled: PendingBundled[] = [];
  bytesRead = 0;

  private pathPrefix = '';
  private readonly inFlight = new Set<Promise<void>>();
  private failure: Error | undefined;

  constructor(
    private readonly store: StoreChunk,
    private readonly slots: SharedSlots,
    private readonly options: ChunkerOptions = defaultChunkerOptions,
    private readonly unchanged?: UnchangedFiles,
  ) {
    if (options.chunkSize % pageSize !== 0) throw new RangeError('chunk size must be a multiple of the 8 KiB page');
    if (slots.slotSize < Math.max(options.chunkSize, options.bundleCap)) throw new RangeError('shared slots must hold a whole chunk and a whole bundle');
  }

  /** Slots for a chunker: one per chunk in flight, plus the chunk and the bundle being filled. */
  static slotsNeeded(options: ChunkerOptions = defaultChunkerOptions): { count: number; slotSize: number } {
    return { count: options.inFlight + 2, slotSize: Math.max(options.chunkSize, options.bundleCap) };
  }

  onEntry(entry: TarEntry): void {
    const file: ManifestFile = {
      path: this.pathPrefix + entry.path,
      type: entry.type,
      ...(entry.type === 'symlink' ? { link: entry.linkTarget } : {}),
      size: entry.size,
      mode: entry.mode,
      mtime: entry.mtime.toISOString(),
      chunks: [],
    };
    this.files.push(file);
    if (entry.type !== 'file') return;
    const before = this.unchanged?.previous.get(file.path);
    const unchanged = this.unchanged;
    const reused =
      before !== undefined &&
      unchanged !== undefined &&
      before.type === 'file' &&
      before.size === file.size &&
      before.mtime === file.mtime &&
      entry.mtime < unchanged.modifiedBefore &&
      before.chunks.every((ref) => unchanged.heldEverywhere(ref.id));
    if (reused) {
      file.chunks = before.chunks.map((ref) => ({ ...ref }));
      this.filesReused += 1;
    }
    this.current = { entry, file, bundled: !reused && entry.size < this.options.bundleBelow, reused };
  }

  async onData(data: Buffer): Promise<void> {
    const current = this.current;
    if (!current) return;
    this.bytesRead += data.length;
    if (current.reused) return;
    if (current.bundled) {
      this.bundle ??= await this.slots.acquire();
      data.copy(this.bundle, this.bundleFill);
      this.bundleFill += data.length;
      return;
    }
    let offset = 0;
    while (offset < data.length) {
      this.chunk ??= await this.slots.acquire();
      const take = Math.min(this.options.chunkSize - this.chunkFill, data.length - offset);
      data.copy(this.chunk, this.chunkFill, offset, offset + take);
      this.chunkFill += take;
      offset += take;
      if (this.chunkFill === this.options.chunkSize) await this.flushChunk(current.file);
    }
  }

  /**
   * The current file's content, read by `read` straight into the chunk or bundle being
   * filled (a data directory read in place), so this thread copies nothing; an unchanged
   * file of an incremental is not read at all. `read` fills a prefix of the buffer it is
   * given and returns its length; 0 means the file ended early, and the rest is zeros, as
   * BASE_BACKUP pads a file truncated during the backup (WAL replay rewrites it).
   */
  async readContent(size: number, read: (into: Buffer) => Promise<number>): Promise<void> {
    const current = this.current;
    if (!current || current.reused) return;
    for (let remaining = size; remaining > 0; ) {
      let into: Buffer;
      if (current.bundled) {
        // A bundle always has room for a whole small file: it is flushed before it could not.
        this.bundle ??= await this.slots.acquire();
        into = this.bundle.subarray(this.bundleFill, this.bundleFill + remaining);
      } else {
        this.chunk ??= await this.slots.acquire();
        into = this.chunk.subarray(this.chunkFill, Math.min(this.options.chunkSize, this.chunkFill + remaining));
      }
      let filled = await read(into);
      if (filled === 0) filled = into.fill(0).length;
      remaining -= filled;
      this.bytesRead += filled;
      if (current.bundled) {
        this.bundleFill += filled;
      } else {
        this.chunkFill += filled;
        if (this.chunkFill === this.options.chunkSize) await this.flushChunk(current.file);
      }
    }
  }

  async onEntryEnd(entry: TarEntry): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (!current || entry.type !== 'file' || current.reused) return;
    if (!current.bundled) {
      if (this.chunkFill > 0) await this.flushChunk(current.file);
      return;
    }
    this.bundled.push({ file: current.file, offset: this.bundleFill - entry.size, length: entry.size });
    if (this.bundleFill + this.options.bundleBelow > this.options.bundleCap || closesBundle(current.file.path)) await this.flushBundle();
  }

  /** Files of the next archive go under `prefix` (`pg_tblspc/<oid>/` for a tablespace). */
  startArchive(prefix: string): void {
    this.pathPrefix = prefix;
  }

  get chunkSize(): number {
    return this.options.chunkSize;
  }

  /** Stores a whole blob (the server's backup_manifest) as chunks. */
  async storeWhole(content: Buffer): Promise<ChunkRef[]> {
    const refs: ChunkRef[] = [];
    for (let offset = 0; offset < content.length; offset += this.options.chunkSize) {
      await this.storeInto(refs, Buffer.from(content.subarray(offset, offset + this.options.chunkSize)));
    }
    await this.settle();
    return refs;
  }

  /**
   * Stores a chunk and puts its reference at the end of `refs` once known. Several chunks
   * are in flight at once (the workers seal in parallel); `settle()` waits for them all.
   */
  async storeInto(refs: ChunkRef[], plaintext: Buffer, afterStored?: () => void): Promise<void> {
    const index = refs.length;
    refs.push({ id: '', length: plaintext.length });
    await this.launch(
      plaintext,
      (ref) => {
        refs[index] = ref;
      },
      afterStored,
    );
  }

  /** Waits until every chunk handed out is stored; throws the first failure. */
  async settle(): Promise<void> {
    await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  /** Records a file whose chunks the caller produced (a rebuilt incremental file). */
  addFile(file: ManifestFile): void {
    this.files.push(file);
  }

  /** Stores the last open bundle and waits for every chunk; call once after the last archive. */
  async finish(): Promise<void> {
    await this.flushBundle();
    await this.settle();
  }

  private async launch(plaintext: Buffer, place: (ref: ChunkRef) => void, afterStored?: () => void): Promise<void> {
    this.throwIfFailed();
    const task = this.store(plaintext)
      .then(place, (error: unknown) => {
        this.failure ??= error instanceof Error ? error : new Error(String(error));
      })
      .finally(afterStored);
    const tracked: Promise<void> = task.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
    while (this.inFlight.size >= this.options.inFlight) await Promise.race(this.inFlight);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** The slot goes to the workers as it is and comes back free once the chunk is stored. */
  private async flushChunk(file: ManifestFile): Promise<void> {
    if (!this.chunk) return;
    const chunk = this.chunk.subarray(0, this.chunkFill);
    this.chunk = undefined;
    this.chunkFill = 0;
    await this.storeInto(file.chunks, chunk, () => this.slots.release(chunk));
  }

  private async flushBundle(): Promise<void> {
    if (this.bundled.length === 0 || !this.bundle) return;
    const pieces = this.bundled;
    const bundle = this.bundle.subarray(0, this.bundleFill);
    this.bundled = [];
    this.bundle = undefined;
    this.bundleFill = 0;
    await this.launch(
      bundle,
      (ref) => {
        for (const piece of pieces) piece.file.chunks.push({ id: ref.id, offset: piece.offset, length: piece.length });
      },
      () => this.slots.release(bundle),
    );
  }
}

function closesBundle(path: string): boolean {
  return (createHash('sha1').update(path).digest()[0] ?? 0) % 16 === 0;
}
