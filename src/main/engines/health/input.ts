import type { ObjectivesConfig } from '../../../shared/config.js';
import type { SchedulerOverview } from '../../../shared/contract/schedule.js';
import type { ClusterHealth, MediaKind, RepositoryHealth } from '../../../shared/contract/status.js';
import type { RepositoryEvent } from '../../repo/events.js';
import type { Fallback } from '../../repo/object-source.js';
import type { CatalogEntry } from '../backup/catalog.js';
import type { RepositoryWalStatus } from '../wal/status.js';

/** What `services/status.ts` observes, for the pure rules to judge. */
export interface RepositoryObservation {
  readonly repository: string;
  readonly media: MediaKind;
  readonly offsite: boolean;
  readonly state: RepositoryHealth['state'];
  readonly error?: { code: string; message: string };
  readonly bytesUsed?: number;
  readonly medium?: RepositoryHealth['medium'];
}

export interface HealthInput {
  readonly now: Date;
  readonly objectives: ObjectivesConfig;
  readonly cluster?: ClusterHealth;
  /** Every configured repository, reachable or not. */
  readonly repositories: readonly RepositoryObservation[];
  /** Backups in the reachable repositories, oldest first (as listBackups gives them), with the repositories holding each. */
  readonly backups: readonly CatalogEntry[];
  /** WAL archive of each reachable repository. */
  readonly wal: readonly RepositoryWalStatus[];
  /** Event history (the window `historySince` asks for), in any order. */
  readonly events: readonly RepositoryEvent[];
  readonly schedule: SchedulerOverview;
  /** Copies that were damaged or gone while the above was read, each served from another repository instead. */
  readonly damagedCopies?: readonly Fallback[];
}
