import { mkdir, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BackupRecord } from '../src/main/repo/backup-record.js';
import type { RestoreReport } from '../src/shared/contract/restore.js';
import { drc } from '../test/support/cli.js';
import { writeTestConfig } from '../test/support/drc-config.js';
import { makeTempDir, startCluster, stopAllClusters, type TestCluster } from '../test/support/postgres.js';
import { CpuProfiler } from './support/cpu-profile.js';
import { ownCpuSeconds, serverCpuSeconds } from './support/cpu-time.js';
import { encryptedRepo, PgBackRest, type PgBackRestBackup } from './support/pgbackrest.js';
import { addDataDirectory, loadDataset } from './support/dataset.js';
import { directoryBytes, findExecutable, run, syncDisks, timed } from './support/processes.js';
import { describeLoad } from './support/report.js';

const MiB = 1024 * 1024;

export interface BackupComparisonOptions {
  /** Dataset size factor: 1 = pgbench scale 100 + 2 million notes (about 2 GB). */
  readonly scale?: number;
  /** Write a main-thread CPU profile of each drc command here, and print where its time went (slows drc down a little). */
  readonly profileDir?: string;
}

/** One line of the result table: drc against pgBackRest, and the target ratio. */
interface Row {
  readonly operation: string;
  readonly drcSeconds: number | undefined;
  readonly otherSeconds: number | undefined;
  readonly drcBytes?: number | undefined;
  readonly otherBytes?: number | undefined;
  /** CPU seconds of the tool plus the server's, when known. */
  readonly drcCpu?: number | undefined;
  readonly otherCpu?: number | undefined;
  /** The same step with drc streaming from the server instead of reading the data directory. */
  readonly streamedSeconds?: number | undefined;
  /** The same step by pgBackRest into its aes-256-cbc repository (drc always encrypts); printed, not judged. */
  readonly otherEncryptedSeconds?: number | undefined;
  /** drc/pgBackRest must be at most `time` (and, when given, stored bytes at most `bytes`). */
  readonly target: { readonly time: number; readonly bytes?: number };
}

/**
 * drc against pgBackRest 2.45 (and pg_basebackup as the floor for reading everything), on
 * one PostgreSQL 15 cluster of about 2 GB: full backup, a contiguous and a scattered 5%
 * update each followed by an incremental (chained: full → contiguous incr → scattered
 * incr, for both tools), and a restore of the latest backup into an empty directory.
 * Prints figures and ratios; asserts nothing.
 *
 * Fairness: one cluster, every directory under the same temp filesystem, an untimed
 * pg_basebackup first so the data directory is in the page cache for everyone, the
 * archiver caught up, a CHECKPOINT and `sync` before each timed step (so neither tool
 * pays for the other's dirty pages, the update's checkpoint or its WAL being archived), both tools with a fast checkpoint, and
 * autovacuum off after a VACUUM FREEZE so nothing rewrites pages between the two tools'
 * runs. Both tools read the data directory on this host (drc with cluster.dataDirectory,
 * pgBackRest with pg1-path) and compress with lz4 (drc: `repo init --compression lz4`).
 * Differences that stay: drc always encrypts (AES-256-GCM) and names every chunk by a
 * keyed hash, while pgBackRest here is unencrypted; drc carries the backup's WAL inside
 * the backup, pgBackRest keeps it in its archive (archive-copy=n), so that WAL is not in
 * pgBackRest's stored bytes. A drc incremental skips files whose size and time are
 * unchanged without reading them, hashes the rest and stores only chunks the repository
 * lacks; pgBackRest 2.45 copies every file whose size or time changed, whole (block
 * incremental came in 2.46). For reference, each step also runs a second drc chain that
 * streams the backup from the server instead (as from a workstation), in its own
 * repository; its time is printed but not compared.
 */
export async function benchBackupComparison(options: BackupComparisonOptions = {}): Promise<void> {
  const scale = options.scale ?? 1;

  const previousPassphrase = process.env.DRC_TEST_PASSPHRASE;
  process.env.DRC_TEST_PASSPHRASE = 'backup comparison bench';
  const roots: string[] = [];
  let cluster: TestCluster | undefined;
  const profiler = new CpuProfiler(options.profileDir);
  try {
    console.log(`\n## backup comparison — drc vs pgBackRest on PostgreSQL 15, dataset scale ${String(scale)}`);
    const cpuList = cpus();
    console.log(`machine: ${String(cpuList.length)} CPU(s): ${cpuList[0]?.model ?? 'unknown'}; ${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM; Node ${process.version}; temp dirs under ${tmpdir()}; load average ${describeLoad()} at start`);
    console.log(
      'method: one cluster for both tools; backups chained on both sides (full → contiguous 5% incr → scattered 5% incr), then a restore of the latest backup; ' +
        'archive caught up, CHECKPOINT and sync before each timed step; autovacuum off after VACUUM FREEZE; pgBackRest with archive-check on (archive_command = pgbackrest archive-push); ' +
        'both tools read the data directory on this host and compress with lz4; a second drc chain streams from the server, for reference; ' +
        'drc runs in this process (as in the desktop app and `drc daemon`), so its times leave out the ~0.3 s a one-off `drc` command spends starting Node and loading its modules',
    );

    const pgbackrestPath = await findExecutable('pgbackrest');
    const pgbackrestVersion = pgbackrestPath ? (await run(pgbackrestPath, ['version'], { check: false })).stdout.trim() : undefined;
    console.log(pgbackrestPath ? `comparator: ${pgbackrestVersion ?? 'pgBackRest'} at ${pgbackrestPath}` : 'comparator: pgBackRest is NOT installed: its columns are skipped (apt-get install pgbackrest)');

    // archive_command starts as a no-op: the load's WAL needs no archive (there is no backup
    // yet); it becomes pgBackRest's archive-push once the data is in.
    cluster = await startCluster({
      major: 15,
      settings: { wal_level: 'replica', archive_mode: 'on', archive_command: "'/bin/true'", max_wal_size: '4GB', checkpoint_timeout: '30min', autovacuum: 'off', shared_buffers: "'256MB'" },
    });
    const source = cluster;
    const [version] = await source.sql<{ version: string }>('SHOW server_version');
    console.log(`cluster: PostgreSQL ${version?.version ?? '15'} on 127.0.0.1:${String(source.port)}, data directory ${source.dataDir}`);

    const root = await makeTempDir('drc-bench-cmp-');
    roots.push(root);
    const pgbackrest = pgbackrestPath ? await PgBackRest.configure(pgbackrestPath, root, source) : undefined;

    // 1. The dataset.
    const dataset = await loadDataset(source, scale);
    const accounts = dataset.accounts;
    console.log(
      `dataset: ${dataset.method}, loaded in ${dataset.seconds.toFixed(1)} s; ` +
        `database 'postgres' ${mib(dataset.bytes.database)} (pgbench_accounts ${mib(dataset.bytes.accounts)}, notes ${mib(dataset.bytes.notes)}), all databases ${mib(dataset.bytes.cluster)}`,
    );

    if (pgbackrest) {
      await source.sql(`ALTER SYSTEM SET archive_command = '${pgbackrest.archiveCommand.replaceAll("'", "''")}'`);
      await source.sql('SELECT pg_reload_conf()');
      await pgbackrest.command('stanza-create');
      const check = await pgbackrest.command('check');
      console.log(`pgBackRest: stanza 'bench' created, archive_command = pgbackrest archive-push (check passed in ${check.seconds.toFixed(1)} s); repo1 ${pgbackrest.repoPaths[1]} (no encryption), repo2 ${pgbackrest.repoPaths[encryptedRepo]} (aes-256-cbc); lz4, process-max=2, start-fast=y`);
    }

    // 2. pg_basebackup: warms the page cache for everyone, then the floor, timed.
    const pgBasebackup = await findExecutable('pg_basebackup', [source.bindir]);
    let basebackupSeconds: number | undefined;
    if (pgBasebackup) {
      const args = ['-h', '127.0.0.1', '-p', String(source.port), '-U', 'postgres', '-D', '-', '-Ft', '-X', 'none', '-c', 'fast'];
      const warm = await run(pgBasebackup, args, { stdout: 'discard' });
      await checkpointAndSync(source);
      const { value: floor, server } = await withServerCpu(source, () => run(pgBasebackup, args, { stdout: 'discard', measureCpu: true }));
      basebackupSeconds = floor.seconds;
      console.log(
        `pg_basebackup -Ft -D - -X none -c fast > /dev/null: ${floor.seconds.toFixed(1)} s (${mibPerSecond(dataset.bytes.cluster, floor.seconds)}; ${describeCpu({ tool: floor.cpuSeconds, server })}; the warm-up run took ${warm.seconds.toFixed(1)} s)`,
      );
    } else {
      console.log('pg_basebackup: not found, skipped (the page cache is warm from the load anyway)');
    }

    // 3. drc: repository, full backup.
    const config = await writeTestConfig(root, source, ['nas']);
    await addDataDirectory(config.path, source.dataDir);
    const streamedRoot = join(root, 'streamed');
    await mkdir(streamedRoot);
    const streamedConfig = await writeTestConfig(streamedRoot, source, ['nas']);
    const drcRun = async <T>(label: string, args: string[], configPath = config.path): Promise<{ value: T; seconds: number; cpu: Cpu }> => {
      const ownBefore = ownCpuSeconds();
      const { value: result, server } = await withServerCpu(source, () => timed(() => profiler.around(label, () => drc([...args, '--config', configPath, '--json']))));
      const own = ownCpuSeconds() - ownBefore;
      if (result.value.code !== 0) throw new Error(`drc ${args.join(' ')} exited with ${String(result.value.code)}: ${result.value.stdout}${result.value.stderr}`);
      return { value: result.value.json<T>(), seconds: result.seconds, cpu: { tool: own, server } };
    };
    const pgbackrestRun = async (command: string, args: readonly string[]): Promise<{ seconds: number; cpu: Cpu }> => {
      if (!pgbackrest) throw new Error('pgBackRest is not installed');
      const { value: finished, server } = await withServerCpu(source, () => pgbackrest.command(command, args));
      return { seconds: finished.seconds, cpu: { tool: finished.cpuSeconds, server } };
    };
    await drcRun('repo init', ['repo', 'init', '--kdf-cost', '14', '--compression', 'lz4']);
    await drcRun('repo init', ['repo', 'init', '--kdf-cost', '14', '--compression', 'lz4'], streamedConfig.path);

    const rows: Row[] = [];
    const backupBoth = async (operation: string, drcType: 'full' | 'incremental', otherType: 'full' | 'incr', target: Row['target']): Promise<void> => {
      await checkpointAndSync(source);
      const mine = await drcRun<BackupRecord>(`drc backup ${drcType}`, ['backup', '--type', drcType]);
      await checkpointAndSync(source);
      const streamed = await drcRun<BackupRecord>(`drc backup ${drcType} (streamed)`, ['backup', '--type', drcType], streamedConfig.path);
      let other: { seconds: number; cpu: Cpu; backup: PgBackRestBackup } | undefined;
      let encrypted: { seconds: number; cpu: Cpu } | undefined;
      if (pgbackrest) {
        await checkpointAndSync(source);
        const finished = await pgbackrestRun('backup', [`--type=${otherType}`, '--repo=1']);
        other = { ...finished, backup: await pgbackrest.latestBackup(1) };
        await checkpointAndSync(source);
        encrypted = await pgbackrestRun('backup', [`--type=${otherType}`, `--repo=${String(encryptedRepo)}`]);
      }
      const otherStored = other ? (otherType === 'full' ? other.backup.info.repository.size : other.backup.info.repository.delta) : undefined;
      console.log(
        `${operation}: drc ${mine.seconds.toFixed(1)} s (engine ${(mine.value.durationMs / 1000).toFixed(1)} s; ${describeCpu(mine.cpu)}), read ${mib(mine.value.bytesRead)}, new ${mib(mine.value.bytesNew)}, stored ${mib(mine.value.bytesStored)}` +
          `; drc streamed ${streamed.seconds.toFixed(1)} s (${describeCpu(streamed.cpu)}), read ${mib(streamed.value.bytesRead)}, stored ${mib(streamed.value.bytesStored)}` +
          (other ? `; pgBackRest ${other.seconds.toFixed(1)} s (${describeCpu(other.cpu)}), ${other.backup.label}: read ${mib(otherType === 'full' ? other.backup.info.size : other.backup.info.delta)}, stored ${mib(otherStored ?? 0)}` : '; pgBackRest skipped') +
          (encrypted ? `; pgBackRest aes-256-cbc ${encrypted.seconds.toFixed(1)} s (${describeCpu(encrypted.cpu)})` : ''),
      );
      rows.push({ operation, drcSeconds: mine.seconds, streamedSeconds: streamed.seconds, otherSeconds: other?.seconds, otherEncryptedSeconds: encrypted?.seconds, drcBytes: mine.value.bytesStored, otherBytes: otherStored, drcCpu: totalCpu(mine.cpu), otherCpu: other ? totalCpu(other.cpu) : undefined, target });
    };

    await backupBoth('full backup', 'full', 'full', { time: 0.75 });

    // 4. Incrementals, chained on both sides: full → contiguous incr → scattered incr.
    const contiguousLimit = Math.round(accounts / 20);
    const contiguous = await timed(() => source.sql(`UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= ${String(contiguousLimit)}`));
    console.log(`contiguous 5% update (aid <= ${String(contiguousLimit)}) in ${contiguous.seconds.toFixed(1)} s`);
    await backupBoth('incr, contiguous 5%', 'incremental', 'incr', { time: 0.6, bytes: 0.25 });

    const scattered = await timed(() => source.sql('UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 20 = 0'));
    console.log(`scattered 5% update (aid % 20 = 0) in ${scattered.seconds.toFixed(1)} s`);
    await backupBoth('incr, scattered 5%', 'incremental', 'incr', { time: 0.75 });

    // 5. Restore the latest backup (the scattered incremental) into empty directories.
    await syncDisks();
    const drcTarget = join(root, 'restore-drc');
    const restored = await drcRun<RestoreReport>('drc restore', ['restore', '--target-dir', drcTarget, '--immediate']);
    const drcRestoredBytes = await directoryBytes(drcTarget);
    let otherRestore: { seconds: number; cpu: Cpu; bytes: number } | undefined;
    let encryptedRestore: { seconds: number; cpu: Cpu } | undefined;
    if (pgbackrest) {
      await syncDisks();
      const otherTarget = join(root, 'restore-pgbackrest');
      const finished = await pgbackrest.restore(otherTarget, 1);
      otherRestore = { seconds: finished.seconds, cpu: { tool: finished.cpuSeconds, server: 0 }, bytes: await directoryBytes(otherTarget) };
      await syncDisks();
      const decrypted = await pgbackrest.restore(join(root, 'restore-pgbackrest-cbc'), encryptedRepo);
      encryptedRestore = { seconds: decrypted.seconds, cpu: { tool: decrypted.cpuSeconds, server: 0 } };
    }
    console.log(
      `restore: drc ${restored.seconds.toFixed(1)} s (${describeCpu({ tool: restored.cpu.tool, server: 0 })}; backup ${restored.value.backupId}, ${String(restored.value.files)} files, ${mib(restored.value.bytesWritten)} written, ${String(restored.value.walSegments)} WAL segment(s) from the archive; directory ${mib(drcRestoredBytes)}; written through ${restored.value.writes?.mode ?? '?'}, ${restored.value.writes?.reason ?? ''})` +
        (otherRestore ? `; pgBackRest ${otherRestore.seconds.toFixed(1)} s (${describeCpu(otherRestore.cpu)}; latest set, --type=immediate; directory ${mib(otherRestore.bytes)})` : '; pgBackRest skipped') +
        (encryptedRestore ? `; pgBackRest aes-256-cbc ${encryptedRestore.seconds.toFixed(1)} s (${describeCpu(encryptedRestore.cpu)})` : ''),
    );
    rows.push({ operation: 'restore (latest)', drcSeconds: restored.seconds, otherSeconds: otherRestore?.seconds, otherEncryptedSeconds: encryptedRestore?.seconds, drcCpu: restored.cpu.tool, otherCpu: otherRestore?.cpu.tool, target: { time: 1.0 } });

    printTable(rows, basebackupSeconds, pgbackrest !== undefined);
    console.log(`load average ${describeLoad()} at the end (other work on this machine makes the timings noisier)`);
  } finally {
    profiler.close();
    await stopAllClusters().catch((error: unknown) => console.error(`bench cleanup: stopping clusters failed: ${String(error)}`));
    await cluster?.remove().catch((error: unknown) => console.error(`bench cleanup: removing the cluster failed: ${String(error)}`));
    for (const root of roots) await rm(root, { recursive: true, force: true });
    if (previousPassphrase === undefined) delete process.env.DRC_TEST_PASSPHRASE;
    else process.env.DRC_TEST_PASSPHRASE = previousPassphrase;
  }
}

/** CPU seconds of a tool's own processes (drc: this process, all threads) and of the server, when known. */
interface Cpu {
  readonly tool: number | undefined;
  readonly server: number | undefined;
}

/** Runs `work` and reports the server's CPU seconds meanwhile (after its walsenders and backends are reaped). */
async function withServerCpu<T>(cluster: TestCluster, work: () => Promise<T>): Promise<{ value: T; server: number | undefined }> {
  const before = await serverCpuSeconds(cluster.dataDir);
  const value = await work();
  await new Promise((done) => setTimeout(done, 300));
  const after = await serverCpuSeconds(cluster.dataDir);
  return { value, server: before === undefined || after === undefined ? undefined : after - before };
}

function totalCpu(cpu: Cpu): number | undefined {
  return cpu.tool === undefined ? undefined : cpu.tool + (cpu.server ?? 0);
}

function describeCpu(cpu: Cpu): string {
  if (cpu.tool === undefined) return 'CPU unknown';
  return `CPU ${cpu.tool.toFixed(1)} s${cpu.server === undefined || cpu.server === 0 ? '' : ` + server ${cpu.server.toFixed(1)} s`}`;
}

/**
 * The same quiet start for every timed step: the archiver has pushed every finished WAL
 * segment (pgbackrest archive-push runs as archive_command and would otherwise still be
 * working through an update's WAL while the next tool is timed), then a checkpoint and
 * `sync`.
 */
async function checkpointAndSync(cluster: TestCluster): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const [pending] = await cluster.sql<{ ready: number }>("SELECT count(*)::int AS ready FROM pg_ls_dir('pg_wal/archive_status') AS status WHERE status LIKE '%.ready'");
    if ((pending?.ready ?? 0) === 0) break;
    if (Date.now() > deadline) throw new Error(`the archiver still has ${String(pending?.ready)} segment(s) to push after 5 minutes`);
    await new Promise((done) => setTimeout(done, 200));
  }
  await cluster.sql('CHECKPOINT');
  await syncDisks();
}

function printTable(rows: readonly Row[], basebackupSeconds: number | undefined, haveComparator: boolean): void {
  const header = ['operation', 'drc s', 'drc streamed s', 'pgBackRest s', 'ratio', 'pgBackRest cbc s', 'ratio cbc', 'drc stored', 'pgBackRest stored', 'bytes ratio', 'CPU s drc / pgBackRest', 'target', 'result'];
  const lines = rows.map((row) => {
    const timeRatio = row.drcSeconds !== undefined && row.otherSeconds !== undefined ? row.drcSeconds / row.otherSeconds : undefined;
    const bytesRatio = row.drcBytes !== undefined && row.otherBytes !== undefined && row.otherBytes > 0 ? row.drcBytes / row.otherBytes : undefined;
    const target = `≤ ${row.target.time.toFixed(2)}×${row.target.bytes === undefined ? '' : `, bytes ≤ ${String(Math.round(row.target.bytes * 100))}%`}`;
    let result: string;
    if (timeRatio === undefined) result = 'skipped';
    else {
      const misses = [
        ...(timeRatio > row.target.time ? [`time ${timeRatio.toFixed(2)}×`] : []),
        ...(row.target.bytes !== undefined && (bytesRatio === undefined || bytesRatio > row.target.bytes) ? [`bytes ${bytesRatio === undefined ? '?' : `${(bytesRatio * 100).toFixed(0)}%`}`] : []),
      ];
      result = misses.length === 0 ? 'pass' : `FAIL (${misses.join(', ')})`;
    }
    return [
      row.operation,
      seconds(row.drcSeconds),
      row.streamedSeconds === undefined ? '–' : seconds(row.streamedSeconds),
      seconds(row.otherSeconds),
      timeRatio === undefined ? '–' : `${timeRatio.toFixed(2)}×`,
      seconds(row.otherEncryptedSeconds),
      row.drcSeconds !== undefined && row.otherEncryptedSeconds !== undefined ? `${(row.drcSeconds / row.otherEncryptedSeconds).toFixed(2)}×` : '–',
      row.drcBytes === undefined ? '' : mib(row.drcBytes),
      row.otherBytes === undefined ? '' : mib(row.otherBytes),
      bytesRatio === undefined ? '' : `${(bytesRatio * 100).toFixed(1)}%`,
      `${row.drcCpu === undefined ? '?' : row.drcCpu.toFixed(1)} / ${row.otherCpu === undefined ? '?' : row.otherCpu.toFixed(1)}`,
      target,
      result,
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => (line[column] ?? '').length)));
  const format = (cells: readonly string[]): string => `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  console.log('\n### drc vs pgBackRest (ratio = drc / pgBackRest; lower is better for drc; "drc streamed" is for reference, not compared)');
  console.log(format(header));
  console.log(format(widths.map((width) => '-'.repeat(width))));
  for (const line of lines) console.log(format(line));
  console.log('ratio: against pgBackRest without encryption, as the targets are set; ratio cbc: against its aes-256-cbc repository (drc always encrypts with AES-256-GCM), printed for a fair second view.');
  console.log('CPU s: user + system seconds of the tool (drc: this process with its worker threads; pgBackRest: all its processes) plus, for backups, the server\'s (walsender, backends, archive_command).');
  if (!haveComparator) console.log('pgBackRest is not installed: every comparison was skipped.');
  console.log(basebackupSeconds === undefined ? 'pg_basebackup floor: skipped (not installed)' : `pg_basebackup floor (reads everything, writes nothing): ${basebackupSeconds.toFixed(1)} s`);
}

/** Backups of this config read the data directory in place, as pgBackRest does. */
function seconds(value: number | undefined): string {
  return value === undefined ? 'skipped' : value.toFixed(1);
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

function mibPerSecond(bytes: number, seconds: number): string {
  return `${(bytes / MiB / seconds).toFixed(0)} MiB/s`;
}
