import type { IpcRendererEvent } from 'electron';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { channelName, contract, type ChannelName, type ContractClient } from '../../src/shared/contract/index.js';
import type { ErrorData } from '../../src/shared/errors.js';
import { cleanVerifyReport } from './fixtures.js';

type IpcListener = (event: IpcRendererEvent, ...args: unknown[]) => void;

const electron = vi.hoisted(() => {
  const listeners = new Map<string, Set<IpcListener>>();
  const ipcRenderer = {
    listeners,
    invoke: vi.fn<(channel: string, ...args: unknown[]) => Promise<unknown>>(),
    on: vi.fn((channel: string, listener: IpcListener) => {
      listeners.set(channel, (listeners.get(channel) ?? new Set()).add(listener));
      return ipcRenderer;
    }),
    removeListener: vi.fn((channel: string, listener: IpcListener) => {
      listeners.get(channel)?.delete(listener);
      return ipcRenderer;
    }),
  };
  return { ipcRenderer, contextBridge: { exposeInMainWorld: vi.fn<(key: string, api: unknown) => void>() } };
});

vi.mock('electron', () => electron);

const { createIpcTransport } = await import('../../src/preload/index.js');

// Captured once: the preload exposes its bridge when it is loaded, as it does in the page.
const exposures = [...electron.contextBridge.exposeInMainWorld.mock.calls];

function exposedBridge(): ContractClient {
  const [exposure] = exposures;
  if (!exposure) throw new Error('the preload exposed nothing');
  return exposure[1] as ContractClient;
}

const mediaMissing: ErrorData = {
  code: 'MEDIA_NOT_PRESENT',
  message: "unable to open removable repository 'usb'",
  hints: ['plug in the drive labelled DRC-USB'],
  retryable: false,
};

beforeEach(() => {
  vi.clearAllMocks();
  electron.ipcRenderer.invoke.mockReset();
  electron.ipcRenderer.listeners.clear();
});

describe('preload bridge', () => {
  it('exposes exactly one object, window.drc, shaped like the contract', () => {
    expect(exposures).toHaveLength(1);
    expect(exposures[0]?.[0]).toBe('drc');

    const bridge = exposedBridge() as unknown as Record<string, Record<string, unknown>>;
    expect(Object.keys(bridge)).toEqual(Object.keys(contract));
    for (const [service, members] of Object.entries(contract)) {
      expect(Object.keys(bridge[service] ?? {})).toEqual(Object.keys(members));
    }
  });

  it('exposes functions only, never ipcRenderer itself', () => {
    const bridge = exposedBridge() as unknown as Record<string, Record<string, unknown>>;
    const leaves = Object.values(bridge).flatMap((service) => Object.values(service));

    expect(leaves.length).toBeGreaterThan(0);
    for (const leaf of leaves) expect(typeof leaf).toBe('function');
    expect(leaves).not.toContain(electron.ipcRenderer);
    expect(Object.values(bridge)).not.toContain(electron.ipcRenderer);
  });

  it('invokes the method channel and unwraps a successful envelope', async () => {
    electron.ipcRenderer.invoke.mockResolvedValueOnce({ ok: true, value: cleanVerifyReport });

    await expect(exposedBridge().repository.verify({ repository: 'usb' })).resolves.toEqual(cleanVerifyReport);
    expect(electron.ipcRenderer.invoke).toHaveBeenCalledWith(channelName('repository', 'verify'), { repository: 'usb' });
  });

  it('rejects with the ErrorData of a failed envelope', async () => {
    electron.ipcRenderer.invoke.mockResolvedValueOnce({ ok: false, error: mediaMissing });

    await expect(exposedBridge().repository.info({})).rejects.toEqual(mediaMissing);
  });

  it('rejects with INTERNAL ErrorData when IPC itself fails', async () => {
    electron.ipcRenderer.invoke.mockRejectedValueOnce(new Error("No handler registered for 'drc:repository.info'"));

    await expect(exposedBridge().repository.info({})).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('No handler registered') as unknown });
  });

  it('delivers subscription events without the IPC event and stops on unsubscribe', () => {
    const received: unknown[] = [];
    const unsubscribe = exposedBridge().repository.progress((event) => received.push(event));
    const channel = channelName('repository', 'progress');
    const progress = { operation: 'sync', repository: 's3', done: 1, total: 2, bytes: 10 };

    for (const listener of electron.ipcRenderer.listeners.get(channel) ?? []) listener({ sender: electron.ipcRenderer } as unknown as IpcRendererEvent, progress);
    unsubscribe();

    expect(received).toEqual([progress]);
    expect(electron.ipcRenderer.listeners.get(channel)?.size).toBe(0);
  });

  it('refuses a channel that is not in the contract', async () => {
    const transport = createIpcTransport(electron.ipcRenderer);
    const foreign = 'drc:shell.openExternal' as ChannelName;

    await expect(transport.call(foreign, {})).rejects.toMatchObject({ code: 'USAGE' });
    expect(() => transport.listen(foreign, () => undefined)).toThrow(/not part of the DR Console contract/);
    expect(electron.ipcRenderer.invoke).not.toHaveBeenCalled();
    expect(electron.ipcRenderer.on).not.toHaveBeenCalled();
  });
});
