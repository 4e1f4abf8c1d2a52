import { useId, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { Operation } from '../../shared/contract/operations.js';
import { useConsole } from '../app/console-context.js';
import { ErrorDetails } from '../components/ErrorDetails.js';
import { formatBytes, formatDuration, formatMoment } from '../components/format.js';
import { isFinished } from './store.js';

/** The figures, in words: what a screen reader announces as the bar's value. */
export function describeProgress(operation: Operation): string {
  if (operation.state === 'scheduled') return `Scheduled for ${operation.scheduledFor ? formatMoment(operation.scheduledFor) : 'later'}`;
  if (operation.state === 'succeeded') return `Finished: ${operation.message}`;
  if (operation.state === 'failed') return `Failed: ${operation.message}`;
  if (operation.state === 'cancelled') return `Cancelled: ${operation.message}`;
  const parts = [operation.phase];
  if (operation.bytesDone !== undefined) {
    parts.push(operation.bytesTotal ? `${formatBytes(operation.bytesDone)} of ${formatBytes(operation.bytesTotal)}` : formatBytes(operation.bytesDone));
  }
  if (operation.bytesPerSecond) parts.push(`${formatBytes(operation.bytesPerSecond)}/s`);
  if (operation.etaSeconds !== undefined) parts.push(`about ${formatDuration(operation.etaSeconds)} left`);
  return parts.join(', ');
}

function percentDone(operation: Operation): number | undefined {
  if (operation.state === 'succeeded') return 100;
  if (operation.bytesDone === undefined || !operation.bytesTotal) return undefined;
  return Math.min(100, Math.round((operation.bytesDone / operation.bytesTotal) * 100));
}

export interface OperationProgressProps {
  readonly operationId: string;
  /** The bar's accessible name: "Backup progress", "Restore progress". */
  readonly label: string;
  readonly testId?: string;
  /** What a successful result shows (the start command of a restore, the rows brought back). */
  readonly renderResult?: (operation: Operation) => ReactNode;
  readonly onDismissed?: () => void;
}

/**
 * One operation's progress: a progress bar with its figures in words, a polite live
 * region for phase changes and the outcome (only a failure is an alert), Cancel with
 * what cancelling leaves behind, and the result, which stays until dismissed.
 */
export function OperationProgress({ operationId, label, testId, renderResult, onDismissed }: OperationProgressProps) {
  const { operations } = useConsole();
  const operation = useStore(operations, (state) => state.operations[operationId]);
  const effectId = useId();
  if (!operation) return <p role="status">{label}: waiting for the first report…</p>;
  const finished = isFinished(operation);
  const percent = percentDone(operation);
  const text = describeProgress(operation);
  return (
    <section className={`operation operation-${operation.state}`} aria-label={label}>
      <div
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        {...(percent === undefined ? {} : { 'aria-valuenow': percent })}
        aria-valuetext={text}
        data-testid={testId}
        className="progress"
      >
        <div className="progress-track" aria-hidden="true">
          <div className="progress-fill" style={{ width: `${String(percent ?? (finished ? 100 : 5))}%` }} />
        </div>
        <p className="progress-text">{text}</p>
      </div>
      <p role="status" className="operation-message">
        {operation.state === 'failed' ? `${operation.title}: failed` : operation.message}
      </p>
      {operation.fallbacks.length > 0 && (
        <ul aria-label="Copies used instead of damaged or missing ones">
          {operation.fallbacks.map((fallback) => (
            <li key={fallback}>{fallback}</li>
          ))}
        </ul>
      )}
      {operation.state === 'failed' && operation.error && (
        <div role="alert">
          <ErrorDetails error={operation.error} />
        </div>
      )}
      {operation.state === 'succeeded' && renderResult?.(operation)}
      <div className="operation-actions">
        {!finished && operation.cancellable && (
          <>
            <button type="button" aria-describedby={effectId} onClick={() => void operations.getState().cancel(operation.id)}>
              Cancel {operation.kind.replace('-', ' ')}
            </button>
            <p id={effectId} className="hint">
              {operation.cancelEffect}
            </p>
          </>
        )}
        {finished && (
          <button
            type="button"
            onClick={() => {
              void operations.getState().dismiss(operation.id).then(onDismissed);
            }}
          >
            Dismiss result
          </button>
        )}
      </div>
    </section>
  );
}
