import type { RecoveryTarget } from '../../shared/contract/restore.js';
import type { PartialRestoreReport, RestoreTestRecord } from '../../shared/contract/restore-test.js';
import { runPartialRestore, type PartialRestoreOptions } from '../engines/partial-restore/partial-restore.js';
import { runRestoreTest, type RestoreTestOptions } from '../engines/restore-test/restore-test.js';
import { repositoryConfigs, withRepositorySet, type ServiceContext } from './context.js';

/** Where scratch instances go, and the roles that may log in to a restored copy. */
interface ScratchChoices {
  readonly from?: string;
  readonly bindir?: string;
  /** Parent directory of the scratch directory (default: the OS temp directory). */
  readonly scratchDir?: string;
  readonly signal?: AbortSignal;
}

function scratchOptions(context: ServiceContext, choices: ScratchChoices): Pick<RestoreTestOptions, 'from' | 'bindir' | 'scratch' | 'loginRoles' | 'signal'> {
  // An unknown repository name is a config mistake (exit 2), caught before anything runs.
  if (choices.from !== undefined) repositoryConfigs(context, choices.from);
  const user = context.config.cluster?.user;
  return {
    ...(choices.from === undefined ? {} : { from: choices.from }),
    ...(choices.bindir === undefined ? {} : { bindir: choices.bindir }),
    scratch: { ...(choices.scratchDir === undefined ? {} : { parentDir: choices.scratchDir }), ...(context.config.stateDir === undefined ? {} : { stateDir: context.config.stateDir }) },
    loginRoles: user === undefined ? [] : [user],
    ...(choices.signal ? { signal: choices.signal } : {}),
  };
}

/** Restores a backup (to the latest WAL, or a time) into a scratch instance and proves it; the record is in every repository. */
export function restoreTest(context: ServiceContext, options: ScratchChoices & { backupId?: string; time?: string; onProgress?: RestoreTestOptions['onProgress'] }): Promise<RestoreTestRecord> {
  const target: RecoveryTarget = options.time === undefined ? { kind: 'latest' } : { kind: 'time', time: options.time };
  return withRepositorySet(context, undefined, (set) =>
    runRestoreTest(set, {
      target,
      ...(options.backupId === undefined ? {} : { backupId: options.backupId }),
      ...scratchOptions(context, options),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    }),
  );
}

/** Brings tables back from a recovery point into a new schema of a live database, next to the current data. */
export function restoreTables(
  context: ServiceContext,
  options: ScratchChoices & Pick<PartialRestoreOptions, 'tables' | 'into' | 'target' | 'schema' | 'database' | 'onProgress'> & { backupId?: string },
): Promise<PartialRestoreReport> {
  return withRepositorySet(context, undefined, (set) =>
    runPartialRestore(set, {
      tables: options.tables,
      into: options.into,
      target: options.target,
      ...(options.schema === undefined ? {} : { schema: options.schema }),
      ...(options.database === undefined ? {} : { database: options.database }),
      ...(options.backupId === undefined ? {} : { backupId: options.backupId }),
      ...scratchOptions(context, options),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    }),
  );
}
