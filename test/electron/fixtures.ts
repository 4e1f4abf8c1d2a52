import { vi } from 'vitest';
import type { ContractServer, Listener, Unsubscribe } from '../../src/shared/contract/index.js';
import type { EventPage } from '../../src/shared/contract/events.js';
import type { Operation } from '../../src/shared/contract/operations.js';
import type { RepositoryInfo, RepositoryProgress, VerifyReport } from '../../src/shared/contract/repository.js';
import { DrcError } from '../../src/shared/errors.js';

export const usbRepository: RepositoryInfo = {
  repository: 'usb',
  type: 'removable',
  location: '/media/dba/DRC-USB',
  media: 'removable',
  offsite: true,
  initialized: true,
  keySlots: [{ id: 'k1', label: 'dba', createdAt: '2025-01-02T03:04:05Z' }],
  objects: { chunks: { count: 12, bytes: 4096 } },
};

export const cleanVerifyReport: VerifyReport = {
  ok: true,
  repaired: false,
  repositories: [{ repository: 'usb', objectsChecked: 12, bytesChecked: 4096, problems: [] }],
};

export const emptyEventPage: EventPage = { events: [], truncated: false, types: [], unreachable: [], unreadable: [] };

/** A restore into /srv/pg/restored, half way through its WAL. */
export function runningRestore(overrides: Partial<Operation> = {}): Operation {
  return {
    id: 'op-restore-1',
    kind: 'restore',
    title: 'Restore to 2025-03-04T05:06:07Z into /srv/pg/restored',
    state: 'running',
    phase: 'replaying WAL',
    createdAt: '2025-03-04T06:00:00.000Z',
    startedAt: '2025-03-04T06:00:01.000Z',
    message: 'replaying WAL: 40 of 90 segments',
    fallbacks: [],
    cancellable: true,
    cancelEffect: 'the target directory is emptied again; the repositories are untouched',
    ...overrides,
  };
}

type Members<Service extends keyof ContractServer> = { -readonly [Member in keyof ContractServer[Service]]: ContractServer[Service][Member] };

/** A member no test of the shell calls: a spy that says so if it ever is. */
function unfaked(name: string) {
  return vi.fn((): Promise<never> => Promise.reject(new DrcError('INTERNAL', `unable to run '${name}': not faked in this test`)));
}

/**
 * Services whose every member is a spy: repositories with progress a running verify
 * would emit, and an operations list whose cancel settles the operation the way the
 * real operations service does (at once, or when the test says so).
 */
export function fakeServices() {
  const progressListeners = new Set<Listener<RepositoryProgress>>();
  const unsubscribeProgress = vi.fn<Unsubscribe>();
  const operationListeners = new Set<Listener<Operation>>();
  const operationsById = new Map<string, Operation>();
  let settleOnCancel = true;

  const settle = (operationId: string, state: Operation['state']): void => {
    const operation = operationsById.get(operationId);
    if (!operation) return;
    const settled = { ...operation, state, finishedAt: new Date().toISOString(), message: `${operation.title}: ${state}` };
    operationsById.set(operationId, settled);
    for (const listener of operationListeners) listener(settled);
  };

  const repository = {
    info: vi.fn<ContractServer['repository']['info']>(() => Promise.resolve([usbRepository])),
    verify: vi.fn<ContractServer['repository']['verify']>(() => Promise.resolve(cleanVerifyReport)),
    sync: vi.fn<ContractServer['repository']['sync']>(() =>
      Promise.resolve({ from: 'usb', to: 's3', objectsCopied: 0, bytesCopied: 0, objectsAlreadyPresent: 12, skippedCorrupt: [] }),
    ),
    progress: vi.fn<ContractServer['repository']['progress']>((listener) => {
      progressListeners.add(listener);
      return () => {
        progressListeners.delete(listener);
        unsubscribeProgress();
      };
    }),
  } satisfies Members<'repository'>;

  const operations = {
    list: vi.fn<ContractServer['operations']['list']>(() => Promise.resolve([...operationsById.values()])),
    cancel: vi.fn<ContractServer['operations']['cancel']>(({ operationId }) => {
      const operation = operationsById.get(operationId);
      if (!operation) return Promise.reject(new DrcError('USAGE', `unable to cancel operation '${operationId}': there is no such operation`));
      if (settleOnCancel) settle(operationId, 'cancelled');
      return Promise.resolve(operationsById.get(operationId) ?? operation);
    }),
    dismiss: vi.fn<ContractServer['operations']['dismiss']>(({ operationId }) => {
      operationsById.delete(operationId);
      return Promise.resolve({});
    }),
    changed: vi.fn<ContractServer['operations']['changed']>((listener) => {
      operationListeners.add(listener);
      return () => {
        operationListeners.delete(listener);
      };
    }),
  } satisfies Members<'operations'>;

  const events = {
    query: vi.fn<ContractServer['events']['query']>(() => Promise.resolve(emptyEventPage)),
    export: unfaked('events.export'),
  } satisfies Members<'events'>;

  const services: ContractServer = {
    status: { report: unfaked('status.report') },
    recovery: {
      timeline: unfaked('recovery.timeline'),
      plan: unfaked('recovery.plan'),
      restore: unfaked('recovery.restore'),
      restoreTables: unfaked('recovery.restoreTables'),
    },
    backups: {
      list: unfaked('backups.list'),
      detail: unfaked('backups.detail'),
      start: unfaked('backups.start'),
    },
    restoreTests: {
      history: unfaked('restoreTests.history'),
      run: unfaked('restoreTests.run'),
    },
    operations,
    events,
    repository,
  };
  return {
    services,
    repository,
    operations,
    events,
    unsubscribeProgress,
    emitProgress(event: RepositoryProgress) {
      for (const listener of progressListeners) listener(event);
    },
    /** Puts an operation in the list, as starting a restore or backup would. */
    addOperation(operation: Operation) {
      operationsById.set(operation.id, operation);
    },
    /** Makes cancel only ask: the operation stays running until `settle` (an engine that never stops, or stops late). */
    holdCancellations() {
      settleOnCancel = false;
    },
    settle,
  };
}
