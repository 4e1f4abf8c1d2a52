import { useEffect, useMemo, useState } from 'react';
import { Label, Radio, RadioGroup } from 'react-aria-components';
import { useStore } from 'zustand';
import type { RecoveryTarget } from '../../../shared/contract/restore.js';
import { useConsole } from '../../app/console-context.js';
import { formatMoment } from '../../components/format.js';
import { LoadFailure } from '../../components/LoadFailure.js';
import { ViewHeading } from '../../components/ViewHeading.js';
import { OperationProgress } from '../../operations/OperationProgress.js';
import { RestoreResult } from '../restore/RestoreResult.js';
import { RestoreWizard } from '../restore/RestoreWizard.js';
import { ChosenPoint } from './ChosenPoint.js';
import { MarkerGrid } from './MarkerGrid.js';
import { MarkerShape, legendEntries, markerKindWords } from './MarkerShape.js';
import { describeGap, type RecoveryModel } from './model.js';
import { createTimelineStore, describeTarget, recoveryTarget, type TimelineStore, type Zoom } from './target.js';
import { TargetEntry } from './TargetEntry.js';
import { TimelineChart } from './TimelineChart.js';
import './timeline.css';

/** How often the timeline is read again while open: new WAL moves "latest", which is then offered. */
const refreshEveryMs = 60_000;

function ZoomChoice({ store }: { store: TimelineStore }) {
  const zoom = useStore(store, (state) => state.zoom);
  return (
    <RadioGroup
      className="zoom-choice"
      orientation="horizontal"
      value={zoom}
      onChange={(value) => {
        store.getState().setZoom(value === 'day' || value === 'hour' ? value : 'month');
      }}
    >
      <Label>Zoom</Label>
      <Radio value={'month' satisfies Zoom}>30 days</Radio>
      <Radio value={'day' satisfies Zoom}>Day</Radio>
      <Radio value={'hour' satisfies Zoom}>Hour</Radio>
    </RadioGroup>
  );
}

function Legend() {
  return (
    <ul className="timeline-legend" aria-label="Legend">
      <li>
        <span className="legend-window" aria-hidden="true" /> recoverable window
      </li>
      <li>
        <span className="legend-gap" aria-hidden="true" /> WAL gap, not restorable
      </li>
      {legendEntries.map((entry) => (
        <li key={markerKindWords(entry)}>
          <MarkerShape marker={entry} /> {markerKindWords(entry)}
        </li>
      ))}
    </ul>
  );
}

/** The gaps in words: the chart's hatching, for everyone who does not see it. */
function GapList({ model }: { model: RecoveryModel }) {
  const gaps = model.lanes.flatMap((lane) => lane.gaps.map((gap) => ({ key: `${lane.name}-${String(gap.from)}`, text: describeGap(lane, gap) })));
  const unreachable = model.lanes.filter((lane) => !lane.reachable);
  return (
    <section aria-labelledby="gaps-heading">
      <h2 id="gaps-heading">WAL gaps</h2>
      {gaps.length === 0 ? (
        <p>No WAL gaps: every repository&apos;s WAL runs unbroken through its recoverable window.</p>
      ) : (
        <ul>
          {gaps.map((gap) => (
            <li key={gap.key}>{gap.text}</li>
          ))}
        </ul>
      )}
      {unreachable.map((lane) => (
        <p key={lane.name}>
          {lane.name} is unreachable{lane.error ? `: ${lane.error}` : ''}; it cannot serve a restore until it is back.
        </p>
      ))}
    </section>
  );
}

/** Restores and partial restores started here, shown by this view (the shell's operations area leaves them to it). */
function RestoreOperations({ hidden }: { hidden: string | undefined }) {
  const { operations } = useConsole();
  const all = useStore(operations, (state) => state.operations);
  const restores = Object.values(all)
    .filter((operation) => (operation.kind === 'restore' || operation.kind === 'partial-restore') && operation.id !== hidden)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  if (restores.length === 0) return null;
  return (
    <section aria-labelledby="restores-heading">
      <h2 id="restores-heading">Restores</h2>
      {restores.map((operation) => (
        <OperationProgress
          key={operation.id}
          operationId={operation.id}
          label={operation.kind === 'restore' ? 'Restore progress' : 'Partial restore progress'}
          renderResult={(finished) => <RestoreResult operation={finished} />}
        />
      ))}
    </section>
  );
}

interface WizardRequest {
  readonly target: RecoveryTarget;
  readonly words: string;
}

/**
 * The recovery timeline: 30 days of recoverable windows per repository, WAL gaps drawn
 * and listed, markers drawn and in a grid, and the recovery target — a slider, typed
 * entries and Latest, all one state — with what restoring to it would take, and the
 * way into the restore wizard.
 */
export function TimelineView() {
  const { client } = useConsole();
  const store = useMemo(() => createTimelineStore(client), [client]);
  const model = useStore(store, (state) => state.model);
  const visible = useStore(store, (state) => state.visible);
  const error = useStore(store, (state) => state.error);
  const loading = useStore(store, (state) => state.loading);
  const announcement = useStore(store, (state) => state.announcement);
  const generatedAt = useStore(store, (state) => state.timeline?.generatedAt);
  const [wizard, setWizard] = useState<WizardRequest>();
  const [wizardOperation, setWizardOperation] = useState<string>();

  useEffect(() => {
    void store.getState().load();
    const timer = setInterval(() => {
      void store.getState().load();
    }, refreshEveryMs);
    return () => {
      clearInterval(timer);
    };
  }, [store]);

  const openWizard = () => {
    const state = store.getState();
    const target = recoveryTarget(state);
    if (target) setWizard({ target, words: describeTarget(state) });
  };

  return (
    <div className="timeline-view">
      <ViewHeading>Recovery timeline</ViewHeading>
      {error && <LoadFailure what="the recovery timeline" error={error} onRetry={() => void store.getState().load()} />}
      {!model && !error && <p role="status">Reading the recovery timeline…</p>}
      {model && visible && (
        <>
          <div className="timeline-toolbar">
            <ZoomChoice store={store} />
            <button type="button" className="button" onClick={() => void store.getState().load()} disabled={loading}>
              {loading ? 'Reading…' : 'Refresh'}
            </button>
            {generatedAt && <p className="hint">As of {formatMoment(generatedAt)}.</p>}
          </div>
          {model.latest === undefined ? (
            <p>No recoverable moment yet: no repository holds a backup with the WAL after it. Take a backup from the Backups view first.</p>
          ) : (
            <p>
              Recoverable from {formatMoment(model.earliest ?? model.latest)} to {formatMoment(model.latest)}. Showing {formatMoment(visible.from)} to {formatMoment(visible.to)}.
            </p>
          )}
          <TimelineChart store={store} model={model} visible={visible} />
          <p role="status" className="target-announcement">
            {announcement}
          </p>
          <Legend />
          {model.latest !== undefined && (
            <div className="timeline-columns">
              <ChosenPoint store={store} model={model} onRestore={openWizard} />
              <TargetEntry store={store} model={model} />
            </div>
          )}
          <GapList model={model} />
          <section aria-labelledby="markers-heading">
            <h2 id="markers-heading">Markers</h2>
            <MarkerGrid store={store} model={model} visible={visible} />
          </section>
        </>
      )}
      <RestoreOperations hidden={wizard ? wizardOperation : undefined} />
      {wizard && (
        <RestoreWizard
          target={wizard.target}
          targetWords={wizard.words}
          onStarted={setWizardOperation}
          onClose={() => {
            setWizard(undefined);
            setWizardOperation(undefined);
          }}
        />
      )}
    </div>
  );
}
