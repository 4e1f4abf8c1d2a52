import type { ObjectivesConfig } from '../../../shared/config.js';
import type { Alert, HealthReport } from '../../../shared/contract/status.js';
import type { RepositoryEvent } from '../../repo/events.js';
import type { Fallback } from '../../repo/object-source.js';

/**
 * A health rule: a pure function from what was observed to the alerts it raises (none
 * when all is well). Rules never read a repository or a clock; `now` is given.
 */
export interface RuleInput {
  readonly report: Omit<HealthReport, 'alerts'>;
  readonly now: Date;
  readonly objectives: ObjectivesConfig;
  readonly events: readonly RepositoryEvent[];
  /** Copies found damaged or gone while observing (and read from another repository). */
  readonly damagedCopies?: readonly Fallback[];
}

export type HealthRule = (input: RuleInput) => Alert[];

export const day = 86_400_000;
