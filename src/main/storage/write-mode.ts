import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { alignedShift, directIoBlock, writeFully } from './direct-io.js';

/**
 * Whether a restore writes past the page cache (direct I/O) or through it, chosen by
 * measuring the target's disk, not assumed. The same product on two machines of the same
 * kind saw opposite results: on one, buffered writes cost more CPU than the rest of the
 * restore (the kernel allocating and copying every page) and direct I/O was six times
 * faster; on another, every direct write waited for the virtual disk and made the restore
 * twice as slow as through the page cache. So both are timed, with the restore's own
 * request size and concurrency, and direct I/O is used only when it is clearly faster.
 */
export interface WriteModeChoice {
  readonly mode: 'direct' | 'page cache';
  /** Why, in words for the report: the figures measured, or why nothing was measured. */
  readonly reason: string;
}

/** The restore's write size (its chunks) and how many it has in flight at once. */
const probeRequest = 4 * 1024 * 1024;
const probeConcurrency = 4;
/** Direct I/O must beat the page cache by this much: a near tie goes to the page cache, which other tools and the kernel's writeback expect. */
const directMustWinBy = 0.8;
/** Below this much data the choice cannot pay for the probe. */
export const probeWorthFrom = 256 * 1024 * 1024;

export async function chooseWriteMode(directory: string, bytesToWrite: number): Promise<WriteModeChoice> {
  if (typeof constants.O_DIRECT !== 'number') return { mode: 'page cache', reason: 'this system has no direct I/O' };
  if (bytesToWrite < probeWorthFrom) return { mode: 'page cache', reason: `under ${String(probeWorthFrom / 1024 / 1024)} MiB to write: not worth measuring` };
  const memory = new ArrayBuffer(probeRequest * probeConcurrency + directIoBlock);
  const shift = await alignedShift(memory, directory);
  if (shift === undefined) return { mode: 'page cache', reason: 'the target file system refuses direct I/O' };
  const buffer = Buffer.from(memory, shift, probeRequest * probeConcurrency);
  randomBytes(probeRequest).copy(buffer);
  // Two rounds, the best of each: the first write to a fresh file pays for allocating its extents either way.
  let direct = Number.POSITIVE_INFINITY;
  let pageCache = Number.POSITIVE_INFINITY;
  try {
    for (let round = 0; round < 2; round++) {
      pageCache = Math.min(pageCache, await timedWrite(directory, buffer, false));
      direct = Math.min(direct, await timedWrite(directory, buffer, true));
      // A clear loser after one round needs no second.
      if (direct > pageCache * 1.5 || direct < pageCache * directMustWinBy * 0.5) break;
    }
  } catch (error) {
    // The measurement is an optimisation: a disk that cannot take 16 MiB now (full, or gone)
    // is the restore's own writes to report, with their codes and hints, not the probe's.
    return { mode: 'page cache', reason: `could not measure (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): the page cache, which works everywhere` };
  }
  const rate = (seconds: number): string => `${((probeRequest * probeConcurrency) / 1024 / 1024 / seconds).toFixed(0)} MiB/s`;
  const figures = `measured: direct ${rate(direct)}, page cache with fsync ${rate(pageCache)}`;
  return direct < pageCache * directMustWinBy ? { mode: 'direct', reason: figures } : { mode: 'page cache', reason: figures };
}

/** Seconds to write `buffer` to a new file in `directory` as the restore would (requests in parallel, then fdatasync). */
async function timedWrite(directory: string, buffer: Buffer, direct: boolean): Promise<number> {
  const path = join(directory, `.drc-write-probe-${randomBytes(4).toString('hex')}`);
  const started = performance.now();
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | (direct ? constants.O_DIRECT : 0);
  const handle = await open(path, flags, 0o600);
  try {
    await Promise.all(Array.from({ length: probeConcurrency }, (_, index) => writeFully(handle, buffer, index * probeRequest, probeRequest, index * probeRequest)));
    await handle.datasync();
    return (performance.now() - started) / 1000;
  } finally {
    await handle.close();
    await rm(path, { force: true });
  }
}
