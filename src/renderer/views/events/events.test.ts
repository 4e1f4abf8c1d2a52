import { describe, expect, it } from 'vitest';
import type { EventExportRequest, EventPage, EventQuery } from '../../../shared/contract/events.js';
import { failure, fakeClient } from '../../testing/fake-client.js';
import { createEventsStore, noFilters, toEventQuery } from './store.js';

function page(types: string[]): EventPage {
  return { events: [], truncated: false, types, unreachable: [], unreadable: [] };
}

describe('event filters', () => {
  it('sends only the filters that are set, with the range in UTC', () => {
    expect(toEventQuery(noFilters)).toEqual({ ok: true, query: {} });
    expect(toEventQuery({ types: ['backup'], outcomes: ['failure'], since: '2026-12-01T00:00Z', until: '2026-12-02T00:00+01:00' })).toEqual({
      ok: true,
      query: { types: ['backup'], outcomes: ['failure'], since: '2026-12-01T00:00:00.000Z', until: '2026-12-01T23:00:00.000Z' },
    });
  });

  it('refuses an unreadable time and a range that ends before it starts', () => {
    const unreadable = toEventQuery({ ...noFilters, since: 'last week' });
    expect(unreadable.ok ? undefined : unreadable.problems.since).toContain('2026-12-01T00:00');
    expect(toEventQuery({ ...noFilters, since: '2026-12-02T00:00Z', until: '2026-12-01T00:00Z' })).toEqual({
      ok: false,
      problems: { until: 'Until is before since: swap them, or widen the range.' },
    });
  });
});

describe('events store', () => {
  it('queries with the filters, keeps every type seen and does not call the service with a bad range', async () => {
    const queries: EventQuery[] = [];
    const store = createEventsStore(
      fakeClient({
        events: {
          query: (query) => {
            queries.push(query);
            return Promise.resolve(page(queries.length === 1 ? ['backup', 'restore'] : ['backup']));
          },
        },
      }),
    );
    await store.getState().query();
    store.getState().setFilters({ types: ['backup'], outcomes: ['success'] });
    await store.getState().query();
    expect(queries).toEqual([{}, { types: ['backup'], outcomes: ['success'] }]);
    expect(store.getState().knownTypes).toEqual(['backup', 'restore']);

    store.getState().setFilters({ until: 'soon' });
    await store.getState().query();
    expect(queries).toHaveLength(2);
    expect(store.getState().problems.until).toBeDefined();
  });

  it('exports with the same filters, and keeps a failed export as an error with its hints', async () => {
    const requests: EventExportRequest[] = [];
    let fail = false;
    const store = createEventsStore(
      fakeClient({
        events: {
          export: (request) => {
            requests.push(request);
            if (fail) return failure('MEDIA_NOT_PRESENT', 'unable to read repository usb', ['plug the medium in']);
            return Promise.resolve({ fileName: 'events.csv', mediaType: 'text/csv', content: 'time,type\n' });
          },
        },
      }),
    );
    store.getState().setFilters({ outcomes: ['failure'] });
    expect(await store.getState().exportEvents('csv')).toEqual({ fileName: 'events.csv', mediaType: 'text/csv', content: 'time,type\n' });
    expect(requests).toEqual([{ outcomes: ['failure'], format: 'csv' }]);

    fail = true;
    expect(await store.getState().exportEvents('json')).toBeUndefined();
    expect(store.getState()).toMatchObject({ exporting: undefined, exportError: { code: 'MEDIA_NOT_PRESENT', hints: ['plug the medium in'] } });
  });
});
