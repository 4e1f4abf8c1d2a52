import type { RecoveryTarget, RestoreReport } from '../../shared/contract/restore.js';
import { runRestore, type RestoreOptions } from '../engines/restore/restore.js';
import { withRepositorySet, type ServiceContext } from './context.js';

export function restore(context: ServiceContext, options: { targetDir: string; target: RecoveryTarget; backupId?: string; from?: string; pause: boolean; port?: number; onProgress?: RestoreOptions['onProgress'] }): Promise<RestoreReport> {
  return withRepositorySet(context, undefined, (set) => runRestore(set, options));
}
