import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SharedSlots } from '../repo/shared-slots.js';

/**
 * Writing with direct I/O (O_DIRECT): from memory straight to the disk, past the page
 * cache. Backups and restores write gigabytes nobody reads back soon; through the page
 * cache the kernel first copies every byte into freshly allocated pages, which on this
 * project's build VM cost more than the rest of the work (a bare 1.8 GiB write: 6 s
 * buffered, under 1 s direct), and evicts the host's hot pages on the way.
 *
 * The memory, the file offset and the length must lie on block boundaries. JavaScript
 * cannot see an address, so the boundary is found by trying: a block of the memory is
 * written to a probe file at each 8-byte shift until the kernel accepts one (it refuses a
 * misaligned buffer with EINVAL). Filesystems and systems without O_DIRECT (tmpfs, macOS,
 * Windows) keep the page cache.
 *
 * A restore writes the bulk of its data this way when `write-mode.ts` measures it to be
 * clearly faster on the target's disk: its shared slots are placed on a block boundary, and files whose chunks are whole blocks at block offsets — relation and WAL
 * segments, written in 4 MiB chunks at 4 MiB offsets — go past the page cache. Small
 * (bundled) files and unaligned pieces go through the page cache. Backups keep reading
 * through the page cache: what they read is mostly there already (the server just wrote
 * it), and direct reads on this VM made a backup wait for the disk.
 */
export const directIoBlock = 4096;

/** Rounds up to whole blocks. */
export function wholeBlocks(length: number): number {
  return Math.ceil(length / directIoBlock) * directIoBlock;
}

/**
 * The shift into `memory` (which must have a block to spare) at which a direct write from
 * it succeeds in `directory`; undefined when direct I/O is not available there.
 */
export async function alignedShift(memory: ArrayBufferLike, directory: string): Promise<number | undefined> {
  if (typeof constants.O_DIRECT !== 'number') return undefined;
  const path = join(directory, `.drc-direct-io-probe-${randomBytes(4).toString('hex')}`);
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600);
  } catch {
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
    await rm(path, { force: true });
  }
}

/** Creates (or empties) a file to be written with direct I/O. */
export function openForDirectWrite(path: string, mode: number): Promise<FileHandle> {
  return open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, mode);
}

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

/**
 * Creates a file a restore writes, past the page cache when `direct`. It must not exist
 * yet, and a symbolic link in its place is never followed (O_EXCL refuses any existing
 * name, a dangling link included; O_NOFOLLOW says so twice): a link planted in the target
 * cannot send a restored file elsewhere.
 */
export function createRestoredFile(path: string, mode: number, direct: boolean): Promise<FileHandle> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  return open(path, direct ? flags | constants.O_DIRECT : flags, mode);
}

/**
 * Opens a file a restore writes whole, created or emptied — the WAL segment a backup
 * carried, which the archive's fuller copy replaces — and never through a link.
 */
export function replaceRestoredFile(path: string, mode: number): Promise<FileHandle> {
  return open(path, replaceFlags, mode);
}

/** open(2) flags of `replaceRestoredFile`, for `writeFile`. */
export const replaceFlags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

/** Opens a file this restore created for more writes through the page cache, never through a link. */
export function reopenRestoredFile(path: string): Promise<FileHandle> {
  return open(path, constants.O_WRONLY | constants.O_NOFOLLOW);
}

/** Whether `length` bytes at file `position` lie on block boundaries. */
export function blockAligned(position: number, length: number): boolean {
  return position % directIoBlock === 0 && length % directIoBlock === 0;
}

/** Whether a transfer of `length` bytes at file `position`, to or from `memory` in aligned slots, can be direct. */
export function alignedForDirectIo(slots: SharedSlots, memory: Buffer, position: number, length: number): boolean {
  return slots.slotOf(memory) !== undefined && (memory.byteOffset - slots.shift) % directIoBlock === 0 && blockAligned(position, length);
}

/**
 * A positional write of every byte: write(2) may write fewer than asked (a disk filling
 * up does), and Node passes the short count on without an error. Unchecked, the rest of
 * the range would stay a hole of zeros in a file that looks complete.
 */
export async function writeFully(handle: FileHandle, buffer: Buffer, offset: number, length: number, position: number): Promise<void> {
  for (let done = 0; done < length; ) {
    const { bytesWritten } = await handle.write(buffer, offset + done, length - done, position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error(`wrote ${String(done)} of ${String(length)} bytes: no space left?`), { code: 'ENOSPC' });
    done += bytesWritten;
  }
}
