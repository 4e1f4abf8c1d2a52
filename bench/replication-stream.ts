import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { locateServerBinaries } from '../src/main/postgres/binaries.js';
import { ReplicationConnection } from '../src/main/postgres/replication/connection.js';
import type { BaseBackupSink } from '../src/main/postgres/replication/types.js';
import { startCluster, type TestCluster } from '../test/support/postgres.js';

const MiB = 1024 * 1024;
const RUNS = 3;

/**
 * BASE_BACKUP throughput of the replication client: a PostgreSQL 15 cluster of about 1 GB
 * (pgbench scale 60, BENCH_PGBENCH_SCALE to change) streamed into a sink that only counts
 * bytes, so the figure is the protocol layer's (and the server's), not a repository's.
 * pg_basebackup (C, libpq) on the same cluster is printed for reference.
 */
export async function benchReplicationStream(): Promise<void> {
  const scale = Number(process.env.BENCH_PGBENCH_SCALE ?? 60);
  const cluster = await startCluster({ major: 15, settings: { max_wal_size: "'8GB'", checkpoint_timeout: "'30min'" } });
  try {
    const { bindir } = await locateServerBinaries(15);
    await run(join(bindir, 'pgbench'), ['-i', '-q', '-s', String(scale), ...clientArgs(cluster), 'postgres']);
    await cluster.sql('CHECKPOINT');
    const [size] = await cluster.sql<{ bytes: string }>('SELECT sum(pg_database_size(oid))::text AS bytes FROM pg_database');
    console.log(`\n## replication stream — BASE_BACKUP of a PostgreSQL 15 cluster, pgbench scale ${String(scale)}, ${(Number(size?.bytes ?? 0) / MiB).toFixed(0)} MiB in databases`);
    console.log('client | run | streamed | seconds | MiB/s | client CPU s');

    for (const mode of ['sync', 'async'] as const) {
      for (let index = 1; index <= RUNS; index++) {
        const connection = await ReplicationConnection.connect(cluster.connection);
        let bytes = 0;
        // 'async': every piece goes through the backpressure path (pause, await, resume).
        const count = (data: Buffer): void | Promise<void> => {
          bytes += data.length;
          return mode === 'async' ? Promise.resolve() : undefined;
        };
        const sink: BaseBackupSink = { onStart: () => undefined, onArchive: () => undefined, onArchiveData: count, onProgress: () => undefined, onManifestData: count };
        const cpu = process.cpuUsage();
        const started = process.hrtime.bigint();
        await connection.baseBackup({ label: `bench ${String(index)}`, fastCheckpoint: true, includeWal: false }, sink);
        report(`drc, ${mode} sink`, index, bytes, started, process.cpuUsage(cpu));
        await connection.close();
      }
    }

    for (let index = 1; index <= RUNS; index++) {
      const started = process.hrtime.bigint();
      const bytes = await run(join(bindir, 'pg_basebackup'), ['-D', '-', '-F', 't', '-X', 'none', '-c', 'fast', '-P', '--manifest-checksums=CRC32C', ...clientArgs(cluster)]);
      report('pg_basebackup (C, reference)', index, bytes, started);
    }
  } finally {
    await cluster.remove();
  }
}

const clientArgs = (cluster: TestCluster): string[] => ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres'];

function report(client: string, run: number, bytes: number, started: bigint, cpu?: NodeJS.CpuUsage): void {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuSeconds = cpu === undefined ? 'n/a' : ((cpu.user + cpu.system) / 1e6).toFixed(2);
  console.log(`${client} | ${String(run)} | ${(bytes / MiB).toFixed(0)} MiB | ${seconds.toFixed(2)} | ${(bytes / MiB / seconds).toFixed(0)} | ${cpuSeconds}`);
}

/** Runs a client tool, counting (and discarding) what it writes to stdout. */
async function run(file: string, args: string[]): Promise<number> {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let bytes = 0;
  let errors = '';
  child.stdout.on('data', (data: Buffer) => (bytes += data.length));
  child.stderr.on('data', (data: Buffer) => (errors += data.toString()));
  const code = await new Promise<number | null>((done, fail) => {
    child.on('error', fail);
    child.on('close', done);
  });
  if (code !== 0) throw new Error(`${file} exited with ${String(code)}: ${errors.slice(-2000)}`);
  return bytes;
}
