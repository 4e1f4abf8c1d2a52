import { describe, expect, it } from 'vitest';
import type { EventEntry } from '../../../shared/contract/events.js';
import type { RepositoryInfo } from '../../../shared/contract/repository.js';
import type { HealthReport } from '../../../shared/contract/status.js';
import { formatBytes } from '../../components/format.js';
import { failure, fakeClient } from '../../testing/fake-client.js';
import { createOverviewStore } from './store.js';
import { backupOutcomesByDay, objectiveGauges, spokenDuration, storagePerRepository, summarizeBackupDays, summarizeStorage } from './summaries.js';

const compliance = { copies: 3, mediaKinds: ['fixed', 'cloud'] as ('fixed' | 'cloud')[], offsite: true, compliant: true, shortfalls: [] };

function report(overrides: Partial<HealthReport['objectives']> = {}): HealthReport {
  return {
    generatedAt: '2026-12-05T12:00:00Z',
    objectives: {
      rpo: { goalSeconds: 3600, seconds: 240, met: true, repositories: [] },
      rto: { goalSeconds: 1800, met: false },
      ...overrides,
    },
    compliance: { configuration: compliance, recoveryPoints: [] },
    repositories: [
      { repository: 'local', media: 'fixed', offsite: false, state: 'ok', bytesUsed: 5 * 1024 ** 3, backups: 3, walGaps: 0 },
      { repository: 'usb', media: 'removable', offsite: false, state: 'unreachable', backups: 0, walGaps: 0 },
    ],
    backups: { windowDays: 30, succeeded: 3, partial: 0, failed: 0 },
    schedule: { scheduler: { running: false }, statePath: '/var/lib/drc/state.json', jobs: [] },
    alerts: [],
  };
}

function info(repository: string, bytes: number[], error?: RepositoryInfo['error']): RepositoryInfo {
  return {
    repository,
    type: 'local',
    location: `/srv/${repository}`,
    media: 'fixed',
    offsite: false,
    initialized: true,
    keySlots: [],
    objects: Object.fromEntries(bytes.map((size, index) => [`kind${String(index)}`, { count: 1, bytes: size }])),
    ...(error ? { error } : {}),
  };
}

function backupEvent(time: string, outcome: EventEntry['outcome']): EventEntry {
  return { id: time, time, type: 'backup', outcome, operator: 'dba', host: 'db1', summary: 'full backup', repositories: ['local'], details: {} };
}

describe('overview gauges', () => {
  it('says RPO and RTO in words against their objectives, as a screen reader should hear them', () => {
    const [rpo, rto] = objectiveGauges(report());
    expect(rpo.text).toBe('RPO 4 minutes, objective 1 hour, met');
    expect(rto.text).toBe('RTO unknown (no restore test has run yet), objective 30 minutes, not met');
    expect(rto.seconds).toBeUndefined();
  });

  it('stretches the meter past the objective so a breach shows as a breach', () => {
    const [rpo] = objectiveGauges(report({ rpo: { goalSeconds: 600, seconds: 7200, met: false, repositories: [] } }));
    expect(rpo.maxSeconds).toBe(7200);
    expect(rpo.text).toBe('RPO 2 hours, objective 10 minutes, not met');
  });

  it('speaks durations with whole units', () => {
    expect(spokenDuration(1)).toBe('1 second');
    expect(spokenDuration(65 * 60)).toBe('1 hour 5 minutes');
    expect(spokenDuration(51 * 3600)).toBe('2 days 3 hours');
  });
});

describe('overview charts', () => {
  it('takes storage from the status report, else from the repository objects, and says which could not be read', () => {
    const storage = storagePerRepository(report(), [info('local', [1]), info('usb', [], { code: 'REPO_UNREACHABLE', message: 'not mounted', hints: [] }), info('cloud', [1024, 1024])]);
    expect(storage).toEqual([
      { repository: 'local', bytes: 5 * 1024 ** 3 },
      { repository: 'usb', bytes: undefined },
      { repository: 'cloud', bytes: 2048 },
    ]);
    expect(summarizeStorage(storage, formatBytes)).toBe('2 repositories hold 5.0 GiB in all; the largest is local with 5.0 GiB; 1 could not be read.');
  });

  it('counts backup outcomes per UTC day, days without backups included', () => {
    const days = backupOutcomesByDay(
      [backupEvent('2026-12-05T01:00:00Z', 'success'), backupEvent('2026-12-05T02:00:00Z', 'failure'), backupEvent('2026-12-03T23:59:59Z', 'partial'), backupEvent('2026-11-01T00:00:00Z', 'success')],
      3,
      new Date('2026-12-05T12:00:00Z'),
    );
    expect(days).toEqual([
      { day: '2026-12-03', success: 0, partial: 1, failure: 0 },
      { day: '2026-12-04', success: 0, partial: 0, failure: 0 },
      { day: '2026-12-05', success: 1, partial: 0, failure: 1 },
    ]);
    expect(summarizeBackupDays(days)).toBe('1 of 3 backups in the last 3 days succeeded fully; 1 day had a failure.');
    expect(summarizeBackupDays(backupOutcomesByDay([], 7, new Date()))).toBe('No backups ran in the last 7 days.');
  });
});

describe('overview store', () => {
  it('keeps what loaded when one of its calls fails, with the failure code and hints', async () => {
    let asked: unknown;
    const store = createOverviewStore(
      fakeClient({
        status: { report: () => Promise.resolve(report()) },
        repository: { info: () => failure('PASSPHRASE_WRONG', 'unable to open repository cloud', ['check the passphrase']) },
        events: {
          query: (query) => {
            asked = query;
            return Promise.resolve({ events: [backupEvent('2026-12-05T01:00:00Z', 'success')], truncated: false, types: ['backup'], unreachable: [], unreadable: [] });
          },
        },
      }),
      () => new Date('2026-12-05T12:00:00Z'),
    );
    await store.getState().load();
    const state = store.getState();
    expect(state.report.value?.generatedAt).toBe('2026-12-05T12:00:00Z');
    expect(state.repositories.error).toEqual({ code: 'PASSPHRASE_WRONG', message: 'unable to open repository cloud', hints: ['check the passphrase'], retryable: false });
    expect(state.backupEvents.value).toHaveLength(1);
    expect(asked).toEqual({ types: ['backup'], since: '2026-11-05T12:00:00.000Z' });
    expect([state.report.loading, state.repositories.loading, state.backupEvents.loading]).toEqual([false, false, false]);
  });
});
