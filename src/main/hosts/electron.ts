import { fileURLToPath, pathToFileURL } from 'node:url';
import { app, BrowserWindow, ipcMain, type IpcMain, type IpcMainInvokeEvent, type WebContents } from 'electron';
import {
  callService,
  contractMembers,
  subscribeService,
  type ContractServer,
  type ResultEnvelope,
  type Unsubscribe,
} from '../../shared/contract/index.js';
import { DrcError } from '../../shared/errors.js';
import { redactDeep } from '../secrets/redact.js';

/**
 * The desktop shell: one locked-down window and one IPC handler per contract method.
 * Everything below this file runs under plain Node, so the same services also back
 * `drc serve` and the CLI.
 */

/** Compiled to `dist/main/hosts/`; the renderer and preload bundles sit beside `dist/main/`. */
const rendererIndexPath = fileURLToPath(new URL('../../renderer/index.html', import.meta.url));
const preloadPath = fileURLToPath(new URL('../../preload/index.cjs', import.meta.url));
const appUrl = pathToFileURL(rendererIndexPath);

/**
 * The page loads only its own files and talks to nothing but the preload bridge (and,
 * under `drc serve`, its own origin). `src/renderer/index.html` carries the same policy
 * in a meta tag, which holds however the page is loaded — file:// responses need not
 * pass through webRequest; a test keeps the two equal.
 */
export const contentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; object-src 'none'";

export type IpcMainPort = Pick<IpcMain, 'handle' | 'removeHandler'>;
export type WebContentsPort = Pick<WebContents, 'id' | 'send' | 'isDestroyed'>;

export interface ServedContract {
  /** Removes every handler and ends every subscription, so the contract can be served again. */
  dispose(): void;
}

/**
 * Registers one `ipcMain.handle` per contract method and forwards every subscription
 * to `webContents`. Everything sent to the renderer passes through `redactDeep`, so a
 * credential echoed inside a driver's error message never reaches the page.
 */
export function serveContract(ipc: IpcMainPort, services: ContractServer, webContents: WebContentsPort): ServedContract {
  const unsubscribes: Unsubscribe[] = [];
  const handledChannels: string[] = [];

  for (const member of contractMembers) {
    if (member.kind === 'method') {
      ipc.handle(member.channel, async (event: IpcMainInvokeEvent, input: unknown): Promise<ResultEnvelope<unknown>> => {
        // Only the window this contract was served to may call it: not a second window,
        // not a frame some future bug lets in.
        if (event.sender.id !== webContents.id) {
          return {
            ok: false,
            error: new DrcError('USAGE', `unable to call '${member.service}.${member.member}' from a window DR Console did not open`).toData(),
          };
        }
        return redactDeep(await callService(services, member, input));
      });
      handledChannels.push(member.channel);
    } else {
      unsubscribes.push(
        subscribeService(services, member, (payload) => {
          if (!webContents.isDestroyed()) webContents.send(member.channel, redactDeep(payload));
        }),
      );
    }
  }

  return {
    dispose() {
      for (const channel of handledChannels) ipc.removeHandler(channel);
      for (const unsubscribe of unsubscribes) unsubscribe();
    },
  };
}

function isAppUrl(url: string): boolean {
  try {
    const target = new URL(url);
    return target.protocol === appUrl.protocol && target.pathname === appUrl.pathname;
  } catch {
    return false;
  }
}

/** The one window: no Node in the page, no navigation away from the app, no pop-ups. */
export function createMainWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1280,
    height: 860,
    title: 'DR Console',
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    },
  });
  const { webContents } = window;

  webContents.session.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [contentSecurityPolicy] } });
  });
  // The dashboard needs no camera, notifications or clipboard; a prompt would only confuse.
  webContents.session.setPermissionRequestHandler((_webContents, _permission, callback) => {
    callback(false);
  });

  const refuseForeignNavigation = (event: Electron.Event<{ url: string }>): void => {
    if (!isAppUrl(event.url)) event.preventDefault();
  };
  webContents.on('will-frame-navigate', refuseForeignNavigation);
  webContents.on('will-redirect', refuseForeignNavigation);
  // Every window.open is refused, even to the app: a second window would not be served
  // the contract (see `serveContract`) and remote content never belongs in this shell.
  webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  webContents.on('will-attach-webview', (event) => {
    event.preventDefault();
  });

  return window;
}

/**
 * Starts the desktop app on top of ready-made services. It quits when its window
 * closes on every platform, macOS included: the services are served to that one window.
 */
export async function startDesktopApp(services: ContractServer): Promise<void> {
  await app.whenReady();
  app.on('window-all-closed', () => {
    app.quit();
  });
  const window = createMainWindow();
  const served = serveContract(ipcMain, services, window.webContents);
  window.on('closed', () => {
    served.dispose();
  });
  await window.loadFile(rendererIndexPath);
}
