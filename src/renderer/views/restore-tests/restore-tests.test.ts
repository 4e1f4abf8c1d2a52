import { describe, expect, it, vi } from 'vitest';
import type { Operation } from '../../../shared/contract/operations.js';
import type { RestoreTestRecord } from '../../../shared/contract/restore-test.js';
import { createOperationsStore } from '../../operations/store.js';
import { failure, fakeClient, operation } from '../../testing/fake-client.js';
import { createRestoreTestsStore, testsPerBackup } from './store.js';

function record(id: string, backupId: string, backupStoppedAt: string, startedAt: string): RestoreTestRecord {
  return {
    id,
    backupId,
    backupStoppedAt,
    target: { kind: 'latest' },
    startedAt,
    completedAt: startedAt,
    success: true,
    errorsFound: [],
    warnings: [],
    checks: [],
    rowsVerified: 10,
    tables: [],
    heapsChecked: 1,
    indexesChecked: 1,
    databases: ['app'],
    restoreDurationMs: 1,
    recoveryDurationMs: 1,
    durationMs: 2,
    dataLossDetected: false,
    binaries: { bindir: '/usr/lib/postgresql/17/bin', version: '17.2', source: 'PATH' },
    scratch: { id: 's', directory: '/tmp/s', removed: true },
    leftoversRemoved: [],
    recordedIn: ['local'],
  };
}

describe('restore test history', () => {
  it('groups the tests per backup, newest backup and newest test first', () => {
    const groups = testsPerBackup([
      record('t1', 'old', '2026-12-01T00:00:00Z', '2026-12-01T01:00:00Z'),
      record('t2', 'new', '2026-12-04T00:00:00Z', '2026-12-04T01:00:00Z'),
      record('t3', 'old', '2026-12-01T00:00:00Z', '2026-12-03T01:00:00Z'),
    ]);
    expect(groups.map((group) => [group.backupId, group.tests.map((test) => test.id)])).toEqual([
      ['new', ['t2']],
      ['old', ['t3', 't1']],
    ]);
  });
});

describe('restore tests store', () => {
  it('runs the latest backup when none is chosen, and a chosen one by id', async () => {
    const run = vi.fn(() => Promise.resolve({ operationId: 'op' }));
    const store = createRestoreTestsStore(fakeClient({ restoreTests: { run } }));
    await store.getState().run(undefined);
    await store.getState().run('b-7');
    expect(run.mock.calls).toEqual([[{}], [{ backupId: 'b-7' }]]);
  });

  it('shows a refused run with its code and hints', async () => {
    const store = createRestoreTestsStore(
      fakeClient({ restoreTests: { run: () => failure('PG_BINARIES_NOT_FOUND', 'unable to find PostgreSQL 17 binaries', ['install postgresql-17']) } }),
    );
    await store.getState().run(undefined);
    expect(store.getState().runError).toMatchObject({ code: 'PG_BINARIES_NOT_FOUND', hints: ['install postgresql-17'] });
  });

  it('reloads the history when a restore test ends, failed ones too', async () => {
    let emit: (operation: Operation) => void = () => undefined;
    const history = vi.fn(() => Promise.resolve([record('t1', 'b', '2026-12-01T00:00:00Z', '2026-12-01T01:00:00Z')]));
    const client = fakeClient({
      restoreTests: { history },
      operations: {
        changed: (listener) => {
          emit = listener;
          return () => undefined;
        },
      },
    });
    const operations = createOperationsStore(client);
    operations.getState().watch();
    const store = createRestoreTestsStore(client);
    const stop = store.getState().follow(operations);
    emit(operation({ id: 'op', kind: 'restore-test', state: 'running' }));
    expect(history).not.toHaveBeenCalled();
    emit(operation({ id: 'op', kind: 'restore-test', state: 'failed' }));
    await vi.waitFor(() => {
      expect(store.getState().history.value).toHaveLength(1);
    });
    emit(operation({ id: 'op', kind: 'restore-test', state: 'failed', message: 'again' }));
    expect(history).toHaveBeenCalledTimes(1);
    stop();
  });
});
