import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import type { RestoreTestRecord } from '../../src/shared/contract/restore-test.js';
import { readServerManifest } from '../../src/main/engines/backup/catalog.js';
import { checkServerManifest } from '../../src/main/engines/restore-test/manifest-checksums.js';
import { runAsUnprivileged } from '../../src/main/postgres/binaries.js';
import { chunkObjectName } from '../../src/main/repo/objects.js';
import { walSegmentObject, walSummaryObject } from '../../src/main/repo/wal-archive.js';
import { createContext, withRepositorySet } from '../../src/main/services/context.js';
import { drc } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, stopAllClusters, type TestCluster, type TestMajor } from '../support/postgres.js';
import { drcBinary } from '../support/drc-binary.js';

process.env.DRC_TEST_PASSPHRASE = 'restore test';
afterAll(stopAllClusters);

interface Fixture {
  source: TestCluster;
  root: string;
  config: DrcTestConfig;
  stateDir: string;
  pushed: Set<string>;
}

/** A cluster with local repositories, and a config whose scratch state files go to a directory of this test's own. */
async function fixture(major: TestMajor): Promise<Fixture> {
  const source = await startCluster({ major });
  const root = await makeTempDir('drc-rt-');
  const config = await writeTestConfig(root, source);
  const stateDir = join(root, 'state');
  await writeFile(config.path, JSON.stringify({ ...(JSON.parse(await readFile(config.path, 'utf8')) as object), stateDir }));
  expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
  return { source, root, config, stateDir, pushed: new Set() };
}

/** Ends the current WAL segment and archives every completed one with `drc wal push` (as archive_command would). */
async function archiveWal(f: Fixture): Promise<string[]> {
  await f.source.sql('SELECT pg_switch_wal()');
  // +1: at a segment boundary pg_walfile_name names the segment before it.
  const [current] = await f.source.sql<{ file: string }>('SELECT pg_walfile_name(pg_current_wal_lsn() + 1) AS file');
  const pushed: string[] = [];
  for (const file of (await readdir(join(f.source.dataDir, 'pg_wal'))).sort()) {
    if (!/^[0-9A-F]{24}$/.test(file) || file >= (current?.file ?? '') || f.pushed.has(file)) continue;
    const result = await drc(['wal', 'push', join(f.source.dataDir, 'pg_wal', file), '--config', f.config.path]);
    expect(result.code).toBe(0);
    f.pushed.add(file);
    pushed.push(file);
  }
  return pushed;
}

async function restoreTest(f: Fixture, args: string[] = []): Promise<{ code: number; record: RestoreTestRecord }> {
  const result = await drc(['restore-test', '--config', f.config.path, '--json', ...args]);
  expect(result.stderr).toBe('');
  return { code: result.code, record: result.json<RestoreTestRecord>() };
}

/** The scratch server is stopped, its directory deleted and its state file gone. */
async function expectCleanedUp(f: Fixture, record: RestoreTestRecord): Promise<void> {
  expect(record.scratch.removed).toBe(true);
  expect(existsSync(record.scratch.directory)).toBe(false);
  if (record.scratch.postmasterPid !== undefined) expect(processRuns(record.scratch.postmasterPid)).toBe(false);
  expect(await readdir(join(f.stateDir, 'drc-scratch')).catch(() => [])).toEqual([]);
}

/** A stopped postmaster may linger as a zombie until init reaps it: that is not running. */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

async function restoreTestEvents(f: Fixture): Promise<Record<string, string[]>> {
  return withRepositorySet(await createContext({ configPath: f.config.path }), undefined, async (set) => {
    const found: Record<string, string[]> = {};
    for (const repository of set.repositories) {
      found[repository.name] = [];
      for (const object of await repository.target.list('events/')) {
        const event = await repository.readEvent(object.name);
        if (event.type === 'restore-test') found[repository.name]?.push(event.id);
      }
    }
    return found;
  });
}

/** Flips one byte in the middle of a stored object, in place (its AES-GCM tag no longer matches). */
async function flipByte(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const { size } = await handle.stat();
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, Math.floor(size / 2));
    byte[0] = (byte[0] ?? 0) ^ 0xff;
    await handle.write(byte, 0, 1, Math.floor(size / 2));
  } finally {
    await handle.close();
  }
}

describe.each([15, 17] as TestMajor[])('restore test of a healthy backup on PostgreSQL %i', (major) => {
  let f: Fixture;
  let backupId: string;

  beforeAll(async () => {
    f = await fixture(major);
    await f.source.sql('CREATE TABLE guests (id serial PRIMARY KEY, name text NOT NULL, note text)');
    await f.source.sql("INSERT INTO guests (name, note) SELECT 'guest ' || g, repeat('n', g % 50) FROM generate_series(1, 3000) g");
    await f.source.sql('CREATE INDEX ON guests (name)');
    await f.source.sql('CREATE MATERIALIZED VIEW guest_count AS SELECT count(*) AS n FROM guests');
    // A tablespace: the scratch copy must keep it inside its own directory.
    const tablespace = join(f.root, 'tablespace');
    await mkdir(tablespace);
    const ids = runAsUnprivileged();
    if (ids) await chown(tablespace, ids.uid, ids.gid);
    await f.source.sql(`CREATE TABLESPACE seating_space LOCATION '${tablespace}'`);
    await f.source.sql('CREATE TABLE seating (guest int PRIMARY KEY, seat text) TABLESPACE seating_space');
    await f.source.sql("INSERT INTO seating SELECT g, 'table ' || g % 30 FROM generate_series(1, 200) g");
    await f.source.sql('CREATE DATABASE vendors');
    const vendors = new pg.Client({ ...f.source.connection, database: 'vendors' });
    await vendors.connect();
    await vendors.query("CREATE TABLE vendor (id int PRIMARY KEY, name text); INSERT INTO vendor SELECT g, 'vendor ' || g FROM generate_series(1, 40) g");
    await vendors.end();
    expect((await drc(['backup', '--config', f.config.path])).code).toBe(0);
    if (major >= 17) {
      // A native incremental backup: the manifest check must cope with INCREMENTAL.* files.
      await f.source.sql("UPDATE guests SET note = 'changed' WHERE id % 10 = 0");
      const incremental = await drc(['backup', '--type', 'incremental', '--config', f.config.path, '--json']);
      expect(incremental.code).toBe(0);
      expect(incremental.json<{ nativeIncremental: boolean }>().nativeIncremental).toBe(true);
    }
    backupId = (await drc(['list', '--config', f.config.path, '--json'])).json<{ backups: Array<{ id: string }> }>().backups.at(-1)?.id ?? '';
    // Written after the backup: only WAL replay brings these back.
    await f.source.sql("INSERT INTO guests (name) SELECT 'late ' || g FROM generate_series(1, 500) g");
    await archiveWal(f);
  });

  afterAll(async () => {
    await f.source.remove();
    await rm(f.root, { recursive: true, force: true });
  });

  it('passes: every check, every table and row counted, recorded in every repository, scratch removed', async () => {
    const { code, record } = await restoreTest(f, ['--latest']);
    expect(record.errorsFound).toEqual([]);
    expect(code).toBe(0);
    expect(record).toMatchObject({ success: true, backupId, dataLossDetected: false, target: { kind: 'latest' }, recordedIn: ['nas', 'usb'] });
    expect(record.checks.map((check) => [check.name, check.status])).toEqual([
      ['restore', 'passed'],
      ['chunks', 'passed'],
      ['manifest-checksums', 'passed'],
      ['start', 'passed'],
      ['recovery', 'passed'],
      ['amcheck', 'passed'],
      ['read-tables', 'passed'],
    ]);
    if (major >= 17) expect(record.checks.find((check) => check.name === 'manifest-checksums')?.detail).toMatch(/[1-9]\d* rewritten on purpose/);
    expect(record.binaries.version.startsWith(`${String(major)}.`)).toBe(true);
    expect(record.databases).toEqual(['postgres', 'template1', 'vendors']);
    expect(record.tables).toEqual(
      expect.arrayContaining([
        { database: 'postgres', schema: 'public', name: 'guests', kind: 'table', rows: 3500, indexesChecked: 2 },
        { database: 'postgres', schema: 'public', name: 'guest_count', kind: 'materialized view', rows: 1, indexesChecked: 0 },
        { database: 'postgres', schema: 'public', name: 'seating', kind: 'table', rows: 200, indexesChecked: 1 },
        { database: 'vendors', schema: 'public', name: 'vendor', kind: 'table', rows: 40, indexesChecked: 1 },
      ]),
    );
    expect(record.rowsVerified).toBe(3741);
    // Catalogs are checked too: far more heaps and indexes than the three user tables have.
    expect(record.heapsChecked).toBeGreaterThan(50);
    expect(record.indexesChecked).toBeGreaterThan(100);
    expect(record.restoreDurationMs).toBeGreaterThan(0);
    expect(record.recoveryDurationMs).toBeGreaterThan(0);
    expect(record.recoveredTo?.lastCommitTime).toBeDefined();
    await expectCleanedUp(f, record);
    const events = await restoreTestEvents(f);
    expect(events.nas).toContain(record.id);
    expect(events.usb).toContain(record.id);
  });
});

describe('restore test failures (PostgreSQL 15)', () => {
  let f: Fixture;
  let relationChunk: string;
  let walAfterBackup: string[];
  let betweenBatches: string;

  beforeAll(async () => {
    f = await fixture(15);
    await f.source.sql('CREATE TABLE invoices (id int PRIMARY KEY, payload text)');
    await f.source.sql("INSERT INTO invoices SELECT g, md5(g::text) || repeat('z', 60) FROM generate_series(1, 20000) g");
    expect((await drc(['backup', '--config', f.config.path])).code).toBe(0);
    await archiveWal(f);
    walAfterBackup = [];
    for (const batch of [1, 2]) {
      await f.source.sql(`INSERT INTO invoices SELECT g, 'batch ${String(batch)}' FROM generate_series(${String(batch * 100_000)}, ${String(batch * 100_000 + 999)}) g`);
      walAfterBackup.push(...(await archiveWal(f)));
      if (batch === 1) {
        // A recovery target after batch 1 and before batch 2 (whose commit tells recovery it got there).
        await sleep(50);
        betweenBatches = (await f.source.sql<{ now: Date }>('SELECT clock_timestamp() AS now'))[0]?.now.toISOString() ?? '';
        await sleep(50);
      }
    }
    // The invoices table is well over the bundling threshold: its file has chunks of its own.
    const [file] = await f.source.sql<{ path: string }>("SELECT pg_relation_filepath('invoices') AS path");
    relationChunk = await withRepositorySet(await createContext({ configPath: f.config.path }), 'nas', async (set) => {
      const repository = set.repositories[0];
      const id = (await repository?.listBackupIds())?.at(-1) ?? '';
      const manifest = await repository?.readManifest(id);
      return manifest?.files.find((entry) => entry.path === file?.path)?.chunks[0]?.id ?? '';
    });
    expect(relationChunk).toMatch(/^[0-9a-f]{64}$/);
  });

  afterAll(async () => {
    await f.source.remove();
    await rm(f.root, { recursive: true, force: true });
  });

  const chunkPath = (repository: 'nas' | 'usb'): string => join(f.config.repositories[repository] ?? '', ...chunkObjectName(relationChunk).split('/'));

  it('fails on a flipped byte in a relation chunk that no other copy can repair, naming the chunk; passes with a warning while another copy is good', async () => {
    await flipByte(chunkPath('nas'));
    try {
      // --from nas: this copy alone, no fallback to usb.
      const alone = await restoreTest(f, ['--from', 'nas']);
      expect(alone.code).toBe(1);
      expect(alone.record.success).toBe(false);
      expect(alone.record.errorsFound).toEqual([{ check: 'chunks', message: expect.stringContaining(chunkObjectName(relationChunk)) as unknown }]);
      expect(alone.record.errorsFound[0]?.message).toMatch(/nas: .*authenticat/i);
      expect(alone.record.failure).toMatchObject({ code: 'RESTORE_TEST_FAILED', message: expect.stringContaining('unable to prove backup') as unknown });
      expect(alone.record.checks.filter((check) => check.status === 'failed').map((check) => check.name)).toEqual(['restore', 'chunks']);
      expect(alone.record.checks.filter((check) => check.status === 'skipped').map((check) => check.name)).toEqual(['manifest-checksums', 'start', 'recovery', 'amcheck', 'read-tables']);
      await expectCleanedUp(f, alone.record);

      // Both repositories: the restore reads usb's good copy and says nas's is damaged.
      const both = await restoreTest(f);
      expect(both.code).toBe(0);
      expect(both.record.checks.find((check) => check.name === 'chunks')).toMatchObject({ status: 'warning' });
      expect(both.record.warnings.join('\n')).toContain(`${chunkObjectName(relationChunk)}: unusable in 'nas'`);
      await expectCleanedUp(f, both.record);

      await flipByte(chunkPath('usb'));
      try {
        const none = await restoreTest(f);
        expect(none.code).toBe(1);
        expect(none.record.errorsFound[0]).toMatchObject({ check: 'chunks', message: expect.stringContaining(chunkObjectName(relationChunk)) as unknown });
        expect(none.record.errorsFound[0]?.message).toMatch(/usb: /);
        await expectCleanedUp(f, none.record);
      } finally {
        await flipByte(chunkPath('usb'));
      }
    } finally {
      await flipByte(chunkPath('nas'));
    }
  });

  it('fails the restore, naming the segment, when a WAL segment is damaged in every repository (never a silent stop at it)', async () => {
    const damaged = walSegmentObject(1, walAfterBackup[0] ?? '');
    const paths = (['nas', 'usb'] as const).map((repository) => join(f.config.repositories[repository] ?? '', ...damaged.split('/')));
    for (const path of paths) await flipByte(path);
    try {
      const restored = await drc(['restore', '--latest', '--target-dir', join(f.root, 'damaged-wal'), '--config', f.config.path]);
      expect(restored.code).toBe(1);
      // Every copy exists and fails authentication: damaged, not missing.
      expect(restored.stderr).toContain('OBJECT_CORRUPT');
      expect(restored.stderr).toContain(damaged);
      const tested = await restoreTest(f);
      expect(tested.code).toBe(1);
      // The restore test files every object no copy authenticates under its "chunks" check; the message names the segment.
      expect(tested.record.errorsFound[0]).toMatchObject({ check: 'chunks', message: expect.stringContaining(damaged) as unknown });
      await expectCleanedUp(f, tested.record);
    } finally {
      for (const path of paths) await flipByte(path);
    }
  });

  it('fails with data loss when a WAL segment is missing in every repository, to the latest WAL and to a time past the hole', async () => {
    const missing = walAfterBackup[0] ?? '';
    expect(walAfterBackup.length).toBeGreaterThanOrEqual(2);
    const objects = [walSegmentObject(1, missing), walSummaryObject(1, missing)];
    const moves = (['nas', 'usb'] as const).flatMap((repository) => objects.map((object) => join(f.config.repositories[repository] ?? '', ...object.split('/'))));
    for (const path of moves) await rename(path, `${path}.away`);
    try {
      const latest = await restoreTest(f);
      expect(latest.code).toBe(1);
      expect(latest.record.dataLossDetected).toBe(true);
      expect(latest.record.errorsFound).toEqual([{ check: 'recovery', message: expect.stringContaining(`segment ${missing} is missing in every repository`) as unknown }]);
      // The backup itself is fine: the copy started and its tables were checked.
      expect(latest.record.checks.find((check) => check.name === 'amcheck')?.status).toBe('passed');
      await expectCleanedUp(f, latest.record);

      const pastTheHole = await restoreTest(f, ['--time', betweenBatches]);
      expect(pastTheHole.code).toBe(1);
      expect(pastTheHole.record.dataLossDetected).toBe(true);
      expect(pastTheHole.record.errorsFound[0]).toMatchObject({ check: 'restore', message: expect.stringContaining('gap') as unknown });
      await expectCleanedUp(f, pastTheHole.record);
    } finally {
      for (const path of moves) await rename(`${path}.away`, path);
    }
    const healthy = await restoreTest(f, ['--time', betweenBatches]);
    expect(healthy.record.errorsFound).toEqual([]);
    expect(healthy.record.tables.find((table) => table.name === 'invoices')?.rows).toBe(21000);
  });

  it('cleans up, on the next run, the scratch instance of a drc killed mid-test', async () => {
    const scratchStates = join(f.stateDir, 'drc-scratch');
    const child = spawn(process.execPath, [drcBinary, 'restore-test', '--config', f.config.path, '--json'], { stdio: 'ignore', env: { ...process.env } });
    const exited = new Promise((done) => child.on('exit', done));
    let directory: string | undefined;
    let postmasterPid: number | undefined;
    const deadline = Date.now() + 60_000;
    while (postmasterPid === undefined && Date.now() < deadline) {
      const [state] = await readdir(scratchStates).catch(() => [] as string[]);
      // The state file may be caught half-written: read it again on the next turn.
      if (state !== undefined) directory ??= parseState(await readFile(join(scratchStates, state), 'utf8').catch(() => '')).directory;
      const pid = directory === undefined ? undefined : Number((await readFile(join(directory, 'data', 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
      if (pid !== undefined && pid > 0) postmasterPid = pid;
      else await sleep(20);
    }
    child.kill('SIGKILL');
    await exited;
    expect(postmasterPid).toBeDefined();
    expect(existsSync(directory ?? '')).toBe(true);
    expect(processRuns(postmasterPid ?? 0)).toBe(true);

    const { code, record } = await restoreTest(f);
    expect(code).toBe(0);
    expect(record.leftoversRemoved).toEqual([expect.objectContaining({ purpose: 'restore-test', directory, stoppedServer: true, ownerPid: child.pid })]);
    expect(existsSync(directory ?? '')).toBe(false);
    expect(processRuns(postmasterPid ?? 0)).toBe(false);
    await expectCleanedUp(f, record);
  });

  it("finds a restored file that differs from the server's backup_manifest", async () => {
    const target = join(f.root, 'restored-for-checksums');
    const restored = await drc(['restore', '--config', f.config.path, '--target-dir', target, '--immediate', '--json']);
    expect(restored.code).toBe(0);
    const report = restored.json<RestoreReport>();
    const serverManifest = await withRepositorySet(await createContext({ configPath: f.config.path }), 'nas', async (set) => {
      const repository = set.repositories[0];
      if (!repository) throw new Error('nas is not open');
      return readServerManifest(repository, await repository.readManifest(report.backupId));
    });
    expect(await checkServerManifest(target, serverManifest ?? Buffer.alloc(0), { nativeIncremental: false, inPlaceTablespaces: false })).toMatchObject({ mismatches: [] });
    // Same size, other bytes: only the checksum can tell.
    await writeFile(join(target, 'PG_VERSION'), '14\n');
    await rm(join(target, 'global', 'pg_control'));
    const checked = await checkServerManifest(target, serverManifest ?? Buffer.alloc(0), { nativeIncremental: false, inPlaceTablespaces: false });
    expect(checked.mismatches).toEqual([expect.stringMatching(/^PG_VERSION: CRC32C checksum [0-9a-f]{8}, the server's manifest says [0-9a-f]{8}$/), 'global/pg_control: missing']);
    await rm(target, { recursive: true, force: true });
  });
});

function parseState(text: string): { directory?: string } {
  try {
    return JSON.parse(text) as { directory?: string };
  } catch {
    return {};
  }
}
