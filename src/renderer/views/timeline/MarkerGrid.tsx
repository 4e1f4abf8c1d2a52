import { memo, useCallback, useId, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { useStore } from 'zustand';
import { formatLocal, formatUtc } from '../../components/format.js';
import { markerAt, upperBound, type PlacedMarker, type RecoveryModel, type Span } from './model.js';
import { MarkerShape, markerKindWords } from './MarkerShape.js';
import type { TimelineStore } from './target.js';

const columns = ['Time (UTC)', 'Local time', 'Kind', 'What', 'Repositories'] as const;

const MarkerRow = memo(function MarkerRow({
  marker,
  index,
  selected,
  activeColumn,
  onChoose,
}: {
  marker: PlacedMarker;
  index: number;
  selected: boolean;
  /** The column holding the grid's one tab stop, when it is in this row. */
  activeColumn: number | undefined;
  onChoose: (index: number, column: number) => void;
}) {
  const cells = [
    formatUtc(marker.at),
    formatLocal(marker.at),
    <span key="kind" className="marker-kind">
      <MarkerShape marker={marker} /> {markerKindWords(marker)}
    </span>,
    marker.label,
    marker.repositories.length > 0 ? marker.repositories.join(', ') : '—',
  ];
  return (
    <tr role="row" aria-rowindex={index + 2} aria-selected={selected} className={selected ? 'marker-row marker-row-selected' : 'marker-row'}>
      {cells.map((cell, column) => (
        <td
          key={columns[column]}
          role="gridcell"
          tabIndex={activeColumn === column ? 0 : -1}
          data-cell={`${String(index)}:${String(column)}`}
          onClick={() => {
            onChoose(index, column);
          }}
        >
          {cell}
        </td>
      ))}
    </tr>
  );
});

/**
 * The markers as an APG grid, the chart's accessible twin: one tab stop, arrow keys
 * between cells, Page Up/Down by ten rows, Home/End along a row (with Ctrl, to the
 * first and last row), Enter or Space to make the row's moment the target. The row at
 * the target's moment is selected, so the grid and the slider share one selection.
 */
export function MarkerGrid({ store, model, visible }: { store: TimelineStore; model: RecoveryModel; visible: Span }) {
  const markers = useMemo(
    () => model.markers.slice(upperBound(model.markerTimes, visible.from - 1), upperBound(model.markerTimes, visible.to)),
    [model, visible],
  );
  const helpId = useId();
  const selectedId = useStore(store, (state) => (state.value === undefined ? undefined : markerAt(model, state.value)?.id));
  const [active, setActive] = useState({ row: 0, column: 0 });
  const table = useRef<HTMLTableElement>(null);
  const row = Math.min(active.row, Math.max(0, markers.length - 1));

  const choose = useCallback(
    (marker: PlacedMarker | undefined) => {
      if (!marker) return;
      // A restore point is a target by name, exact to the record; any other marker by its moment.
      if (marker.kind === 'restore-point' && marker.name !== undefined) store.getState().setName(marker.name);
      else store.getState().pointAt(marker.at);
    },
    [store],
  );
  const onChoose = useCallback(
    (chosenRow: number, column: number) => {
      setActive({ row: chosenRow, column });
      choose(markers[chosenRow]);
    },
    [choose, markers],
  );

  const moveTo = (next: { row: number; column: number }) => {
    const clamped = { row: Math.min(Math.max(0, next.row), markers.length - 1), column: Math.min(Math.max(0, next.column), columns.length - 1) };
    setActive(clamped);
    table.current?.querySelector<HTMLElement>(`[data-cell="${String(clamped.row)}:${String(clamped.column)}"]`)?.focus();
  };

  const onKeyDown = (event: KeyboardEvent) => {
    const moves: Record<string, { row: number; column: number } | undefined> = {
      ArrowDown: { row: row + 1, column: active.column },
      ArrowUp: { row: row - 1, column: active.column },
      ArrowRight: { row, column: active.column + 1 },
      ArrowLeft: { row, column: active.column - 1 },
      PageDown: { row: row + 10, column: active.column },
      PageUp: { row: row - 10, column: active.column },
      Home: event.ctrlKey ? { row: 0, column: 0 } : { row, column: 0 },
      End: event.ctrlKey ? { row: markers.length - 1, column: columns.length - 1 } : { row, column: columns.length - 1 },
    };
    const move = moves[event.key];
    if (move) {
      event.preventDefault();
      moveTo(move);
    } else if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      choose(markers[row]);
    }
  };

  if (markers.length === 0) return <p>No backups, restore points, restore tests or DR events in the shown span.</p>;
  return (
    <>
    <p id={helpId} className="hint">
      {markers.length} markers from {formatUtc(markers[0]?.at ?? visible.from)} to {formatUtc(markers.at(-1)?.at ?? visible.to)}. Arrow keys move between cells, Enter makes the row&apos;s moment the recovery target.
    </p>
    <div className="marker-grid-scroll">
    <table ref={table} role="grid" className="marker-grid" aria-label="Markers" aria-rowcount={markers.length + 1} aria-describedby={helpId} onKeyDown={onKeyDown}>
      <thead>
        <tr role="row" aria-rowindex={1}>
          {columns.map((column) => (
            <th key={column} role="columnheader" scope="col">
              {column}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {markers.map((marker, index) => (
          <MarkerRow
            key={marker.id}
            marker={marker}
            index={index}
            selected={marker.id === selectedId}
            activeColumn={index === row ? active.column : undefined}
            onChoose={onChoose}
          />
        ))}
      </tbody>
    </table>
    </div>
    </>
  );
}
