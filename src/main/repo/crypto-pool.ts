import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DrcError, type ErrorData } from '../../shared/errors.js';
import type { Compression } from './envelope.js';
import type { RepositoryKeys } from './keys.js';
import type { SharedSlots } from './shared-slots.js';

/**
 * Hashing, compression and encryption of chunks on worker threads, so a backup or a
 * restore uses every core instead of one: the main thread keeps the network stream and
 * the disk busy while the workers seal and open chunks. A chunk in a shared slot crosses
 * threads as a slot number; any other buffer moves by transfer when it owns its memory.
 */
export interface SealResult {
  readonly id: string;
  /** Absent when every repository already holds the chunk (only its id was needed). */
  readonly sealed: Buffer | undefined;
}

type Reply = { seq: number; ok: true; id?: string; data?: ArrayBuffer; offset?: number; length?: number } | { seq: number; ok: false; error: ErrorData };

/** Where a request's bytes are: in a shared slot (offset and length), or moved with the message. */
type Body = { data: ArrayBuffer } | { shared: { offset: number; length: number } };

interface Pending {
  resolve: (reply: Reply & { ok: true }) => void;
  reject: (error: Error) => void;
}

export class CryptoPool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private readonly load: number[];
  private seq = 0;
  private closed = false;

  constructor(
    keys: RepositoryKeys,
    compression: Compression,
    private readonly slots?: SharedSlots,
    size = Math.max(1, Math.min(4, availableParallelism())),
  ) {
    // Compiled, the worker is a sibling .js file; from TypeScript sources it needs a loader first.
    const source = new URL(import.meta.url.endsWith('.ts') ? './crypto-worker-from-source.mjs' : './crypto-worker.js', import.meta.url);
    const workerData = { idKey: keys.idKey, dataKey: keys.dataKey, compression, shared: slots?.memory };
    this.workers = Array.from({ length: size }, () => new Worker(source, { workerData }));
    this.load = this.workers.map(() => 0);
    this.workers.forEach((worker, index) => {
      worker.on('message', (reply: Reply) => this.settle(index, reply));
      worker.on('error', (error) => this.failAll(error));
      worker.on('exit', (code) => {
        if (!this.closed) this.failAll(new Error(`a crypto worker exited with code ${String(code)}`));
      });
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /** Tells the workers which ids every repository holds, so they skip sealing those. */
  addKnown(ids: readonly string[]): void {
    if (ids.length === 0) return;
    for (const worker of this.workers) worker.postMessage({ op: 'known', ids });
  }

  async seal(plaintext: Buffer): Promise<SealResult> {
    const reply = await this.request({ op: 'seal' }, plaintext);
    return { id: reply.id ?? '', sealed: reply.data ? Buffer.from(reply.data, reply.offset ?? 0, reply.length) : undefined };
  }

  /** Authenticates and decompresses a sealed object, verifying a chunk's id. */
  async open(repository: string, name: string, sealed: Buffer): Promise<Buffer> {
    const reply = await this.request({ op: 'open', repository, name }, sealed);
    return Buffer.from(reply.data ?? new ArrayBuffer(0), reply.offset ?? 0, reply.length);
  }

  /**
   * As `open`, with the plaintext placed in `slot` (a shared slot of this pool); returns the
   * filled part of the slot, or — for an object larger than the slot — a buffer of its own.
   */
  async openInto(repository: string, name: string, sealed: Buffer, slot: Buffer): Promise<Buffer> {
    if (this.slots?.slotOf(slot) === undefined) throw new DrcError('INTERNAL', 'unable to open into a buffer that is not a shared slot of this pool');
    const reply = await this.request({ op: 'open', repository, name, into: { offset: slot.byteOffset, capacity: slot.length } }, sealed);
    return reply.data ? Buffer.from(reply.data, reply.offset ?? 0, reply.length) : slot.subarray(0, reply.length ?? 0);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((worker) => worker.terminate()));
    this.failAll(new Error('the crypto pool was closed'));
  }

  private request(message: Record<string, unknown>, body: Buffer): Promise<Reply & { ok: true }> {
    if (this.closed) return Promise.reject(new DrcError('INTERNAL', 'unable to use the crypto pool: it is closed'));
    const seq = ++this.seq;
    const index = this.load.indexOf(Math.min(...this.load));
    const worker = this.workers[index];
    if (!worker) return Promise.reject(new DrcError('INTERNAL', 'unable to use the crypto pool: no worker'));
    this.load[index] = (this.load[index] ?? 0) + 1;
    const moved = this.bodyOf(body);
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      worker.postMessage({ ...message, seq, ...moved }, 'data' in moved ? [moved.data] : []);
    });
  }

  /** A shared slot goes by reference; other memory is transferred when the buffer owns all of it, else copied. */
  private bodyOf(body: Buffer): Body {
    if (this.slots?.slotOf(body) !== undefined) return { shared: { offset: body.byteOffset, length: body.length } };
    const owned = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
    return { data: owned ? body.buffer : (body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer) };
  }

  private settle(index: number, reply: Reply): void {
    this.load[index] = Math.max(0, (this.load[index] ?? 1) - 1);
    const pending = this.pending.get(reply.seq);
    if (!pending) return;
    this.pending.delete(reply.seq);
    if (reply.ok) pending.resolve(reply);
    else pending.reject(new DrcError(reply.error.code, reply.error.message, { hints: reply.error.hints, retryable: reply.error.retryable }));
  }

  private failAll(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}
