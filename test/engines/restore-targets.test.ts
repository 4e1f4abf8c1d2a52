import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import { drc, type CliRun } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, startPromotedCopy, stopAllClusters, type TestCluster } from '../support/postgres.js';
import { whileStreamingWal } from '../support/wal-streaming.js';

process.env.DRC_TEST_PASSPHRASE = 'restore targets test';
afterAll(stopAllClusters);

/**
 * Issue 10, items 1 and 2: every restore that exits 0 starts and reaches its target, and
 * every target PostgreSQL would never reach is refused before anything is written. The
 * hostile names go through a real server both ways: created with `drc restore-point`,
 * restored with `restore --name`, and the restored copy started.
 */
const hostileNames = [`o'k\\path`, `a"b = 'c' # not a comment`, `café ☕ ${'x'.repeat(63 - Buffer.byteLength('café ☕ '))}`];

describe('restore targets on PostgreSQL 17', () => {
  let source: TestCluster;
  let root: string;
  let config: DrcTestConfig;
  /** The commit time of each batch, and the restore point made after it (batch n+1 follows point n). */
  const committed: Date[] = [];

  beforeAll(async () => {
    source = await startCluster({ major: 17 });
    root = await makeTempDir('drc-targets-');
    config = await writeTestConfig(root, source);
    await source.sql('CREATE TABLE rsvp (id serial PRIMARY KEY, batch int NOT NULL)');
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    expect((await drc(['backup', '--config', config.path])).code).toBe(0);
    await whileStreamingWal(source, config.path, async () => {
      for (const [position, name] of hostileNames.entries()) {
        await source.sql(`INSERT INTO rsvp (batch) SELECT ${String(position + 1)} FROM generate_series(1, 50)`);
        const [row] = await source.sql<{ at: Date }>('SELECT clock_timestamp() AS at');
        committed.push(row?.at ?? new Date());
        const created = await drc(['restore-point', name, '--config', config.path]);
        expect(created.stderr).toBe('');
        expect(created.code).toBe(0);
        // One segment per batch, so a hole can later be cut between two of them.
        await source.sql('SELECT pg_switch_wal()');
      }
      await source.sql(`INSERT INTO rsvp (batch) SELECT ${String(hostileNames.length + 1)} FROM generate_series(1, 50)`);
      const [last] = await source.sql<{ at: Date }>('SELECT clock_timestamp() AS at');
      committed.push(last?.at ?? new Date());
    });
  });

  afterAll(async () => {
    await source.remove();
    await rm(root, { recursive: true, force: true });
  });

  const restoreInto = async (name: string, args: string[]): Promise<{ run: CliRun; target: string }> => {
    const target = join(root, name);
    return { run: await drc(['restore', '--config', config.path, '--target-dir', target, '--json', ...args]), target };
  };

  const batchesIn = async (target: string): Promise<number[]> => {
    const copy = await startPromotedCopy(target, 17);
    try {
      const rows = await copy.sql<{ batch: number }>('SELECT DISTINCT batch FROM rsvp ORDER BY batch');
      return rows.map((row) => row.batch);
    } finally {
      await copy.remove();
    }
  };

  const refusal = (run: CliRun): { code: string; message: string; hints: string[] } => run.json<{ error: { code: string; message: string; hints: string[] } }>().error;

  it('restores to each hostile restore point name, and the copy starts at exactly that point', async () => {
    for (const [position, name] of hostileNames.entries()) {
      const { run, target } = await restoreInto(`named-${String(position)}`, ['--name', name]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.json<RestoreReport>().target).toEqual({ kind: 'name', name });
      expect(await batchesIn(target)).toEqual(Array.from({ length: position + 1 }, (_, index) => index + 1));
    }
  });

  it('refuses a restore point name no WAL holds, naming the window and the points there are, and writes nothing', async () => {
    const { run, target } = await restoreInto('no-such-point', ['--name', 'nosuchpoint']);
    expect(run.code).toBe(1);
    const error = refusal(run);
    expect(error.code).toBe('RECOVERY_TARGET_UNREACHABLE');
    expect(error.hints.join('\n')).toMatch(/recovery can reach any moment from .* to /);
    expect(error.hints.join('\n')).toContain(JSON.stringify(hostileNames[0]));
    await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a time after the newest commit, and an LSN past the end of the WAL, before writing anything', async () => {
    const newest = committed.at(-1)?.getTime() ?? 0;
    for (const args of [
      ['--time', '2030-01-01T00:00:00Z'],
      ['--time', new Date(newest + 2000).toISOString()],
      ['--lsn', 'FF/0'],
    ]) {
      const { run, target } = await restoreInto(`beyond-${String(args[1])}`.replace(/[:.]/g, '-'), args);
      expect(run.code).toBe(1);
      expect(refusal(run).code).toBe('RECOVERY_TARGET_UNREACHABLE');
      await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    }
  });

  it('restores to a time between two batches, inside the window, and the copy starts there', async () => {
    const between = new Date(((committed[0]?.getTime() ?? 0) + (committed[1]?.getTime() ?? 0)) / 2).toISOString();
    const { run, target } = await restoreInto('between', ['--time', between]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(await batchesIn(target)).toEqual([1]);
  });

  it('refuses a restore point name with a line break or over 63 bytes, at creation and at restore', async () => {
    const injected = 'x\nrecovery_target_action = shutdown';
    const long = 'é'.repeat(32);
    for (const name of [injected, long]) {
      const created = await drc(['restore-point', name, '--config', config.path, '--json']);
      expect(created.code).toBe(2);
      expect(refusal(created).code).toBe('RESTORE_POINT_NAME_INVALID');
      const { run, target } = await restoreInto(`invalid-${String(name.length)}`, ['--name', name]);
      expect(run.code).toBe(2);
      expect(refusal(run).code).toBe('RESTORE_POINT_NAME_INVALID');
      await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    }
  });

  // Last: it cuts a hole in the archive of both repositories.
  it('refuses --latest across a hole in the WAL, and with --accept-gap restores up to it and starts', async () => {
    const timelineDir = (repository: string): string => join(repository, 'wal', '00000001');
    const segments = (await readdir(timelineDir(config.repositories.nas ?? ''))).filter((name) => /^[0-9A-F]{24}$/.test(name)).sort();
    // The segment of the second batch: the first batch stays reachable, the rest lies past the hole.
    const hole = segments.at(-2);
    expect(hole).toBeDefined();
    for (const repository of Object.values(config.repositories)) {
      for (const suffix of ['', '.summary']) await rm(join(timelineDir(repository), `${hole ?? ''}${suffix}`), { force: true });
    }
    expect((await drc(['verify', '--repair', '--config', config.path])).code).not.toBe(2);

    const refused = await restoreInto('latest-refused', ['--latest']);
    expect(refused.run.code).toBe(1);
    expect(refusal(refused.run).code).toBe('WAL_MISSING');
    expect(refusal(refused.run).hints.join('\n')).toContain('--accept-gap');
    await expect(stat(refused.target)).rejects.toMatchObject({ code: 'ENOENT' });

    const accepted = await restoreInto('latest-accepted', ['--latest', '--accept-gap']);
    expect(accepted.run.code).toBe(0);
    const report = accepted.run.json<RestoreReport>();
    expect(report.warnings.join('\n')).toContain('gap');
    const restored = await batchesIn(accepted.target);
    expect(restored.length).toBeGreaterThan(0);
    expect(restored.length).toBeLessThan(hostileNames.length + 1);
  });
});
