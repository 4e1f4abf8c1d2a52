import { vi } from 'vitest';
import type { ContractServer, Listener, Unsubscribe } from '../../src/shared/contract/index.js';
import type { RepositoryInfo, RepositoryProgress, VerifyReport } from '../../src/shared/contract/repository.js';

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

/** Services whose every member is a spy, and a way to emit progress as a running verify would. */
export function fakeServices() {
  const progressListeners = new Set<Listener<RepositoryProgress>>();
  const unsubscribeProgress = vi.fn<Unsubscribe>();
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
  };
  const services: ContractServer = { repository };
  return {
    services,
    repository,
    unsubscribeProgress,
    emitProgress(event: RepositoryProgress) {
      for (const listener of progressListeners) listener(event);
    },
  };
}
