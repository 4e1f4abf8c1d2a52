import { createStore, type StoreApi } from 'zustand/vanilla';
import { toErrorData, type ContractClient } from '../../../shared/contract/index.js';
import type { EventExport, EventPage, EventQuery } from '../../../shared/contract/events.js';
import type { ErrorData } from '../../../shared/errors.js';
import { fetchInto, notLoaded, type Remote } from '../../components/remote.js';
import { parseMoment } from '../../components/moment.js';

export const eventOutcomes = ['success', 'failure', 'partial'] as const;
export type EventOutcome = (typeof eventOutcomes)[number];

/** The filters as the person set them; an empty list means "any". */
export interface EventFilters {
  readonly types: readonly string[];
  readonly outcomes: readonly EventOutcome[];
  /** Typed ISO 8601; without a zone, local time. */
  readonly since: string;
  readonly until: string;
}

export const noFilters: EventFilters = { types: [], outcomes: [], since: '', until: '' };

export type FilterField = 'since' | 'until';

export type FilterResult =
  | { readonly ok: true; readonly query: EventQuery }
  | { readonly ok: false; readonly problems: Readonly<Partial<Record<FilterField, string>>> };

const momentHint = 'Type a date and time as 2026-12-01T00:00 (local) or 2026-12-01T00:00Z (UTC), or leave it empty.';

export function toEventQuery(filters: EventFilters): FilterResult {
  const problems: Partial<Record<FilterField, string>> = {};
  const bounds: { since?: string; until?: string } = {};
  for (const field of ['since', 'until'] as const) {
    const text = filters[field].trim();
    if (text === '') continue;
    const moment = parseMoment(text);
    if (moment) bounds[field] = moment.toISOString();
    else problems[field] = momentHint;
  }
  if (bounds.since !== undefined && bounds.until !== undefined && bounds.since > bounds.until) {
    problems.until = 'Until is before since: swap them, or widen the range.';
  }
  if (problems.since !== undefined || problems.until !== undefined) return { ok: false, problems };
  return {
    ok: true,
    query: {
      ...(filters.types.length > 0 ? { types: [...filters.types] } : {}),
      ...(filters.outcomes.length > 0 ? { outcomes: [...filters.outcomes] } : {}),
      ...bounds,
    },
  };
}

export interface EventsState {
  readonly filters: EventFilters;
  readonly problems: Readonly<Partial<Record<FilterField, string>>>;
  readonly page: Remote<EventPage>;
  /** Every type seen so far, so a filter that matches nothing does not hide the other types from the choice. */
  readonly knownTypes: readonly string[];
  readonly exporting: 'json' | 'csv' | undefined;
  readonly exportError: ErrorData | undefined;
  readonly setFilters: (patch: Partial<EventFilters>) => void;
  /** Runs the query with the current filters, unless they do not parse. */
  readonly query: () => Promise<void>;
  readonly clear: () => Promise<void>;
  /** The file to download, with the same filters as the list; undefined when it failed (see exportError). */
  readonly exportEvents: (format: 'json' | 'csv') => Promise<EventExport | undefined>;
}

export type EventsStore = StoreApi<EventsState>;

export function createEventsStore(client: ContractClient): EventsStore {
  return createStore<EventsState>()((set, get) => ({
    filters: noFilters,
    problems: {},
    page: notLoaded(),
    knownTypes: [],
    exporting: undefined,
    exportError: undefined,
    setFilters(patch) {
      set((state) => ({ filters: { ...state.filters, ...patch } }));
    },
    async query() {
      const result = toEventQuery(get().filters);
      if (!result.ok) {
        set({ problems: result.problems });
        return;
      }
      set({ problems: {} });
      const page = await fetchInto(() => get().page, (remote) => set({ page: remote }), 'read the events', () => client.events.query(result.query));
      if (page) set((state) => ({ knownTypes: [...new Set([...state.knownTypes, ...page.types])].sort() }));
    },
    async clear() {
      set({ filters: noFilters });
      await get().query();
    },
    async exportEvents(format) {
      const result = toEventQuery(get().filters);
      if (!result.ok) {
        set({ problems: result.problems });
        return undefined;
      }
      set({ exporting: format, exportError: undefined });
      try {
        const file = await client.events.export({ ...result.query, format });
        set({ exporting: undefined });
        return file;
      } catch (error) {
        set({ exporting: undefined, exportError: toErrorData(error, `export the events as ${format.toUpperCase()}`) });
        return undefined;
      }
    },
  }));
}
