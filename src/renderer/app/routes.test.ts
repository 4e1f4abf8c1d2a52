import { describe, expect, it } from 'vitest';
import { operation } from '../testing/fake-client.js';
import { createNavigation, type NavigationWindow } from './navigation.js';
import { operationsOutsideView } from './OperationsArea.js';
import { documentTitle, routingModeFor, viewForPath, views } from './routes.js';

function fakeWindow(protocol: string, pathname: string) {
  const listeners = new Set<() => void>();
  const pushed: string[] = [];
  const page = {
    location: { protocol, pathname },
    history: {
      pushState(_data: unknown, _unused: string, url?: string) {
        if (url !== undefined) {
          pushed.push(url);
          page.location.pathname = url;
        }
      },
    },
    addEventListener(_type: 'popstate', listener: () => void) {
      listeners.add(listener);
    },
    removeEventListener(_type: 'popstate', listener: () => void) {
      listeners.delete(listener);
    },
  } satisfies NavigationWindow;
  const back = (pathname: string) => {
    page.location.pathname = pathname;
    for (const listener of listeners) listener();
  };
  return { page, pushed, back, listeners };
}

describe('routes', () => {
  it('names the six views as the navigation shows them', () => {
    expect(views.map((entry) => entry.name)).toEqual(['Overview', 'Timeline', 'Backups', 'Restore tests', 'Repositories', 'Events']);
  });

  it('opens each view from its path, the seed admin route as Backups, and anything else as the Overview', () => {
    expect(viewForPath('/')).toBe('overview');
    expect(viewForPath('/restore-tests')).toBe('restore-tests');
    expect(viewForPath('/events/')).toBe('events');
    expect(viewForPath('/admin/backups')).toBe('backups');
    expect(viewForPath('/no-such-view')).toBe('overview');
  });

  it('keeps the route in the address bar only when served over http(s)', () => {
    expect(routingModeFor('http:')).toBe('history');
    expect(routingModeFor('https:')).toBe('history');
    expect(routingModeFor('file:')).toBe('memory');
    expect(routingModeFor('app:')).toBe('memory');
  });

  it('titles the page after the view', () => {
    expect(documentTitle('restore-tests')).toBe('Restore tests — DR Console');
  });
});

describe('navigation', () => {
  it('starts on the view of the address, pushes a history entry per change and follows Back', () => {
    const { page, pushed, back } = fakeWindow('http:', '/admin/backups');
    const navigation = createNavigation(page);
    const stop = navigation.getState().watch();
    expect(navigation.getState().view).toBe('backups');
    expect(navigation.getState().changes).toBe(0);

    navigation.getState().go('events');
    expect(pushed).toEqual(['/events']);
    expect(navigation.getState()).toMatchObject({ view: 'events', changes: 1 });

    back('/backups');
    expect(navigation.getState()).toMatchObject({ view: 'backups', changes: 2 });
    stop();
  });

  it('does not push an entry for the view already open', () => {
    const { page, pushed } = fakeWindow('http:', '/timeline');
    const navigation = createNavigation(page);
    navigation.getState().go('timeline');
    expect(pushed).toEqual([]);
    expect(navigation.getState().changes).toBe(0);
  });

  it('keeps the route in memory under Electron and never touches history', () => {
    const { page, pushed, listeners } = fakeWindow('file:', '/opt/dr-console/resources/app/dist/renderer/index.html');
    const navigation = createNavigation(page);
    const stop = navigation.getState().watch();
    expect(navigation.getState().view).toBe('overview');
    navigation.getState().go('repositories');
    expect(navigation.getState().view).toBe('repositories');
    expect(pushed).toEqual([]);
    expect(listeners.size).toBe(0);
    stop();
  });
});

describe('operations area', () => {
  it('leaves to a view the operations it shows itself, newest first for the rest', () => {
    const all = [
      operation({ id: 'b1', kind: 'backup', createdAt: '2026-12-05T10:00:00Z' }),
      operation({ id: 't1', kind: 'restore-test', createdAt: '2026-12-05T11:00:00Z' }),
      operation({ id: 'v1', kind: 'verify', createdAt: '2026-12-05T12:00:00Z' }),
    ];
    expect(operationsOutsideView(all, 'backups').map((entry) => entry.id)).toEqual(['v1', 't1']);
    expect(operationsOutsideView(all, 'repositories').map((entry) => entry.id)).toEqual(['t1', 'b1']);
    expect(operationsOutsideView(all, 'overview').map((entry) => entry.id)).toEqual(['v1', 't1', 'b1']);
  });
});
