import type { RecoveryTarget, RestoreReport } from '../../shared/contract/restore.js';
import { DrcError } from '../../shared/errors.js';
import { runRestore, type RestoreOptions } from '../engines/restore/restore.js';
import { describeTarget } from '../engines/restore/select.js';
import { newEvent } from '../repo/events.js';
import { everything, readsOfBackup, whileLeased } from '../repo/leases.js';
import { recordInEvery } from '../repo/repository.js';
import { withRepositorySet, type ServiceContext } from './context.js';

export interface RestoreRequest {
  targetDir: string;
  target: RecoveryTarget;
  backupId?: string;
  /** `--accept-gap`: `--latest` may stop at a hole in the WAL instead of refusing. */
  onGap?: RestoreOptions['onGap'];
  from?: string;
  pause: boolean;
  port?: number;
  onProgress?: RestoreOptions['onProgress'];
  signal?: AbortSignal;
  eventDetails?: RestoreOptions['eventDetails'];
  /** Details of the failure event; without it a failed restore is reported to the caller only, as `drc restore` always did. */
  onFailure?: (error: DrcError, cancelled: boolean) => Record<string, unknown>;
}

export function restore(context: ServiceContext, options: RestoreRequest): Promise<RestoreReport> {
  const { onFailure, ...engine } = options;
  // The lease keeps `expire` from deleting what the restore reads. It covers every backup
  // and all WAL while the engine chooses (a lease taken after the choice would leave expire
  // a moment to delete the chosen one), then only the chosen backup and the WAL after it.
  return withRepositorySet(context, undefined, (set) =>
    whileLeased(set.repositories, `restore into ${options.targetDir}`, everything, async (lease) => {
      try {
        return await runRestore(set, { ...engine, onBackupChosen: (plan) => lease.narrow(readsOfBackup(plan.backup.record)) });
      } catch (error) {
        if (onFailure && error instanceof DrcError) {
          const cancelled = options.signal?.aborted === true;
          const event = newEvent('restore', 'failure', `restore to ${describeTarget(options.target)} into ${options.targetDir} ${cancelled ? 'cancelled' : 'failed'}: ${error.message}`, {
            targetDir: options.targetDir,
            target: options.target,
            ...onFailure(error, cancelled),
          });
          // Best effort, as for a failed backup: the caller sees the failure whether or not it could be recorded.
          await recordInEvery(set.repositories, event).catch(() => undefined);
        }
        throw error;
      }
    }),
  );
}
