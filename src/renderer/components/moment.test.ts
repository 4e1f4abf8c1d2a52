import { describe, expect, it } from 'vitest';
import { parseMoment } from './moment.js';

describe('typed moments', () => {
  it('reads UTC, an offset with or without a colon, and a moment without a zone as local time', () => {
    expect(parseMoment('2026-12-06T02:00Z')?.toISOString()).toBe('2026-12-06T02:00:00.000Z');
    expect(parseMoment('2026-12-06T03:00:30+01:00')?.toISOString()).toBe('2026-12-06T02:00:30.000Z');
    expect(parseMoment('2026-12-06 03:00-0130')?.toISOString()).toBe('2026-12-06T04:30:00.000Z');
    expect(parseMoment(' 2026-12-06T02:00 ')?.getTime()).toBe(new Date(2026, 11, 6, 2, 0, 0).getTime());
  });

  it('refuses what it would have to guess: no time, impossible dates, words', () => {
    for (const text of ['2026-12-06', '2026-02-31T10:00', '2026-13-01T10:00Z', '2026-12-06T24:00Z', 'yesterday', '']) {
      expect(parseMoment(text), text).toBeUndefined();
    }
  });
});
