import { describe, expect, it, vi } from 'vitest';
import type { BackupList, BackupStartRequest, BackupSummary } from '../../../shared/contract/backups.js';
import { createOperationsStore } from '../../operations/store.js';
import { failure, fakeClient, operation } from '../../testing/fake-client.js';
import type { Operation } from '../../../shared/contract/operations.js';
import { emptyBackupForm, toStartRequest } from './backup-form.js';
import { createBackupsStore } from './store.js';

const now = new Date('2026-12-05T12:00:00Z');

function summary(id: string, reason: string): BackupSummary {
  return {
    id,
    type: 'manual',
    reason,
    operator: 'dba',
    host: 'db1',
    cluster: 'main',
    startedAt: '2026-12-05T11:00:00Z',
    stoppedAt: '2026-12-05T11:05:00Z',
    durationMs: 300_000,
    startLsn: '0/2000028',
    stopLsn: '0/3000100',
    timeline: 1,
    serverVersion: '17.2',
    bytesRead: 100,
    bytesStored: 40,
    files: 10,
    components: ['database'],
    copies: [{ repository: 'local', state: 'present' }],
    compliance: { copies: 2, mediaKinds: ['fixed'], offsite: false, compliant: false, shortfalls: ['no offsite copy'] },
  };
}

describe('manual backup form', () => {
  it('refuses to start without a reason, and says what to write', () => {
    const result = toStartRequest({ ...emptyBackupForm, reason: '   ' }, now);
    expect(result).toEqual({ ok: false, problems: { reason: 'Say why this backup is taken, for example "before deploy 4.2".' } });
  });

  it('builds the request: database always, the chosen extras, priority, trimmed reason', () => {
    const result = toStartRequest({ ...emptyBackupForm, reason: ' before deploy 4.2 ', type: 'incremental', files: true, priority: 'high' }, now);
    expect(result).toEqual({ ok: true, request: { type: 'incremental', reason: 'before deploy 4.2', components: ['database', 'files'], priority: 'high' } });
  });

  it('schedules a one-off run at a typed time, sent in UTC, and refuses one in the past or unreadable', () => {
    const later = toStartRequest({ ...emptyBackupForm, reason: 'r', when: 'at', at: '2026-12-06T03:00+01:00' }, now);
    expect(later).toMatchObject({ ok: true, request: { at: '2026-12-06T02:00:00.000Z' } });
    expect(toStartRequest({ ...emptyBackupForm, reason: 'r', when: 'at', at: '2026-12-05T11:00Z' }, now)).toEqual({
      ok: false,
      problems: { at: 'That moment has passed; choose a later one, or start now.' },
    });
    const unreadable = toStartRequest({ ...emptyBackupForm, reason: 'r', when: 'at', at: 'tomorrow' }, now);
    expect(unreadable.ok ? undefined : unreadable.problems.at).toContain('2026-12-06T02:00');
  });
});

describe('backups store', () => {
  it('starts a backup and remembers its operation for the progress bar until dismissed', async () => {
    const requests: BackupStartRequest[] = [];
    const store = createBackupsStore(
      fakeClient({
        backups: {
          start: (request) => {
            requests.push(request);
            return Promise.resolve({ operationId: 'op-1', backupId: 'b-1', components: ['database'] });
          },
        },
      }),
    );
    expect(await store.getState().start({ reason: 'before deploy', priority: 'high' })).toBe(true);
    expect(requests).toEqual([{ reason: 'before deploy', priority: 'high' }]);
    expect(store.getState()).toMatchObject({ started: 'op-1', starting: false, startError: undefined });
    store.getState().forgetStarted();
    expect(store.getState().started).toBeUndefined();
  });

  it('keeps a refused start as an error with its code and hints', async () => {
    const store = createBackupsStore(
      fakeClient({ backups: { start: () => failure('LOCK_HELD', 'unable to start a backup: another backup of cluster main runs', ['wait for it']) } }),
    );
    expect(await store.getState().start({ reason: 'x' })).toBe(false);
    expect(store.getState().startError).toMatchObject({ code: 'LOCK_HELD', hints: ['wait for it'] });
    expect(store.getState().started).toBeUndefined();
  });

  it('reloads the list when a backup operation succeeds, so the new backup shows with its reason', async () => {
    let listed: BackupList = { backups: [], unreachable: [] };
    let emit: (operation: Operation) => void = () => undefined;
    const client = fakeClient({
      backups: { list: () => Promise.resolve(listed) },
      operations: {
        changed: (listener) => {
          emit = listener;
          return () => undefined;
        },
      },
    });
    const operations = createOperationsStore(client);
    operations.getState().watch();
    const store = createBackupsStore(client);
    await store.getState().load();
    const stop = store.getState().follow(operations);

    listed = { backups: [summary('b-1', 'before deploy 4.2')], unreachable: [] };
    emit(operation({ id: 'op-1', kind: 'backup', state: 'running' }));
    await Promise.resolve();
    expect(store.getState().list.value?.backups).toEqual([]);

    emit(operation({ id: 'op-1', kind: 'backup', state: 'succeeded' }));
    await vi.waitFor(() => {
      expect(store.getState().list.value?.backups).toHaveLength(1);
    });
    expect(store.getState().list.value?.backups[0]?.reason).toBe('before deploy 4.2');
    stop();
  });

  it('shows the detail of the backup opened last, not of a slower earlier answer', async () => {
    const answers = new Map<string, (value: never) => void>();
    const store = createBackupsStore(
      fakeClient({
        backups: {
          detail: ({ backupId }) =>
            new Promise((resolve) => {
              answers.set(backupId, resolve);
            }),
        },
      }),
    );
    const first = store.getState().open('b-1');
    const second = store.getState().open('b-2');
    answers.get('b-2')?.({ ...summary('b-2', 'second'), nativeIncremental: false, walSegmentSize: 16 * 1024 ** 2, tablespaces: [], attachments: [], restoreTests: [] } as never);
    answers.get('b-1')?.({ ...summary('b-1', 'first'), nativeIncremental: false, walSegmentSize: 16 * 1024 ** 2, tablespaces: [], attachments: [], restoreTests: [] } as never);
    await Promise.all([first, second]);
    expect(store.getState().selected).toBe('b-2');
    expect(store.getState().detail.value?.reason).toBe('second');
  });
});
