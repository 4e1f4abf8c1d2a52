import { readFile } from 'node:fs/promises';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { channelName, channels, contractMembers, type ResultEnvelope } from '../../src/shared/contract/index.js';
import { DrcError } from '../../src/shared/errors.js';
import { registerSecret } from '../../src/main/secrets/redact.js';
import { cleanVerifyReport, fakeServices, usbRepository } from './fixtures.js';

type Listener = (...args: unknown[]) => unknown;

/** Just enough of Electron's main-process API to watch what the host does with it. */
const electron = vi.hoisted(() => {
  class FakeWebContents {
    readonly id = 1;
    readonly listeners = new Map<string, Listener>();
    readonly send = vi.fn();
    destroyed = false;
    windowOpenHandler: Listener | undefined;
    headersListener: Listener | undefined;
    permissionHandler: Listener | undefined;
    readonly session = {
      webRequest: {
        onHeadersReceived: (listener: Listener) => {
          this.headersListener = listener;
        },
      },
      setPermissionRequestHandler: (handler: Listener) => {
        this.permissionHandler = handler;
      },
    };
    on(event: string, listener: Listener): this {
      this.listeners.set(event, listener);
      return this;
    }
    setWindowOpenHandler(handler: Listener): void {
      this.windowOpenHandler = handler;
    }
    isDestroyed(): boolean {
      return this.destroyed;
    }
  }

  class FakeBrowserWindow {
    static readonly created: FakeBrowserWindow[] = [];
    readonly webContents = new FakeWebContents();
    readonly listeners = new Map<string, Listener>();
    readonly loadFile = vi.fn<(path: string) => Promise<void>>(() => Promise.resolve());
    constructor(readonly options: { webPreferences?: Record<string, unknown> }) {
      FakeBrowserWindow.created.push(this);
    }
    on(event: string, listener: Listener): this {
      this.listeners.set(event, listener);
      return this;
    }
  }

  const handlers = new Map<string, Listener>();
  return {
    BrowserWindow: FakeBrowserWindow,
    app: { whenReady: vi.fn(() => Promise.resolve()), on: vi.fn(), quit: vi.fn() },
    ipcMain: {
      handlers,
      handle: vi.fn((channel: string, listener: Listener) => {
        if (handlers.has(channel)) throw new Error(`second handler for ${channel}`);
        handlers.set(channel, listener);
      }),
      removeHandler: vi.fn((channel: string) => handlers.delete(channel)),
    },
  };
});

vi.mock('electron', () => electron);

const { contentSecurityPolicy, createMainWindow, serveContract, startDesktopApp } = await import('../../src/main/hosts/electron.js');

type FakeWebContents = InstanceType<typeof electron.BrowserWindow>['webContents'];

function invoke(channel: string, input: unknown, senderId = 1): Promise<ResultEnvelope<unknown>> {
  const handler = electron.ipcMain.handlers.get(channel);
  if (!handler) throw new Error(`no handler for ${channel}`);
  return handler({ sender: { id: senderId } }, input) as Promise<ResultEnvelope<unknown>>;
}

function navigationEvent(url: string) {
  return { url, preventDefault: vi.fn() };
}

beforeEach(() => {
  electron.ipcMain.handlers.clear();
  electron.BrowserWindow.created.length = 0;
  vi.clearAllMocks();
});

describe('serveContract', () => {
  let webContents: FakeWebContents;
  let fake: ReturnType<typeof fakeServices>;
  let served: ReturnType<typeof serveContract>;

  beforeEach(() => {
    webContents = new electron.BrowserWindow({}).webContents;
    fake = fakeServices();
    served = serveContract(electron.ipcMain, fake.services, webContents);
  });

  it('registers one handler per method and none for subscriptions', () => {
    const methods = contractMembers.filter((member) => member.kind === 'method').map((member) => member.channel);
    expect([...electron.ipcMain.handlers.keys()].sort()).toEqual([...methods].sort());
    expect(methods.length).toBeLessThan(channels.length);
  });

  it('passes a valid request to the service and returns its result', async () => {
    await expect(invoke(channelName('repository', 'info'), {})).resolves.toEqual({ ok: true, value: [usbRepository] });

    await expect(invoke(channelName('repository', 'verify'), { repository: 'usb' })).resolves.toEqual({ ok: true, value: cleanVerifyReport });
    // The service receives the parsed request, defaults filled in.
    expect(fake.repository.verify).toHaveBeenCalledWith({ repository: 'usb', repair: false });
  });

  it('rejects an invalid request as USAGE without calling the service', async () => {
    const result = await invoke(channelName('repository', 'verify'), { repair: 'yes please' });

    expect(result).toMatchObject({ ok: false, error: { code: 'USAGE', retryable: false } });
    expect(result.ok ? [] : result.error.hints).toEqual([expect.stringContaining('repair')]);
    expect(fake.repository.verify).not.toHaveBeenCalled();
    await expect(invoke(channelName('repository', 'sync'), undefined)).resolves.toMatchObject({ ok: false, error: { code: 'USAGE' } });
    expect(fake.repository.sync).not.toHaveBeenCalled();
  });

  it('returns the ErrorData of a DrcError the service throws', async () => {
    const error = new DrcError('MEDIA_NOT_PRESENT', "unable to open removable repository 'usb'", { hints: ['plug in the drive labelled DRC-USB'] });
    fake.repository.info.mockRejectedValueOnce(error);

    await expect(invoke(channelName('repository', 'info'), {})).resolves.toEqual({ ok: false, error: error.toData() });
  });

  it('turns an unexpected error into INTERNAL with secrets masked', async () => {
    registerSecret('s3cr3t-access-key');
    fake.repository.sync.mockRejectedValueOnce(new TypeError('request signed with s3cr3t-access-key was refused'));

    const result = await invoke(channelName('repository', 'sync'), { from: 'usb', to: 's3' });

    expect(result).toMatchObject({ ok: false, error: { code: 'INTERNAL', retryable: false } });
    expect(JSON.stringify(result)).not.toContain('s3cr3t-access-key');
    expect(result.ok ? '' : result.error.message).toContain("unable to run 'repository.sync': request signed with *** was refused");
  });

  it('sends only the fields the contract names', async () => {
    fake.repository.info.mockResolvedValueOnce([{ ...usbRepository, passphrase: 'correct horse' } as typeof usbRepository]);

    const result = await invoke(channelName('repository', 'info'), {});

    expect(result).toEqual({ ok: true, value: [usbRepository] });
  });

  it('reports a result that breaks the contract as INTERNAL', async () => {
    fake.repository.verify.mockResolvedValueOnce({ ok: 'maybe' } as unknown as typeof cleanVerifyReport);

    await expect(invoke(channelName('repository', 'verify'), {})).resolves.toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
  });

  it('refuses calls from any other window', async () => {
    const result = await invoke(channelName('repository', 'info'), {}, 2);

    expect(result).toMatchObject({ ok: false, error: { code: 'USAGE' } });
    expect(fake.repository.info).not.toHaveBeenCalled();
  });

  it('forwards subscription events to the window until disposed', () => {
    const progress = { operation: 'verify', repository: 'usb', done: 3, total: 12, bytes: 1024 } as const;
    fake.emitProgress(progress);
    expect(webContents.send).toHaveBeenCalledWith(channelName('repository', 'progress'), progress);

    webContents.destroyed = true;
    fake.emitProgress(progress);
    expect(webContents.send).toHaveBeenCalledTimes(1);
  });

  it('removes its handlers and subscriptions on dispose', () => {
    served.dispose();

    expect(electron.ipcMain.handlers.size).toBe(0);
    expect(fake.unsubscribeProgress).toHaveBeenCalledOnce();
    // Serving again (a reopened window) must not collide with stale handlers.
    expect(() => serveContract(electron.ipcMain, fake.services, webContents)).not.toThrow();
  });
});

describe('main window', () => {
  it('is created with Node kept out of the page', () => {
    const window = createMainWindow();

    expect(window.webContents).toBeDefined();
    const [created] = electron.BrowserWindow.created;
    expect(created?.options.webPreferences).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true });
    expect(created?.options.webPreferences?.['preload']).toMatch(/preload[/\\]index\.cjs$/);
  });

  it('refuses navigation to anything but the app', () => {
    createMainWindow();
    const contents = electron.BrowserWindow.created[0]?.webContents;
    const navigate = contents?.listeners.get('will-frame-navigate');
    const redirect = contents?.listeners.get('will-redirect');
    if (!navigate || !redirect) throw new Error('navigation guards not installed');

    for (const url of ['https://attacker.example/', 'file:///etc/passwd', 'javascript:alert(1)', 'not a url']) {
      const event = navigationEvent(url);
      navigate(event);
      expect(event.preventDefault, url).toHaveBeenCalled();
      const redirected = navigationEvent(url);
      redirect(redirected);
      expect(redirected.preventDefault, url).toHaveBeenCalled();
    }

    const appUrl = new URL('../../src/renderer/index.html#verify', import.meta.url).href;
    const inApp = navigationEvent(appUrl);
    navigate(inApp);
    expect(inApp.preventDefault).not.toHaveBeenCalled();
  });

  it('refuses every window.open and permission request', () => {
    createMainWindow();
    const contents = electron.BrowserWindow.created[0]?.webContents;

    expect(contents?.windowOpenHandler?.({ url: 'https://attacker.example/' })).toEqual({ action: 'deny' });
    const grant = vi.fn();
    contents?.permissionHandler?.(contents, 'media', grant);
    expect(grant).toHaveBeenCalledWith(false);
  });

  it('sends the Content-Security-Policy with every response, the same one index.html declares', async () => {
    createMainWindow();
    const callback = vi.fn();
    electron.BrowserWindow.created[0]?.webContents.headersListener?.({ responseHeaders: { 'Content-Type': ['text/html'] } }, callback);

    expect(callback).toHaveBeenCalledWith({ responseHeaders: { 'Content-Type': ['text/html'], 'Content-Security-Policy': [contentSecurityPolicy] } });
    const page = await readFile(new URL('../../src/renderer/index.html', import.meta.url), 'utf8');
    expect(/http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(page)?.[1]).toBe(contentSecurityPolicy);
  });
});

describe('startDesktopApp', () => {
  it('serves the contract to its window, loads the dashboard and stops serving when the window closes', async () => {
    const fake = fakeServices();

    await startDesktopApp(fake.services);

    const window = electron.BrowserWindow.created[0];
    expect(electron.app.whenReady).toHaveBeenCalled();
    expect(window?.loadFile).toHaveBeenCalledWith(expect.stringMatching(/renderer[/\\]index\.html$/));
    await expect(invoke(channelName('repository', 'info'), {})).resolves.toMatchObject({ ok: true });

    window?.listeners.get('closed')?.();

    expect(electron.ipcMain.handlers.size).toBe(0);
    expect(fake.unsubscribeProgress).toHaveBeenCalledOnce();
  });
});
