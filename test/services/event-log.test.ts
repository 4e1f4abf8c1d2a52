import { describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../src/main/services/events.js';
import { csvField, eventsCsv, filterEvents } from '../../src/main/services/event-log.js';
import { restoreTestRecords } from '../../src/main/services/restore-test-history.js';

function event(id: string, time: string, type: string, outcome: HistoryEvent['outcome'], summary = `${type} ${outcome}`, details: Record<string, unknown> = {}): HistoryEvent {
  return { id, time, type, outcome, operator: 'dba', host: 'ws1', summary, details, repositories: ['nas', 'usb'] };
}

const history = [
  event('a', '2026-06-10T01:00:00.000Z', 'backup', 'success'),
  event('b', '2026-06-11T01:00:00.000Z', 'backup', 'failure'),
  event('c', '2026-06-11T02:00:00.000Z', 'restore-test', 'success'),
  event('d', '2026-06-12T01:00:00.000Z', 'verify', 'partial'),
];

describe('the event log (pure)', () => {
  it('filters by type, outcome and inclusive time bounds, newest first', () => {
    expect(filterEvents(history, {}).events.map((entry) => entry.id)).toEqual(['d', 'c', 'b', 'a']);
    expect(filterEvents(history, { types: ['backup'] }).events.map((entry) => entry.id)).toEqual(['b', 'a']);
    expect(filterEvents(history, { outcomes: ['failure', 'partial'] }).events.map((entry) => entry.id)).toEqual(['d', 'b']);
    expect(filterEvents(history, { since: '2026-06-11T01:00:00Z', until: '2026-06-11T02:00:00Z' }).events.map((entry) => entry.id)).toEqual(['c', 'b']);
  });

  it('says when the limit cut the list, and offers every type the history holds', () => {
    const page = filterEvents(history, { types: ['verify'], limit: 1 });
    expect(page).toMatchObject({ truncated: false, types: ['backup', 'restore-test', 'verify'] });
    expect(filterEvents(history, { limit: 2 })).toMatchObject({ truncated: true, events: [{ id: 'd' }, { id: 'c' }] });
  });

  it('refuses a bound that is not a time, with a hint', () => {
    let refused: unknown;
    try {
      filterEvents(history, { since: 'yesterday' });
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({ code: 'USAGE', hints: ['give a time such as 2026-06-14T09:30:00Z'] });
  });

  it('writes RFC 4180 CSV: every field quoted, quotes doubled, CRLF, newlines kept inside the field', () => {
    const csv = eventsCsv(filterEvents([event('e', '2026-06-12T01:00:00.000Z', 'backup', 'success', 'reason: "deploy 4.2",\nsecond line')], {}).events);
    expect(csv).toBe('"time","type","outcome","operator","host","summary","repositories","id"\r\n"2026-06-12T01:00:00.000Z","backup","success","dba","ws1","reason: ""deploy 4.2"",\nsecond line","nas usb","e"\r\n');
  });

  it('keeps a cell a spreadsheet would run as a formula as text', () => {
    expect(['=HYPERLINK("x")', '+1', '-2', '@SUM(A1)', '\tTAB', 'plain'].map(csvField)).toEqual(['"\'=HYPERLINK(""x"")"', '"\'+1"', '"\'-2"', '"\'@SUM(A1)"', '"\'\tTAB"', '"plain"']);
  });
});

describe('restore test history (pure)', () => {
  const record = (backupId: string, completedAt: string) => ({
    backupId,
    backupStoppedAt: '2026-06-10T01:00:00.000Z',
    target: { kind: 'latest' },
    startedAt: completedAt,
    completedAt,
    success: true,
    errorsFound: [],
    warnings: [],
    checks: [{ name: 'restore', status: 'passed', detail: 'restored', durationMs: 1000 }],
    rowsVerified: 1200,
    tables: [],
    heapsChecked: 10,
    indexesChecked: 4,
    databases: ['postgres'],
    restoreDurationMs: 1000,
    recoveryDurationMs: 500,
    durationMs: 2000,
    dataLossDetected: false,
    binaries: { bindir: '/usr/lib/postgresql/15/bin', version: '15.8', source: 'pg_config' },
    scratch: { id: 's1', directory: '/tmp/s1', removed: true },
    leftoversRemoved: [],
  });

  it('gives back each stored record, newest first, with where it is held, for one backup or all; records it cannot read are left out', () => {
    const events = [
      event('t1', '2026-06-10T02:00:00.000Z', 'restore-test', 'success', 'passed', record('b1', '2026-06-10T02:00:00.000Z')),
      event('t2', '2026-06-11T02:00:00.000Z', 'restore-test', 'success', 'passed', record('b2', '2026-06-11T02:00:00.000Z')),
      event('t3', '2026-06-12T02:00:00.000Z', 'restore-test', 'failure', 'an older drc', { backupId: 'b2' }),
      event('x', '2026-06-12T03:00:00.000Z', 'backup', 'success'),
    ];
    expect(restoreTestRecords(events, undefined).map((entry) => [entry.id, entry.backupId, entry.recordedIn])).toEqual([
      ['t2', 'b2', ['nas', 'usb']],
      ['t1', 'b1', ['nas', 'usb']],
    ]);
    expect(restoreTestRecords(events, 'b1').map((entry) => entry.id)).toEqual(['t1']);
  });
});
