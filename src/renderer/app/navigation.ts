import { createStore, type StoreApi } from 'zustand/vanilla';
import { routingModeFor, viewEntry, viewForPath, type RoutingMode, type ViewId } from './routes.js';

/** The parts of `window` navigation uses, so tests can hand in their own. */
export interface NavigationWindow {
  readonly location: { readonly protocol: string; readonly pathname: string };
  readonly history: { pushState(data: unknown, unused: string, url?: string): void };
  addEventListener(type: 'popstate', listener: () => void): void;
  removeEventListener(type: 'popstate', listener: () => void): void;
}

export interface NavigationState {
  readonly mode: RoutingMode;
  readonly view: ViewId;
  /** Counts view changes the person asked for; the shell moves focus only on these, not on the first render. */
  readonly changes: number;
  readonly go: (view: ViewId) => void;
  /** Follows Back and Forward in the browser; returns the unsubscribe. */
  readonly watch: () => () => void;
}

export type NavigationStore = StoreApi<NavigationState>;

export function createNavigation(page: NavigationWindow): NavigationStore {
  const mode = routingModeFor(page.location.protocol);
  return createStore<NavigationState>()((set, get) => ({
    mode,
    view: mode === 'history' ? viewForPath(page.location.pathname) : 'overview',
    changes: 0,
    go(view) {
      if (view === get().view) return;
      if (mode === 'history') page.history.pushState(null, '', viewEntry(view).path);
      set((state) => ({ view, changes: state.changes + 1 }));
    },
    watch() {
      if (mode === 'memory') return () => undefined;
      const follow = (): void => {
        const view = viewForPath(page.location.pathname);
        if (view !== get().view) set((state) => ({ view, changes: state.changes + 1 }));
      };
      page.addEventListener('popstate', follow);
      return () => {
        page.removeEventListener('popstate', follow);
      };
    },
  }));
}
