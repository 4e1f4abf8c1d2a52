import { createStore, type StoreApi } from 'zustand/vanilla';
import { toErrorData, type ContractClient } from '../../../shared/contract/index.js';
import type { BackupDetail, BackupList, BackupStartRequest } from '../../../shared/contract/backups.js';
import type { ErrorData } from '../../../shared/errors.js';
import type { OperationsStore } from '../../operations/store.js';
import { fetchInto, notLoaded, type Remote } from '../../components/remote.js';

export interface BackupsState {
  readonly list: Remote<BackupList>;
  readonly detail: Remote<BackupDetail>;
  /** The backup whose detail is open. */
  readonly selected: string | undefined;
  /** A start that was refused; shown in the dialog, which stays open so nothing typed is lost. */
  readonly startError: ErrorData | undefined;
  readonly starting: boolean;
  /** The operation of the backup started from this view: its progress carries the seed's test id until dismissed. */
  readonly started: string | undefined;
  readonly load: () => Promise<void>;
  readonly open: (backupId: string) => Promise<void>;
  readonly close: () => void;
  /** Resolves true when the backup started (or was scheduled). */
  readonly start: (request: BackupStartRequest) => Promise<boolean>;
  /** The person dismissed the started backup's result. */
  readonly forgetStarted: () => void;
  /** Reloads the list whenever a backup operation succeeds, so a new backup appears with its reason; returns the unsubscribe. */
  readonly follow: (operations: OperationsStore) => () => void;
}

export type BackupsStore = StoreApi<BackupsState>;

export function createBackupsStore(client: ContractClient): BackupsStore {
  return createStore<BackupsState>()((set, get) => ({
    list: notLoaded(),
    detail: notLoaded(),
    selected: undefined,
    startError: undefined,
    starting: false,
    started: undefined,
    async load() {
      await fetchInto(() => get().list, (list) => set({ list }), 'list the backups', () => client.backups.list({}));
    },
    async open(backupId) {
      set({ selected: backupId, detail: notLoaded() });
      await fetchInto(
        () => get().detail,
        (detail) => {
          // A slow answer for a backup the person has since closed or replaced must not show up.
          if (get().selected === backupId) set({ detail });
        },
        `read backup '${backupId}'`,
        () => client.backups.detail({ backupId }),
      );
    },
    close() {
      set({ selected: undefined, detail: notLoaded() });
    },
    async start(request) {
      set({ starting: true, startError: undefined });
      try {
        const { operationId } = await client.backups.start(request);
        set({ starting: false, started: operationId });
        return true;
      } catch (error) {
        set({ starting: false, startError: toErrorData(error, 'start the backup') });
        return false;
      }
    },
    forgetStarted() {
      set({ started: undefined });
    },
    follow(operations) {
      const succeeded = new Set(
        Object.values(operations.getState().operations)
          .filter((operation) => operation.kind === 'backup' && operation.state === 'succeeded')
          .map((operation) => operation.id),
      );
      return operations.subscribe((state) => {
        const fresh = Object.values(state.operations).filter((operation) => operation.kind === 'backup' && operation.state === 'succeeded' && !succeeded.has(operation.id));
        if (fresh.length === 0) return;
        for (const operation of fresh) succeeded.add(operation.id);
        void get().load();
      });
    },
  }));
}
