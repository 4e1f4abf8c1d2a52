import { readFile, writeFile } from 'node:fs/promises';
import type { TestCluster } from '../../test/support/postgres.js';
import { findExecutable, run, timed } from './processes.js';

/**
 * The benches' database: pgbench_accounts at pgbench scale 100 × `scale` plus a `notes`
 * table of 2 million × `scale` rows — about 2 GB at scale 1 — frozen, analyzed and
 * checkpointed, so that every tool then reads the same settled files.
 */
export interface LoadedDataset {
  readonly pgbenchScale: number;
  readonly accounts: number;
  /** How the accounts were made: pgbench's server-side generation, or SQL when pgbench is not installed. */
  readonly method: string;
  readonly seconds: number;
  readonly bytes: { readonly database: number; readonly cluster: number; readonly accounts: number; readonly notes: number };
}

export async function loadDataset(cluster: TestCluster, scale: number): Promise<LoadedDataset> {
  const pgbenchScale = Math.max(1, Math.round(100 * scale));
  const noteRows = Math.max(1000, Math.round(2_000_000 * scale));
  const accounts = pgbenchScale * 100_000;
  const pgbench = await findExecutable('pgbench', [cluster.bindir]);
  const load = await timed(async () => {
    if (pgbench) {
      await run(pgbench, ['-i', '-I', 'dtGvp', '-s', String(pgbenchScale), '-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', 'postgres']);
    } else {
      await cluster.sql('CREATE TABLE pgbench_accounts (aid int NOT NULL, bid int, abalance int, filler char(84)) WITH (fillfactor = 100)');
      await cluster.sql(`INSERT INTO pgbench_accounts (aid, bid, abalance, filler) SELECT aid, (aid - 1) / 100000 + 1, 0, '' FROM generate_series(1, ${String(accounts)}) aid`);
      await cluster.sql('ALTER TABLE pgbench_accounts ADD PRIMARY KEY (aid)');
    }
    await cluster.sql(`CREATE TABLE notes AS SELECT g AS id, md5(g::text) || repeat(' wedding note', 8) AS body FROM generate_series(1, ${String(noteRows)}) g`);
    await cluster.sql('VACUUM (FREEZE, ANALYZE)');
    await cluster.sql('CHECKPOINT');
  });
  const [sizes] = await cluster.sql<{ db: string; cluster: string; accounts: string; notes: string }>(
    "SELECT pg_database_size('postgres')::text AS db, (SELECT sum(pg_database_size(datname)) FROM pg_database)::text AS cluster, pg_total_relation_size('pgbench_accounts')::text AS accounts, pg_total_relation_size('notes')::text AS notes",
  );
  return {
    pgbenchScale,
    accounts,
    method: pgbench ? `pgbench -i -s ${String(pgbenchScale)} (server-side generation) + ${String(noteRows)} notes` : `pgbench not found: pgbench_accounts made by SQL (${String(accounts)} rows) + ${String(noteRows)} notes`,
    seconds: load.seconds,
    bytes: { database: Number(sizes?.db), cluster: Number(sizes?.cluster), accounts: Number(sizes?.accounts), notes: Number(sizes?.notes) },
  };
}

/** Lets drc read the data directory in place (as pgBackRest does), as a DBA on the database host configures it. */
export async function addDataDirectory(configPath: string, dataDirectory: string): Promise<void> {
  const json = JSON.parse(await readFile(configPath, 'utf8')) as { cluster: Record<string, unknown> };
  json.cluster.dataDirectory = dataDirectory;
  await writeFile(configPath, JSON.stringify(json));
}
