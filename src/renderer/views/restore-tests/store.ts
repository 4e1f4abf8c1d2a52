import { createStore, type StoreApi } from 'zustand/vanilla';
import { toErrorData, type ContractClient } from '../../../shared/contract/index.js';
import type { BackupSummary } from '../../../shared/contract/backups.js';
import type { RestoreTestRecord } from '../../../shared/contract/restore-test.js';
import type { ErrorData } from '../../../shared/errors.js';
import { fetchInto, notLoaded, type Remote } from '../../components/remote.js';
import type { OperationsStore } from '../../operations/store.js';

export interface BackupTests {
  readonly backupId: string;
  readonly backupStoppedAt: string;
  /** Newest first. */
  readonly tests: readonly RestoreTestRecord[];
}

/** The history grouped per backup, newest backup first, so "was last night's backup proven?" is one glance. */
export function testsPerBackup(records: readonly RestoreTestRecord[]): BackupTests[] {
  const groups = new Map<string, { backupId: string; backupStoppedAt: string; tests: RestoreTestRecord[] }>();
  for (const record of records) {
    const group = groups.get(record.backupId) ?? { backupId: record.backupId, backupStoppedAt: record.backupStoppedAt, tests: [] };
    group.tests.push(record);
    groups.set(record.backupId, group);
  }
  return [...groups.values()]
    .map((group) => ({ ...group, tests: group.tests.sort((a, b) => b.startedAt.localeCompare(a.startedAt)) }))
    .sort((a, b) => b.backupStoppedAt.localeCompare(a.backupStoppedAt));
}

export interface RestoreTestsState {
  readonly history: Remote<RestoreTestRecord[]>;
  /** The backups one can choose to test. */
  readonly backups: Remote<BackupSummary[]>;
  readonly runError: ErrorData | undefined;
  readonly load: () => Promise<void>;
  /** No backup id: the latest backup. */
  readonly run: (backupId: string | undefined) => Promise<void>;
  /** Reloads the history when a restore test ends, passed or failed: both are recorded. Returns the unsubscribe. */
  readonly follow: (operations: OperationsStore) => () => void;
}

export type RestoreTestsStore = StoreApi<RestoreTestsState>;

export function createRestoreTestsStore(client: ContractClient): RestoreTestsStore {
  return createStore<RestoreTestsState>()((set, get) => ({
    history: notLoaded(),
    backups: notLoaded(),
    runError: undefined,
    async load() {
      await Promise.all([
        fetchInto(() => get().history, (history) => set({ history }), 'read the restore test history', () => client.restoreTests.history({})),
        fetchInto(() => get().backups, (backups) => set({ backups }), 'list the backups', async () => (await client.backups.list({})).backups),
      ]);
    },
    async run(backupId) {
      set({ runError: undefined });
      try {
        await client.restoreTests.run(backupId === undefined ? {} : { backupId });
      } catch (error) {
        set({ runError: toErrorData(error, 'start the restore test') });
      }
    },
    follow(operations) {
      const ended = (state: ReturnType<OperationsStore['getState']>) =>
        Object.values(state.operations)
          .filter((operation) => operation.kind === 'restore-test' && (operation.state === 'succeeded' || operation.state === 'failed'))
          .map((operation) => operation.id);
      const seen = new Set(ended(operations.getState()));
      return operations.subscribe((state) => {
        const fresh = ended(state).filter((id) => !seen.has(id));
        if (fresh.length === 0) return;
        for (const id of fresh) seen.add(id);
        void fetchInto(() => get().history, (history) => set({ history }), 'read the restore test history', () => client.restoreTests.history({}));
      });
    },
  }));
}
