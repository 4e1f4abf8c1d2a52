/**
 * The console's views and the addresses that open them. Served over http(s) by
 * `drc serve`, the address bar carries the view, so a bookmark or a reload lands where
 * the person was; under Electron (file: or app:) there is no meaningful path, so the
 * route lives in memory only.
 */
export const views = [
  { id: 'overview', name: 'Overview', path: '/overview' },
  { id: 'timeline', name: 'Timeline', path: '/timeline' },
  { id: 'backups', name: 'Backups', path: '/backups' },
  { id: 'restore-tests', name: 'Restore tests', path: '/restore-tests' },
  { id: 'repositories', name: 'Repositories', path: '/repositories' },
  { id: 'events', name: 'Events', path: '/events' },
] as const;

export type ViewId = (typeof views)[number]['id'];
export type ViewEntry = (typeof views)[number];

/** Older addresses that still open a view: the seed's admin page for backups. */
const aliases: Readonly<Record<string, ViewId>> = { '/': 'overview', '/admin/backups': 'backups' };

export function viewEntry(view: ViewId): ViewEntry {
  const entry = views.find((candidate) => candidate.id === view);
  if (!entry) throw new Error(`unknown view '${view}'`);
  return entry;
}

/** The view an address opens; an unknown one opens the Overview rather than a dead page. */
export function viewForPath(pathname: string): ViewId {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  return aliases[path] ?? views.find((entry) => entry.path === path)?.id ?? 'overview';
}

export type RoutingMode = 'history' | 'memory';

export function routingModeFor(protocol: string): RoutingMode {
  return protocol === 'http:' || protocol === 'https:' ? 'history' : 'memory';
}

export function documentTitle(view: ViewId): string {
  return `${viewEntry(view).name} — DR Console`;
}
