import { open, type FileHandle } from 'node:fs/promises';
import { SharedSlots } from '../repo/shared-slots.js';
import { alignedShift, directIoBlock, openForDirectWrite, wholeBlocks } from '../storage/direct-io.js';

/**
 * Direct I/O for the bulk of a restore's writes (see storage/direct-io.ts for why): the
 * shared slots are placed on a block boundary, and files whose chunks are whole blocks at
 * block offsets — relation and WAL segments, written in 4 MiB chunks at 4 MiB offsets —
 * are written past the page cache. Small files (bundled) and unaligned pieces go through
 * the page cache as before.
 *
 * Backups keep reading through the page cache: what they read is mostly there already
 * (the server just wrote it), and direct reads on this VM made a backup wait for the disk.
 */
export interface AlignedSlots {
  readonly slots: SharedSlots;
  /** Whether direct I/O works from these slots on the filesystem that was probed. */
  readonly directIo: boolean;
}

/** Shared slots on a block boundary when the filesystem of `directory` takes direct I/O. */
export async function alignedSlots(count: number, slotSize: number, directory: string | undefined): Promise<AlignedSlots> {
  // Whole blocks per slot, so that every slot starts on a boundary once the first does.
  const size = wholeBlocks(slotSize);
  const memory = new SharedArrayBuffer(count * size + directIoBlock);
  const shift = directory === undefined ? undefined : await alignedShift(memory, directory);
  return { slots: new SharedSlots(count, size, memory, shift ?? 0), directIo: shift !== undefined };
}

/** Opens a file to restore into, past the page cache when `direct`. */
export function openForRestore(path: string, mode: number, direct: boolean): Promise<FileHandle> {
  return direct ? openForDirectWrite(path, mode) : open(path, 'w', mode);
}

/** Whether `length` bytes at file `position` lie on block boundaries. */
export function blockAligned(position: number, length: number): boolean {
  return position % directIoBlock === 0 && length % directIoBlock === 0;
}

/** Whether a transfer of `length` bytes at file `position`, to or from `memory` in aligned slots, can be direct. */
export function alignedForDirectIo(slots: SharedSlots, memory: Buffer, position: number, length: number): boolean {
  return slots.slotOf(memory) !== undefined && (memory.byteOffset - slots.shift) % directIoBlock === 0 && blockAligned(position, length);
}
