import { constants } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SharedSlots } from '../../repo/shared-slots.js';

/**
 * Restored files are written with direct I/O (O_DIRECT) where the filesystem takes it:
 * past the page cache, straight to the disk. A restore writes gigabytes nobody reads back
 * soon; through the page cache the kernel first copies every byte into freshly allocated
 * pages — on this project's build VM that copy was over half of a restore's CPU and made
 * writing 1.8 GiB take 6 s, against under 1 s with O_DIRECT — and the restore evicts the
 * host's hot pages on the way. Direct I/O needs the memory, the file offset and the length
 * on a block boundary: chunks are 4 MiB at 4 MiB offsets and relation files are whole
 * 8 KiB pages, so every chunk of them qualifies; small files (bundled) go through the page
 * cache as before.
 */
export const directIoBlock = 4096;

export interface RestoreSlots {
  readonly slots: SharedSlots;
  /** Whether files in the target directory can be written with O_DIRECT from these slots. */
  readonly directIo: boolean;
}

/**
 * Shared slots for a restore into `directory`, on a block boundary when its filesystem
 * takes direct I/O. JavaScript cannot see an address, so the boundary is found by trying:
 * a block of the slots' own memory is written to a probe file at each 8-byte shift until
 * the kernel accepts one (it refuses a misaligned buffer with EINVAL).
 */
export async function slotsForRestore(count: number, slotSize: number, directory: string): Promise<RestoreSlots> {
  const memory = new SharedArrayBuffer(count * slotSize + directIoBlock);
  const shift = await alignedShift(memory, directory);
  return { slots: new SharedSlots(count, slotSize, memory, shift ?? 0), directIo: shift !== undefined };
}

/** Opens a restored file for writing, past the page cache when `direct`. */
export function openForRestore(path: string, mode: number, direct: boolean): Promise<FileHandle> {
  if (!direct) return open(path, 'w', mode);
  return open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, mode);
}

/** Whether a write of `length` bytes at file `position`, from the start of a slot, can be direct. */
export function alignedForDirectIo(position: number, length: number): boolean {
  return position % directIoBlock === 0 && length % directIoBlock === 0;
}

async function alignedShift(memory: SharedArrayBuffer, directory: string): Promise<number | undefined> {
  // Not on macOS or Windows; there the page cache it is.
  if (typeof constants.O_DIRECT !== 'number') return undefined;
  const probe = join(directory, '.drc-direct-io-probe');
  let handle: FileHandle;
  try {
    handle = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600);
  } catch {
    // The filesystem refuses O_DIRECT (tmpfs, some network filesystems).
    return undefined;
  }
  try {
    for (let shift = 0; shift < directIoBlock; shift += 8) {
      try {
        await handle.write(Buffer.from(memory, shift, directIoBlock), 0, directIoBlock, 0);
        return shift;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EINVAL') return undefined;
      }
    }
    return undefined;
  } finally {
    await handle.close();
    await rm(probe, { force: true });
  }
}
