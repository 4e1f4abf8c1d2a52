import type { TimelineMarker } from '../../../shared/contract/recovery.js';

/**
 * Each kind of marker has its own shape, so nothing on the chart is told by colour
 * alone: backups are squares (filled for full, half for incremental, framed for
 * archive, dotted for manual), restore points flags, restore tests circles (a tick when
 * passed, a cross when failed), DR events diamonds. The words are beside them in the
 * legend and the grid.
 */
export type MarkerLook = Pick<TimelineMarker, 'kind' | 'backupType' | 'outcome'>;

export function markerKindWords(marker: MarkerLook): string {
  switch (marker.kind) {
    case 'backup':
      return `${marker.backupType ?? 'full'} backup`;
    case 'restore-point':
      return 'restore point';
    case 'restore-test':
      return marker.outcome === 'failure' ? 'restore test, failed' : marker.outcome === 'partial' ? 'restore test, partly passed' : 'restore test, passed';
    case 'dr-event':
      return marker.outcome === 'failure' ? 'DR event, failed' : 'DR event';
  }
}

function shapeClass(marker: MarkerLook): string {
  const outcome = marker.outcome === 'failure' ? 'failed' : 'ok';
  return `marker-shape marker-${marker.kind} marker-${marker.kind === 'backup' ? (marker.backupType ?? 'full') : outcome}`;
}

function Paths({ marker }: { marker: MarkerLook }) {
  switch (marker.kind) {
    case 'backup':
      switch (marker.backupType) {
        case 'incremental':
          return (
            <>
              <rect x="1.5" y="1.5" width="13" height="13" fill="none" strokeWidth="2" />
              <path d="M1.5 14.5 L14.5 1.5 L14.5 14.5 Z" />
            </>
          );
        case 'archive':
          return (
            <>
              <rect x="1.5" y="1.5" width="13" height="13" fill="none" strokeWidth="2" />
              <rect x="5" y="5" width="6" height="6" />
            </>
          );
        case 'manual':
          return (
            <>
              <rect x="1.5" y="1.5" width="13" height="13" fill="none" strokeWidth="2" />
              <circle cx="8" cy="8" r="2.5" />
            </>
          );
        default:
          return <rect x="1" y="1" width="14" height="14" />;
      }
    case 'restore-point':
      return <path d="M3 15 V1 L14 5 L4 9" strokeWidth="2" strokeLinejoin="round" />;
    case 'restore-test':
      return marker.outcome === 'failure' ? (
        <>
          <circle cx="8" cy="8" r="6.5" fill="none" strokeWidth="2" />
          <path d="M5 5 L11 11 M11 5 L5 11" fill="none" strokeWidth="2" />
        </>
      ) : (
        <>
          <circle cx="8" cy="8" r="6.5" fill="none" strokeWidth="2" />
          <path d="M4.5 8.5 L7 11 L11.5 5" fill="none" strokeWidth="2" />
        </>
      );
    case 'dr-event':
      return <path d="M8 1 L15 8 L8 15 L1 8 Z" strokeWidth="1.5" fill={marker.outcome === 'failure' ? 'none' : undefined} />;
  }
}

export function MarkerShape({ marker }: { marker: MarkerLook }) {
  return (
    <svg className={shapeClass(marker)} viewBox="0 0 16 16" aria-hidden="true" focusable="false">
      <Paths marker={marker} />
    </svg>
  );
}

/** Every shape the chart uses, with its words: the key to read the chart by. */
export const legendEntries: readonly MarkerLook[] = [
  { kind: 'backup', backupType: 'full' },
  { kind: 'backup', backupType: 'incremental' },
  { kind: 'backup', backupType: 'archive' },
  { kind: 'backup', backupType: 'manual' },
  { kind: 'restore-point' },
  { kind: 'restore-test', outcome: 'success' },
  { kind: 'restore-test', outcome: 'failure' },
  { kind: 'dr-event', outcome: 'success' },
  { kind: 'dr-event', outcome: 'failure' },
];
