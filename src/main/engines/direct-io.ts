import { constants } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SharedSlots } from '../repo/shared-slots.js';

/**
 * Direct I/O (O_DIRECT) for the bulk of a restore's writes: data moves from the shared
 * slots to the disk without passing through the page cache. Gigabytes that nobody reads
 * again soon then cost no copy into freshly allocated kernel pages (on this project's
 * build VM, writing 1.8 GiB through the page cache took 6 s against under 1 s with
 * O_DIRECT), and a restore does not evict the host's hot pages.
 *
 * Backups keep reading through the page cache: what they read is mostly there already
 * (the server just wrote it), and direct reads on this VM made a backup wait for the disk.
 *
 * Direct I/O needs the memory, the file offset and the length on a block boundary.
 * Relation and WAL segments are whole 8 KiB pages written in 4 MiB chunks at 4 MiB
 * offsets, so nearly all bytes qualify; small files (bundled) and unaligned pieces go
 * through the page cache as before, and so does everything on a filesystem or an OS
 * without O_DIRECT.
 */
export const directIoBlock = 4096;

export interface AlignedSlots {
  readonly slots: SharedSlots;
  /** Whether direct I/O works from these slots on the filesystem that was probed. */
  readonly directIo: boolean;
}

/**
 * Shared slots placed on a block boundary when `probe` shows the filesystem takes direct
 * I/O. JavaScript cannot see an address, so the boundary is found by trying: `probe` does
 * one direct transfer with a block of the slots' own memory at each 8-byte shift until the
 * kernel accepts one (it refuses a misaligned buffer with EINVAL). `probe` returns false
 * for EINVAL and undefined when direct I/O is not available at all.
 */
export async function alignedSlots(count: number, slotSize: number, probe: ((block: Buffer) => Promise<boolean>) | undefined): Promise<AlignedSlots> {
  // Whole blocks per slot, so that every slot starts on a boundary once the first does.
  const size = Math.ceil(slotSize / directIoBlock) * directIoBlock;
  const memory = new SharedArrayBuffer(count * size + directIoBlock);
  let shift: number | undefined;
  if (probe !== undefined && directIoAvailable()) {
    for (let candidate = 0; candidate < directIoBlock && shift === undefined; candidate += 8) {
      if (await probe(Buffer.from(memory, candidate, directIoBlock))) shift = candidate;
    }
  }
  return { slots: new SharedSlots(count, size, memory, shift ?? 0), directIo: shift !== undefined };
}

/** A probe that writes a block to a scratch file in `directory` (which must be empty of it): where a restore writes. */
export function writeProbe(directory: string): (block: Buffer) => Promise<boolean> {
  return async (block) => {
    const path = join(directory, '.drc-direct-io-probe');
    let handle: FileHandle;
    try {
      handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT, 0o600);
    } catch {
      return false;
    }
    try {
      await handle.write(block, 0, block.length, 0);
      return true;
    } catch {
      return false;
    } finally {
      await handle.close();
      await rm(path, { force: true });
    }
  };
}

/** Opens a file to restore into, past the page cache when `direct`. */
export function openForRestore(path: string, mode: number, direct: boolean): Promise<FileHandle> {
  if (!direct) return open(path, 'w', mode);
  return open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, mode);
}

/** Whether `length` bytes at file `position` lie on block boundaries. */
export function blockAligned(position: number, length: number): boolean {
  return position % directIoBlock === 0 && length % directIoBlock === 0;
}

/** Whether a transfer of `length` bytes at file `position`, to or from `memory` in aligned slots, can be direct. */
export function alignedForDirectIo(slots: SharedSlots, memory: Buffer, position: number, length: number): boolean {
  return slots.slotOf(memory) !== undefined && (memory.byteOffset - slots.shift) % directIoBlock === 0 && blockAligned(position, length);
}

function directIoAvailable(): boolean {
  // Not on macOS or Windows: there the page cache it is.
  return typeof constants.O_DIRECT === 'number';
}
