/** Moments typed by a person, read strictly: a typo is refused, never guessed into another day. */
const isoDateTime = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Reads a typed moment: `2026-12-06T02:00Z`, `2026-12-06T03:00+01:00`, or without a zone
 * (`2026-12-06 02:00`), which means the workstation's local time — the time the person
 * sees on their clock. Anything else is refused rather than guessed.
 */
export function parseMoment(text: string): Date | undefined {
  const match = isoDateTime.exec(text.trim());
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second, zone] = match;
  const parts = [year, month, day, hour, minute, second ?? '0'].map(Number) as [number, number, number, number, number, number];
  const [y, mo, d, h, mi, s] = parts;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return undefined;
  const moment = zone
    ? new Date(`${String(y).padStart(4, '0')}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}${zone.toUpperCase() === 'Z' ? 'Z' : withColon(zone)}`)
    : new Date(y, mo - 1, d, h, mi, s);
  // Rejects dates that roll over (2026-02-31) instead of silently moving them.
  if (Number.isNaN(moment.getTime())) return undefined;
  if (!zone && moment.getDate() !== d) return undefined;
  return moment;
}

function pad(value: number): string {
  return String(value).padStart(2, '0');
}

function withColon(zone: string): string {
  return zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
}

