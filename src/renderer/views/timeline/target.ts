import { createStore, type StoreApi } from 'zustand/vanilla';
import { toErrorData, type ContractClient } from '../../../shared/contract/index.js';
import type { Timeline } from '../../../shared/contract/recovery.js';
import type { RecoveryTarget } from '../../../shared/contract/restore.js';
import type { ErrorData } from '../../../shared/errors.js';
import { formatDuration, formatMoment, formatUtc } from '../../components/format.js';
import { buildRecoveryModel, day, describeSnap, hour, land, momentOfLsn, parseLsn, step, type Landing, type RecoveryModel, type SliderKey, type Span } from './model.js';

/**
 * The recovery target and everything that chooses it — the slider, the marker grid,
 * the typed time, LSN, transaction id and restore-point name, and "Latest" — in one
 * store, so they can never disagree. The target's kind follows what was entered last.
 */
export type TargetKind = 'time' | 'lsn' | 'xid' | 'name' | 'latest';
export type Zoom = 'month' | 'day' | 'hour';

export const zoomSpans: Readonly<Record<Exclude<Zoom, 'month'>, number>> = { day, hour };

export interface TimelineState {
  readonly days: number;
  readonly timeline: Timeline | undefined;
  readonly model: RecoveryModel | undefined;
  readonly loading: boolean;
  readonly error: ErrorData | undefined;
  readonly zoom: Zoom;
  /** The stretch of time the chart shows; the zoom centres it on the target. */
  readonly visible: Span | undefined;
  /** The target's moment on the axis (for an LSN, an estimate; for a transaction id, unknown, so it stays where it was). */
  readonly value: number | undefined;
  readonly kind: TargetKind;
  readonly lsn: string;
  readonly xid: string;
  readonly name: string;
  /** "Latest" as it was when chosen: a newer one is offered, never taken silently. */
  readonly frozenLatest: number | undefined;
  readonly newerLatest: number | undefined;
  /** For the polite live region: why the target moved, or what changed under it. */
  readonly announcement: string;
  readonly load: () => Promise<void>;
  readonly press: (key: SliderKey) => void;
  /** A click or drag on the track, or Enter on a grid row: lands on the nearest restorable moment. */
  readonly pointAt: (moment: number) => void;
  readonly setTime: (moment: number) => void;
  /** Each returns a problem in words, or undefined when the entry was taken. */
  readonly setLsn: (text: string) => string | undefined;
  readonly setXid: (text: string) => string | undefined;
  readonly setName: (name: string) => string | undefined;
  readonly chooseLatest: () => void;
  readonly takeNewerLatest: () => void;
  readonly setZoom: (zoom: Zoom) => void;
}

export type TimelineStore = StoreApi<TimelineState>;

export function visibleSpan(model: RecoveryModel, zoom: Zoom, centre: number | undefined): Span {
  const whole = { from: Math.min(model.shown.from, model.earliest ?? model.shown.from), to: Math.max(model.shown.to, model.latest ?? model.shown.to) };
  if (zoom === 'month' || centre === undefined) return whole;
  const width = zoomSpans[zoom];
  const from = Math.min(Math.max(whole.from, centre - width / 2), whole.to - width);
  return { from, to: from + width };
}

function within(span: Span | undefined, moment: number): boolean {
  return span !== undefined && moment >= span.from && moment <= span.to;
}

export function createTimelineStore(client: ContractClient, options: { days?: number } = {}): TimelineStore {
  return createStore<TimelineState>()((set, get) => {
    /** Moves the target, keeps the chart around it, and says why it moved when it snapped. */
    const settle = (landing: Landing | undefined, kind: TargetKind, extra: Partial<TimelineState> = {}): void => {
      const { model, zoom, visible } = get();
      if (!landing || !model) return;
      set({
        value: landing.value,
        kind,
        visible: within(visible, landing.value) ? visible : visibleSpan(model, zoom, landing.value),
        announcement: landing.snapped ? describeSnap(landing) : '',
        ...(kind === 'latest' ? {} : { newerLatest: undefined }),
        ...extra,
      });
    };

    return {
      days: options.days ?? 30,
      timeline: undefined,
      model: undefined,
      loading: false,
      error: undefined,
      zoom: 'month',
      visible: undefined,
      value: undefined,
      kind: 'latest',
      lsn: '',
      xid: '',
      name: '',
      frozenLatest: undefined,
      newerLatest: undefined,
      announcement: '',

      async load() {
        set({ loading: true });
        let timeline: Timeline;
        try {
          timeline = await client.recovery.timeline({ days: get().days });
        } catch (error) {
          set({ loading: false, error: toErrorData(error, 'read the recovery timeline') });
          return;
        }
        const model = buildRecoveryModel(timeline);
        const previous = get();
        set({ timeline, model, loading: false, error: undefined });
        if (model.latest === undefined) {
          set({ value: undefined, visible: visibleSpan(model, previous.zoom, undefined) });
          return;
        }
        if (previous.value === undefined) {
          // First read: the target starts at the latest moment, frozen.
          set({ value: model.latest, frozenLatest: model.latest, kind: 'latest', visible: visibleSpan(model, previous.zoom, model.latest) });
          return;
        }
        if (previous.kind === 'latest' && previous.frozenLatest !== undefined && model.latest > previous.frozenLatest) {
          set({
            newerLatest: model.latest,
            announcement: `A newer latest moment is available: ${formatUtc(model.latest)}, ${formatDuration((model.latest - previous.frozenLatest) / 1000)} newer. The target stays at ${formatUtc(previous.frozenLatest)} until you take it.`,
          });
        }
        // The target stays put across a refresh unless retention or a new gap took its moment away.
        const landing = land(model, previous.value, 'nearest');
        if (landing?.snapped) settle(landing, previous.kind === 'latest' ? 'time' : previous.kind);
      },

      press(key) {
        const { model, value } = get();
        if (!model || value === undefined) return;
        settle(step(model, value, key), 'time');
      },

      pointAt(moment) {
        const { model } = get();
        if (!model) return;
        settle(land(model, moment, 'nearest'), 'time');
      },

      setTime(moment) {
        get().pointAt(moment);
      },

      setLsn(text) {
        const { model } = get();
        if (parseLsn(text) === undefined) return 'An LSN is two hexadecimal numbers separated by a slash, like 16/B374D848.';
        if (!model) return 'The timeline has not been read yet.';
        const moment = momentOfLsn(model, text);
        if (moment === undefined) {
          set({ kind: 'lsn', lsn: text.trim(), announcement: 'No backup or restore point on this timeline has an LSN to place it by; the target stays where it is on the axis.' });
          return undefined;
        }
        settle(land(model, moment, 'nearest'), 'lsn', { lsn: text.trim() });
        return undefined;
      },

      setXid(text) {
        if (!/^\s*\d+\s*$/.test(text)) return 'A transaction id is a whole number, like 1234567.';
        set({ kind: 'xid', xid: text.trim(), newerLatest: undefined, announcement: '' });
        return undefined;
      },

      setName(name) {
        const trimmed = name.trim();
        const { model } = get();
        if (trimmed === '') return 'Type or choose the name of a restore point.';
        // A repeated name is placed at its newest use; recovery itself stops at the first one after the backup it starts from.
        const marker = model?.markers.filter((candidate) => candidate.kind === 'restore-point' && candidate.name === trimmed).at(-1);
        if (!model || !marker) {
          set({ kind: 'name', name: trimmed, newerLatest: undefined, announcement: `No restore point named ${trimmed} is on this timeline; the restore looks for it in the WAL.` });
          return undefined;
        }
        settle(land(model, marker.at, 'nearest'), 'name', { name: trimmed });
        return undefined;
      },

      chooseLatest() {
        const { model } = get();
        if (model?.latest === undefined) return;
        settle({ requested: model.latest, value: model.latest, snapped: false }, 'latest', { frozenLatest: model.latest, newerLatest: undefined });
      },

      takeNewerLatest() {
        const { newerLatest, model } = get();
        if (newerLatest === undefined || !model) return;
        settle({ requested: newerLatest, value: newerLatest, snapped: false }, 'latest', { frozenLatest: newerLatest, newerLatest: undefined, announcement: `The target is now the newer latest moment, ${formatUtc(newerLatest)}.` });
      },

      setZoom(zoom) {
        const { model, value } = get();
        set({ zoom, ...(model ? { visible: visibleSpan(model, zoom, value) } : {}) });
      },
    };
  });
}

/** What a restore is asked to reach. "Latest" replays everything the repositories hold, as it was frozen for the preview. */
export function recoveryTarget(state: Pick<TimelineState, 'kind' | 'value' | 'lsn' | 'xid' | 'name'>): RecoveryTarget | undefined {
  switch (state.kind) {
    case 'time':
      return state.value === undefined ? undefined : { kind: 'time', time: new Date(state.value).toISOString() };
    case 'lsn':
      return { kind: 'lsn', lsn: state.lsn };
    case 'xid':
      return { kind: 'xid', xid: state.xid };
    case 'name':
      return { kind: 'name', name: state.name };
    case 'latest':
      return { kind: 'latest' };
  }
}

/** The target in words, for the wizard's title and the confirmation. */
export function describeTarget(state: Pick<TimelineState, 'kind' | 'value' | 'lsn' | 'xid' | 'name' | 'frozenLatest'>): string {
  const about = state.value === undefined ? '' : ` (about ${formatMoment(state.value)})`;
  switch (state.kind) {
    case 'time':
      return state.value === undefined ? 'no moment chosen' : formatMoment(state.value);
    case 'lsn':
      return `LSN ${state.lsn}${about}`;
    case 'xid':
      return `transaction ${state.xid}`;
    case 'name':
      return `restore point ${state.name}${state.value === undefined ? '' : ` (${formatMoment(state.value)})`}`;
    case 'latest':
      return `the latest moment${state.frozenLatest === undefined ? '' : `, ${formatMoment(state.frozenLatest)} when chosen`}`;
  }
}
