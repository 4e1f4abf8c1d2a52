import { DrcError } from './errors.js';

/**
 * A point in time the DBA typed (`--time`, `--since`). Only ISO 8601 is read, and read
 * strictly: `Date.parse` would turn `2026-02-30` into 2 March and `Dec 5` into 2001, and a
 * restore to the wrong moment is worse than a refusal. A time without an offset is the
 * workstation's local time, and `local` says so, so the caller can tell the DBA.
 */
export interface ParsedTime {
  /** The instant, as ISO 8601 UTC. */
  readonly iso: string;
  /** True when no offset was given and the workstation's time zone decided the instant. */
  readonly local: boolean;
  /** The offset that applied, `+02:00`; for a local time, the zone's offset at that instant. */
  readonly offset: string;
}

const timeForm = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?: ?(Z|[+-]\d{2}(?::?\d{2})?))?)?$/i;

const formHint = 'write ISO 8601 with an offset, e.g. 2026-06-14T09:30:00Z or 2026-06-14 11:30:00+02:00; without an offset (2026-06-14 11:30) it is local time';

function refuse(option: string, text: string, why: string): DrcError {
  return new DrcError('TIME_INVALID', `unable to read ${option} '${text}': ${why}`, { hints: [formHint] });
}

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
}

function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const absolute = Math.abs(minutes);
  return `${sign}${String(Math.floor(absolute / 60)).padStart(2, '0')}:${String(absolute % 60).padStart(2, '0')}`;
}

/** Reads `text` as a time; `option` names where it came from in the refusal (`--time`). */
export function parseTime(text: string, option = 'the time'): ParsedTime {
  const match = timeForm.exec(text.trim());
  if (!match) throw refuse(option, text, 'it is not an ISO 8601 date and time');
  const [, yearText, monthText, dayText, hourText, minuteText, secondText, fractionText, offsetText] = match;
  const year = Number(yearText);
  const month = Number(monthText);
  const day = Number(dayText);
  const hour = Number(hourText ?? 0);
  const minute = Number(minuteText ?? 0);
  const second = Number(secondText ?? 0);
  const millisecond = Math.floor(Number(`0.${fractionText ?? '0'}`) * 1000);
  if (year < 1 || month < 1 || month > 12) throw refuse(option, text, `there is no month ${String(month)}`);
  if (day < 1 || day > daysInMonth(year, month)) throw refuse(option, text, `${yearText ?? ''}-${monthText ?? ''} has no day ${String(day)}`);
  if (hour > 23 || minute > 59 || second > 59) throw refuse(option, text, 'the hour is 00-23, minutes and seconds 00-59');

  if (offsetText !== undefined) {
    const offsetMinutes = parseOffset(offsetText);
    if (offsetMinutes === undefined) throw refuse(option, text, `'${offsetText}' is not an offset from -12:00 to +14:00`);
    const utc = new Date(0);
    utc.setUTCFullYear(year, month - 1, day);
    utc.setUTCHours(hour, minute, second, millisecond);
    return { iso: new Date(utc.getTime() - offsetMinutes * 60_000).toISOString(), local: false, offset: formatOffset(offsetMinutes) };
  }

  const local = new Date(0);
  local.setFullYear(year, month - 1, day);
  local.setHours(hour, minute, second, millisecond);
  // In the hour the clocks skip, the fields come back moved: that time never happened here.
  if (local.getFullYear() !== year || local.getMonth() !== month - 1 || local.getDate() !== day || local.getHours() !== hour || local.getMinutes() !== minute) {
    throw refuse(option, text, 'that local time does not exist (the clocks moved forward then); give an offset');
  }
  return { iso: local.toISOString(), local: true, offset: formatOffset(-local.getTimezoneOffset()) };
}

function parseOffset(text: string): number | undefined {
  if (text.toUpperCase() === 'Z') return 0;
  const match = /^([+-])(\d{2}):?(\d{2})?$/.exec(text);
  if (!match) return undefined;
  const hours = Number(match[2]);
  const minutes = Number(match[3] ?? 0);
  const total = hours * 60 + minutes;
  if (minutes > 59 || (match[1] === '-' ? total > 12 * 60 : total > 14 * 60)) return undefined;
  return match[1] === '-' ? -total : total;
}

/** The sentence a command shows when it read a time as local: the DBA sees which instant was meant. */
export function describeLocalTime(option: string, text: string, parsed: ParsedTime): string {
  return `${option} '${text}' has no offset: interpreted as local time (UTC${parsed.offset}), that is ${parsed.iso}`;
}
