import type { EventEntry, EventExport, EventExportRequest, EventPage, EventQuery } from '../../shared/contract/events.js';
import { eventQuerySchema } from '../../shared/contract/events.js';
import { DrcError } from '../../shared/errors.js';
import { listEvents, type HistoryEvent } from './events.js';
import type { ServiceContext } from './context.js';

/**
 * The Events view: the operation history filtered by type, outcome and time, newest first,
 * and exported as JSON or CSV for an audit or a ticket.
 */
export async function queryEvents(context: ServiceContext, query: EventQuery): Promise<EventPage> {
  const filters = eventQuerySchema.parse(query);
  const since = filters.since === undefined ? undefined : parseBound(filters.since, 'since');
  const history = await listEvents(context, since === undefined ? {} : { since });
  return { ...filterEvents(history.events, filters), unreachable: history.unreachable, unreadable: history.unreadable };
}

export async function exportEvents(context: ServiceContext, request: EventExportRequest): Promise<EventExport> {
  const page = await queryEvents(context, request);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return request.format === 'json'
    ? { fileName: `drc-events-${stamp}.json`, mediaType: 'application/json', content: `${JSON.stringify(page.events, null, 2)}\n` }
    : { fileName: `drc-events-${stamp}.csv`, mediaType: 'text/csv', content: eventsCsv(page.events) };
}

/** The filters of a query, applied to a history in any order: newest first, at most `limit`. */
export function filterEvents(events: readonly HistoryEvent[], query: EventQuery): Pick<EventPage, 'events' | 'truncated' | 'types'> {
  const filters = eventQuerySchema.parse(query);
  const since = filters.since === undefined ? undefined : parseBound(filters.since, 'since');
  const until = filters.until === undefined ? undefined : parseBound(filters.until, 'until');
  const matching = events
    .filter(
      (event) =>
        (filters.types === undefined || filters.types.length === 0 || filters.types.includes(event.type)) &&
        (filters.outcomes === undefined || filters.outcomes.length === 0 || filters.outcomes.includes(event.outcome)) &&
        (since === undefined || Date.parse(event.time) >= since.getTime()) &&
        (until === undefined || Date.parse(event.time) <= until.getTime()),
    )
    .sort((a, b) => b.time.localeCompare(a.time) || b.id.localeCompare(a.id));
  return {
    events: matching.slice(0, filters.limit).map(entryOf),
    truncated: matching.length > filters.limit,
    // Every type in the history, so the filter offers the ones the current filter hides.
    types: [...new Set(events.map((event) => event.type))].sort(),
  };
}

function entryOf(event: HistoryEvent): EventEntry {
  return { id: event.id, time: event.time, type: event.type, outcome: event.outcome, operator: event.operator, host: event.host, summary: event.summary, repositories: event.repositories, details: event.details };
}

function parseBound(text: string, name: 'since' | 'until'): Date {
  const time = Date.parse(text);
  if (Number.isNaN(time)) {
    throw new DrcError('USAGE', `unable to filter events by ${name} '${text}': not an ISO 8601 time`, { hints: ['give a time such as 2026-06-14T09:30:00Z'] });
  }
  return new Date(time);
}

const csvColumns = ['time', 'type', 'outcome', 'operator', 'host', 'summary', 'repositories', 'id'] as const;

/** RFC 4180: CRLF line ends, every field quoted, quotes doubled. */
export function eventsCsv(events: readonly EventEntry[]): string {
  const rows = [csvColumns.map(csvField), ...events.map((event) => csvColumns.map((column) => csvField(column === 'repositories' ? event.repositories.join(' ') : event[column])))];
  return rows.map((row) => `${row.join(',')}\r\n`).join('');
}

/**
 * A spreadsheet runs a cell that starts with = + - @ (or a tab or carriage return) as a
 * formula; an event summary quotes what a person typed (a backup's reason), so such a
 * cell is prefixed with ' to be shown as text.
 */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}
