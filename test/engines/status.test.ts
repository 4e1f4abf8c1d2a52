import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectivesConfigSchema } from '../../src/shared/config.js';
import type { BackupRecord } from '../../src/main/repo/backup-record.js';
import type { SchedulerOverview } from '../../src/shared/contract/schedule.js';
import { schedulerStateSchema } from '../../src/main/engines/scheduler/state.js';
import type { HealthReport } from '../../src/shared/contract/status.js';
import type { CatalogEntry } from '../../src/main/engines/backup/catalog.js';
import type { RepositoryWalStatus } from '../../src/main/engines/wal/status.js';
import type { RepositoryEvent } from '../../src/main/repo/events.js';
import type { HistoryEvent } from '../../src/main/services/events.js';
import { parseSince } from '../../src/main/services/events.js';
import { compliance321 } from '../../src/main/engines/health/compliance.js';
import type { HealthInput, RepositoryObservation } from '../../src/main/engines/health/input.js';
import { computeObjectives } from '../../src/main/engines/health/objectives.js';
import { buildHealthReport } from '../../src/main/engines/health/report.js';
import { drc } from '../support/cli.js';
import { drcUntilStopped } from '../support/cli-until-stopped.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, stopAllClusters, type TestCluster } from '../support/postgres.js';

const now = new Date('2026-06-18T09:00:00.000Z');
const minutesAgo = (count: number): string => new Date(now.getTime() - count * 60_000).toISOString();
const daysAgo = (count: number): string => minutesAgo(count * 24 * 60);
const gib = 1024 ** 3;

function backupEntry(id: string, stoppedAt: string, repositories: string[], bytesRead: number, recordedIn = repositories): CatalogEntry {
  const record: BackupRecord = {
    id,
    type: 'full',
    reason: 'scheduled daily full backup',
    operator: 'dba',
    host: 'ws1',
    cluster: 'wedsync',
    startedAt: stoppedAt,
    stoppedAt,
    startLsn: '0/2000028',
    stopLsn: '0/2000100',
    timeline: 1,
    serverVersion: '15.8',
    serverVersionNum: 150008,
    systemId: '7000000000000000001',
    walSegmentSize: 16 * 1024 * 1024,
    bytesRead,
    bytesNew: bytesRead,
    bytesStored: bytesRead / 3,
    durationMs: 60_000,
    files: 1000,
    nativeIncremental: false,
    tablespaces: [],
    repositories: recordedIn,
    missingCopies: [],
  };
  return { record, repositories };
}

function wal(repository: string, latest: string | undefined, newestLsn = '0/5000000', gaps: RepositoryWalStatus['gaps'] = []): RepositoryWalStatus {
  return {
    repository,
    segments: 4,
    partialSegments: 1,
    storedBytes: 5 * 16 * 1024 * 1024,
    timelines: [1],
    newestLsn,
    newestCommitTime: latest,
    newestSegment: '000000010000000000000005',
    gaps,
    recoveryWindow: latest === undefined ? undefined : { earliest: daysAgo(2), latest },
  };
}

function event(type: string, outcome: RepositoryEvent['outcome'], time: string, details: Record<string, unknown> = {}, summary = `${type} ${outcome}`): RepositoryEvent {
  return { id: `${type}-${time}`, time, type, outcome, operator: 'dba', host: 'ws1', summary, details };
}

const nas: RepositoryObservation = { repository: 'nas', media: 'fixed', offsite: false, state: 'ok', bytesUsed: 10 * gib };
const usb: RepositoryObservation = { repository: 'usb', media: 'removable', offsite: false, state: 'ok', bytesUsed: 9 * gib, medium: { id: 'a1b2', name: 'usb', firstUsed: daysAgo(90) } };
const s3: RepositoryObservation = { repository: 's3', media: 'cloud', offsite: true, state: 'ok', bytesUsed: 9 * gib };
const schedulerRunning: SchedulerOverview = { scheduler: { running: true, pid: 4242, host: 'ws1', since: daysAgo(1) }, statePath: '/var/lib/drc/scheduler-wedsync.json', jobs: [] };

/** A well-kept setup: three repositories, WAL seconds old everywhere, a recent passing restore test. */
function healthyInput(overrides: Partial<HealthInput> = {}): HealthInput {
  return {
    now,
    objectives: objectivesConfigSchema.parse({}),
    cluster: { name: 'wedsync', reachable: true, flushLsn: '0/5000100', databaseBytes: 1 * gib, slot: { name: 'dr_console', active: true, retainedBytes: 2 * 1024 * 1024, walStatus: 'reserved' } },
    repositories: [nas, usb, s3],
    backups: [backupEntry('b1', daysAgo(1), ['nas', 's3', 'usb'], 1 * gib)],
    wal: [wal('nas', minutesAgo(0.1)), wal('usb', minutesAgo(0.1)), wal('s3', minutesAgo(0.2))],
    events: [
      event('backup', 'success', daysAgo(1), { repositories: ['nas', 's3', 'usb'] }),
      event('verify', 'success', daysAgo(2), { repositories: [{ repository: 'nas', problems: 0, repaired: 0 }, { repository: 'usb', problems: 0, repaired: 0 }, { repository: 's3', problems: 0, repaired: 0 }] }),
      event('restore-test', 'success', minutesAgo(20 * 60), { backupId: 'b1', durationMs: 20 * 60_000 }),
    ],
    schedule: schedulerRunning,
    ...overrides,
  };
}

const codes = (report: HealthReport): string[] => report.alerts.map((alert) => `${alert.severity} ${alert.code}${alert.repository ? ` ${alert.repository}` : ''}`);

describe('objectives and alerts (pure)', () => {
  it('raises no alert for a setup that meets every objective and keeps 3-2-1', () => {
    const report = buildHealthReport(healthyInput());
    expect(report.alerts).toEqual([]);
    expect(report.objectives.rpo).toMatchObject({ goalSeconds: 3600, seconds: 6, met: true });
    expect(report.objectives.rto).toMatchObject({ goalSeconds: 14_400, estimateSeconds: 1200, met: true, basedOn: { backupId: 'b1', durationSeconds: 1200, testedBytes: gib, currentBytes: gib } });
    expect(report.compliance.configuration).toEqual({ copies: 4, mediaKinds: ['cloud', 'fixed', 'removable'], offsite: true, compliant: true, shortfalls: [] });
    expect(report.compliance.recoveryPoints[0]).toMatchObject({ backupId: 'b1', compliance: { compliant: true }, lastRestoreTest: { outcome: 'success' } });
    expect(report.backups).toEqual({ windowDays: 30, succeeded: 1, partial: 0, failed: 0, successRate: 1 });
  });

  it('counts 3-2-1 with production as a copy on fixed media', () => {
    expect(compliance321([{ media: 'fixed', offsite: false }])).toEqual({
      copies: 2,
      mediaKinds: ['fixed'],
      offsite: false,
      compliant: false,
      shortfalls: ['2 copies counting production, 3 needed', 'one kind of media only (add a removable drive or a cloud repository)', 'no copy offsite'],
    });
    expect(compliance321([{ media: 'fixed', offsite: false }, { media: 'removable', offsite: false }]).shortfalls).toEqual(['no copy offsite']);
    // A stick kept offsite is enough for the "1".
    expect(compliance321([{ media: 'fixed', offsite: false }, { media: 'removable', offsite: true }]).compliant).toBe(true);
  });

  it('measures RPO per repository from what it can recover to, and as zero for a repository holding all WAL the server has written', () => {
    const objectives = computeObjectives(healthyInput({ wal: [wal('nas', minutesAgo(90), '0/5000100'), wal('usb', minutesAgo(90), '0/4000000'), wal('s3', minutesAgo(150))] }));
    expect(objectives.rpo.repositories).toEqual([
      { repository: 'nas', recoverableTo: minutesAgo(90), seconds: 0, caughtUp: true, met: true },
      { repository: 'usb', recoverableTo: minutesAgo(90), seconds: 5400, caughtUp: false, met: false },
      { repository: 's3', recoverableTo: minutesAgo(150), seconds: 9000, caughtUp: false, met: false },
    ]);
    expect(objectives.rpo).toMatchObject({ seconds: 0, met: true });
    // A gap means the stored WAL cannot all be replayed: never "caught up".
    const gapped = computeObjectives(healthyInput({ wal: [wal('nas', minutesAgo(90), '0/5000100', [{ timeline: 1, missing: '000000010000000000000003' }])] }));
    expect(gapped.rpo.repositories[0]).toMatchObject({ caughtUp: false, seconds: 5400 });
  });

  it('alerts critical when even the freshest repository breaches the RPO, and warns for a single stale repository', () => {
    const breached = buildHealthReport(healthyInput({ wal: [wal('nas', minutesAgo(75)), wal('usb', minutesAgo(80)), wal('s3', minutesAgo(90))] }));
    expect(codes(breached)).toEqual(['critical RPO_BREACHED']);
    expect(breached.alerts[0]?.message).toContain('75 min old (objective 60 min)');

    const oneStale = buildHealthReport(healthyInput({ wal: [wal('nas', minutesAgo(1)), wal('usb', minutesAgo(300)), wal('s3', minutesAgo(1))] }));
    expect(codes(oneStale)).toEqual(['warning RPO_BREACHED_REPOSITORY usb']);

    const nothing = buildHealthReport(healthyInput({ backups: [], wal: [wal('nas', undefined), wal('usb', undefined), wal('s3', undefined)], events: [] }));
    expect(codes(nothing)).toEqual(['critical NO_RECOVERY_POINT', 'warning RTO_UNKNOWN', 'warning REMOVABLE_NOT_VERIFIED usb']);
  });

  it('estimates RTO from the slowest of the last restore tests, scaled to the current size, and alerts when it breaches', () => {
    const events = [
      event('verify', 'success', daysAgo(4), { repositories: [{ repository: 'usb', problems: 0, repaired: 0 }] }),
      event('restore-test', 'success', daysAgo(3), { backupId: 'b0', durationMs: 30 * 60_000 }),
      event('restore-test', 'success', daysAgo(2), { backupId: 'b1', durationMs: 40 * 60_000 }),
      event('restore-test', 'failure', daysAgo(1), { backupId: 'b2', durationMs: 1000 }),
    ];
    const backups = [backupEntry('b0', daysAgo(4), ['nas', 's3', 'usb'], 1 * gib), backupEntry('b1', daysAgo(3), ['nas', 's3', 'usb'], 2 * gib), backupEntry('b2', daysAgo(1), ['nas', 's3', 'usb'], 4 * gib)];
    // b0: 30 min for 1 GiB → 120 min at 4 GiB; b1: 40 min for 2 GiB → 80 min. The failed test does not count.
    const report = buildHealthReport(healthyInput({ backups, events, objectives: objectivesConfigSchema.parse({ rtoMinutes: 100 }) }));
    expect(report.objectives.rto).toMatchObject({ estimateSeconds: 7200, met: false, basedOn: { backupId: 'b0', testedBytes: gib, currentBytes: 4 * gib } });
    expect(codes(report)).toEqual(['critical RTO_BREACHED', 'critical RESTORE_TEST_FAILED']);
    // The server grew past the newest backup: the estimate follows it.
    const grown = computeObjectives(healthyInput({ backups, events, cluster: { name: 'wedsync', reachable: true, databaseBytes: 8 * gib } }));
    expect(grown.rto.estimateSeconds).toBe(14_400);
  });

  it('watches the slot: growing retained WAL warns, WAL the server is removing is critical', () => {
    const retained = buildHealthReport(healthyInput({ cluster: { name: 'wedsync', reachable: true, slot: { name: 'dr_console', active: false, retainedBytes: 3 * gib, walStatus: 'extended' } } }));
    expect(codes(retained)).toEqual(['warning SLOT_WAL_RETAINED']);
    expect(retained.alerts[0]?.message).toBe("slot 'dr_console' keeps 3072 MiB of WAL on the server and nothing is streaming from it");
    const lost = buildHealthReport(healthyInput({ cluster: { name: 'wedsync', reachable: true, slot: { name: 'dr_console', active: false, retainedBytes: 3 * gib, walStatus: 'lost' } } }));
    expect(codes(lost)).toEqual(['critical SLOT_WAL_LOST']);
    const down = buildHealthReport(healthyInput({ cluster: { name: 'wedsync', reachable: false, error: 'connection refused' } }));
    expect(codes(down)).toEqual(['warning CLUSTER_UNREACHABLE']);
  });

  it('tells a failing repository from a stick in a drawer, and counts the drawer copy as last known', () => {
    const drawer: RepositoryObservation = { repository: 'usb', media: 'removable', offsite: true, state: 'unreachable', error: { code: 'MEDIA_NOT_PRESENT', message: 'unable to reach removable repository' } };
    const failing: RepositoryObservation = { ...s3, state: 'unreachable', error: { code: 'STORAGE_PERMISSION', message: 'access denied' } };
    const input = healthyInput({
      repositories: [nas, drawer, failing],
      backups: [backupEntry('b1', daysAgo(1), ['nas'], gib, ['nas', 's3', 'usb'])],
      wal: [wal('nas', minutesAgo(0.1))],
      events: [
        event('backup', 'success', daysAgo(1), { repositories: ['nas', 's3', 'usb'] }),
        event('verify', 'success', daysAgo(2), { repositories: [{ repository: 'usb', problems: 0, repaired: 0 }] }),
        event('restore-test', 'success', daysAgo(1), { backupId: 'b1', durationMs: 60_000 }),
      ],
    });
    const report = buildHealthReport(input);
    expect(codes(report)).toEqual(['critical REPOSITORY_FAILING s3']);
    expect(report.repositories.find((repository) => repository.repository === 'usb')).toMatchObject({ state: 'unreachable', lastSeen: daysAgo(1), lastVerified: daysAgo(2) });
    // Both copies out of reach count as last known: the backup recorded them, nothing says they are gone.
    expect(report.compliance.recoveryPoints[0]).toMatchObject({ repositories: ['nas'], lastKnownRepositories: ['s3', 'usb'], compliance: { copies: 4, offsite: true, compliant: true } });

    // Eight days later the stick is still in the drawer: not seen, not verified.
    const later = buildHealthReport({ ...input, now: new Date(now.getTime() + 7 * 86_400_000) });
    expect(codes(later).filter((code) => code.endsWith(' usb'))).toEqual(['warning REMOVABLE_NOT_SEEN usb', 'warning REMOVABLE_NOT_VERIFIED usb']);
  });

  it('reports damage found by verify, WAL gaps, missing copies, 30-day success rate and failed scheduled jobs', () => {
    const report = buildHealthReport(
      healthyInput({
        backups: [backupEntry('b1', daysAgo(2), ['nas', 's3', 'usb'], gib), backupEntry('b2', daysAgo(1), ['nas', 's3'], gib)],
        wal: [wal('nas', minutesAgo(0.1)), wal('usb', minutesAgo(0.1), '0/5000000', [{ timeline: 1, missing: '000000010000000000000003' }]), wal('s3', minutesAgo(0.1))],
        events: [
          event('backup', 'success', daysAgo(40), { repositories: ['nas'] }),
          event('backup', 'success', daysAgo(2), { repositories: ['nas', 's3', 'usb'] }),
          event('backup', 'partial', daysAgo(1), { repositories: ['nas', 's3'] }),
          event('backup', 'failure', minutesAgo(60), { scheduled: true }),
          event('verify', 'failure', daysAgo(1), { repositories: [{ repository: 'nas', problems: 2, repaired: 0 }, { repository: 'usb', problems: 0, repaired: 0 }, { repository: 's3', problems: 0, repaired: 0 }] }),
          event('restore-test', 'success', daysAgo(1), { backupId: 'b2', durationMs: 60_000 }),
        ],
        schedule: {
          ...schedulerRunning,
          jobs: [{ job: 'full-backup', enabled: true, when: 'daily at 01:00', due: false, lastRun: { startedAt: minutesAgo(60), finishedAt: minutesAgo(59), reason: 'retry', outcome: 'failure', summary: 'unable to connect to PostgreSQL', error: { code: 'PG_CONNECT_FAILED', message: 'unable to connect', hints: ['check that the server is running'] } } }],
        },
      }),
    );
    expect(codes(report)).toEqual(['critical REPOSITORY_DAMAGED nas', 'critical WAL_GAP usb', 'warning MISSING_COPY usb', 'warning JOB_FAILED']);
    expect(report.backups).toEqual({ windowDays: 30, succeeded: 1, partial: 1, failed: 1, successRate: 1 / 3 });
    expect(report.alerts.find((alert) => alert.code === 'JOB_FAILED')?.hint).toBe('check that the server is running');
    expect(report.alerts.find((alert) => alert.code === 'MISSING_COPY')?.hint).toBe('run `drc sync --from nas --to usb`');
  });

  it('says so when no scheduler runs, and the next runs are only what it would do', () => {
    const report = buildHealthReport(healthyInput({ schedule: { ...schedulerRunning, scheduler: { running: false } } }));
    expect(codes(report)).toEqual(['info SCHEDULER_NOT_RUNNING']);
  });

  it('reads --since as a time or a span back from now', () => {
    expect(parseSince('7d', now).toISOString()).toBe(daysAgo(7));
    expect(parseSince('90m', now).toISOString()).toBe(minutesAgo(90));
    expect(parseSince('2026-06-01T00:00:00Z').toISOString()).toBe('2026-06-01T00:00:00.000Z');
    expect(() => parseSince('last tuesday')).toThrow(/--since/);
  });
});

process.env.DRC_TEST_PASSPHRASE = 'status test passphrase';
afterAll(stopAllClusters);

/** The test config, with the scheduler state kept under the test's own directory. */
async function withStateDir(config: DrcTestConfig, stateDir: string, extra: Record<string, unknown> = {}): Promise<void> {
  const raw = JSON.parse(await readFile(config.path, 'utf8')) as Record<string, unknown>;
  await writeFile(config.path, JSON.stringify({ ...raw, stateDir, ...extra }));
}

describe('drc status, events and daemon against PostgreSQL 15', () => {
  let source: TestCluster;
  let root: string;
  let config: DrcTestConfig;
  let backupId: string;

  beforeAll(async () => {
    source = await startCluster({ major: 15 });
    root = await makeTempDir('drc-status-');
    config = await writeTestConfig(root, source);
    await withStateDir(config, join(root, 'state'));
    await source.sql('CREATE TABLE rsvp (id serial PRIMARY KEY, guest text)');
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    const backup = await drc(['backup', '--config', config.path, '--json']);
    expect(backup.code).toBe(0);
    backupId = backup.json<BackupRecord>().id;
  });

  afterAll(async () => {
    await source.remove();
    await rm(root, { recursive: true, force: true });
  });

  it('reports an RPO of seconds while `drc wal stream` runs, and lists the backup in `drc events`', async () => {
    const stream = drcUntilStopped(['wal', 'stream', '--config', config.path]);
    try {
      // Commits keep coming; the segment being written is uploaded every 5 s while WAL flows.
      for (let batch = 0; batch < 8; batch++) {
        await source.sql("INSERT INTO rsvp (guest) SELECT 'guest ' || g FROM generate_series(1, 100) g");
        await sleep(1000);
      }
      const status = await drc(['status', '--config', config.path, '--json']);
      expect(status.stderr).toBe('');
      const report = status.json<HealthReport>();
      for (const repository of report.objectives.rpo.repositories) {
        expect(repository.seconds, `RPO of ${repository.repository}`).toBeLessThan(30);
        expect(repository.met).toBe(true);
      }
      expect(report.objectives.rpo.met).toBe(true);
      expect(report.cluster).toMatchObject({ name: 'pg15', reachable: true, slot: { name: 'dr_console', active: true } });
      expect(report.compliance.recoveryPoints.map((point) => [point.backupId, point.repositories])).toEqual([[backupId, ['nas', 'usb']]]);
      expect(report.repositories.map((repository) => [repository.repository, repository.state, repository.media])).toEqual([
        ['nas', 'ok', 'fixed'],
        ['usb', 'ok', 'removable'],
      ]);
      expect(report.repositories.every((repository) => (repository.bytesUsed ?? 0) > 0)).toBe(true);
      expect(report.repositories[1]?.medium?.name).toBe('usb');
      expect(report.backups).toMatchObject({ succeeded: 1, failed: 0, successRate: 1 });
      // Two local repositories and nothing offsite: the configuration cannot keep 3-2-1, which is a warning (exit 1).
      expect(report.alerts.map((alert) => alert.code)).toContain('CONFIG_NOT_321');
      expect(report.alerts.filter((alert) => alert.severity === 'critical')).toEqual([]);
      expect(status.code).toBe(1);
      const text = await drc(['status', '--config', config.path]);
      expect(text.stdout).toContain('RPO');
      expect(text.stdout).toContain('CONFIG_NOT_321');
    } finally {
      const stopped = await stream.stop();
      expect(stopped.code).toBe(0);
    }

    const events = await drc(['events', '--config', config.path, '--since', '1h', '--json']);
    expect(events.code).toBe(0);
    const history = events.json<{ events: HistoryEvent[] }>().events;
    const backupEvent = history.find((entry) => entry.type === 'backup');
    expect(backupEvent).toMatchObject({ outcome: 'success', repositories: ['nas', 'usb'], details: { id: backupId } });
    const onlyBackups = await drc(['events', '--config', config.path, '--type', 'backup', '--json']);
    expect(onlyBackups.json<{ events: HistoryEvent[] }>().events.map((entry) => entry.id)).toEqual([backupEvent?.id]);
    expect((await drc(['events', '--config', config.path])).stdout).toContain(`full backup ${backupId}`);
  });

  it('rebuilds the history on a fresh workstation from the USB stick alone', async () => {
    const fresh = join(root, 'fresh-workstation.json');
    await writeFile(fresh, JSON.stringify({ encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' }, repositories: [{ name: 'usb', type: 'removable', path: config.repositories.usb }], stateDir: join(root, 'fresh-state') }));
    const events = await drc(['events', '--config', fresh, '--json']);
    expect(events.code).toBe(0);
    expect(events.json<{ events: HistoryEvent[] }>().events.filter((entry) => entry.type === 'backup').map((entry) => entry.details.id)).toEqual([backupId]);
  });

  it('`drc daemon` catches up the jobs it missed, records them, and stops cleanly', async () => {
    // The scheduler last ran a week ago: the full backup, a restore point, expire and verify are overdue.
    const stateDir = join(root, 'daemon-state');
    await mkdir(stateDir, { recursive: true });
    await withStateDir(config, stateDir, { schedule: { archiveBackup: { enabled: false }, restoreTestAfterFull: false } });
    const weekAgo = new Date(Date.now() - 7 * 86_400_000).toISOString();
    const seen = { since: weekAgo, coveredAt: weekAgo };
    const statePath = join(stateDir, 'scheduler-pg15.json');
    await writeFile(statePath, JSON.stringify({ format: 1, cluster: 'pg15', jobs: { 'full-backup': seen, 'restore-point': seen, expire: seen, verify: seen } }));
    const overdue = ['full-backup', 'restore-point', 'expire', 'verify'] as const;

    const daemon = drcUntilStopped(['daemon', '--config', config.path, '--json']);
    let stopped: Awaited<ReturnType<typeof daemon.stop>> | undefined;
    try {
      const deadline = Date.now() + 90_000;
      for (;;) {
        const state = schedulerStateSchema.parse(JSON.parse(await readFile(statePath, 'utf8')));
        if (overdue.every((job) => state.jobs[job]?.lastRun !== undefined)) {
          // The hourly restore point's last slot is on time, not caught up, in the first minutes of an hour.
          const reasonOf = (job: (typeof overdue)[number]): unknown => (job === 'restore-point' ? expect.stringMatching(/^(slot|catch-up)$/) : 'catch-up');
          expect(overdue.map((job) => [job, state.jobs[job]?.lastRun?.outcome, state.jobs[job]?.lastRun?.reason]), daemon.stderr()).toEqual(overdue.map((job) => [job, 'success', reasonOf(job)]));
          break;
        }
        if (Date.now() > deadline) throw new Error(`the daemon did not run the overdue jobs:\n${daemon.stderr()}`);
        await sleep(250);
      }
      const status = (await drc(['status', '--config', config.path, '--json'])).json<HealthReport>();
      expect(status.schedule.scheduler).toMatchObject({ running: true, pid: process.pid });
      const full = status.schedule.jobs.find((entry) => entry.job === 'full-backup');
      expect(full).toMatchObject({ enabled: true, when: 'daily at 01:00', due: false, lastRun: { outcome: 'success' } });
      expect(Date.parse(full?.nextRun ?? '')).toBeGreaterThan(Date.now());

      const second = await drc(['daemon', '--config', config.path]);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain('LOCK_HELD');
    } finally {
      stopped = await daemon.stop();
    }
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stderr).toContain('full-backup: SUCCESS');
    const report = JSON.parse(stopped.stdout) as { abandoned: string[]; stateSaved: boolean; jobs: Array<{ job: string; lastRun?: { outcome: string } }> };
    expect(report).toMatchObject({ abandoned: [], stateSaved: true });
    expect(report.jobs.find((entry) => entry.job === 'wal-stream')?.lastRun?.outcome).toBe('success');

    const history = (await drc(['events', '--config', config.path, '--since', '10m', '--json'])).json<{ events: HistoryEvent[] }>().events;
    expect(history.filter((entry) => entry.type === 'backup' && entry.details.reason === 'scheduled daily full backup').map((entry) => [entry.outcome, entry.details.type])).toEqual([['success', 'full']]);
    for (const type of ['restore-point', 'verify', 'expire']) expect(history.some((entry) => entry.type === type && entry.outcome === 'success'), type).toBe(true);
    const after = (await drc(['status', '--config', config.path, '--json'])).json<HealthReport>();
    expect(after.schedule.scheduler.running).toBe(false);
    expect(after.compliance.recoveryPoints).toHaveLength(2);
  });
});
