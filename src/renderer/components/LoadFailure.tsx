import type { ErrorData } from '../../shared/errors.js';
import { ErrorDetails } from './ErrorDetails.js';

/** A load that failed: what failed, its code and hints, and a way to try again without reloading the page. */
export function LoadFailure({ what, error, onRetry }: { what: string; error: ErrorData; onRetry: () => void }) {
  return (
    <div role="alert" className="load-failure">
      <p className="load-failure-title">Could not load {what}.</p>
      <ErrorDetails error={error} />
      <button type="button" onClick={onRetry}>
        Try again
      </button>
    </div>
  );
}
