import { execFile } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { chooseWriteMode, probeWorthFrom } from '../../src/main/storage/write-mode.js';
import { tempDirectory } from '../support/temp.js';

type TempDirectory = Awaited<ReturnType<typeof tempDirectory>>;

const execFileAsync = promisify(execFile);

describe('choosing how a restore writes: measured on the target disk', () => {
  let dir: TempDirectory | undefined;
  afterEach(async () => {
    await dir?.remove();
    dir = undefined;
  });

  it('measures both ways on a disk that takes direct I/O, picks direct only when clearly faster, and leaves no probe file', async () => {
    dir = await tempDirectory('drc-write-mode-');
    const choice = await chooseWriteMode(dir.path, 10 * probeWorthFrom);
    const figures = /^measured: direct (\d+) MiB\/s, page cache with fsync (\d+) MiB\/s$/.exec(choice.reason);
    if (figures === null) {
      // Only a file system without O_DIRECT may skip the measurement (tmpfs as /tmp).
      expect(choice).toEqual({ mode: 'page cache', reason: 'the target file system refuses direct I/O' });
      return;
    }
    const [direct, pageCache] = [Number(figures[1]), Number(figures[2])];
    expect(direct).toBeGreaterThan(0);
    expect(pageCache).toBeGreaterThan(0);
    // Rates are rounded in the words; the rule is "direct at least 1.25× the page cache's rate".
    if (direct > pageCache * 1.3) expect(choice.mode).toBe('direct');
    if (direct < pageCache * 1.2) expect(choice.mode).toBe('page cache');
    expect(await readdir(dir.path)).toEqual([]);
  });

  it('falls back to the page cache, leaving no probe file, when the target cannot take the probe (a file system too small for it)', async (context) => {
    if (process.getuid?.() !== 0) {
      context.skip();
      return;
    }
    dir = await tempDirectory('drc-write-mode-');
    const small = join(dir.path, 'small');
    await mkdir(small);
    // 8 MiB: the probe writes 16 MiB, so its first write runs out of space.
    await execFileAsync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', small]);
    try {
      const choice = await chooseWriteMode(small, 10 * probeWorthFrom);
      expect(choice).toEqual({ mode: 'page cache', reason: 'could not measure (ENOSPC): the page cache, which works everywhere' });
      expect(await readdir(small)).toEqual([]);
    } finally {
      await execFileAsync('umount', [small]);
    }
  });

  it('does not measure for a small restore', async () => {
    dir = await tempDirectory('drc-write-mode-');
    expect(await chooseWriteMode(dir.path, probeWorthFrom - 1)).toEqual({ mode: 'page cache', reason: 'under 256 MiB to write: not worth measuring' });
    expect(await readdir(dir.path)).toEqual([]);
  });
});
