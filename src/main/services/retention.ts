import type { ExpireReport, ExpireRequest } from '../../shared/contract/retention.js';
import { runExpiry } from '../engines/retention/expire.js';
import { withRepositorySet, type ServiceContext } from './context.js';

/**
 * Applies the configured retention policy (`retention` in the config) to every
 * repository, or to the one named. `now` is the policy's clock: tests move it to
 * simulate months of backups; everything else leaves it out.
 */
export function expire(context: ServiceContext, request: ExpireRequest & { now?: () => Date }): Promise<ExpireReport> {
  return withRepositorySet(context, request.repository, (set) =>
    runExpiry(set, { policy: context.config.retention, dryRun: request.dryRun, ...(request.now ? { now: request.now } : {}) }),
  );
}
