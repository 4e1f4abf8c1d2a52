/**
 * Every secret value resolved in this process is registered here, and every string that
 * leaves the process (CLI output, event records, error data sent to the dashboard) passes
 * through `redact()`. A credential echoed back by a cloud SDK inside an error message is
 * therefore masked even though no driver anticipated it.
 */
const secretValues = new Set<string>();

/** Values shorter than this are too likely to match ordinary text to be masked safely. */
const minimumSecretLength = 4;

export function registerSecret(value: string): void {
  if (value.length >= minimumSecretLength) secretValues.add(value);
}

export function redact(text: string): string {
  let result = text;
  for (const value of secretValues) {
    if (result.includes(value)) result = result.split(value).join('***');
  }
  return result;
}

/** Redacts every string inside a JSON-like value (objects, arrays, nested). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => redactDeep(item)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactDeep(item)])) as T;
  }
  return value;
}
