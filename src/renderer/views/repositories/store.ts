import { createStore, type StoreApi } from 'zustand/vanilla';
import { toErrorData, type ContractClient, type Unsubscribe } from '../../../shared/contract/index.js';
import type { RepositoryInfo, RepositoryProgress, SyncReport, VerifyReport } from '../../../shared/contract/repository.js';
import type { ErrorData } from '../../../shared/errors.js';
import { fetchInto, notLoaded, type Remote } from '../../components/remote.js';

export type RepositoryWork = { readonly kind: 'verify'; readonly repository: string | undefined } | { readonly kind: 'sync'; readonly from: string; readonly to: string };

export interface RepositoriesState {
  readonly repositories: Remote<RepositoryInfo[]>;
  /** What runs now; one verify or sync at a time from this view. */
  readonly running: RepositoryWork | undefined;
  /** The newest progress report of the running work. */
  readonly progress: RepositoryProgress | undefined;
  readonly verifyReport: VerifyReport | undefined;
  readonly syncReport: SyncReport | undefined;
  readonly workError: ErrorData | undefined;
  readonly load: () => Promise<void>;
  /** No repository: all of them. */
  readonly verify: (repository: string | undefined, repair: boolean) => Promise<void>;
  readonly sync: (from: string, to: string) => Promise<void>;
  readonly watchProgress: () => Unsubscribe;
}

export type RepositoriesStore = StoreApi<RepositoriesState>;

/** "Verifying repository 'usb': 12 of 40 objects" — the progress in words, for the bar's value text. */
export function describeRepositoryProgress(progress: RepositoryProgress, formatBytes: (bytes: number) => string): string {
  const verb = progress.operation === 'verify' ? 'Verifying' : progress.operation === 'sync' ? 'Syncing' : 'Initializing';
  return `${verb} repository '${progress.repository}': ${String(progress.done)} of ${String(progress.total)} objects, ${formatBytes(progress.bytes)}`;
}

export function createRepositoriesStore(client: ContractClient): RepositoriesStore {
  return createStore<RepositoriesState>()((set, get) => {
    const runWork = async (work: RepositoryWork, call: () => Promise<Partial<RepositoriesState>>, action: string): Promise<void> => {
      set({ running: work, progress: undefined, workError: undefined });
      try {
        set({ ...(await call()), running: undefined });
      } catch (error) {
        set({ running: undefined, workError: toErrorData(error, action) });
      }
      // Verify may repair and sync adds objects: the counts in the table are stale now.
      await get().load();
    };
    return {
      repositories: notLoaded(),
      running: undefined,
      progress: undefined,
      verifyReport: undefined,
      syncReport: undefined,
      workError: undefined,
      async load() {
        await fetchInto(() => get().repositories, (repositories) => set({ repositories }), 'read the repositories', () => client.repository.info({}));
      },
      async verify(repository, repair) {
        await runWork(
          { kind: 'verify', repository },
          async () => ({ verifyReport: await client.repository.verify({ ...(repository === undefined ? {} : { repository }), repair }), syncReport: undefined }),
          repository === undefined ? 'verify the repositories' : `verify repository '${repository}'`,
        );
      },
      async sync(from, to) {
        await runWork(
          { kind: 'sync', from, to },
          async () => ({ syncReport: await client.repository.sync({ from, to }), verifyReport: undefined }),
          `sync repository '${from}' to '${to}'`,
        );
      },
      watchProgress() {
        return client.repository.progress((progress) => {
          if (get().running !== undefined) set({ progress });
        });
      },
    };
  });
}
