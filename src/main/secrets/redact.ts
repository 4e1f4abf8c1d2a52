/**
 * Every secret value resolved in this process is registered here, and every string that
 * leaves the process (CLI output, event records, error data sent to the dashboard) passes
 * through `redact()`. A credential echoed back by a cloud SDK inside an error message is
 * therefore masked even though no driver anticipated it.
 *
 * Only secrets of `maskedInTextFrom` characters or more are masked, wherever they appear.
 * A shorter one is too likely to be an ordinary word or value of the output (`fixed`,
 * `local`, `backup`): masking it would print `"media": "***"` all over the output, which
 * reveals the secret better than printing it would. New passphrases must be that long
 * (passphrase-policy.ts) and cloud keys are longer; a short database password is kept out
 * of output by never printing it, not by this net.
 */
const secretValues = new Set<string>();

/** Secrets at least this long are masked; shorter ones cannot be without revealing them. */
export const maskedInTextFrom = 12;

export function registerSecret(value: string): void {
  if (value.length >= maskedInTextFrom) secretValues.add(value);
}

export function redact(text: string): string {
  let result = text;
  for (const value of secretValues) {
    if (result.includes(value)) result = result.split(value).join('***');
  }
  return result;
}

export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => redactDeep(item)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactDeep(item)])) as T;
  }
  return value;
}
