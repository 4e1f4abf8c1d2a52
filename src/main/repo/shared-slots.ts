/**
 * Fixed chunk-sized slots in one SharedArrayBuffer, seen by the main thread and every
 * crypto worker. A chunk is filled (backup) or opened (restore) in place and only its
 * slot number crosses threads, so moving gigabytes costs no copy, no transfer and no
 * per-chunk allocation. Without this, each 4 MiB chunk was a fresh ArrayBuffer whose
 * external memory drove the main thread into a full garbage collection every ~30 ms.
 * The number of slots bounds the memory of a backup or restore; `acquire` waits for a
 * free one, which is also the backpressure.
 */
export class SharedSlots {
  private readonly free: number[];
  private readonly waiting: Array<(slot: number) => void> = [];

  /**
   * `shift` moves every slot that many bytes into `memory` (which then holds that much
   * more): a restore shifts its slots onto a block boundary so they can be written with
   * direct I/O (see `alignForDirectIo`).
   */
  constructor(
    readonly count: number,
    readonly slotSize: number,
    readonly memory = new SharedArrayBuffer(count * slotSize),
    readonly shift = 0,
  ) {
    if (memory.byteLength < shift + count * slotSize) throw new RangeError('shared slots: the memory is too small for its slots');
    this.free = Array.from({ length: count }, (_, index) => index);
  }

  /** A whole slot's bytes; the caller owns them until `release`. */
  async acquire(): Promise<Buffer> {
    const slot = this.free.pop() ?? (await new Promise<number>((resolve) => this.waiting.push(resolve)));
    return this.view(slot);
  }

  /** Gives a slot back; `bytes` is any view into it (a chunk is usually a prefix). */
  release(bytes: Buffer): void {
    const slot = this.slotOf(bytes);
    if (slot === undefined) throw new RangeError('release: the buffer is not a shared slot');
    const next = this.waiting.shift();
    if (next) next(slot);
    else this.free.push(slot);
  }

  /** The slot a view lies in, or undefined when it is ordinary memory. */
  slotOf(bytes: Buffer): number | undefined {
    if (bytes.buffer !== this.memory || bytes.byteOffset < this.shift) return undefined;
    return Math.floor((bytes.byteOffset - this.shift) / this.slotSize);
  }

  view(slot: number): Buffer {
    return Buffer.from(this.memory, this.shift + slot * this.slotSize, this.slotSize);
  }
}
