import { memo, useId, useRef, type CSSProperties, type KeyboardEvent, type PointerEvent } from 'react';
import { useStore } from 'zustand';
import type { MediaKind } from '../../../shared/contract/status.js';
import { mediaWords } from '../restore/wizard.js';
import { day, describeMoment, hour, minute, upperBound, type PlacedMarker, type RecoveryModel, type SliderKey, type Span } from './model.js';
import { MarkerShape, markerKindWords } from './MarkerShape.js';
import type { TimelineStore } from './target.js';

type MarkerKindName = PlacedMarker['kind'];

const markerRows: readonly { kind: MarkerKindName; name: string }[] = [
  { kind: 'backup', name: 'Backups' },
  { kind: 'restore-point', name: 'Restore points' },
  { kind: 'restore-test', name: 'Restore tests' },
  { kind: 'dr-event', name: 'DR events' },
];

function percent(span: Span, moment: number): number {
  return ((moment - span.from) / (span.to - span.from)) * 100;
}

/** The stretches of `spans` inside the visible span, as left/width percentages. */
function placed(spans: readonly Span[], visible: Span): { left: number; width: number; span: Span }[] {
  return spans
    .filter((span) => span.to >= visible.from && span.from <= visible.to)
    .map((span) => {
      const left = percent(visible, Math.max(span.from, visible.from));
      const right = percent(visible, Math.min(span.to, visible.to));
      return { left, width: right - left, span };
    });
}

function markersIn(model: RecoveryModel, visible: Span): readonly PlacedMarker[] {
  return model.markers.slice(upperBound(model.markerTimes, visible.from - 1), upperBound(model.markerTimes, visible.to));
}

/** Tick marks: a day apart over 30 days (labelled every fifth), three hours over a day, ten minutes over an hour. */
function ticks(visible: Span): { at: number; label: string | undefined }[] {
  const width = visible.to - visible.from;
  const every = width > 3 * day ? day : width > 3 * hour ? 3 * hour : 10 * minute;
  const first = Math.ceil(visible.from / every) * every;
  const result: { at: number; label: string | undefined }[] = [];
  for (let at = first; at <= visible.to; at += every) {
    const iso = new Date(at).toISOString();
    const label = every === day ? (new Date(at).getUTCDate() % 5 === 1 ? iso.slice(0, 10) : undefined) : `${iso.slice(11, 16)}Z`;
    result.push({ at, label });
  }
  return result;
}

/**
 * Every part of the chart sits in a named grid cell, so the target layer can span the
 * whole time column on top of the lanes without pushing them aside.
 */
function cell(row: number, column: 1 | 2): CSSProperties {
  return { gridRow: row, gridColumn: column };
}

const laneMedia: Readonly<Record<MediaKind, string>> = mediaWords;

/**
 * The picture: an axis, one lane per repository (its restorable window as a band, its
 * WAL gaps hatched and outlined), one row per kind of marker. Drawn once per timeline
 * read and zoom, never per key press; the screen reader gets the same facts from the
 * gap list and the marker grid, so the drawing itself is hidden from it.
 */
export const ChartRows = memo(function ChartRows({ model, visible }: { model: RecoveryModel; visible: Span }) {
  const shownMarkers = markersIn(model, visible);
  return (
    <>
      <div className="tl-label tl-axis-label" aria-hidden="true" style={cell(1, 1)}>
        UTC
      </div>
      <div className="tl-track tl-axis" aria-hidden="true" style={cell(1, 2)}>
        {ticks(visible).map((tick) => (
          <span key={tick.at} className={tick.label ? 'tl-tick tl-tick-labelled' : 'tl-tick'} style={{ left: `${String(percent(visible, tick.at))}%` }}>
            {tick.label}
          </span>
        ))}
      </div>
      {model.lanes.map((lane, index) => (
        <LaneRow key={lane.name} lane={lane} visible={visible} row={index + 2} />
      ))}
      {markerRows.map((row, index) => (
        <div key={row.kind} className="tl-row">
          <div className="tl-label" style={cell(model.lanes.length + index + 2, 1)}>
            {row.name}
          </div>
          <div className="tl-track tl-markers" aria-hidden="true" style={cell(model.lanes.length + index + 2, 2)}>
            {shownMarkers
              .filter((marker) => marker.kind === row.kind)
              .map((marker) => (
                <span key={marker.id} className="tl-marker" style={{ left: `${String(percent(visible, marker.at))}%` }} title={`${markerKindWords(marker)}: ${marker.label}`}>
                  <MarkerShape marker={marker} />
                </span>
              ))}
          </div>
        </div>
      ))}
    </>
  );
});

function LaneRow({ lane, visible, row }: { lane: RecoveryModel['lanes'][number]; visible: Span; row: number }) {
  return (
    <div className="tl-row">
      <div className="tl-label" style={cell(row, 1)}>
        {lane.name}
        <span className="tl-label-detail">
          {laneMedia[lane.media]}
          {lane.offsite ? ', off site' : ''}
          {lane.reachable ? '' : ', unreachable'}
        </span>
      </div>
      <div className={lane.reachable ? 'tl-track tl-lane' : 'tl-track tl-lane tl-lane-unreachable'} aria-hidden="true" style={cell(row, 2)}>
        {placed(lane.restorable, visible).map(({ left, width, span }) => (
          <span key={span.from} className="tl-window" style={{ left: `${String(left)}%`, width: `${String(width)}%` }} />
        ))}
        {placed(lane.gaps, visible).map(({ left, width, span }) => (
          <span key={span.from} className="tl-gap" style={{ left: `${String(left)}%`, width: `${String(width)}%` }} />
        ))}
      </div>
    </div>
  );
}

const keyMap: Readonly<Record<string, SliderKey>> = {
  ArrowLeft: 'ArrowLeft',
  ArrowRight: 'ArrowRight',
  ArrowUp: 'ArrowUp',
  ArrowDown: 'ArrowDown',
  PageUp: 'PageUp',
  PageDown: 'PageDown',
  Home: 'Home',
  End: 'End',
  ']': 'NextMarker',
  '[': 'PreviousMarker',
};

function sliderKey(event: KeyboardEvent): SliderKey | undefined {
  if (event.ctrlKey || event.metaKey) return undefined;
  if (event.altKey) return event.key === 'ArrowRight' ? 'NextMarker' : event.key === 'ArrowLeft' ? 'PreviousMarker' : undefined;
  return keyMap[event.key];
}

export const targetKeyShortcuts = '] [ Alt+ArrowRight Alt+ArrowLeft';

/**
 * The target: an APG slider named "Recovery target" over the chart. Only this part
 * re-renders on a key press — the value text is a few binary searches away — and a
 * click or drag on the chart lands on the nearest restorable moment.
 */
export function TargetSlider({ store, model, visible, describedBy }: { store: TimelineStore; model: RecoveryModel; visible: Span; describedBy: string }) {
  const value = useStore(store, (state) => state.value);
  const layer = useRef<HTMLDivElement>(null);
  if (value === undefined || model.earliest === undefined || model.latest === undefined) return null;

  const momentAt = (clientX: number): number | undefined => {
    const box = layer.current?.getBoundingClientRect();
    if (!box || box.width === 0) return undefined;
    const fraction = Math.min(1, Math.max(0, (clientX - box.left) / box.width));
    return visible.from + fraction * (visible.to - visible.from);
  };
  const follow = (event: PointerEvent) => {
    const moment = momentAt(event.clientX);
    if (moment !== undefined) store.getState().pointAt(moment);
  };
  const valueText = describeMoment(model, value);

  return (
    <div
      ref={layer}
      className="target-layer"
      onPointerDown={(event) => {
        if (event.button !== 0) return;
        event.currentTarget.setPointerCapture(event.pointerId);
        follow(event);
        // Focus follows the pointer so the keys continue from where the click left the target.
        event.currentTarget.querySelector<HTMLElement>('[role="slider"]')?.focus();
        event.preventDefault();
      }}
      onPointerMove={(event) => {
        if (event.currentTarget.hasPointerCapture(event.pointerId)) follow(event);
      }}
    >
      <div
        role="slider"
        tabIndex={0}
        className="target-thumb"
        aria-label="Recovery target"
        aria-orientation="horizontal"
        aria-valuemin={Math.floor(model.earliest / 1000)}
        aria-valuemax={Math.ceil(model.latest / 1000)}
        aria-valuenow={Math.round(value / 1000)}
        aria-valuetext={valueText}
        aria-keyshortcuts={targetKeyShortcuts}
        aria-describedby={describedBy}
        style={{ left: `${String(percent(visible, value))}%` }}
        onKeyDown={(event) => {
          const key = sliderKey(event);
          if (!key) return;
          event.preventDefault();
          store.getState().press(key);
        }}
      >
        <span className="target-handle" aria-hidden="true" />
      </div>
    </div>
  );
}

/** The keys, on screen: the slider's extra keys are announced by aria-keyshortcuts and shown here. */
export function SliderKeys({ id }: { id: string }) {
  return (
    <p id={id} className="slider-keys">
      Keys: <kbd>←</kbd>/<kbd>→</kbd> one minute, <kbd>Page Up</kbd>/<kbd>Page Down</kbd> one hour, <kbd>Home</kbd>/<kbd>End</kbd> earliest and latest,{' '}
      <kbd>]</kbd>/<kbd>[</kbd> (or <kbd>Alt</kbd>+<kbd>→</kbd>/<kbd>←</kbd>) next and previous marker.
    </p>
  );
}

/** The chart with the slider on top, sharing one grid so the target line spans every lane. */
export function TimelineChart({ store, model, visible }: { store: TimelineStore; model: RecoveryModel; visible: Span }) {
  const keysId = useId();
  const rows = 1 + model.lanes.length + markerRows.length;
  return (
    <div className="timeline-chart-block">
      <div className="timeline-chart" style={{ gridTemplateRows: `repeat(${String(rows)}, auto)` }}>
        <ChartRows model={model} visible={visible} />
        <TargetSlider store={store} model={model} visible={visible} describedBy={keysId} />
      </div>
      <SliderKeys id={keysId} />
    </div>
  );
}
