import { readFile } from 'node:fs/promises';
import { extname, isAbsolute, relative, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, protocol, type IpcMain, type IpcMainInvokeEvent, type WebContents, type WebFrameMain } from 'electron';
import {
  callService,
  contractMembers,
  subscribeService,
  toErrorData,
  type ContractServer,
  type ResultEnvelope,
  type Unsubscribe,
} from '../../shared/contract/index.js';
import type { Operation, OperationKind } from '../../shared/contract/operations.js';
import type { ScheduledJob } from '../../shared/contract/schedule.js';
import { DrcError } from '../../shared/errors.js';
import type { SchedulerActivity } from '../engines/scheduler/scheduler.js';
import { redactDeep } from '../secrets/redact.js';
import { contentSecurityPolicy } from './content-security-policy.js';

export { contentSecurityPolicy };

/**
 * The desktop shell: one locked-down window, one IPC handler per contract method, the
 * scheduler while the app is open, and a quit that never abandons a restore half-way
 * without asking. Everything below this file runs under plain Node, so the same
 * services also back `drc serve` and the CLI.
 */

/** Compiled to `dist/main/hosts/`; the renderer and preload bundles sit beside `dist/main/`. */
const rendererRoot = fileURLToPath(new URL('../../renderer/', import.meta.url));
const preloadPath = fileURLToPath(new URL('../../preload/index.cjs', import.meta.url));

/**
 * The page is served from `app://console/`, not file://: a file:// page may read any
 * file the user can, and Chromium gives custom standard schemes a real origin, so
 * `'self'` in the CSP means the renderer's own files and nothing else.
 */
export const appScheme = 'app';
export const appHost = 'console';
export const appEntryUrl = `${appScheme}://${appHost}/`;

export type IpcMainPort = Pick<IpcMain, 'handle' | 'removeHandler'>;
export type WebContentsPort = Pick<WebContents, 'id' | 'send' | 'isDestroyed'> & { readonly mainFrame: Pick<WebFrameMain, 'processId' | 'routingId' | 'url'> };

export interface ServedContract {
  /** Removes every handler and ends every subscription, so the contract can be served again. */
  dispose(): void;
}

export function isAppUrl(url: string): boolean {
  try {
    const target = new URL(url);
    return target.protocol === `${appScheme}:` && target.host === appHost;
  } catch {
    return false;
  }
}

/**
 * Whether an IPC call comes from the app's page in the window the contract was served
 * to: the same webContents, its main frame (not an iframe), still showing the app (not
 * a page some future bug navigated to).
 */
function isFromAppWindow(event: IpcMainInvokeEvent, webContents: WebContentsPort): boolean {
  const frame = event.senderFrame;
  if (frame === null || event.sender.id !== webContents.id || webContents.isDestroyed()) return false;
  try {
    const mainFrame = webContents.mainFrame;
    return frame.processId === mainFrame.processId && frame.routingId === mainFrame.routingId && isAppUrl(frame.url);
  } catch {
    // A frame disposed while its message was in flight has no URL to check.
    return false;
  }
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
        if (!isFromAppWindow(event, webContents)) {
          return {
            ok: false,
            error: new DrcError('USAGE', `unable to call '${member.service}.${member.member}' from a page DR Console did not load`, {
              hints: ['only the DR Console window may use its services; restart DR Console if this keeps happening'],
            }).toData(),
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

const mediaTypes: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/**
 * Answers one `app://console/…` request from the renderer bundle in `root`. An address
 * without a file extension is a view (`/backups`), so it gets the page; nothing outside
 * `root` is ever read, whatever the path's dots and escapes say.
 */
export async function serveAppFile(request: { readonly url: string }, root: string = rendererRoot): Promise<Response> {
  const notFound = (): Response => new Response('Not found', { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
  let path: string;
  try {
    const url = new URL(request.url);
    if (!isAppUrl(request.url)) return notFound();
    path = decodeURIComponent(url.pathname);
  } catch {
    return notFound();
  }
  const file = resolve(root, extname(path) === '' ? 'index.html' : `.${path}`);
  const inside = relative(resolve(root), file);
  if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) return notFound();
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    return notFound();
  }
  return new Response(new Uint8Array(body), {
    status: 200,
    headers: {
      'Content-Type': mediaTypes[extname(file)] ?? 'application/octet-stream',
      'Content-Security-Policy': contentSecurityPolicy,
      'X-Content-Type-Options': 'nosniff',
    },
  });
}

/**
 * Must run before the app is ready: `standard` gives the scheme origins and relative
 * URLs, `secure` makes the page a secure context like https. Nothing else (no fetch, no
 * service workers, no CSP bypass).
 */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([{ scheme: appScheme, privileges: { standard: true, secure: true } }]);
}

/** The one window: no Node in the page, no navigation away from the app, no pop-ups, no permissions. */
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
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    },
  });
  const { webContents } = window;
  const { session } = webContents;

  // The app:// handler sends the policy itself; this covers any response that does pass
  // through the network stack.
  session.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [contentSecurityPolicy] } });
  });
  // Electron grants every permission unless told otherwise. The dashboard needs no
  // camera, notifications or clipboard; a prompt would only confuse.
  session.setPermissionRequestHandler((_webContents, _permission, callback) => {
    callback(false);
  });
  session.setPermissionCheckHandler(() => false);

  const refuseForeignNavigation = (event: Electron.Event<{ url: string }>): void => {
    if (!isAppUrl(event.url)) event.preventDefault();
  };
  webContents.on('will-navigate', refuseForeignNavigation);
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

/** What the app runs on: the services, and the scheduler (`runDaemon`) to run until the signal aborts. */
export interface DesktopBackend {
  readonly services: ContractServer;
  readonly runScheduler: (signal: AbortSignal, onActivity: (activity: SchedulerActivity) => void) => Promise<unknown>;
}

export interface DesktopAppOptions {
  /** Builds the backend; called only by the first instance, before the window opens. */
  readonly open: () => Promise<DesktopBackend>;
  /** How long quitting waits for cancelled operations and the scheduler to stop. */
  readonly shutdownLimitMs?: number;
}

const kindWords: Readonly<Record<OperationKind, string>> = {
  backup: 'backup',
  restore: 'restore',
  'partial-restore': 'partial restore',
  'restore-test': 'restore test',
  verify: 'verification',
  sync: 'sync',
};

const jobWords: Readonly<Record<ScheduledJob, string>> = {
  'wal-stream': 'WAL streaming',
  'restore-point': 'restore point',
  'full-backup': 'full backup',
  'archive-backup': 'archive backup',
  'restore-test': 'restore test',
  expire: 'expiry',
  verify: 'verification',
};

const unfinished = (operation: Operation): boolean => operation.state === 'running' || operation.state === 'scheduled';

/**
 * The question quitting asks, in the words of what would be lost: operations started
 * from the console, and scheduled jobs under way (WAL streaming never ends, so it is
 * not asked about: stopping it stores what it has).
 */
export function quitQuestion(operations: readonly Operation[], jobs: readonly ScheduledJob[] = []): { message: string; detail: string } {
  const [only] = operations;
  const [onlyJob] = jobs;
  const count = operations.length + jobs.length;
  const message =
    count === 1 && only
      ? only.state === 'scheduled'
        ? `A ${kindWords[only.kind]} is scheduled${only.scheduledFor ? ` for ${only.scheduledFor}` : ''}. Quit and cancel it?`
        : `A ${kindWords[only.kind]} is running. Quit and cancel it?`
      : count === 1 && onlyJob
        ? `A scheduled ${jobWords[onlyJob]} is running. Quit and cancel it?`
        : `${String(count)} operations are running or scheduled. Quit and cancel them?`;
  const detail = [
    ...operations.map((operation) => `${operation.title}: ${operation.cancellable ? operation.cancelEffect : 'cannot be cancelled; quitting waits for it to finish'}`),
    ...jobs.map((job) => `Scheduled ${jobWords[job]}: the scheduler lets it finish within its stop timeout, then stops it; a backup stopped before its end leaves no backup behind, and the job runs again at its next slot`),
  ].join('\n');
  return { message, detail };
}

/** Whether every one of `operations` stopped running (or waiting to run) within `limitMs`. */
async function settledWithin(services: ContractServer, operations: readonly Operation[], limitMs: number): Promise<boolean> {
  const ids = new Set(operations.map((operation) => operation.id));
  const deadline = Date.now() + limitMs;
  for (;;) {
    const current = await services.operations.list({}).catch((): Operation[] | undefined => undefined);
    if (current && !current.some((operation) => ids.has(operation.id) && unfinished(operation))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}

function warn(line: string): void {
  process.stderr.write(`DR Console: ${line}\n`);
}

function describeError(error: unknown, action: string): string {
  const { code, message, hints } = redactDeep(toErrorData(error, action));
  return [`${code}: ${message}`, ...hints].join('\n');
}

/**
 * Starts the desktop app: one instance at a time (a second launch focuses the first
 * window and exits), the services served to one window, the scheduler running until
 * the app quits. Quitting with operations under way asks first, cancels them through
 * the contract, waits for them to settle and stops the scheduler, each wait bounded so
 * a stuck engine cannot keep the app from quitting.
 */
export async function startDesktopApp(options: DesktopAppOptions): Promise<void> {
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  registerAppScheme();
  const shutdownLimitMs = options.shutdownLimitMs ?? 30_000;
  const backend = await options.open();
  const { services } = backend;
  await app.whenReady();
  protocol.handle(appScheme, (request) => serveAppFile(request));

  const window = createMainWindow();
  const served = serveContract(ipcMain, services, window.webContents);
  window.on('closed', () => {
    served.dispose();
  });
  app.on('second-instance', () => {
    if (window.isDestroyed()) return;
    if (window.isMinimized()) window.restore();
    window.focus();
  });

  const scheduler = new AbortController();
  const runningJobs = new Set<ScheduledJob>();
  /** How long the scheduler said it lets its jobs finish when stopped (its `stopTimeoutSeconds`). */
  let schedulerStopTimeoutMs = 0;
  const onActivity = (activity: SchedulerActivity): void => {
    if (activity.kind === 'started' && activity.job !== 'wal-stream') runningJobs.add(activity.job);
    if (activity.kind === 'finished') runningJobs.delete(activity.job);
    if (activity.kind === 'stopping') schedulerStopTimeoutMs = activity.timeoutMs;
  };
  let schedulerRunning = true;
  void backend
    .runScheduler(scheduler.signal, onActivity)
    .catch((error: unknown) => {
      if (error instanceof DrcError && error.code === 'LOCK_HELD') {
        // `drc daemon` already runs this cluster's schedule; two schedulers would take every job twice.
        warn(`the scheduler runs elsewhere, so this window does not run it: ${error.message}`);
        return;
      }
      const text = describeError(error, 'run the scheduler');
      warn(`the scheduler is not running: ${text}`);
      // Scheduled backups silently not happening is the failure a DR console must not hide.
      if (!window.isDestroyed()) {
        void dialog.showMessageBox(window, {
          type: 'warning',
          title: 'DR Console',
          message: 'The scheduler is not running: no scheduled backups, restore points or restore tests while this window is open.',
          detail: text,
          buttons: ['OK'],
        });
      }
    })
    .finally(() => {
      schedulerRunning = false;
    });

  /** Asks, cancels and stops; resolves whether quitting goes ahead. */
  const prepareToQuit = async (): Promise<boolean> => {
    const pending = await services.operations.list({}).then(
      (operations) => operations.filter(unfinished),
      (error: unknown) => {
        // Nothing to cancel can be known, and a console that cannot quit is worse.
        warn(`unable to list running operations before quitting: ${describeError(error, 'list operations')}`);
        return [];
      },
    );
    const jobs = [...runningJobs];
    if (pending.length > 0 || jobs.length > 0) {
      const question = quitQuestion(pending, jobs);
      const answer = await dialog.showMessageBox(window, {
        type: 'warning',
        title: 'DR Console',
        message: question.message,
        detail: question.detail,
        buttons: ['Cancel', 'Quit and cancel'],
        defaultId: 0,
        cancelId: 0,
        noLink: true,
      });
      if (answer.response !== 1) return false;
      for (const operation of pending.filter((candidate) => candidate.cancellable)) {
        await services.operations.cancel({ operationId: operation.id }).catch((error: unknown) => {
          warn(`unable to cancel '${operation.title}': ${describeError(error, 'cancel an operation')}`);
        });
      }
      if (!(await settledWithin(services, pending, shutdownLimitMs))) {
        warn(`quitting although some operations did not stop within ${String(shutdownLimitMs / 1000)} s`);
      }
    }
    scheduler.abort();
    // The scheduler's own stop timeout comes first: a scheduled backup gets the time its configuration grants it.
    const stopStarted = Date.now();
    while (schedulerRunning && Date.now() - stopStarted < schedulerStopTimeoutMs + shutdownLimitMs) await sleep(100);
    if (schedulerRunning) warn(`quitting although the scheduler did not stop within ${String((schedulerStopTimeoutMs + shutdownLimitMs) / 1000)} s`);
    return true;
  };

  let quitting: 'no' | 'preparing' | 'yes' = 'no';
  const beforeQuit = (event: Electron.Event): void => {
    if (quitting === 'yes') return;
    event.preventDefault();
    if (quitting === 'preparing') return;
    quitting = 'preparing';
    void prepareToQuit().then(
      (proceed) => {
        quitting = proceed ? 'yes' : 'no';
        if (proceed) app.quit();
      },
      (error: unknown) => {
        warn(`unable to stop cleanly: ${describeError(error, 'quit')}`);
        quitting = 'yes';
        app.quit();
      },
    );
  };
  // Closing the one window is quitting: the services are served to it alone.
  window.on('close', beforeQuit);
  app.on('before-quit', beforeQuit);
  app.on('window-all-closed', () => {
    app.quit();
  });

  await window.loadURL(appEntryUrl);
}
