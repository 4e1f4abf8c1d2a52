import { createStore, type StoreApi } from 'zustand/vanilla';
import { toErrorData, type ContractClient, type Unsubscribe } from '../shared/contract/index.js';
import type { RepositoryInfo, RepositoryProgress, VerifyReport } from '../shared/contract/repository.js';
import type { ErrorData } from '../shared/errors.js';

export interface DashboardState {
  readonly repositories: readonly RepositoryInfo[];
  readonly verifyReport: VerifyReport | undefined;
  readonly busy: 'loading' | 'verifying' | undefined;
  /** One sentence for the live region: what just happened or is happening now. */
  readonly status: string;
  /** The last call that failed as a whole (per-repository errors live in the data). */
  readonly error: ErrorData | undefined;
  readonly loadRepositories: () => Promise<void>;
  readonly verifyRepositories: () => Promise<void>;
  /** Mirrors repository progress events into `status`; returns the unsubscribe. */
  readonly watchProgress: () => Unsubscribe;
}

export type DashboardStore = StoreApi<DashboardState>;

function describeProgress(progress: RepositoryProgress): string {
  return `${progress.operation} of repository '${progress.repository}': ${progress.done} of ${progress.total} objects`;
}

/**
 * The dashboard's state, built on any contract client (the desktop bridge today, an
 * HTTP client for `drc serve` later). Actions never reject: every failure lands in
 * `error` so the page shows it.
 */
export function createDashboardStore(client: ContractClient): DashboardStore {
  return createStore<DashboardState>()((set) => ({
    repositories: [],
    verifyReport: undefined,
    busy: undefined,
    status: '',
    error: undefined,

    async loadRepositories() {
      set({ busy: 'loading', status: 'Loading repositories…', error: undefined });
      try {
        const repositories = await client.repository.info({});
        set({ repositories, status: `${repositories.length} repositories loaded.` });
      } catch (error) {
        set({ error: toErrorData(error, 'load the repositories'), status: 'Loading repositories failed.' });
      } finally {
        set({ busy: undefined });
      }
    },

    async verifyRepositories() {
      set({ busy: 'verifying', status: 'Verifying repositories…', error: undefined });
      try {
        const verifyReport = await client.repository.verify({});
        const troubled = verifyReport.repositories.filter((result) => result.problems.length > 0 || result.error !== undefined).length;
        set({
          verifyReport,
          status: verifyReport.ok ? 'Verification found no problems.' : `Verification found problems in ${troubled} of ${verifyReport.repositories.length} repositories.`,
        });
      } catch (error) {
        set({ error: toErrorData(error, 'verify the repositories'), status: 'Verification failed.' });
      } finally {
        set({ busy: undefined });
      }
    },

    watchProgress() {
      return client.repository.progress((progress) => {
        set({ status: describeProgress(progress) });
      });
    },
  }));
}
