import { spawn } from 'node:child_process';
import { access, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeTestConfig } from '../test/support/drc-config.js';
import { makeTempDir, startCluster, stopAllClusters } from '../test/support/postgres.js';
import { addDataDirectory, loadDataset } from './support/dataset.js';
import { directoryBytes, run, syncDisks } from './support/processes.js';
import { describeMachine, verdict } from './support/report.js';

const MiB = 1024 * 1024;
/** Issue 12: peak RSS of a backup and of a restore of the 2 GB dataset, and it must not grow with the data. */
const peakTargetMiB = 300;
const drcBin = join(import.meta.dirname, '..', 'bin', 'drc.js');
const compiledCli = join(import.meta.dirname, '..', 'dist', 'main', 'hosts', 'cli-main.js');

interface Measured {
  readonly seconds: number;
  readonly peakMiB: number;
  /** The resident set at the largest sample, by kind: anonymous (heaps, buffers, shared slots), file-backed (code, mapped files), shared memory. */
  readonly atLargest: { readonly anonMiB: number; readonly fileMiB: number; readonly shmemMiB: number };
}

/**
 * Peak memory of `drc backup` (full) and `drc restore` as a DBA runs them — the compiled
 * `bin/drc.js`, one process per command — on the comparison's dataset at each scale
 * (1 = about 2 GB). The peak is the kernel's high-water mark of the process's resident
 * set (VmHWM), read every 20 ms while it runs: it only grows, so the last reading before
 * exit holds the peak up to a few milliseconds before the end. Prints figures; asserts nothing.
 */
export async function benchMemory(scales: readonly number[] = [1, 2]): Promise<void> {
  console.log('\n## memory — peak RSS of one-shot drc backup and restore, as the dataset doubles');
  console.log(`machine: ${await describeMachine()}`);
  try {
    await access(compiledCli);
  } catch {
    console.log('building dist/ first (bin/drc.js runs the compiled CLI)');
    await run('npx', ['tsc', '-p', 'tsconfig.node.json'], { cwd: join(import.meta.dirname, '..'), env: process.env });
  }
  const rows: Array<{ scale: number; bytes: number; backup: Measured; restore: Measured }> = [];
  const previousPassphrase = process.env.DRC_TEST_PASSPHRASE;
  process.env.DRC_TEST_PASSPHRASE = 'memory bench passphrase';
  try {
    for (const scale of scales) {
      const cluster = await startCluster({ major: 15, settings: { max_wal_size: '4GB', checkpoint_timeout: '30min', autovacuum: 'off', shared_buffers: "'256MB'" } });
      const root = await makeTempDir('drc-bench-mem-');
      try {
        const dataset = await loadDataset(cluster, scale);
        console.log(`scale ${String(scale)}: ${dataset.method}, all databases ${(dataset.bytes.cluster / MiB).toFixed(0)} MiB, loaded in ${dataset.seconds.toFixed(1)} s`);
        const config = await writeTestConfig(root, cluster, ['nas']);
        await addDataDirectory(config.path, cluster.dataDir);
        await measure(['repo', 'init', '--config', config.path, '--kdf-cost', '14', '--compression', 'lz4']);
        await syncDisks();
        const backup = await measure(['backup', '--type', 'full', '--config', config.path]);
        await syncDisks();
        const targetDir = join(root, 'restored');
        const restore = await measure(['restore', '--target-dir', targetDir, '--immediate', '--config', config.path]);
        const restored = await directoryBytes(targetDir);
        console.log(`  backup ${backup.seconds.toFixed(1)} s, peak ${backup.peakMiB.toFixed(0)} MiB (${describeKinds(backup)}); restore ${restore.seconds.toFixed(1)} s (${(restored / MiB).toFixed(0)} MiB written), peak ${restore.peakMiB.toFixed(0)} MiB (${describeKinds(restore)})`);
        rows.push({ scale, bytes: dataset.bytes.cluster, backup, restore });
      } finally {
        await stopAllClusters();
        await cluster.remove().catch(() => undefined);
        await rm(root, { recursive: true, force: true });
      }
    }
  } finally {
    if (previousPassphrase === undefined) delete process.env.DRC_TEST_PASSPHRASE;
    else process.env.DRC_TEST_PASSPHRASE = previousPassphrase;
  }
  console.log(`\n### peak RSS (target ≤ ${String(peakTargetMiB)} MiB, flat as the dataset doubles)`);
  console.log('| scale | data | backup peak | restore peak | result |');
  console.log('|---|---|---|---|---|');
  for (const row of rows) {
    const worst = Math.max(row.backup.peakMiB, row.restore.peakMiB);
    console.log(`| ${String(row.scale)} | ${(row.bytes / MiB).toFixed(0)} MiB | ${row.backup.peakMiB.toFixed(0)} MiB | ${row.restore.peakMiB.toFixed(0)} MiB | ${verdict(worst, peakTargetMiB)} |`);
  }
  const [first, last] = [rows[0], rows.at(-1)];
  if (first && last && first !== last) {
    const growth = (after: number, before: number): string => `${(((after - before) / before) * 100).toFixed(0)} %`;
    console.log(`growth from scale ${String(first.scale)} to ${String(last.scale)}: backup ${growth(last.backup.peakMiB, first.backup.peakMiB)}, restore ${growth(last.restore.peakMiB, first.restore.peakMiB)} (data ${growth(last.bytes, first.bytes)})`);
  }
}

/** Runs `node bin/drc.js args…` to its end, sampling its VmHWM; throws with its output on a non-zero exit. */
async function measure(args: readonly string[]): Promise<Measured> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [drcBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  const output: Buffer[] = [];
  child.stdout.on('data', (data: Buffer) => output.push(data));
  child.stderr.on('data', (data: Buffer) => output.push(data));
  let peakKiB = 0;
  let largestKiB = 0;
  let atLargest = { anonMiB: 0, fileMiB: 0, shmemMiB: 0 };
  const sample = async (): Promise<void> => {
    try {
      const status = await readFile(`/proc/${String(child.pid)}/status`, 'utf8');
      const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 0);
      peakKiB = Math.max(peakKiB, field('VmHWM'));
      if (field('VmRSS') > largestKiB) {
        largestKiB = field('VmRSS');
        atLargest = { anonMiB: field('RssAnon') / 1024, fileMiB: field('RssFile') / 1024, shmemMiB: field('RssShmem') / 1024 };
      }
    } catch {
      // Gone between the check and the read: the readings so far hold its peak.
    }
  };
  const sampler = setInterval(() => void sample(), 20);
  const code = await new Promise<number | null>((done, fail) => {
    child.on('error', fail);
    child.on('close', done);
  });
  clearInterval(sampler);
  if (code !== 0) throw new Error(`drc ${args.join(' ')} exited with ${String(code)}: ${Buffer.concat(output).toString('utf8')}`);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, peakMiB: peakKiB / 1024, atLargest };
}

function describeKinds({ atLargest }: Measured): string {
  return `at the largest sample: anonymous ${atLargest.anonMiB.toFixed(0)}, file ${atLargest.fileMiB.toFixed(0)}, shared ${atLargest.shmemMiB.toFixed(0)} MiB`;
}
