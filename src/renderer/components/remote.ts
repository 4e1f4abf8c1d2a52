import { toErrorData } from '../../shared/contract/index.js';
import type { ErrorData } from '../../shared/errors.js';

/**
 * Something a view reads from the services: the last value it got (kept while a reload
 * runs, so a table does not blank out under the reader), whether a call is under way, and
 * the error of the last call, shown with its code and hints.
 */
export interface Remote<Value> {
  readonly value: Value | undefined;
  readonly loading: boolean;
  readonly error: ErrorData | undefined;
}

export function notLoaded<Value>(): Remote<Value> {
  return { value: undefined, loading: false, error: undefined };
}

/**
 * Runs one call into a Remote. Never rejects: a failure becomes `error`, so the view
 * shows it. `action` completes "unable to …" for failures nobody anticipated.
 */
export async function fetchInto<Value>(
  read: () => Remote<Value>,
  write: (remote: Remote<Value>) => void,
  action: string,
  call: () => Promise<Value>,
): Promise<Value | undefined> {
  write({ ...read(), loading: true });
  try {
    const value = await call();
    write({ value, loading: false, error: undefined });
    return value;
  } catch (error) {
    write({ ...read(), loading: false, error: toErrorData(error, action) });
    return undefined;
  }
}
