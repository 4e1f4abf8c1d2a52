import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { channelName, channels, contractMembers, type ResultEnvelope } from '../../src/shared/contract/index.js';
import { DrcError } from '../../src/shared/errors.js';
import { registerSecret } from '../../src/main/secrets/redact.js';
import { fakeEvent } from './fake-electron.js';
import { cleanVerifyReport, fakeServices, usbRepository } from './fixtures.js';

const electron = await vi.hoisted(async () => (await import('./fake-electron.js')).createFakeElectron());

vi.mock('electron', () => electron);

const { appEntryUrl, contentSecurityPolicy, createMainWindow, registerAppScheme, serveAppFile, serveContract } = await import('../../src/main/hosts/electron.js');

type FakeWebContents = InstanceType<typeof electron.BrowserWindow>['webContents'];

interface Sender {
  readonly id: number;
  readonly frame: { processId: number; routingId: number; url: string } | null;
}

/** The app's page in the main frame of window 1, as Electron describes a call from it. */
const appPage: Sender = { id: 1, frame: { processId: 7, routingId: 1, url: 'app://console/' } };

function invoke(channel: string, input: unknown, sender: Sender = appPage): Promise<ResultEnvelope<unknown>> {
  const handler = electron.ipcMain.handlers.get(channel);
  if (!handler) throw new Error(`no handler for ${channel}`);
  return handler({ sender: { id: sender.id }, senderFrame: sender.frame } as never, input as never) as Promise<ResultEnvelope<unknown>>;
}

beforeEach(() => {
  vi.clearAllMocks();
  electron.reset();
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

  it('refuses calls from any other window, an iframe, a navigated page or a vanished frame', async () => {
    const refused: Record<string, Sender> = {
      'another window': { ...appPage, id: 2 },
      'an iframe of the window': { id: 1, frame: { processId: 7, routingId: 5, url: 'app://console/' } },
      'a frame in another renderer process': { id: 1, frame: { processId: 8, routingId: 1, url: 'app://console/' } },
      'the window after it navigated away': { id: 1, frame: { processId: 7, routingId: 1, url: 'https://attacker.example/' } },
      'a look-alike of the app': { id: 1, frame: { processId: 7, routingId: 1, url: 'app://console.attacker.example/' } },
      'a frame that is gone': { id: 1, frame: null },
    };
    for (const [who, sender] of Object.entries(refused)) {
      webContents.mainFrame.url = sender.frame?.url ?? 'app://console/';
      const result = await invoke(channelName('repository', 'info'), {}, sender);
      expect(result, who).toMatchObject({ ok: false, error: { code: 'USAGE', message: expect.stringContaining('from a page DR Console did not load') as unknown } });
    }
    expect(fake.repository.info).not.toHaveBeenCalled();

    webContents.mainFrame.url = 'app://console/backups';
    await expect(invoke(channelName('repository', 'info'), {}, { id: 1, frame: { processId: 7, routingId: 1, url: 'app://console/backups' } })).resolves.toMatchObject({ ok: true });
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
  function contentsOfNewWindow(): FakeWebContents {
    createMainWindow();
    const contents = electron.BrowserWindow.created[0]?.webContents;
    if (!contents) throw new Error('no window was created');
    return contents;
  }

  it('keeps Node out of the page: context isolation, sandbox, no Node integration anywhere', () => {
    createMainWindow();

    const [created] = electron.BrowserWindow.created;
    expect(created?.options.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    });
    expect(created?.options.webPreferences?.['preload']).toMatch(/preload[/\\]index\.cjs$/);
  });

  it('refuses navigation, frame navigation and redirects to anything but the app, comparing parsed URLs', () => {
    const contents = contentsOfNewWindow();
    const guards = ['will-navigate', 'will-frame-navigate', 'will-redirect'].map((name) => {
      const guard = contents.listeners.get(name);
      if (!guard) throw new Error(`${name} is not guarded`);
      return [name, guard] as const;
    });
    const foreign = [
      'https://attacker.example/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'not a url',
      // Each of these starts with the app's address: a startsWith check would let it through.
      'app://console.attacker.example/',
      'app://consolex/',
      'app://console@attacker.example/',
      'app://console:8080/',
    ];

    for (const [name, guard] of guards) {
      for (const url of foreign) {
        const event = fakeEvent(url);
        guard(event as never);
        expect(event.preventDefault, `${name} ${url}`).toHaveBeenCalled();
      }
      const inApp = fakeEvent(`${appEntryUrl}backups`);
      guard(inApp as never);
      expect(inApp.preventDefault, name).not.toHaveBeenCalled();
    }

    const webview = fakeEvent();
    contents.listeners.get('will-attach-webview')?.(webview as never);
    expect(webview.preventDefault).toHaveBeenCalled();
  });

  it('refuses every window.open, permission request and permission check', () => {
    const contents = contentsOfNewWindow();

    expect(contents.windowOpenHandler?.({ url: 'https://attacker.example/' } as never)).toEqual({ action: 'deny' });
    expect(contents.windowOpenHandler?.({ url: appEntryUrl } as never)).toEqual({ action: 'deny' });
    for (const permission of ['media', 'notifications', 'clipboard-read', 'geolocation', 'openExternal']) {
      const grant = vi.fn();
      contents.permissionRequestHandler?.(contents as never, permission as never, grant as never);
      expect(grant, permission).toHaveBeenCalledWith(false);
      expect(contents.permissionCheckHandler?.(contents as never, permission as never, appEntryUrl as never), permission).toBe(false);
    }
  });

  it('sends the Content-Security-Policy with every response, the same one index.html declares', async () => {
    const contents = contentsOfNewWindow();
    const callback = vi.fn();
    contents.headersListener?.({ responseHeaders: { 'Content-Type': ['text/html'] } } as never, callback as never);

    expect(callback).toHaveBeenCalledWith({ responseHeaders: { 'Content-Type': ['text/html'], 'Content-Security-Policy': [contentSecurityPolicy] } });
    const page = await readFile(new URL('../../src/renderer/index.html', import.meta.url), 'utf8');
    expect(/http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(page)?.[1]).toBe(contentSecurityPolicy);
  });
});

describe('the app:// protocol', () => {
  let root: string;
  let bundle: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'drc-app-protocol-'));
    bundle = join(root, 'renderer');
    await mkdir(bundle);
    await writeFile(join(bundle, 'index.html'), '<!doctype html><title>DR Console</title>');
    await writeFile(join(bundle, 'main.js'), 'console.log("dashboard")');
    // Beside the bundle, as dist/main is beside dist/renderer: never to be served.
    await writeFile(join(root, 'secret.json'), '{"passphrase":"correct horse"}');
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('registers app: as a privileged standard, secure scheme and nothing more', () => {
    registerAppScheme();

    expect(electron.protocol.registerSchemesAsPrivileged).toHaveBeenCalledWith([{ scheme: 'app', privileges: { standard: true, secure: true } }]);
  });

  it('serves the page for every view address, and the bundle with its type and the CSP', async () => {
    for (const path of ['', 'backups', 'admin/backups', 'timeline/']) {
      const response = await serveAppFile({ url: `${appEntryUrl}${path}` }, bundle);
      expect(response.status, path).toBe(200);
      expect(await response.text(), path).toContain('<title>DR Console</title>');
      expect(response.headers.get('Content-Security-Policy')).toBe(contentSecurityPolicy);
      expect(response.headers.get('Content-Type')).toBe('text/html; charset=utf-8');
    }
    const script = await serveAppFile({ url: `${appEntryUrl}main.js` }, bundle);
    expect(script.headers.get('Content-Type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('X-Content-Type-Options')).toBe('nosniff');
    expect(await script.text()).toContain('dashboard');
  });

  it('never reads outside the bundle, nor answers another host', async () => {
    for (const url of [
      'app://console/../secret.json',
      'app://console/%2e%2e/secret.json',
      'app://console/..%2Fsecret.json',
      'app://console/..%5Csecret.json',
      `app://console/${encodeURIComponent(join(root, 'secret.json'))}`,
      'app://other/index.html',
      'app://console/missing.js',
      'file:///etc/passwd',
    ]) {
      const response = await serveAppFile({ url }, bundle);
      expect(response.status, url).toBe(404);
      expect(await response.text(), url).not.toContain('correct horse');
    }
  });
});
