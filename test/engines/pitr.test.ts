import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import type { ArchiverStatus } from '../../src/main/engines/wal/archiver.js';
import { createContext } from '../../src/main/services/context.js';
import { streamWalForever } from '../../src/main/services/wal.js';
import { drc } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters, type TestCluster, type TestMajor } from '../support/postgres.js';

process.env.DRC_TEST_PASSPHRASE = 'pitr test passphrase';
afterAll(stopAllClusters);

interface Batch {
  batch: number;
  committedAt: Date;
  lsnAfter: string;
  xid: string;
}

/** Runs `drc wal stream` in this process until stopped; resolves with its final status. */
async function startArchiver(config: DrcTestConfig): Promise<{ stop: () => Promise<ArchiverStatus>; latest: () => ArchiverStatus | undefined }> {
  const controller = new AbortController();
  let latest: ArchiverStatus | undefined;
  const context = await createContext({ configPath: config.path });
  const running = streamWalForever(context, { signal: controller.signal, onStatus: (status) => (latest = { ...status }) });
  running.catch(() => undefined);
  return {
    stop: async () => {
      controller.abort();
      return running;
    },
    latest: () => latest,
  };
}

async function restoreAndCount(config: DrcTestConfig, root: string, major: TestMajor, args: string[]): Promise<{ batches: number[]; report: RestoreReport }> {
  const target = join(root, `restore-${String(Date.now())}`);
  const result = await drc(['restore', '--config', config.path, '--target-dir', target, '--json', ...args]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const copy = await startClusterFromDataDir(target, major);
  const rows = await copy.sql<{ batch: number }>('SELECT DISTINCT batch FROM rsvp ORDER BY batch');
  await copy.remove();
  return { batches: rows.map((row) => row.batch), report: result.json<RestoreReport>() };
}

describe.each([15, 17] as TestMajor[])('point-in-time recovery on PostgreSQL %i', (major) => {
  let source: TestCluster;
  let root: string;
  let config: DrcTestConfig;
  const batches: Batch[] = [];

  beforeAll(async () => {
    source = await startCluster({ major });
    root = await makeTempDir('drc-pitr-');
    config = await writeTestConfig(root, source);
    await source.sql('CREATE TABLE rsvp (id serial PRIMARY KEY, batch int NOT NULL, guest text)');
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    expect((await drc(['backup', '--config', config.path])).code).toBe(0);
    const archiver = await startArchiver(config);
    try {
      for (const batch of [1, 2, 3, 4]) {
        await sleep(1100);
        const [row] = await source.sql<{ xid: string }>(
          `WITH added AS (INSERT INTO rsvp (batch, guest) SELECT ${String(batch)}, 'guest ' || g FROM generate_series(1, 100) g) SELECT txid_current()::text AS xid`,
        );
        const [after] = await source.sql<{ at: Date; lsn: string }>('SELECT clock_timestamp() AS at, pg_current_wal_lsn()::text AS lsn');
        batches.push({ batch, committedAt: after?.at ?? new Date(), lsnAfter: after?.lsn ?? '', xid: row?.xid ?? '' });
        if (batch === 2) expect((await drc(['restore-point', 'after-batch-2', '--config', config.path])).code).toBe(0);
      }
      // The partial segment is uploaded every 5 s while WAL flows: wait for the last commit to be stored.
      const deadline = Date.now() + 30_000;
      const [current] = await source.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      while (Date.now() < deadline) {
        const stored = archiver.latest()?.storedLsn;
        if (stored !== undefined && lsnValue(stored) >= lsnValue(current?.lsn ?? '0/0')) break;
        await sleep(250);
        await source.sql('SELECT 1');
      }
    } finally {
      await archiver.stop();
    }
  });

  afterAll(async () => {
    await source.remove();
    await rm(root, { recursive: true, force: true });
  });

  const between = (a: number, b: number): string => {
    const first = batches[a - 1]?.committedAt.getTime() ?? 0;
    const second = batches[b - 1]?.committedAt.getTime() ?? 0;
    return new Date((first + second) / 2).toISOString();
  };

  it('restores to a time between each pair of batches, holding exactly the batches before it', async () => {
    for (const [until, expected] of [
      [1, [1]],
      [2, [1, 2]],
      [3, [1, 2, 3]],
    ] as const) {
      const { batches: restored, report } = await restoreAndCount(config, root, major, ['--time', between(until, until + 1)]);
      expect(restored).toEqual(expected);
      expect(report.target.kind).toBe('time');
    }
  });

  it('restores to a named restore point', async () => {
    expect((await restoreAndCount(config, root, major, ['--name', 'after-batch-2'])).batches).toEqual([1, 2]);
  });

  it('restores to an LSN', async () => {
    expect((await restoreAndCount(config, root, major, ['--lsn', batches[2]?.lsnAfter ?? ''])).batches).toEqual([1, 2, 3]);
  });

  it('restores to a transaction id (inclusive)', async () => {
    expect((await restoreAndCount(config, root, major, ['--xid', batches[1]?.xid ?? ''])).batches).toEqual([1, 2]);
  });

  it('restores everything with --latest and reports the newest commit recovered', async () => {
    const { batches: restored, report } = await restoreAndCount(config, root, major, ['--latest']);
    expect(restored).toEqual([1, 2, 3, 4]);
    expect(report.usedPartialSegment).toBe(true);
    expect(Date.parse(report.newestCommitTime ?? '')).toBeGreaterThanOrEqual((batches[3]?.committedAt.getTime() ?? 0) - 1000);
  });

  it('lists the backup, the restore point and the recovery window', async () => {
    const list = await drc(['list', '--config', config.path, '--json']);
    expect(list.code).toBe(0);
    const inventory = list.json<{ backups: Array<{ copies: string[] }>; restorePoints: Array<{ name: string }>; wal: Array<{ repository: string; recoveryWindow?: { earliest: string; latest: string } }> }>();
    expect(inventory.backups).toHaveLength(1);
    expect(inventory.backups[0]?.copies).toEqual(['nas', 'usb']);
    expect(inventory.restorePoints.map((point) => point.name)).toEqual(['after-batch-2']);
    for (const repository of inventory.wal) {
      expect(Date.parse(repository.recoveryWindow?.latest ?? '')).toBeGreaterThanOrEqual((batches[3]?.committedAt.getTime() ?? 0) - 1000);
    }
  });
});

function lsnValue(text: string): bigint {
  const [high, low] = text.split('/');
  return (BigInt(`0x${high ?? '0'}`) << 32n) | BigInt(`0x${low ?? '0'}`);
}
