import type { RepositoryProgress } from '../../shared/contract/repository.js';
import type { ContractServer, Listener } from '../../shared/contract/index.js';
import { createContext } from './context.js';
import { healthReport } from './status.js';
import { backupDetail, listBackupViews } from './backup-history.js';
import { exportEvents, queryEvents } from './event-log.js';
import { planRestore } from './restore-plan.js';
import { restoreTestHistory } from './restore-test-history.js';
import { recoveryTimeline } from './timeline.js';
import { describeRepositories, sync, verify } from './repository.js';
import { startBackup, startPartialRestore, startRestore, startRestoreTest } from './console-operations.js';
import { OperationRegistry } from './operations.js';

/** The services, and the registry of what they run: a host cancels it all (`cancelAll()`) before it stops. */
export type ConsoleServices = ContractServer & { readonly operationRegistry: OperationRegistry };

/**
 * The contract's implementation, for the desktop app, the HTTP host and the CLI. The
 * config is read once at start; every call opens its targets, resolves its secrets and
 * closes them.
 */
export async function createServices(options: { configPath?: string | undefined }): Promise<ConsoleServices> {
  // The services back hosts that stay up (the desktop app, `drc serve`): keep the master key unlocked between calls.
  const context = await createContext({ keepUnlocked: true, ...(options.configPath === undefined ? {} : { configPath: options.configPath }) });
  const operations = new OperationRegistry();
  const progressListeners = new Set<Listener<RepositoryProgress>>();
  const onProgress = (progress: RepositoryProgress): void => {
    for (const listener of progressListeners) listener(progress);
  };
  return {
    operationRegistry: operations,
    status: {
      report: () => healthReport(context),
    },
    recovery: {
      timeline: (input) => recoveryTimeline(context, input),
      plan: (input) => planRestore(context, input),
      restore: (input) => startRestore(context, operations, input),
      restoreTables: (input) => startPartialRestore(context, operations, input),
    },
    backups: {
      list: () => listBackupViews(context),
      detail: (input) => backupDetail(context, input.backupId),
      start: (input) => startBackup(context, operations, input),
    },
    restoreTests: {
      history: (input) => restoreTestHistory(context, { backupId: input.backupId }),
      run: (input) => startRestoreTest(context, operations, input),
    },
    operations: {
      list: () => Promise.resolve(operations.list()),
      cancel: (input) => Promise.resolve(operations.cancel(input.operationId)),
      dismiss: (input) => {
        operations.dismiss(input.operationId);
        return Promise.resolve({});
      },
      changed: (listener) => operations.subscribe(listener),
    },
    events: {
      query: (input) => queryEvents(context, input),
      export: (input) => exportEvents(context, input),
    },
    repository: {
      info: (input) => describeRepositories(context, input.repository === undefined ? {} : { repository: input.repository }),
      verify: (input) => verify(context, { ...(input.repository === undefined ? {} : { repository: input.repository }), repair: input.repair, onProgress }),
      sync: (input) => sync(context, { from: input.from, to: input.to, onProgress }),
      progress: (listener) => {
        progressListeners.add(listener);
        return () => {
          progressListeners.delete(listener);
        };
      },
    },
  };
}
