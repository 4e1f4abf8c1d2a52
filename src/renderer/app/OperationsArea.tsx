import { useStore } from 'zustand';
import type { Operation, OperationKind } from '../../shared/contract/operations.js';
import { OperationProgress } from '../operations/OperationProgress.js';
import { useConsole } from './console-context.js';
import type { ViewId } from './routes.js';

const progressLabel: Readonly<Record<OperationKind, string>> = {
  backup: 'Backup progress',
  restore: 'Restore progress',
  'partial-restore': 'Partial restore progress',
  'restore-test': 'Restore test progress',
  verify: 'Verification progress',
  sync: 'Sync progress',
};

/** Views that show their own kinds of operation in full; the global area leaves those to them, so no bar appears twice. */
const shownByView: Readonly<Partial<Record<ViewId, readonly OperationKind[]>>> = {
  backups: ['backup'],
  timeline: ['restore', 'partial-restore'],
  'restore-tests': ['restore-test'],
  repositories: ['verify', 'sync'],
};

export function operationsOutsideView(operations: readonly Operation[], view: ViewId): Operation[] {
  const own = shownByView[view] ?? [];
  return operations.filter((operation) => !own.includes(operation.kind)).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

/**
 * Every running or finished operation, whatever view is open: progress survives a view
 * change, and a result stays here until the person dismisses it.
 */
export function OperationsArea({ view }: { view: ViewId }) {
  const { operations } = useConsole();
  const all = useStore(operations, (state) => state.operations);
  const shown = operationsOutsideView(Object.values(all), view);
  if (shown.length === 0) return null;
  return (
    <aside className="operations-area" aria-labelledby="operations-heading">
      <h2 id="operations-heading">Operations</h2>
      {shown.map((operation) => (
        <OperationProgress key={operation.id} operationId={operation.id} label={`${progressLabel[operation.kind]}: ${operation.title}`} />
      ))}
    </aside>
  );
}

export { progressLabel };
