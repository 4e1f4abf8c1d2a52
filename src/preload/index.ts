import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import {
  createContractClient,
  isContractChannel,
  type ContractClient,
  type ContractTransport,
  type ResultEnvelope,
} from '../shared/contract/index.js';
import { DrcError } from '../shared/errors.js';

/**
 * The only code with both the page and IPC in reach. It exposes ONE object,
 * `window.drc`, built from the contract, and refuses every channel the contract does
 * not name, so a compromised page cannot talk to main on a channel of its choosing.
 *
 * It runs in a sandboxed renderer, where `require` knows little beyond `electron`:
 * `scripts/build-app.mjs` bundles it with the contract into one CommonJS file.
 */

type IpcListener = (event: IpcRendererEvent, ...args: unknown[]) => void;

/** The part of `ipcRenderer` the bridge uses. */
export interface BridgeIpc {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: IpcListener): unknown;
  removeListener(channel: string, listener: IpcListener): unknown;
}

function refuseChannel(channel: string): DrcError {
  return new DrcError('USAGE', `unable to use channel '${channel}': it is not part of the DR Console contract`);
}

export function createIpcTransport(ipc: BridgeIpc): ContractTransport {
  return {
    async call(channel, input) {
      if (!isContractChannel(channel)) throw refuseChannel(channel);
      return (await ipc.invoke(channel, input)) as ResultEnvelope<unknown>;
    },
    listen(channel, listener) {
      if (!isContractChannel(channel)) throw refuseChannel(channel);
      // The IPC event is dropped on purpose: it holds `sender`, the ipcRenderer itself.
      const forward = (_event: IpcRendererEvent, payload: unknown): void => listener(payload);
      ipc.on(channel, forward);
      return () => {
        ipc.removeListener(channel, forward);
      };
    },
  };
}

export function createBridge(ipc: BridgeIpc): ContractClient {
  return createContractClient(createIpcTransport(ipc));
}

contextBridge.exposeInMainWorld('drc', createBridge(ipcRenderer));
