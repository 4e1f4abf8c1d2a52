import type { Timeline, TimelineBackup, TimelineMarker } from '../../../shared/contract/recovery.js';
import { formatDuration } from '../../components/format.js';

/**
 * The recovery timeline as the page reasons about it: every time in epoch milliseconds,
 * every list sorted, so that a key press on the slider costs a few binary searches and
 * never a walk over 30 days of history.
 */

/** A closed stretch [from, to] of restorable moments. */
export interface Span {
  readonly from: number;
  readonly to: number;
}

export interface RepositoryLane {
  readonly name: string;
  readonly media: Timeline['repositories'][number]['media'];
  readonly offsite: boolean;
  readonly reachable: boolean;
  readonly error: string | undefined;
  /** Its windows with its WAL gaps cut out, sorted and disjoint. */
  readonly restorable: readonly Span[];
  readonly gaps: readonly (Span & { readonly firstMissing: string; readonly missingSegments: number })[];
}

export interface PlacedMarker extends TimelineMarker {
  readonly at: number;
}

export interface PlacedBackup extends TimelineBackup {
  readonly at: number;
}

export interface RecoveryModel {
  readonly generatedAt: number;
  /** The span shown at the widest zoom. */
  readonly shown: Span;
  /** Moments some reachable repository can restore to: the union of the lanes, sorted and disjoint. */
  readonly restorable: readonly Span[];
  readonly earliest: number | undefined;
  readonly latest: number | undefined;
  readonly lanes: readonly RepositoryLane[];
  readonly markers: readonly PlacedMarker[];
  readonly markerTimes: readonly number[];
  readonly backups: readonly PlacedBackup[];
  readonly backupTimes: readonly number[];
  /** Known (position in WAL, moment) pairs, sorted by position, to place a typed LSN on the axis. */
  readonly lsnAnchors: readonly { readonly lsn: number; readonly at: number }[];
  readonly restoreBytesPerSecond: number | undefined;
  readonly walBytesPerSecond: number | undefined;
}

export const minute = 60_000;
export const hour = 60 * minute;
export const day = 24 * hour;

function subtract(windows: readonly Span[], gaps: readonly Span[]): Span[] {
  let pieces = [...windows];
  for (const gap of gaps) {
    pieces = pieces.flatMap((piece) => {
      if (gap.to <= piece.from || gap.from >= piece.to) return [piece];
      const kept: Span[] = [];
      if (gap.from > piece.from) kept.push({ from: piece.from, to: gap.from });
      if (gap.to < piece.to) kept.push({ from: gap.to, to: piece.to });
      return kept;
    });
  }
  return union(pieces);
}

function union(spans: readonly Span[]): Span[] {
  const sorted = [...spans].sort((a, b) => a.from - b.from);
  const merged: Span[] = [];
  for (const span of sorted) {
    const last = merged.at(-1);
    if (last && span.from <= last.to) merged[merged.length - 1] = { from: last.from, to: Math.max(last.to, span.to) };
    else merged.push(span);
  }
  return merged;
}

/** `16/B374D848` → a number; precise enough to place a position in WAL between two known ones. */
export function parseLsn(text: string): number | undefined {
  const match = /^\s*([0-9a-f]{1,8})\/([0-9a-f]{1,8})\s*$/i.exec(text);
  if (!match?.[1] || !match[2]) return undefined;
  return Number.parseInt(match[1], 16) * 2 ** 32 + Number.parseInt(match[2], 16);
}

export function buildRecoveryModel(timeline: Timeline): RecoveryModel {
  const lanes = timeline.repositories.map((repository): RepositoryLane => {
    const windows = repository.windows.map((window) => ({ from: Date.parse(window.from), to: Date.parse(window.to) }));
    const gaps = repository.gaps
      .map((gap) => ({ from: Date.parse(gap.from), to: Date.parse(gap.to), firstMissing: gap.firstMissing, missingSegments: gap.missingSegments }))
      .sort((a, b) => a.from - b.from);
    return {
      name: repository.repository,
      media: repository.media,
      offsite: repository.offsite,
      reachable: repository.reachable,
      error: repository.error,
      restorable: subtract(windows, gaps),
      gaps,
    };
  });
  const restorable = union(lanes.filter((lane) => lane.reachable).flatMap((lane) => lane.restorable));
  const markers = timeline.markers.map((marker) => ({ ...marker, at: Date.parse(marker.time) })).sort((a, b) => a.at - b.at);
  const backups = timeline.backups.map((backup) => ({ ...backup, at: Date.parse(backup.stoppedAt) })).sort((a, b) => a.at - b.at);
  const lsnAnchors = [
    ...backups.map((backup) => ({ lsn: parseLsn(backup.stopLsn), at: backup.at })),
    ...markers.map((marker) => ({ lsn: marker.lsn === undefined ? undefined : parseLsn(marker.lsn), at: marker.at })),
  ]
    .filter((anchor): anchor is { lsn: number; at: number } => anchor.lsn !== undefined)
    .sort((a, b) => a.lsn - b.lsn);
  return {
    generatedAt: Date.parse(timeline.generatedAt),
    shown: { from: Date.parse(timeline.from), to: Date.parse(timeline.to) },
    restorable,
    earliest: restorable[0]?.from,
    latest: restorable.at(-1)?.to,
    lanes,
    markers,
    markerTimes: markers.map((marker) => marker.at),
    backups,
    backupTimes: backups.map((backup) => backup.at),
    lsnAnchors,
    restoreBytesPerSecond: timeline.restoreBytesPerSecond,
    walBytesPerSecond: timeline.walBytesPerSecond,
  };
}

/** Index of the first element greater than `value` (binary search over a sorted list). */
export function upperBound(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] ?? 0) <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Index of the last span starting at or before `moment`, or -1. */
function spanIndexAtOrBefore(spans: readonly Span[], moment: number): number {
  let low = 0;
  let high = spans.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((spans[middle]?.from ?? 0) <= moment) low = middle + 1;
    else high = middle;
  }
  return low - 1;
}

export function spanContaining(spans: readonly Span[], moment: number): Span | undefined {
  const span = spans[spanIndexAtOrBefore(spans, moment)];
  return span && moment <= span.to ? span : undefined;
}

/** Where a requested moment landed, and why it moved. */
export interface Landing {
  /** The moment asked for, before snapping. */
  readonly requested: number;
  readonly value: number;
  /** The requested moment could not be restored to: it lay in a gap, or before the earliest or after the latest moment. */
  readonly snapped: boolean;
  /** The unrestorable stretch it fell in, for the announcement. */
  readonly unrestorable?: { readonly from: number | undefined; readonly to: number | undefined };
}

/**
 * The restorable moment for a requested one. `nearest` (a click, a typed time) takes
 * the closer side of a gap; `forward`/`backward` (a key press) crosses the gap in the
 * direction of travel, so holding an arrow key never sticks at a gap's edge.
 */
export function land(model: RecoveryModel, requested: number, direction: 'nearest' | 'forward' | 'backward' = 'nearest'): Landing | undefined {
  const { restorable } = model;
  const first = restorable[0];
  const last = restorable.at(-1);
  if (!first || !last) return undefined;
  const index = spanIndexAtOrBefore(restorable, requested);
  const before = restorable[index];
  if (before && requested <= before.to) return { requested, value: requested, snapped: false };
  const after = restorable[index + 1];
  const unrestorable = { from: before?.to, to: after?.from };
  if (!before) return { requested, value: first.from, snapped: true, unrestorable };
  if (!after) return { requested, value: last.to, snapped: true, unrestorable };
  if (direction === 'forward') return { requested, value: after.from, snapped: true, unrestorable };
  if (direction === 'backward') return { requested, value: before.to, snapped: true, unrestorable };
  return { requested, value: requested - before.to <= after.from - requested ? before.to : after.from, snapped: true, unrestorable };
}

export type SliderKey = 'ArrowLeft' | 'ArrowRight' | 'ArrowUp' | 'ArrowDown' | 'PageUp' | 'PageDown' | 'Home' | 'End' | 'NextMarker' | 'PreviousMarker';

/** Arrows move a minute, Page Up/Down an hour, Home/End to the ends, ] and [ to the next and previous marker. */
export function step(model: RecoveryModel, value: number, key: SliderKey): Landing | undefined {
  switch (key) {
    case 'ArrowRight':
    case 'ArrowUp':
      return land(model, value + minute, 'forward');
    case 'ArrowLeft':
    case 'ArrowDown':
      return land(model, value - minute, 'backward');
    case 'PageUp':
      return land(model, value + hour, 'forward');
    case 'PageDown':
      return land(model, value - hour, 'backward');
    case 'Home':
      return model.earliest === undefined ? undefined : { requested: model.earliest, value: model.earliest, snapped: false };
    case 'End':
      return model.latest === undefined ? undefined : { requested: model.latest, value: model.latest, snapped: false };
    case 'NextMarker':
      return markerStep(model, value, 1);
    case 'PreviousMarker':
      return markerStep(model, value, -1);
  }
}

/**
 * The next (or previous) marker whose restorable moment lies beyond the current value;
 * a marker in a gap (a DR event during an outage, say) lands on the nearest restorable
 * moment, and one that would land where the target already is gets skipped.
 */
function markerStep(model: RecoveryModel, value: number, direction: 1 | -1): Landing | undefined {
  const { markerTimes } = model;
  let index = direction === 1 ? upperBound(markerTimes, value) : upperBound(markerTimes, value - 1) - 1;
  while (index >= 0 && index < markerTimes.length) {
    const landing = land(model, markerTimes[index] ?? value, 'nearest');
    if (landing && (direction === 1 ? landing.value > value : landing.value < value)) return landing;
    index += direction;
  }
  return undefined;
}

/** The marker exactly at a moment, if any: the grid row the slider's value selects. */
export function markerAt(model: RecoveryModel, value: number): PlacedMarker | undefined {
  const index = upperBound(model.markerTimes, value) - 1;
  const marker = model.markers[index];
  return marker?.at === value ? marker : undefined;
}

/** Can this repository restore to `moment` from this backup: it holds the backup and its WAL runs unbroken from the backup to the moment. */
function servesFrom(lane: RepositoryLane, backup: PlacedBackup, moment: number): boolean {
  if (!lane.reachable || !backup.repositories.includes(lane.name)) return false;
  const span = spanContaining(lane.restorable, backup.at);
  return span !== undefined && moment <= span.to;
}

export interface RepositoryVerdict {
  readonly repository: string;
  readonly media: RepositoryLane['media'];
  readonly canServe: boolean;
  /** Why not, in words. */
  readonly reason: string | undefined;
}

function verdict(lane: RepositoryLane, backup: PlacedBackup | undefined, moment: number): RepositoryVerdict {
  const base = { repository: lane.name, media: lane.media };
  if (!lane.reachable) return { ...base, canServe: false, reason: `unreachable${lane.error ? `: ${lane.error}` : ''}` };
  if (!backup) return { ...base, canServe: false, reason: 'no backup before this moment' };
  if (!backup.repositories.includes(lane.name)) return { ...base, canServe: false, reason: `does not hold the backup ${backup.id}` };
  if (!servesFrom(lane, backup, moment)) return { ...base, canServe: false, reason: 'its WAL does not run unbroken from the backup to this moment' };
  return { ...base, canServe: true, reason: undefined };
}

/**
 * The backup a restore to `moment` starts from: the newest one before it that some
 * repository can replay from; failing that, the newest one before it at all.
 */
export function baseBackup(model: RecoveryModel, moment: number): PlacedBackup | undefined {
  const newest = upperBound(model.backupTimes, moment) - 1;
  for (let index = newest; index >= 0; index -= 1) {
    const backup = model.backups[index];
    if (backup && model.lanes.some((lane) => servesFrom(lane, backup, moment))) return backup;
  }
  return model.backups[newest];
}

/** What the person learns about a chosen point before restoring to it. */
export interface PointSummary {
  readonly moment: number;
  readonly backup: PlacedBackup | undefined;
  /** Time between the backup's end and the target: the WAL replayed. */
  readonly replaySeconds: number | undefined;
  readonly replayBytes: number | undefined;
  readonly repositories: readonly RepositoryVerdict[];
  readonly walContinuous: boolean;
  /** From the restore rate that restore tests measured; absent without one. */
  readonly estimatedSeconds: number | undefined;
}

export function summarizePoint(model: RecoveryModel, moment: number): PointSummary {
  const backup = baseBackup(model, moment);
  const repositories = model.lanes.map((lane) => verdict(lane, backup, moment));
  const replaySeconds = backup ? Math.max(0, (moment - backup.at) / 1000) : undefined;
  const replayBytes = replaySeconds !== undefined && model.walBytesPerSecond !== undefined ? replaySeconds * model.walBytesPerSecond : undefined;
  const estimatedSeconds =
    backup && model.restoreBytesPerSecond ? (backup.bytes + (replayBytes ?? 0)) / model.restoreBytesPerSecond : undefined;
  return {
    moment,
    backup,
    replaySeconds,
    replayBytes,
    repositories,
    walContinuous: repositories.some((repository) => repository.canServe),
    estimatedSeconds,
  };
}

function pad(value: number): string {
  return String(value).padStart(2, '0');
}

function utcClock(moment: number, withSeconds = true): string {
  const date = new Date(moment);
  const clock = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}`;
  return withSeconds ? `${clock}:${pad(date.getUTCSeconds())}` : clock;
}

function localClock(moment: number): string {
  const date = new Date(moment);
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function isoUtc(moment: number): string {
  return `${new Date(moment).toISOString().slice(0, 19)}Z`;
}

export const backupTypeWords: Readonly<Record<PlacedBackup['type'], string>> = {
  full: 'full backup',
  incremental: 'incremental backup',
  archive: 'archive backup',
  manual: 'manual backup',
};

/**
 * The slider's value in words, as a screen reader announces it on every key press:
 * "14:05:30 UTC, 15:05:30 local, 3 h 5 min after full backup of 11:00 UTC, WAL continuous;
 * 2026-12-05T14:05:30Z". Only the backup search is more than constant work.
 */
export function describeMoment(model: RecoveryModel, moment: number): string {
  const backup = baseBackup(model, moment);
  const parts = [`${utcClock(moment)} UTC`, `${localClock(moment)} local`];
  if (backup) {
    const sameDay = isoUtc(backup.at).slice(0, 10) === isoUtc(moment).slice(0, 10);
    const when = sameDay ? `${utcClock(backup.at, false)} UTC` : `${isoUtc(backup.at).slice(0, 10)} ${utcClock(backup.at, false)} UTC`;
    const after = moment - backup.at < 1000 ? 'at the end of' : `${formatDuration((moment - backup.at) / 1000)} after`;
    parts.push(`${after} ${backupTypeWords[backup.type]} of ${when}`);
    parts.push(model.lanes.some((lane) => servesFrom(lane, backup, moment)) ? 'WAL continuous' : 'WAL not continuous from that backup');
  } else {
    parts.push('no backup before this moment');
  }
  return `${parts.join(', ')}; ${isoUtc(moment)}`;
}

/** Says why the target moved: "2026-12-04T10:05:00Z cannot be restored to (…); moved to …". */
export function describeSnap(landing: Landing): string {
  const { requested, unrestorable } = landing;
  let why = 'no repository can restore to it';
  if (unrestorable?.from !== undefined && unrestorable.to !== undefined) {
    why = `no repository holds WAL from ${isoUtc(unrestorable.from)} to ${isoUtc(unrestorable.to)}`;
  } else if (unrestorable?.from === undefined) {
    why = 'it is before the earliest recoverable moment';
  } else {
    why = 'it is after the latest recoverable moment';
  }
  return `${isoUtc(requested)} cannot be restored to: ${why}. The target moved to ${isoUtc(landing.value)}, the nearest restorable moment.`;
}

/**
 * Places a typed LSN on the axis by linear interpolation between the nearest known
 * positions (backup ends, restore points). Only an estimate: WAL is not written at a
 * steady rate, so the page says "about".
 */
export function momentOfLsn(model: RecoveryModel, lsnText: string): number | undefined {
  const lsn = parseLsn(lsnText);
  const anchors = model.lsnAnchors;
  if (lsn === undefined || anchors.length === 0) return undefined;
  let low = 0;
  let high = anchors.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((anchors[middle]?.lsn ?? 0) <= lsn) low = middle + 1;
    else high = middle;
  }
  const before = anchors[low - 1];
  const after = anchors[low];
  if (!before) return after?.at;
  if (!after || after.lsn === before.lsn) return before.at;
  return before.at + ((lsn - before.lsn) / (after.lsn - before.lsn)) * (after.at - before.at);
}

/** Gaps of every lane that fall in a span, in words, for the list read out beside the chart. */
export function describeGap(lane: RepositoryLane, gap: RepositoryLane['gaps'][number]): string {
  const sameDay = isoUtc(gap.from).slice(0, 10) === isoUtc(gap.to).slice(0, 10);
  const end = sameDay ? `${utcClock(gap.to)}Z` : isoUtc(gap.to);
  const segments = `${String(gap.missingSegments)} WAL segment${gap.missingSegments === 1 ? '' : 's'} missing from ${gap.firstMissing}`;
  return `${lane.name}: WAL gap ${isoUtc(gap.from)} … ${end}, not restorable (${segments})`;
}
