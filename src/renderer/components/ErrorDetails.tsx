import type { ErrorData } from '../../shared/errors.js';

export interface ShownError {
  readonly code: string;
  readonly message: string;
  readonly hints: readonly string[];
}

/** Errors are printed as they are, as the CLI prints them: code, the "unable to …" message, then what to do next. */
export function ErrorDetails({ error }: { error: ShownError | ErrorData }) {
  return (
    <div className="error-details">
      <p>
        <strong className="error-code">{error.code}</strong>: {error.message}
      </p>
      {error.hints.length > 0 && (
        <ul aria-label="What to do next">
          {error.hints.map((hint) => (
            <li key={hint}>{hint}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
