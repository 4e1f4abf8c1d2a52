import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventExportRequestSchema, eventQuerySchema, type EventExportRequest, type EventQuery } from '../../src/shared/contract/events.js';
import { contract } from '../../src/shared/contract/index.js';
import { planRequestSchema, type PlanRequest } from '../../src/shared/contract/recovery.js';
import type { ArchiverStatus } from '../../src/main/engines/wal/archiver.js';
import { parseLsn } from '../../src/main/postgres/lsn.js';
import { createContext } from '../../src/main/services/context.js';
import { createServices, type ConsoleServices } from '../../src/main/services/index.js';
import { streamWalForever } from '../../src/main/services/wal.js';
import { drc } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, stopAllClusters, type TestCluster } from '../support/postgres.js';

process.env.DRC_TEST_PASSPHRASE = 'read side test';
afterAll(stopAllClusters);

/**
 * The console's read side through `createServices`, over a real PostgreSQL 15 and two
 * local repositories (a NAS directory and a removable stick): a backup, WAL streamed
 * while rows are written, a named restore point — then the timeline, the restore plan,
 * the backups list and the event log see exactly that.
 */
describe('read-side services over a real cluster and two repositories', () => {
  let cluster: TestCluster;
  let root: string;
  let config: DrcTestConfig;
  let services: ConsoleServices;
  let lastCommit: Date;
  let restorePointTime: Date;
  // Requests as a host hands them over: parsed by the contract, defaults filled in.
  const plan = (request: PlanRequest) => services.recovery.plan(planRequestSchema.parse(request));
  const query = (request: EventQuery) => services.events.query(eventQuerySchema.parse(request));
  const exported = (request: EventExportRequest) => services.events.export(eventExportRequestSchema.parse(request));

  beforeAll(async () => {
    cluster = await startCluster({ major: 15 });
    root = await makeTempDir('drc-read-side-');
    config = await writeTestConfig(root, cluster);
    await cluster.sql('CREATE TABLE guests (id serial PRIMARY KEY, name text)');
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    expect((await drc(['backup', '--config', config.path, '--reason', 'before the seating import'])).code).toBe(0);
    const controller = new AbortController();
    let latest: ArchiverStatus | undefined;
    const archiver = streamWalForever(await createContext({ configPath: config.path }), { signal: controller.signal, onStatus: (status) => (latest = { ...status }) });
    archiver.catch(() => undefined);
    try {
      await sleep(1100);
      await cluster.sql("INSERT INTO guests (name) SELECT 'guest ' || g FROM generate_series(1, 200) g");
      expect((await drc(['restore-point', 'before-seating', '--config', config.path])).code).toBe(0);
      restorePointTime = new Date();
      await sleep(1100);
      await cluster.sql("INSERT INTO guests (name) SELECT 'late guest ' || g FROM generate_series(1, 50) g");
      const [after] = await cluster.sql<{ at: Date; lsn: string }>('SELECT clock_timestamp() AS at, pg_current_wal_lsn()::text AS lsn');
      lastCommit = after?.at ?? new Date();
      // The partial segment is uploaded every few seconds while WAL flows: wait until the last commit is stored.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const stored = latest?.storedLsn;
        if (stored !== undefined && parseLsn(stored) >= parseLsn(after?.lsn ?? '0/0')) break;
        await sleep(250);
      }
    } finally {
      controller.abort();
      await archiver;
    }
    services = await createServices({ configPath: config.path });
  });

  afterAll(async () => {
    await services.operationRegistry.cancelAll();
    await cluster.remove();
    await rm(root, { recursive: true, force: true });
  });

  it('draws the backup, the restore point and one continuous recoverable window per repository', async () => {
    const timeline = contract.recovery.timeline.output.parse(await services.recovery.timeline({ days: 1 }));
    const backup = timeline.backups[0];
    expect(timeline.backups).toHaveLength(1);
    expect(backup).toMatchObject({ type: 'full', repositories: ['nas', 'usb'] });
    expect(timeline.markers.map((marker) => `${marker.kind} ${marker.label}`)).toEqual(['backup full backup — before the seating import', "restore-point restore point 'before-seating'"]);
    expect(timeline.markers[1]).toMatchObject({ name: 'before-seating', repositories: ['nas', 'usb'] });
    for (const repository of timeline.repositories) {
      expect(repository).toMatchObject({ reachable: true, gaps: [] });
      expect(repository.windows).toHaveLength(1);
      expect(repository.windows[0]?.from).toBe(backup?.stoppedAt);
      // The newest commit stored is the last insert (commit times are the server's, to the microsecond).
      expect(Date.parse(repository.windows[0]?.to ?? '')).toBeGreaterThanOrEqual(lastCommit.getTime() - 1000);
    }
    expect(timeline.earliest).toBe(backup?.stoppedAt);
    expect(timeline.walBytesPerSecond).toBeGreaterThan(0);
  });

  it('plans a restore to the restore point as ready from either repository, and refuses a directory that is not empty', async () => {
    const ready = contract.recovery.plan.output.parse(await plan({ mode: 'cluster', target: { kind: 'name', name: 'before-seating' }, targetDir: join(root, 'restored') }));
    expect(ready.ready).toBe(true);
    expect(ready.backupId).toBe((await services.backups.list({})).backups[0]?.id);
    expect(ready.walSegments).toBeGreaterThan(0);
    expect(ready.repositories.map((entry) => [entry.repository, entry.canServe])).toEqual([
      ['nas', true],
      ['usb', true],
    ]);
    expect(ready.checks.map((check) => `${check.name} ${String(check.ok)}`)).toEqual(['target-directory true', 'no-server-running true', 'writable true', 'free-space true']);

    const occupied = join(root, 'occupied');
    await mkdir(occupied);
    await writeFile(join(occupied, 'PG_VERSION'), '15\n');
    const refused = await plan({ mode: 'cluster', target: { kind: 'time', time: restorePointTime.toISOString() }, targetDir: occupied });
    expect(refused.ready).toBe(false);
    expect(refused.checks.find((check) => check.name === 'target-directory')).toMatchObject({ ok: false, hint: expect.stringContaining('never overwrites') as string });
    // The dry run wrote nothing: the directory it would have refused holds what it held.
    expect(await readdir(occupied)).toEqual(['PG_VERSION']);

    // A parent that does not exist: the restore would refuse it, so the plan is not ready either.
    const orphan = await plan({ mode: 'cluster', target: { kind: 'time', time: restorePointTime.toISOString() }, targetDir: join(root, 'no-such-parent', 'restore') });
    expect(orphan.ready).toBe(false);
    expect(orphan.checks).toEqual([expect.objectContaining({ name: 'writable', ok: false })]);
  });

  it('lists the backup with its reason, copies in both repositories and its components', async () => {
    const list = contract.backups.list.output.parse(await services.backups.list({}));
    expect(list.unreachable).toEqual([]);
    expect(list.backups).toHaveLength(1);
    const [backup] = list.backups;
    expect(backup).toMatchObject({ type: 'full', reason: 'before the seating import', components: ['database'], copies: [{ repository: 'nas', state: 'present' }, { repository: 'usb', state: 'present' }] });
    // Two local repositories, neither offsite: not 3-2-1, and it says why.
    expect(backup?.compliance.shortfalls).toContain('no copy offsite');
    const detail = await services.backups.detail({ backupId: backup?.id ?? '' });
    expect(detail).toMatchObject({ id: backup?.id, attachments: [], restoreTests: [] });
    await expect(services.backups.detail({ backupId: 'no-such-backup' })).rejects.toMatchObject({ code: 'BACKUP_NOT_FOUND' });
    expect(await services.restoreTests.history({})).toEqual([]);
  });

  it('filters the event log and exports it as JSON and as CSV', async () => {
    const all = await query({});
    expect(all.types).toEqual(['backup', 'restore-point']);
    expect(all.events.map((event) => event.type)).toEqual(['restore-point', 'backup']);
    const backups = await query({ types: ['backup'], outcomes: ['success'] });
    expect(backups.events).toHaveLength(1);
    expect(backups.events[0]?.repositories).toEqual(['nas', 'usb']);
    expect((await query({ until: '2000-01-01T00:00:00Z' })).events).toEqual([]);
    const limited = await query({ limit: 1 });
    expect(limited).toMatchObject({ truncated: true, events: [{ type: 'restore-point' }] });

    const json = await exported({ format: 'json', types: ['restore-point'] });
    expect(json.mediaType).toBe('application/json');
    expect((JSON.parse(json.content) as Array<{ details: { name: string } }>).map((event) => event.details.name)).toEqual(['before-seating']);
    const csv = await exported({ format: 'csv' });
    expect(csv.fileName).toMatch(/\.csv$/);
    const lines = csv.content.split('\r\n');
    expect(lines[0]).toBe('"time","type","outcome","operator","host","summary","repositories","id"');
    expect(lines).toHaveLength(4);
    expect(lines[2]).toContain('"backup","success"');
  });
});
