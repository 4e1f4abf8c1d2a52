import { useEffect, useId, useState, type FormEvent } from 'react';
import { useStore } from 'zustand';
import type { EventExport } from '../../../shared/contract/events.js';
import { useConsole } from '../../app/console-context.js';
import { ErrorDetails } from '../../components/ErrorDetails.js';
import { formatMoment } from '../../components/format.js';
import { LoadFailure } from '../../components/LoadFailure.js';
import { ViewHeading } from '../../components/ViewHeading.js';
import { createEventsStore, eventOutcomes, type EventOutcome, type EventsStore, type FilterField } from './store.js';

const outcomeWords: Readonly<Record<EventOutcome, string>> = { success: 'Success', failure: 'Failure', partial: 'Partial' };

/**
 * Hands the exported file to the browser as a download. A blob: URL is the page's own
 * data, so the strict CSP (no network but the origin) does not stand in the way.
 */
function download(file: EventExport): void {
  const url = URL.createObjectURL(new Blob([file.content], { type: file.mediaType }));
  const link = document.createElement('a');
  link.href = url;
  link.download = file.fileName;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its own reference by now; revoking later frees the memory without racing it.
  setTimeout(() => {
    URL.revokeObjectURL(url);
  }, 10_000);
}

function MomentField({ field, label, store }: { field: FilterField; label: string; store: EventsStore }) {
  const value = useStore(store, (state) => state.filters[field]);
  const problem = useStore(store, (state) => state.problems[field]);
  const inputId = useId();
  const hintId = useId();
  const problemId = useId();
  return (
    <div className="field">
      <label htmlFor={inputId}>{label}</label>
      <input
        id={inputId}
        type="text"
        value={value}
        placeholder="2026-12-01T00:00"
        aria-invalid={problem !== undefined}
        aria-describedby={problem === undefined ? hintId : `${hintId} ${problemId}`}
        onChange={(event) => {
          store.getState().setFilters({ [field]: event.target.value });
        }}
      />
      <p id={hintId} className="hint">
        ISO date and time; without Z or an offset it is local time.
      </p>
      {problem !== undefined && (
        <p id={problemId} className="field-error">
          {problem}
        </p>
      )}
    </div>
  );
}

function Filters({ store }: { store: EventsStore }) {
  const filters = useStore(store, (state) => state.filters);
  const knownTypes = useStore(store, (state) => state.knownTypes);
  const toggle = <Value extends string>(list: readonly Value[], value: Value, on: boolean): Value[] => (on ? [...list, value] : list.filter((entry) => entry !== value));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void store.getState().query();
  };
  return (
    <form onSubmit={submit} className="filters" aria-labelledby="filters-heading" noValidate>
      <h2 id="filters-heading">Filters</h2>
      <fieldset>
        <legend>Type</legend>
        {knownTypes.length === 0 && <p>No event types yet.</p>}
        {knownTypes.map((type) => (
          <label key={type} className="checkbox-field">
            <input
              type="checkbox"
              checked={filters.types.includes(type)}
              onChange={(event) => {
                store.getState().setFilters({ types: toggle(filters.types, type, event.target.checked) });
              }}
            />{' '}
            {type}
          </label>
        ))}
      </fieldset>
      <fieldset>
        <legend>Outcome</legend>
        {eventOutcomes.map((outcome) => (
          <label key={outcome} className="checkbox-field">
            <input
              type="checkbox"
              checked={filters.outcomes.includes(outcome)}
              onChange={(event) => {
                store.getState().setFilters({ outcomes: toggle(filters.outcomes, outcome, event.target.checked) });
              }}
            />{' '}
            {outcomeWords[outcome]}
          </label>
        ))}
      </fieldset>
      <fieldset>
        <legend>Time range</legend>
        <MomentField field="since" label="Since" store={store} />
        <MomentField field="until" label="Until" store={store} />
      </fieldset>
      <div className="toolbar">
        <button type="submit" className="button button-primary">
          Apply filters
        </button>
        <button type="button" className="button" onClick={() => void store.getState().clear()}>
          Clear filters
        </button>
      </div>
    </form>
  );
}

function ExportButtons({ store }: { store: EventsStore }) {
  const exporting = useStore(store, (state) => state.exporting);
  const exportError = useStore(store, (state) => state.exportError);
  const [saved, setSaved] = useState('');
  const run = (format: 'json' | 'csv') => {
    setSaved('');
    void store
      .getState()
      .exportEvents(format)
      .then((file) => {
        if (!file) return;
        download(file);
        setSaved(`Exported ${file.fileName}.`);
      });
  };
  return (
    <section aria-labelledby="export-heading">
      <h2 id="export-heading">Export</h2>
      <p>The export holds the events the filters select.</p>
      <div className="toolbar">
        <button type="button" className="button" disabled={exporting !== undefined} onClick={() => run('json')}>
          Export JSON
        </button>
        <button type="button" className="button" disabled={exporting !== undefined} onClick={() => run('csv')}>
          Export CSV
        </button>
      </div>
      <p role="status">{exporting ? `Exporting ${exporting.toUpperCase()}…` : saved}</p>
      {exportError && (
        <div role="alert">
          <ErrorDetails error={exportError} />
        </div>
      )}
    </section>
  );
}

export function EventsView() {
  const { client } = useConsole();
  const [store] = useState(() => createEventsStore(client));
  const page = useStore(store, (state) => state.page);

  useEffect(() => {
    void store.getState().query();
  }, [store]);

  const events = page.value?.events ?? [];
  return (
    <>
      <ViewHeading>Events</ViewHeading>
      <Filters store={store} />
      <ExportButtons store={store} />
      <section aria-labelledby="log-heading">
        <h2 id="log-heading">Event log</h2>
        <p role="status" className="load-status">
          {page.loading ? 'Loading events…' : page.value ? `${String(events.length)} events${page.value.truncated ? ', newest first; older ones are left out — narrow the filters' : ''}.` : ''}
        </p>
        {page.error && <LoadFailure what="the events" error={page.error} onRetry={() => void store.getState().query()} />}
        {page.value && page.value.unreachable.length + page.value.unreadable.length > 0 && (
          <ul aria-label="Repositories and objects that could not be read" className="warnings">
            {page.value.unreachable.map((entry) => (
              <li key={entry.repository}>
                Repository {entry.repository} could not be read: {entry.message}.
              </li>
            ))}
            {page.value.unreadable.map((entry) => (
              <li key={entry.object}>
                Event {entry.object} could not be read from {entry.repositories.join(', ')}: {entry.message}.
              </li>
            ))}
          </ul>
        )}
        <div role="log" aria-labelledby="log-heading" className="event-log">
          <ol>
            {events.map((event) => (
              <li key={event.id} className={`event event-${event.outcome}`}>
                <p className="event-head">
                  <time dateTime={event.time}>{formatMoment(event.time)}</time> — <span className="event-type">{event.type}</span> —{' '}
                  <strong className="event-outcome">{outcomeWords[event.outcome]}</strong>
                </p>
                <p>{event.summary}</p>
                <p className="hint">
                  by {event.operator} on {event.host}
                  {event.repositories.length > 0 && `; recorded in ${event.repositories.join(', ')}`}
                </p>
              </li>
            ))}
          </ol>
        </div>
      </section>
    </>
  );
}
