import { setTimeout as sleep } from 'node:timers/promises';
import type { ArchiverStatus } from '../../src/main/engines/wal/archiver.js';
import { parseLsn } from '../../src/main/postgres/lsn.js';
import { createContext } from '../../src/main/services/context.js';
import { streamWalForever } from '../../src/main/services/wal.js';
import type { TestCluster } from './postgres.js';

/**
 * Runs `work` while `drc wal stream` (in this process) archives the cluster's WAL, then
 * waits until every byte the server has written by then is stored, and stops the stream.
 * A stream that falls behind fails the test here, not later as a puzzling restore.
 */
export async function whileStreamingWal(cluster: TestCluster, configPath: string, work: () => Promise<void>, timeoutMs = 30_000): Promise<void> {
  const controller = new AbortController();
  let latest: ArchiverStatus | undefined;
  const running = streamWalForever(await createContext({ configPath }), { signal: controller.signal, onStatus: (status) => (latest = { ...status }) });
  try {
    await work();
    const [current] = await cluster.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    const target = current?.lsn ?? '0/0';
    const deadline = Date.now() + timeoutMs;
    while (parseLsn(latest?.storedLsn ?? '0/0') < parseLsn(target)) {
      if (Date.now() > deadline) throw new Error(`wal stream stored WAL only up to ${latest?.storedLsn ?? 'nothing'} of ${target} within ${String(timeoutMs)} ms`);
      await sleep(250);
      // Keeps the server writing, so the stream's status is refreshed.
      await cluster.sql('SELECT 1');
    }
  } finally {
    controller.abort();
    await running;
  }
}
