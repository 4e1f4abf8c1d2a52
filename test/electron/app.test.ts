import { beforeEach, describe, expect, it, vi } from 'vitest';
import { channelName, type ResultEnvelope } from '../../src/shared/contract/index.js';
import type { SchedulerActivity } from '../../src/main/engines/scheduler/scheduler.js';
import { DrcError } from '../../src/shared/errors.js';
import { fakeEvent } from './fake-electron.js';
import { fakeServices, runningRestore } from './fixtures.js';

const electron = await vi.hoisted(async () => (await import('./fake-electron.js')).createFakeElectron());

vi.mock('electron', () => electron);

const { appEntryUrl, quitQuestion, startDesktopApp } = await import('../../src/main/hosts/electron.js');

/** A scheduler like `runDaemon`: runs until its signal aborts, then stops (after `stopDelayMs`), reporting its activity. */
function fakeScheduler(stopDelayMs = 0) {
  const signals: AbortSignal[] = [];
  const reporters: Array<(activity: SchedulerActivity) => void> = [];
  let stopped = false;
  const run = vi.fn(
    (signal: AbortSignal, onActivity: (activity: SchedulerActivity) => void) =>
      new Promise<void>((done) => {
        signals.push(signal);
        reporters.push(onActivity);
        signal.addEventListener('abort', () => {
          if (stopDelayMs > 0) onActivity({ kind: 'stopping', waitingFor: [], timeoutMs: stopDelayMs });
          setTimeout(() => {
            stopped = true;
            done();
          }, stopDelayMs);
        });
      }),
  );
  return {
    run,
    signal: () => signals[0],
    report: (activity: SchedulerActivity) => reporters[0]?.(activity),
    stopped: () => stopped,
  };
}

async function launch(options: { shutdownLimitMs?: number; scheduler?: ReturnType<typeof fakeScheduler> } = {}) {
  const fake = fakeServices();
  const scheduler = options.scheduler ?? fakeScheduler();
  const open = vi.fn(() => Promise.resolve({ services: fake.services, runScheduler: scheduler.run }));
  await startDesktopApp({ open, ...(options.shutdownLimitMs === undefined ? {} : { shutdownLimitMs: options.shutdownLimitMs }) });
  const window = electron.BrowserWindow.created[0];
  return { fake, scheduler, open, window };
}

function callFromApp(channel: string, input: unknown): Promise<ResultEnvelope<unknown>> {
  const handler = electron.ipcMain.handlers.get(channel);
  if (!handler) throw new Error(`no handler for ${channel}`);
  return handler({ sender: { id: 1 }, senderFrame: { processId: 7, routingId: 1, url: appEntryUrl } } as never, input as never) as Promise<ResultEnvelope<unknown>>;
}

function quit() {
  const beforeQuit = electron.app.listeners.get('before-quit');
  if (!beforeQuit) throw new Error('before-quit is not handled');
  const event = fakeEvent();
  beforeQuit(event as never);
  return event;
}

beforeEach(() => {
  vi.clearAllMocks();
  electron.reset();
});

describe('startDesktopApp', () => {
  it('registers app:// before the app is ready, serves the contract to its window and loads the dashboard from app://', async () => {
    const { window, fake } = await launch();

    const registered = electron.protocol.registerSchemesAsPrivileged.mock.invocationCallOrder[0] ?? Infinity;
    expect(registered).toBeLessThan(electron.app.whenReady.mock.invocationCallOrder[0] ?? -Infinity);
    expect(electron.protocol.handle).toHaveBeenCalledWith('app', expect.any(Function));
    expect(window?.loadURL).toHaveBeenCalledWith('app://console/');
    await expect(callFromApp(channelName('repository', 'info'), {})).resolves.toMatchObject({ ok: true });

    window?.listeners.get('closed')?.();

    expect(electron.ipcMain.handlers.size).toBe(0);
    expect(fake.unsubscribeProgress).toHaveBeenCalledOnce();
  });

  it('runs as one instance: a second launch builds nothing and quits, and the first window comes forward', async () => {
    const { window } = await launch();
    const firstWindows = electron.BrowserWindow.created.length;
    if (window) window.minimized = true;

    electron.app.listeners.get('second-instance')?.();
    expect(window?.restore).toHaveBeenCalled();
    expect(window?.focus).toHaveBeenCalled();

    electron.app.requestSingleInstanceLock.mockReturnValue(false);
    const open = vi.fn();
    await startDesktopApp({ open });
    expect(open).not.toHaveBeenCalled();
    expect(electron.app.quit).toHaveBeenCalledOnce();
    expect(electron.BrowserWindow.created).toHaveLength(firstWindows);
  });

  it('runs the scheduler while the app is open and stops it before quitting', async () => {
    const scheduler = fakeScheduler(50);
    await launch({ scheduler });
    expect(scheduler.run).toHaveBeenCalledOnce();
    expect(scheduler.signal()?.aborted).toBe(false);

    const event = quit();

    // Quitting waits for the scheduler: the real app.quit comes only once it stopped.
    expect(event.preventDefault).toHaveBeenCalled();
    expect(electron.app.quit).not.toHaveBeenCalled();
    await vi.waitFor(() => {
      expect(electron.app.quit).toHaveBeenCalledOnce();
    });
    expect(scheduler.signal()?.aborted).toBe(true);
    expect(scheduler.stopped()).toBe(true);
    expect(electron.dialog.showMessageBox).not.toHaveBeenCalled();

    // The second before-quit, from that app.quit, goes through.
    expect(quit().preventDefault).not.toHaveBeenCalled();
  });

  it('asks before quitting while a restore runs, with Cancel as the default, and quits nothing when told Cancel', async () => {
    const { fake, scheduler } = await launch();
    fake.addOperation(runningRestore());

    quit();

    await vi.waitFor(() => {
      expect(electron.dialog.showMessageBox).toHaveBeenCalledOnce();
    });
    const [, options] = electron.dialog.showMessageBox.mock.calls[0] ?? [];
    expect(options).toMatchObject({
      type: 'warning',
      message: 'A restore is running. Quit and cancel it?',
      detail: expect.stringContaining('the target directory is emptied again') as unknown,
      buttons: ['Cancel', 'Quit and cancel'],
      defaultId: 0,
      cancelId: 0,
    });
    // Give a wrongly proceeding quit the time to show itself.
    await new Promise((done) => setTimeout(done, 50));
    expect(fake.operations.cancel).not.toHaveBeenCalled();
    expect(scheduler.signal()?.aborted).toBe(false);
    expect(electron.app.quit).not.toHaveBeenCalled();
  });

  it('cancels the running restore through the contract, waits for it to settle, stops the scheduler, then quits', async () => {
    const { fake, scheduler, window } = await launch();
    fake.holdCancellations();
    fake.addOperation(runningRestore());
    electron.dialog.showMessageBox.mockResolvedValue({ response: 1, checkboxChecked: false });

    // Closing the window is quitting too.
    const close = fakeEvent();
    window?.listeners.get('close')?.(close as never);
    expect(close.preventDefault).toHaveBeenCalled();

    await vi.waitFor(() => {
      expect(fake.operations.cancel).toHaveBeenCalledWith({ operationId: 'op-restore-1' });
    });
    await new Promise((done) => setTimeout(done, 250));
    // Still replaying WAL: quitting waits.
    expect(electron.app.quit).not.toHaveBeenCalled();
    expect(scheduler.signal()?.aborted).toBe(false);

    fake.settle('op-restore-1', 'cancelled');

    await vi.waitFor(() => {
      expect(electron.app.quit).toHaveBeenCalledOnce();
    });
    expect(scheduler.signal()?.aborted).toBe(true);
  });

  it('asks about a scheduled backup under way, and lets the scheduler take its own stop timeout', async () => {
    // The scheduler grants its jobs 400 ms to finish, longer than the shell's own bound of 100 ms.
    const scheduler = fakeScheduler(400);
    await launch({ scheduler, shutdownLimitMs: 100 });
    scheduler.report({ kind: 'started', job: 'wal-stream', reason: 'slot', time: new Date() });
    scheduler.report({ kind: 'started', job: 'full-backup', reason: 'slot', time: new Date() });
    electron.dialog.showMessageBox.mockResolvedValue({ response: 1, checkboxChecked: false });

    quit();

    await vi.waitFor(() => {
      expect(electron.app.quit).toHaveBeenCalledOnce();
    });
    const [, options] = electron.dialog.showMessageBox.mock.calls[0] ?? [];
    expect(options).toMatchObject({ message: 'A scheduled full backup is running. Quit and cancel it?' });
    expect(scheduler.stopped()).toBe(true);
  });

  it('does not ask once the scheduled job has finished', async () => {
    const { scheduler } = await launch();
    scheduler.report({ kind: 'started', job: 'verify', reason: 'slot', time: new Date() });
    scheduler.report({ kind: 'finished', job: 'verify', run: { outcome: 'success', summary: 'every object authenticated' } as never });

    quit();

    await vi.waitFor(() => {
      expect(electron.app.quit).toHaveBeenCalledOnce();
    });
    expect(electron.dialog.showMessageBox).not.toHaveBeenCalled();
  });

  it('quits after the bound when a cancelled operation never settles', async () => {
    const { fake } = await launch({ shutdownLimitMs: 300 });
    fake.holdCancellations();
    fake.addOperation(runningRestore());
    electron.dialog.showMessageBox.mockResolvedValue({ response: 1, checkboxChecked: false });
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);

    quit();

    await vi.waitFor(() => {
      expect(electron.app.quit).toHaveBeenCalledOnce();
    });
    expect(stderr).toHaveBeenCalledWith(expect.stringContaining('some operations did not stop within 0.3 s'));
    stderr.mockRestore();
  });

  it('says when the scheduler cannot run, except when drc daemon already runs it', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const heldElsewhere = vi.fn(() => Promise.reject(new DrcError('LOCK_HELD', "unable to lock 'scheduler': held by drc daemon (pid 4242)")));
    await startDesktopApp({ open: () => Promise.resolve({ services: fakeServices().services, runScheduler: heldElsewhere }) });
    await vi.waitFor(() => {
      expect(stderr).toHaveBeenCalledWith(expect.stringContaining('the scheduler runs elsewhere'));
    });
    expect(electron.dialog.showMessageBox).not.toHaveBeenCalled();

    electron.reset();
    const noCluster = vi.fn(() => Promise.reject(new DrcError('CONFIG_INVALID', 'unable to reach the cluster: the config has no "cluster" section', { hints: ['add "cluster"'] })));
    await startDesktopApp({ open: () => Promise.resolve({ services: fakeServices().services, runScheduler: noCluster }) });
    await vi.waitFor(() => {
      expect(electron.dialog.showMessageBox).toHaveBeenCalledWith(
        electron.BrowserWindow.created[0],
        expect.objectContaining({ message: expect.stringContaining('The scheduler is not running') as unknown, detail: expect.stringContaining('CONFIG_INVALID') as unknown }),
      );
    });
    stderr.mockRestore();
  });
});

describe('quitQuestion', () => {
  it('names what would be cancelled, in words', () => {
    expect(quitQuestion([runningRestore()]).message).toBe('A restore is running. Quit and cancel it?');
    expect(quitQuestion([runningRestore({ kind: 'restore-test', title: 'Restore test of 20250304T0500F' })]).message).toBe('A restore test is running. Quit and cancel it?');
    expect(quitQuestion([runningRestore({ kind: 'backup', state: 'scheduled', scheduledFor: '2025-03-05T02:00:00Z' })]).message).toBe(
      'A backup is scheduled for 2025-03-05T02:00:00Z. Quit and cancel it?',
    );
    const two = quitQuestion([runningRestore(), runningRestore({ id: 'op-2', kind: 'sync', title: 'Sync nas → usb', cancellable: false })]);
    expect(two.message).toBe('2 operations are running or scheduled. Quit and cancel them?');
    expect(two.detail).toContain('Sync nas → usb: cannot be cancelled; quitting waits for it to finish');
    expect(quitQuestion([runningRestore()], ['archive-backup']).message).toBe('2 operations are running or scheduled. Quit and cancel them?');
  });
});
