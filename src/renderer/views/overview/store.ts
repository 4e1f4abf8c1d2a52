import { createStore, type StoreApi } from 'zustand/vanilla';
import type { ContractClient } from '../../../shared/contract/index.js';
import type { EventEntry } from '../../../shared/contract/events.js';
import type { RepositoryInfo } from '../../../shared/contract/repository.js';
import type { HealthReport } from '../../../shared/contract/status.js';
import { fetchInto, notLoaded, type Remote } from '../../components/remote.js';

/** How far back the backup-success chart looks. */
export const backupHistoryDays = 30;

export interface OverviewState {
  readonly report: Remote<HealthReport>;
  /** For storage per repository where the status report lacks it. */
  readonly repositories: Remote<RepositoryInfo[]>;
  /** Backup events of the last `backupHistoryDays`, for success over time. */
  readonly backupEvents: Remote<EventEntry[]>;
  readonly load: () => Promise<void>;
}

export type OverviewStore = StoreApi<OverviewState>;

/** The three calls are independent: one failing (an unplugged repository, say) leaves the others on screen. */
export function createOverviewStore(client: ContractClient, now: () => Date = () => new Date()): OverviewStore {
  return createStore<OverviewState>()((set, get) => ({
    report: notLoaded(),
    repositories: notLoaded(),
    backupEvents: notLoaded(),
    async load() {
      const since = new Date(now().getTime() - backupHistoryDays * 86_400_000).toISOString();
      await Promise.all([
        fetchInto(() => get().report, (report) => set({ report }), 'read the recovery status', () => client.status.report({})),
        fetchInto(() => get().repositories, (repositories) => set({ repositories }), 'read the repositories', () => client.repository.info({})),
        fetchInto(
          () => get().backupEvents,
          (backupEvents) => set({ backupEvents }),
          'read the backup history',
          async () => (await client.events.query({ types: ['backup'], since })).events,
        ),
      ]);
    },
  }));
}
