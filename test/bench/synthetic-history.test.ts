import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticPassphraseVariable, writeSyntheticHistory, type SyntheticHistory } from '../../bench/support/synthetic-history.js';
import { listBackups } from '../../src/main/engines/backup/catalog.js';
import { selectBackup } from '../../src/main/engines/restore/select.js';
import { WalCatalog } from '../../src/main/engines/wal/catalog.js';
import { createContext, withRepositorySet, type ServiceContext } from '../../src/main/services/context.js';
import { inventory } from '../../src/main/services/backup.js';
import { listEvents } from '../../src/main/services/events.js';
import { healthReport } from '../../src/main/services/status.js';
import { recoveryTimeline } from '../../src/main/services/timeline.js';
import { restoreTestRecordSchema } from '../../src/shared/contract/restore-test.js';
import { tempDirectory } from '../support/temp.js';

/**
 * The console bench's history must be what the engines write: if the repository format
 * moves on and the generator does not, these readers stop seeing it here rather than the
 * bench silently timing an empty repository.
 */
describe('synthetic history for the console bench', () => {
  // Saturday noon: the two days hold two daily fulls, one Saturday verify and no archive.
  const end = new Date('2026-06-13T12:00:00Z');
  let root: Awaited<ReturnType<typeof tempDirectory>>;
  let history: SyntheticHistory;
  let context: ServiceContext;
  const previous = process.env[syntheticPassphraseVariable];

  beforeAll(async () => {
    process.env[syntheticPassphraseVariable] = 'synthetic history test';
    root = await tempDirectory('drc-synthetic-');
    history = await writeSyntheticHistory({ directory: root.path, days: 2, end, scrypt: { N: 2 ** 10, r: 8, p: 1 }, concurrency: 16 });
    context = await createContext({ configPath: history.configPath });
  });

  afterAll(async () => {
    await root.remove();
    if (previous === undefined) delete process.env[syntheticPassphraseVariable];
    else process.env[syntheticPassphraseVariable] = previous;
  });

  it('writes the counts a 2-day span calls for', () => {
    expect(history.counts).toMatchObject({ fullBackups: 2, archiveBackups: 0, restorePoints: 48, restoreTests: 2, walSegments: 1000 });
    // 2,000 events per 30 days.
    expect(history.counts.events).toBe(133);
  });

  it('lists every backup in both repositories, with restore points and an unbroken WAL window', async () => {
    const found = await inventory(context);
    expect(found.unreachable).toEqual([]);
    expect(found.backups.map((backup) => [backup.type, backup.copies])).toEqual([
      ['full', ['nas', 'usb']],
      ['full', ['nas', 'usb']],
    ]);
    expect(found.restorePoints).toHaveLength(48);
    expect(found.restorePoints.at(-1)).toMatchObject({ name: 'drc-2026-06-13T12:00:00Z', time: '2026-06-13T12:00:00.000Z' });
    for (const wal of found.wal) {
      expect(wal).toMatchObject({ segments: 1000, partialSegments: 0, gaps: [], timelines: [1] });
      expect(wal.recoveryWindow?.earliest).toBe(found.backups[0]?.stoppedAt);
      expect(Date.parse(wal.recoveryWindow?.latest ?? '')).toBeGreaterThan(end.getTime() - 60_000);
    }
  });

  it('carries the restore points in the WAL summaries too', async () => {
    const names = await withRepositorySet(context, 'nas', async (set) => {
      const catalog = await WalCatalog.load(set.repositories, 16 * 1024 * 1024);
      const points: string[] = [];
      for (const holding of catalog.segments(1)) points.push(...((await catalog.summary(1, holding, false))?.restorePoints.map((point) => point.name) ?? []));
      return points;
    });
    expect(names).toHaveLength(48);
    expect(names[0]).toBe('drc-2026-06-11T13:00:00Z');
  });

  it('records events the history readers accept, restore tests as full records', async () => {
    const history = await listEvents(context);
    expect(history.unreadable).toEqual([]);
    expect(history.events).toHaveLength(133);
    expect(history.events.every((event) => event.repositories.length === 2)).toBe(true);
    const types = new Set(history.events.map((event) => event.type));
    expect([...types].sort()).toEqual(['backup', 'restore', 'restore-point', 'restore-test', 'sync', 'verify']);
    const tests = history.events.filter((event) => event.type === 'restore-test');
    for (const test of tests) expect(restoreTestRecordSchema.omit({ recordedIn: true }).parse(test.details).id).toBe(test.id);
  });

  it('gives a status report without a configured cluster', async () => {
    const report = await healthReport(context, { now: end });
    expect(report.cluster).toBeUndefined();
    expect(report.repositories.map((repository) => [repository.repository, repository.state])).toEqual([
      ['nas', 'ok'],
      ['usb', 'ok'],
    ]);
    expect(report.objectives.rpo.met).toBe(true);
    expect(report.objectives.rto.estimateSeconds).toBeGreaterThan(0);
  });

  it('gives the recovery timeline its backups, restore points, restore tests and an unbroken window', async () => {
    const timeline = await recoveryTimeline(context, { days: 2 }, { now: end });
    expect(timeline.backups).toHaveLength(2);
    const count = (kind: string): number => timeline.markers.filter((marker) => marker.kind === kind).length;
    expect(count('restore-point')).toBe(48);
    expect(count('restore-test')).toBe(2);
    for (const repository of timeline.repositories) {
      expect(repository).toMatchObject({ reachable: true, gaps: [] });
      expect(repository.windows).toHaveLength(1);
    }
  });
});

/**
 * The WAL catalog bench's history: 5,000 segments a day in one repository, written without
 * per-object fsync. Read back through the real local driver and services, it must be the
 * same format: every segment listed with its summary, restore points found by selection.
 */
describe('synthetic history for the WAL catalog bench', () => {
  const end = new Date('2026-06-13T12:00:00Z');
  let root: Awaited<ReturnType<typeof tempDirectory>>;
  let history: SyntheticHistory;
  let context: ServiceContext;
  const previous = process.env[syntheticPassphraseVariable];

  beforeAll(async () => {
    process.env[syntheticPassphraseVariable] = 'synthetic catalog history test';
    root = await tempDirectory('drc-synthetic-catalog-');
    history = await writeSyntheticHistory({ directory: root.path, days: 1, end, scrypt: { N: 2 ** 10, r: 8, p: 1 }, segmentsPerDay: 5000, removableCopy: false, durable: false });
    context = await createContext({ configPath: history.configPath });
  });

  afterAll(async () => {
    await root.remove();
    if (previous === undefined) delete process.env[syntheticPassphraseVariable];
    else process.env[syntheticPassphraseVariable] = previous;
  });

  it('configures and writes the local repository alone, at 5,000 segments a day', async () => {
    expect(history.copies).toEqual(['nas']);
    expect(history.counts).toMatchObject({ walSegments: 5000, restorePoints: 24 });
    expect(JSON.parse(await readFile(history.configPath, 'utf8'))).toMatchObject({ repositories: [{ name: 'nas', type: 'local' }] });
    const found = await inventory(context);
    expect(found.backups.map((backup) => backup.copies)).toEqual([['nas']]);
    expect(found.wal).toEqual([expect.objectContaining({ repository: 'nas', segments: 5000, partialSegments: 0, gaps: [] })]);
  });

  it('lets restore selection find the newest restore point and a time after the backup of the day', async () => {
    const plans = await withRepositorySet(context, undefined, async (set) => {
      const backups = await listBackups(set.repositories);
      const catalog = await WalCatalog.load(set.repositories, 16 * 1024 * 1024);
      return {
        byName: await selectBackup(backups, { kind: 'name', name: 'drc-2026-06-13T12:00:00Z' }, catalog),
        byTime: await selectBackup(backups, { kind: 'time', time: '2026-06-13T06:00:00Z' }, catalog),
      };
    });
    // The newest point sits in the last of 5,000 segments after 0x100: segment 0x1487.
    expect(plans.byName.walUntilLsn).toBeDefined();
    expect((plans.byName.walUntilLsn ?? 0n) / BigInt(16 * 1024 * 1024)).toBe(0x100n + 4999n);
    expect(plans.byTime.backup.record.stoppedAt < '2026-06-13T06:00:00Z').toBe(true);
  });
});
