import { describe, expect, it, vi } from 'vitest';
import type { RepositoryInfo, RepositoryProgress, VerifyReport } from '../../../shared/contract/repository.js';
import { formatBytes } from '../../components/format.js';
import { failure, fakeClient } from '../../testing/fake-client.js';
import { createRepositoriesStore, describeRepositoryProgress } from './store.js';

const repositories: RepositoryInfo[] = [
  { repository: 'local', type: 'local', location: '/srv/local', media: 'fixed', offsite: false, initialized: true, keySlots: [], objects: {} },
];

describe('repositories store', () => {
  it('verifies one repository, shows progress only while it runs, then reloads the table', async () => {
    let emit: (progress: RepositoryProgress) => void = () => undefined;
    let finish: (report: VerifyReport) => void = () => undefined;
    const info = vi.fn(() => Promise.resolve(repositories));
    const verify = vi.fn(
      () =>
        new Promise<VerifyReport>((resolve) => {
          finish = resolve;
        }),
    );
    const store = createRepositoriesStore(
      fakeClient({
        repository: {
          info,
          verify,
          progress: (listener) => {
            emit = listener;
            return () => undefined;
          },
        },
      }),
    );
    const stop = store.getState().watchProgress();
    emit({ operation: 'verify', repository: 'local', done: 1, total: 4, bytes: 10 });
    expect(store.getState().progress).toBeUndefined();

    const running = store.getState().verify('local', true);
    expect(store.getState().running).toEqual({ kind: 'verify', repository: 'local' });
    emit({ operation: 'verify', repository: 'local', done: 2, total: 4, bytes: 2048 });
    expect(describeRepositoryProgress(store.getState().progress as RepositoryProgress, formatBytes)).toBe("Verifying repository 'local': 2 of 4 objects, 2.0 KiB");

    finish({ ok: true, repaired: false, repositories: [{ repository: 'local', objectsChecked: 4, bytesChecked: 2048, problems: [] }] });
    await running;
    expect(verify).toHaveBeenCalledWith({ repository: 'local', repair: true });
    expect(store.getState()).toMatchObject({ running: undefined, verifyReport: { ok: true }, repositories: { value: repositories } });
    expect(info).toHaveBeenCalledTimes(1);
    stop();
  });

  it('keeps a failed sync as an error with its hints', async () => {
    const store = createRepositoriesStore(
      fakeClient({
        repository: {
          info: () => Promise.resolve(repositories),
          sync: () => failure('MEDIA_NOT_PRESENT', "unable to sync to repository 'usb': the medium is not plugged in", ['plug in the USB disk']),
        },
      }),
    );
    await store.getState().sync('local', 'usb');
    expect(store.getState()).toMatchObject({ running: undefined, syncReport: undefined, workError: { code: 'MEDIA_NOT_PRESENT', hints: ['plug in the USB disk'] } });
  });
});
