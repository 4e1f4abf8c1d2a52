import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import { drc } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters, type TestCluster } from '../support/postgres.js';
import { drcBinary } from '../support/drc-binary.js';

process.env.DRC_TEST_PASSPHRASE = 'break glass test';
afterAll(stopAllClusters);

/** `drc wal stream` as its own process, as a DBA runs it. */
function startWalStream(configPath: string): { child: ChildProcess; stderr: () => string; stop: () => Promise<number | null> } {
  const child = spawn(process.execPath, [drcBinary, 'wal', 'stream', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
  let errors = '';
  child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  child.stdout?.resume();
  return {
    child,
    stderr: () => errors,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    },
  };
}

/** A config that knows only the USB stick: the break-glass workstation has nothing else. */
async function usbOnlyConfig(config: DrcTestConfig, root: string, cluster?: TestCluster): Promise<string> {
  const full = JSON.parse(await readFile(config.path, 'utf8')) as { cluster: { port: number }; repositories: Array<{ name: string }> };
  const path = join(root, 'usb-only.json');
  await writeFile(path, JSON.stringify({ ...full, ...(cluster ? { cluster: { ...full.cluster, port: cluster.port } } : {}), repositories: full.repositories.filter((repository) => repository.name === 'usb') }));
  return path;
}

describe('break-glass restore and a new timeline (PostgreSQL 15)', () => {
  let root: string;
  let config: DrcTestConfig;
  let restored: TestCluster | undefined;
  let lastRowBeforeCrash = 0;

  afterAll(async () => {
    await restored?.remove();
    await rm(root, { recursive: true, force: true });
  });

  it('recovers from the USB stick alone every row committed 10 s before the primary died', async () => {
    const primary = await startCluster({ major: 15 });
    root = await makeTempDir('drc-glass-');
    config = await writeTestConfig(root, primary);
    await primary.sql('CREATE TABLE vendor_messages (id serial PRIMARY KEY, body text, sent_at timestamptz DEFAULT clock_timestamp())');
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    expect((await drc(['backup', '--config', config.path])).code).toBe(0);

    const stream = startWalStream(config.path);
    try {
      for (let batch = 0; batch < 20; batch++) {
        await primary.sql("INSERT INTO vendor_messages (body) SELECT 'message ' || g FROM generate_series(1, 50) g");
        await sleep(100);
      }
      const [last] = await primary.sql<{ id: number }>('SELECT max(id)::int AS id FROM vendor_messages');
      lastRowBeforeCrash = last?.id ?? 0;
      await sleep(10_000);
      await primary.kill();
      await rm(primary.dataDir, { recursive: true, force: true });
    } finally {
      await stream.stop();
    }
    expect(stream.stderr()).not.toMatch(/INTERNAL/);

    const target = join(root, 'recovered');
    const result = await drc(['restore', '--config', await usbOnlyConfig(config, root), '--target-dir', target, '--latest', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = result.json<RestoreReport>();
    expect(report.from).toBe('usb');
    expect(report.usedPartialSegment).toBe(true);
    expect(report.newestCommitTime).toBeDefined();

    restored = await startClusterFromDataDir(target, 15);
    const [rows] = await restored.sql<{ count: number; max: number }>('SELECT count(*)::int AS count, max(id)::int AS max FROM vendor_messages');
    expect(rows).toEqual({ count: 1000, max: lastRowBeforeCrash });
  });

  it('keeps streaming from the promoted copy and restores to a time on the new timeline', async () => {
    if (!restored) throw new Error('the break-glass restore did not produce a running copy');
    const [timeline] = await restored.sql<{ timeline: number }>('SELECT timeline_id AS timeline FROM pg_control_checkpoint()');
    expect(timeline?.timeline).toBeGreaterThan(1);

    const promotedConfig = join(root, 'promoted.json');
    const full = JSON.parse(await readFile(config.path, 'utf8')) as { cluster: Record<string, unknown> };
    await writeFile(promotedConfig, JSON.stringify({ ...full, cluster: { ...full.cluster, port: restored.port } }));
    const stream = startWalStream(promotedConfig);
    let afterPromotion: Date;
    try {
      await sleep(1500);
      await restored.sql("INSERT INTO vendor_messages (body) SELECT 'after failover ' || g FROM generate_series(1, 25) g");
      await sleep(1100);
      afterPromotion = new Date();
      await sleep(1100);
      await restored.sql("INSERT INTO vendor_messages (body) VALUES ('too late')");
      await restored.sql('SELECT pg_switch_wal()');
      await sleep(6000);
    } finally {
      expect(await stream.stop()).toBe(0);
    }

    const target = join(root, 'after-failover');
    const result = await drc(['restore', '--config', promotedConfig, '--target-dir', target, '--time', afterPromotion.toISOString(), '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.json<RestoreReport>().targetTimeline).toBe(timeline?.timeline);
    await restored.stop();
    const copy = await startClusterFromDataDir(target, 15);
    const [rows] = await copy.sql<{ failover: number; late: number }>("SELECT count(*) FILTER (WHERE body LIKE 'after failover%')::int AS failover, count(*) FILTER (WHERE body = 'too late')::int AS late FROM vendor_messages");
    expect(rows).toEqual({ failover: 25, late: 0 });
    await copy.remove();
  });
});
