import { createStore, type StoreApi } from 'zustand/vanilla';
import { toErrorData, type ContractClient, type Unsubscribe } from '../../shared/contract/index.js';
import type { Operation } from '../../shared/contract/operations.js';
import type { ErrorData } from '../../shared/errors.js';

/**
 * Every long operation the console knows of — backups, restores, restore tests, verify,
 * sync — kept from `operations.list` and the `operations.changed` stream. A finished
 * operation stays here until the person dismisses it: a result that vanishes on its own
 * hides failures.
 */
export interface OperationsState {
  readonly operations: Readonly<Record<string, Operation>>;
  /** The last cancel or dismiss that failed. */
  readonly error: ErrorData | undefined;
  readonly load: () => Promise<void>;
  readonly watch: () => Unsubscribe;
  readonly cancel: (operationId: string) => Promise<void>;
  readonly dismiss: (operationId: string) => Promise<void>;
}

export type OperationsStore = StoreApi<OperationsState>;

export function isFinished(operation: Operation): boolean {
  return operation.state === 'succeeded' || operation.state === 'failed' || operation.state === 'cancelled';
}

export function createOperationsStore(client: ContractClient): OperationsStore {
  return createStore<OperationsState>()((set) => {
    const remember = (operation: Operation): void => {
      set((state) => ({ operations: { ...state.operations, [operation.id]: operation } }));
    };
    return {
      operations: {},
      error: undefined,
      async load() {
        try {
          const operations = await client.operations.list({});
          set({ operations: Object.fromEntries(operations.map((operation) => [operation.id, operation])) });
        } catch (error) {
          set({ error: toErrorData(error, 'list the running operations') });
        }
      },
      watch() {
        return client.operations.changed(remember);
      },
      async cancel(operationId) {
        try {
          remember(await client.operations.cancel({ operationId }));
        } catch (error) {
          set({ error: toErrorData(error, 'cancel the operation') });
        }
      },
      async dismiss(operationId) {
        try {
          await client.operations.dismiss({ operationId });
          set((state) => ({ operations: Object.fromEntries(Object.entries(state.operations).filter(([id]) => id !== operationId)) }));
        } catch (error) {
          set({ error: toErrorData(error, 'dismiss the result') });
        }
      },
    };
  });
}
