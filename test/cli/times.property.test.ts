import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DrcError } from '../../src/shared/errors.js';
import { parseTime } from '../../src/shared/time.js';

const two = (value: number): string => String(value).padStart(2, '0');
const daysIn = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();

/** A calendar date and clock time that exist, with a whole-minute offset PostgreSQL would accept. */
const validTime = fc
  .record({
    year: fc.integer({ min: 1970, max: 2200 }),
    month: fc.integer({ min: 1, max: 12 }),
    dayFraction: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
    second: fc.integer({ min: 0, max: 59 }),
    millisecond: fc.integer({ min: 0, max: 999 }),
    offsetMinutes: fc.integer({ min: -12 * 60, max: 14 * 60 }),
    separator: fc.constantFrom('T', ' '),
    colon: fc.boolean(),
  })
  .map((parts) => ({ ...parts, day: 1 + Math.floor(parts.dayFraction * daysIn(parts.year, parts.month)) }));

function offsetText(minutes: number, colon: boolean): string {
  const absolute = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${two(Math.floor(absolute / 60))}${colon ? ':' : ''}${two(absolute % 60)}`;
}

describe('parseTime (properties)', () => {
  it('reads every existing time with an offset as the instant it names', () => {
    fc.assert(
      fc.property(validTime, (t) => {
        const text = `${String(t.year)}-${two(t.month)}-${two(t.day)}${t.separator}${two(t.hour)}:${two(t.minute)}:${two(t.second)}.${String(t.millisecond).padStart(3, '0')}${offsetText(t.offsetMinutes, t.colon)}`;
        const parsed = parseTime(text, '--time');
        const expected = Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second, t.millisecond) - t.offsetMinutes * 60_000;
        expect(parsed.local).toBe(false);
        expect(Date.parse(parsed.iso)).toBe(expected);
      }),
    );
  });

  it('refuses a day the month does not have, instead of rolling into the next month', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1970, max: 2200 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 10 }), (year, month, beyond) => {
        const day = daysIn(year, month) + beyond;
        const text = `${String(year)}-${two(month)}-${two(Math.min(day, 99))}T12:00:00Z`;
        expect(() => parseTime(text, '--time')).toThrow(expect.objectContaining({ code: 'TIME_INVALID' }) as Error);
      }),
    );
  });

  it('either reads any text as a real instant or refuses it with TIME_INVALID, never anything else', () => {
    const timeLike = fc.stringMatching(/^[0-9]{1,5}-[0-9]{1,3}-[0-9]{1,3}([T ][0-9]{1,3}:[0-9]{1,3}(:[0-9]{1,3})?)?( ?(Z|[+-][0-9]{1,4}))?$/);
    fc.assert(
      fc.property(fc.oneof(fc.string(), timeLike), (text) => {
        try {
          const parsed = parseTime(text, '--time');
          expect(Number.isNaN(Date.parse(parsed.iso))).toBe(false);
          expect(parsed.iso).toBe(new Date(parsed.iso).toISOString());
        } catch (error) {
          expect(error).toBeInstanceOf(DrcError);
          expect((error as DrcError).code).toBe('TIME_INVALID');
          expect((error as DrcError).hints[0]).toContain('ISO 8601');
        }
      }),
    );
  });

  it('reads a time without an offset as local time and says so, giving back the same wall-clock time', () => {
    fc.assert(
      fc.property(validTime, (t) => {
        const text = `${String(t.year)}-${two(t.month)}-${two(t.day)} ${two(t.hour)}:${two(t.minute)}`;
        let parsed;
        try {
          parsed = parseTime(text, '--time');
        } catch (error) {
          // Only the hour skipped when the clocks move forward may be refused.
          expect((error as DrcError).message).toContain('that local time does not exist');
          return;
        }
        const instant = new Date(parsed.iso);
        expect(parsed.local).toBe(true);
        expect([instant.getFullYear(), instant.getMonth() + 1, instant.getDate(), instant.getHours(), instant.getMinutes()]).toEqual([t.year, t.month, t.day, t.hour, t.minute]);
        expect(parsed.offset).toBe(offsetText(-instant.getTimezoneOffset(), true));
      }),
    );
  });

  it('refuses the forms Date.parse would have guessed at', () => {
    for (const text of ['2026-02-30', 'Dec 5', 'yesterday', '5/12/2026', '2026-13-01', '2026-06-14T24:00:00Z', '2026-06-14T09:30:60Z', '2026-06-14T09:30:00+15:00', '20260614']) {
      expect(() => parseTime(text, '--time'), text).toThrow(expect.objectContaining({ code: 'TIME_INVALID' }) as Error);
    }
    expect(parseTime('2028-02-29T00:00:00Z').iso).toBe('2028-02-29T00:00:00.000Z');
    expect(parseTime('2026-06-14T09:30:00Z').iso).toBe(parseTime('2026-06-14 11:30:00+02').iso);
  });
});
