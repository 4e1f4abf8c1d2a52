import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExpireReport, RepositoryExpiry } from '../../src/shared/contract/retention.js';
import { listBackups } from '../../src/main/engines/backup/catalog.js';
import { activeLeases, leaseOnBackup, leaseOnWal, readsOfBackup, ReadLease, type LeaseRecord } from '../../src/main/repo/leases.js';
import { parseWalObjectName, type WalObject } from '../../src/main/repo/wal-archive.js';
import { createContext, withRepositorySet } from '../../src/main/services/context.js';
import { expire } from '../../src/main/services/retention.js';
import { drc } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, stopAllClusters, type TestCluster } from '../support/postgres.js';
import { drcBinary } from '../support/drc-binary.js';

process.env.DRC_TEST_PASSPHRASE = 'leases under expire';
afterAll(stopAllClusters);

const day = 86_400_000;
/** Past the default 30 days of fulls: every backup but the newest is due to go. */
const monthsLater = (): Date => new Date(Date.now() + 40 * day);

/** `drc` as its own process, as a DBA runs it (its pid is what a lease names). */
function spawnDrc(args: string[]): { child: ChildProcess; exited: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [drcBinary, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout?.resume();
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
  return { child, exited };
}

/** Leases written whole (a temporary being written is not one yet). */
async function leaseFiles(repository: string): Promise<string[]> {
  return (await readdir(join(repository, 'leases')).catch(() => [])).filter((name) => name.endsWith('.json'));
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function only(report: ExpireReport): RepositoryExpiry {
  expect(report.repositories).toHaveLength(1);
  const [repository] = report.repositories;
  if (!repository) throw new Error('no repository in the expire report');
  return repository;
}

describe('leases: expire leaves what a restore reads (PostgreSQL 17)', () => {
  let cluster: TestCluster;
  let root: string;
  let config: DrcTestConfig;
  let nas: string;
  let older: string;
  let newer: string;

  beforeAll(async () => {
    cluster = await startCluster({ major: 17 });
    root = await makeTempDir('drc-leases-');
    config = await writeTestConfig(root, cluster, ['nas']);
    nas = config.repositories.nas ?? '';
    // Enough data that a restore spends a while fetching.
    await cluster.sql("CREATE TABLE guests AS SELECT g AS id, repeat(md5(g::text), 8) AS note FROM generate_series(1, 150000) g");
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    const first = await drc(['backup', '--config', config.path, '--json']);
    expect(first.code, first.stderr).toBe(0);
    older = first.json<{ id: string }>().id;
    await cluster.sql("INSERT INTO guests SELECT g, 'after the first backup' FROM generate_series(150001, 150100) g");
    await cluster.sql('SELECT pg_switch_wal()');
    const second = await drc(['backup', '--config', config.path, '--json']);
    expect(second.code, second.stderr).toBe(0);
    newer = second.json<{ id: string }>().id;
  }, 240_000);

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('keeps a backup a paused restore is reading, says who holds it, and removes it once the restore is done', async () => {
    const targetDir = join(root, 'restored');
    const restore = spawnDrc(['restore', '--config', config.path, '--target-dir', targetDir, '--backup', older, '--immediate']);
    const pid = restore.child.pid ?? 0;
    // Paused mid-fetch: its lease is there and it has begun writing the data directory.
    const deadline = Date.now() + 60_000;
    while ((await leaseFiles(nas)).length === 0 || !(await exists(join(targetDir, 'base')))) {
      expect(Date.now(), `no lease appeared; drc said: ${(await Promise.race([restore.exited, sleep(0)]))?.stderr ?? ''}`).toBeLessThan(deadline);
      await sleep(2);
    }
    process.kill(pid, 'SIGSTOP');
    let resumed = false;
    try {
      // pg_control is written last: without it the restore is not done.
      expect(await exists(join(targetDir, 'global', 'pg_control'))).toBe(false);
      const during = only(await expire(await createContext({ configPath: config.path }), { dryRun: false, now: monthsLater }));
      expect(during.status).toBe('expired');
      expect(during.removed.map((backup) => backup.id)).not.toContain(older);
      const kept = during.kept.find((backup) => backup.id === older);
      expect(kept?.reason).toMatch(new RegExp(`^leased: restore into ${targetDir} by .+@${hostname()} \\(pid ${String(pid)}, since `));
      expect(during.leases).toHaveLength(1);
      expect(during.leases?.[0]).toContain(`pid ${String(pid)}`);
      expect(during.wal.objects).toBe(0);
      expect(await exists(join(nas, 'backups', `${older}.manifest`))).toBe(true);
      // Narrowed once the backup was chosen: the newer backup is not held by this restore.
      const [leaseFile] = await leaseFiles(nas);
      const leased = JSON.parse(await readFile(join(nas, 'leases', leaseFile ?? ''), 'utf8')) as LeaseRecord;
      expect(leased.reads).toMatchObject({ scope: 'backups', backups: [older] });

      // The text output says it too.
      const text = await drc(['expire', '--config', config.path, '--dry-run']);
      expect(text.stdout).toContain(`leased, kept until it ends: restore into ${targetDir}`);

      process.kill(pid, 'SIGCONT');
      resumed = true;
      const finished = await restore.exited;
      expect(finished.code, finished.stderr).toBe(0);
    } finally {
      if (!resumed) process.kill(pid, 'SIGCONT');
    }
    expect(await exists(join(targetDir, 'PG_VERSION'))).toBe(true);
    expect(await leaseFiles(nas)).toEqual([]);

    const after = only(await expire(await createContext({ configPath: config.path }), { dryRun: false, now: monthsLater }));
    expect(after.removed.map((backup) => backup.id)).toEqual([older]);
    expect(after.leases).toBeUndefined();
    expect(after.kept.map((backup) => backup.id)).toEqual([newer]);
    expect(await exists(join(nas, 'backups', `${older}.manifest`))).toBe(false);
  }, 180_000);

  it('ignores and deletes the lease of a process that is gone, and the lease of another host not renewed for an hour', async () => {
    // A backup to expire again: the previous test removed the older one.
    const extra = await drc(['backup', '--config', config.path, '--json']);
    expect(extra.code, extra.stderr).toBe(0);
    const gone = spawn('true');
    const deadPid = await new Promise<number>((resolve) => gone.once('exit', () => resolve(gone.pid ?? 0)));
    const now = new Date().toISOString();
    const longAgo = new Date(Date.now() - 2 * 3_600_000).toISOString();
    const lease = (fields: Partial<LeaseRecord>): LeaseRecord => ({ token: randomBytes(12).toString('hex'), operation: 'restore into /srv/restore', user: 'dba', host: hostname(), pid: deadPid, startedAt: now, renewedAt: now, reads: { scope: 'everything' }, ...fields });
    const deadHere = lease({});
    const silentElsewhere = lease({ host: 'other-workstation', pid: 4242, startedAt: longAgo, renewedAt: longAgo });
    for (const record of [deadHere, silentElsewhere]) await writeFile(join(nas, 'leases', `${record.token}.json`), JSON.stringify(record));
    // Torn by a crash mid-write on a target without atomic writes.
    await writeFile(join(nas, 'leases', 'torn.json'), '{"token": "ab');

    const report = only(await expire(await createContext({ configPath: config.path }), { dryRun: false, now: monthsLater }));
    expect(report.leases).toBeUndefined();
    expect(report.removed.map((backup) => backup.id)).toEqual([newer]);
    expect(await leaseFiles(nas)).toEqual([]);
  }, 120_000);

  it('narrowed to the chosen backup, a lease keeps that backup and nothing older', async () => {
    const fresh = await drc(['backup', '--config', config.path, '--json']);
    expect(fresh.code, fresh.stderr).toBe(0);
    await withRepositorySet(await createContext({ configPath: config.path }), undefined, async (set) => {
      const [repository] = set.repositories;
      const [oldest, ...others] = await listBackups(set.repositories);
      if (!repository || !oldest) throw new Error('no repository or backup');
      expect(others.length).toBeGreaterThan(0);
      const lease = await ReadLease.take(set.repositories, 'restore test', { scope: 'everything' });
      try {
        await lease.narrow(readsOfBackup(oldest.record));
        const [held] = await activeLeases(repository.target);
        expect(held?.reads).toEqual(readsOfBackup(oldest.record));
        const report = only(await expire(await createContext({ configPath: config.path }), { dryRun: true, now: monthsLater }));
        expect(report.kept.find((backup) => backup.id === oldest.record.id)?.reason).toMatch(/^leased: restore test by .* reads backup /);
        expect(report.removed).toEqual([]);
      } finally {
        await lease.release();
      }
      expect(await activeLeases(repository.target)).toEqual([]);
      const unleased = only(await expire(await createContext({ configPath: config.path }), { dryRun: true, now: monthsLater }));
      expect(unleased.removed.map((backup) => backup.id)).toEqual([oldest.record.id]);
    });
  }, 120_000);

  it('a restore that is refused still releases its lease', async () => {
    // The directory holds the repository itself: never a restore target.
    const refused = await drc(['restore', '--config', config.path, '--target-dir', root, '--latest']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/RESTORE_TARGET/);
    expect(await leaseFiles(nas)).toEqual([]);
  }, 60_000);
});

describe('which WAL a lease covers', () => {
  const lease = (reads: LeaseRecord['reads']): LeaseRecord => ({ token: 't', operation: 'restore', user: 'dba', host: 'h', pid: 1, startedAt: '', renewedAt: '', reads });
  const narrowed = lease(readsOfBackup({ id: 'b', timeline: 2, startLsn: '0/5000028', walSegmentSize: 16 * 1024 * 1024 }));
  const object = (name: string): WalObject => {
    const parsed = parseWalObjectName(name);
    if (!parsed) throw new Error(`not a WAL object name: ${name}`);
    return parsed;
  };

  it('covers segments from the backup start on its timeline and later ones, their summaries and histories, and nothing before', () => {
    expect(leaseOnWal([narrowed], object('wal/00000002/000000020000000000000005'))).toBe(narrowed);
    expect(leaseOnWal([narrowed], object('wal/00000002/000000020000000000000009.summary'))).toBe(narrowed);
    expect(leaseOnWal([narrowed], object('wal/00000003/000000030000000100000000.partial'))).toBe(narrowed);
    expect(leaseOnWal([narrowed], object('wal/00000003/00000003.history'))).toBe(narrowed);
    expect(leaseOnWal([narrowed], object('wal/00000002/000000020000000000000004'))).toBeUndefined();
    expect(leaseOnWal([narrowed], object('wal/00000001/000000010000000000000007'))).toBeUndefined();
    expect(leaseOnWal([narrowed], object('wal/00000001/00000001.history'))).toBeUndefined();
    expect(leaseOnWal([lease({ scope: 'everything' })], object('wal/00000001/000000010000000000000001'))).toBeDefined();
  });

  it('covers the backups it names, or every one while the reader is still choosing', () => {
    expect(leaseOnBackup([narrowed], 'b')).toBe(narrowed);
    expect(leaseOnBackup([narrowed], 'other')).toBeUndefined();
    expect(leaseOnBackup([lease({ scope: 'everything' })], 'other')).toBeDefined();
  });
});
