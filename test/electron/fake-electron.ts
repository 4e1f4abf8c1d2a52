import { vi } from 'vitest';

/**
 * Just enough of Electron's main-process API to watch what the shell does with it:
 * Electron's binary cannot run on the build machines, so every checklist item is
 * proven against this. Load it from `vi.hoisted` and hand it to `vi.mock('electron')`.
 */
type Listener = (...args: never[]) => unknown;

export interface FakeEvent {
  readonly url?: string;
  readonly preventDefault: ReturnType<typeof vi.fn>;
}

export function fakeEvent(url?: string): FakeEvent {
  return { ...(url === undefined ? {} : { url }), preventDefault: vi.fn() };
}

export function createFakeElectron() {
  class FakeFrame {
    constructor(
      readonly processId: number,
      readonly routingId: number,
      public url: string,
    ) {}
  }

  class FakeWebContents {
    readonly id = 1;
    readonly mainFrame = new FakeFrame(7, 1, 'app://console/');
    readonly listeners = new Map<string, Listener>();
    readonly send = vi.fn();
    destroyed = false;
    windowOpenHandler: Listener | undefined;
    headersListener: Listener | undefined;
    permissionRequestHandler: Listener | undefined;
    permissionCheckHandler: Listener | undefined;
    readonly session = {
      webRequest: {
        onHeadersReceived: (listener: Listener) => {
          this.headersListener = listener;
        },
      },
      setPermissionRequestHandler: (handler: Listener) => {
        this.permissionRequestHandler = handler;
      },
      setPermissionCheckHandler: (handler: Listener) => {
        this.permissionCheckHandler = handler;
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
    readonly loadURL = vi.fn<(url: string) => Promise<void>>(() => Promise.resolve());
    readonly focus = vi.fn();
    readonly restore = vi.fn(() => {
      this.minimized = false;
    });
    minimized = false;
    constructor(readonly options: { webPreferences?: Record<string, unknown> }) {
      FakeBrowserWindow.created.push(this);
    }
    on(event: string, listener: Listener): this {
      this.listeners.set(event, listener);
      return this;
    }
    isMinimized(): boolean {
      return this.minimized;
    }
    isDestroyed(): boolean {
      return false;
    }
  }

  const handlers = new Map<string, Listener>();
  const appListeners = new Map<string, Listener>();
  const electron = {
    BrowserWindow: FakeBrowserWindow,
    app: {
      listeners: appListeners,
      requestSingleInstanceLock: vi.fn(() => true),
      whenReady: vi.fn(() => Promise.resolve()),
      on: vi.fn((event: string, listener: Listener) => {
        appListeners.set(event, listener);
      }),
      quit: vi.fn(),
      exit: vi.fn(),
    },
    dialog: {
      showMessageBox: vi.fn<(...args: unknown[]) => Promise<{ response: number; checkboxChecked: boolean }>>(() => Promise.resolve({ response: 0, checkboxChecked: false })),
      showErrorBox: vi.fn(),
    },
    protocol: {
      registerSchemesAsPrivileged: vi.fn(),
      handle: vi.fn(),
    },
    ipcMain: {
      handlers,
      handle: vi.fn((channel: string, listener: Listener) => {
        if (handlers.has(channel)) throw new Error(`second handler for ${channel}`);
        handlers.set(channel, listener);
      }),
      removeHandler: vi.fn((channel: string) => handlers.delete(channel)),
    },
    /** Forgets every window, handler and listener; call in beforeEach with vi.clearAllMocks. */
    reset() {
      handlers.clear();
      appListeners.clear();
      FakeBrowserWindow.created.length = 0;
      electron.app.requestSingleInstanceLock.mockImplementation(() => true);
      electron.dialog.showMessageBox.mockImplementation(() => Promise.resolve({ response: 0, checkboxChecked: false }));
    },
  };
  return electron;
}

export type FakeElectron = ReturnType<typeof createFakeElectron>;
