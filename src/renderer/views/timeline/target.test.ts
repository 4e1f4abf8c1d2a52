import { describe, expect, it } from 'vitest';
import type { ContractClient } from '../../../shared/contract/index.js';
import type { Timeline } from '../../../shared/contract/recovery.js';
import { describeMoment, hour, minute } from './model.js';
import { fixtureNow, sharedGap, thirtyDayTimeline } from './fixtures.js';
import { createTimelineStore, describeTarget, recoveryTarget, visibleSpan } from './target.js';

/** A client whose only working member is the timeline; the store must not need any other. */
function timelineClient(reads: (Timeline | Error)[]): ContractClient {
  return {
    recovery: {
      timeline: () => {
        const next = reads.length > 1 ? reads.shift() : reads[0];
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the real client rejects with ErrorData, as here
        return next instanceof Error ? Promise.reject({ code: 'MEDIA_NOT_PRESENT', message: next.message, hints: ['plug it in'], retryable: true }) : Promise.resolve(next);
      },
    },
  } as unknown as ContractClient;
}

async function loadedStore(reads: (Timeline | Error)[] = [thirtyDayTimeline()]) {
  const store = createTimelineStore(timelineClient(reads));
  await store.getState().load();
  return store;
}

describe('the recovery target', () => {
  it('starts at the latest moment, frozen, and asks the restore for everything the repositories hold', async () => {
    const store = await loadedStore();
    const state = store.getState();
    expect(state.kind).toBe('latest');
    expect(state.value).toBe(fixtureNow - minute);
    expect(state.frozenLatest).toBe(fixtureNow - minute);
    expect(recoveryTarget(state)).toEqual({ kind: 'latest' });
    expect(describeTarget(state)).toMatch(/^the latest moment, 2026-12-05T11:59:00Z \(local .+\) when chosen$/);
  });

  it('becomes a time target as soon as the slider moves, and says why when it snaps over a gap', async () => {
    const store = await loadedStore();
    store.getState().pointAt(sharedGap.from - 30_000);
    store.getState().press('ArrowRight');
    const state = store.getState();
    expect(state.kind).toBe('time');
    expect(state.value).toBe(sharedGap.to);
    expect(state.announcement).toContain('cannot be restored to: no repository holds WAL from 2026-12-01T05:00:00Z to 2026-12-01T05:30:00Z');
    expect(recoveryTarget(state)).toEqual({ kind: 'time', time: '2026-12-01T05:30:00.000Z' });
    store.getState().press('ArrowRight');
    expect(store.getState().announcement).toBe('');
  });

  it('takes a typed time, snapping it like a click', async () => {
    const store = await loadedStore();
    store.getState().setTime(Date.parse('2026-12-01T05:20:00Z'));
    expect(store.getState().value).toBe(sharedGap.to);
    expect(store.getState().announcement).toContain('The target moved to 2026-12-01T05:30:00Z');
  });

  it('moves the slider to a typed LSN and to a chosen restore point, and the kind follows the last entry', async () => {
    const store = await loadedStore();
    const restorePoint = store.getState().model?.markers.find((marker) => marker.name === 'hourly-600');
    expect(store.getState().setLsn(restorePoint?.lsn ?? '')).toBeUndefined();
    expect(store.getState()).toMatchObject({ kind: 'lsn', value: restorePoint?.at });
    expect(recoveryTarget(store.getState())).toEqual({ kind: 'lsn', lsn: restorePoint?.lsn });

    expect(store.getState().setName('hourly-601')).toBeUndefined();
    expect(store.getState()).toMatchObject({ kind: 'name', value: (restorePoint?.at ?? 0) + hour });
    expect(recoveryTarget(store.getState())).toEqual({ kind: 'name', name: 'hourly-601' });

    const before = store.getState().value;
    expect(store.getState().setXid('123456')).toBeUndefined();
    expect(store.getState()).toMatchObject({ kind: 'xid', value: before });
    expect(recoveryTarget(store.getState())).toEqual({ kind: 'xid', xid: '123456' });

    store.getState().press('PageDown');
    expect(store.getState().kind).toBe('time');
  });

  it('refuses malformed entries with what a good one looks like', async () => {
    const store = await loadedStore();
    expect(store.getState().setLsn('16-B374D848')).toContain('like 16/B374D848');
    expect(store.getState().setXid('12a')).toContain('whole number');
    expect(store.getState().setName('  ')).toContain('name of a restore point');
    expect(store.getState().kind).toBe('latest');
  });

  it('offers a newer latest moment on refresh instead of taking it, and takes it when asked', async () => {
    const store = await loadedStore([thirtyDayTimeline(), thirtyDayTimeline({ latest: fixtureNow + 10 * minute })]);
    await store.getState().load();
    expect(store.getState()).toMatchObject({ kind: 'latest', value: fixtureNow - minute, newerLatest: fixtureNow + 10 * minute });
    expect(store.getState().announcement).toContain('11 min newer');
    store.getState().takeNewerLatest();
    expect(store.getState()).toMatchObject({ kind: 'latest', value: fixtureNow + 10 * minute, frozenLatest: fixtureNow + 10 * minute, newerLatest: undefined });
  });

  it('keeps the chart centred on the target when zoomed, and recentres when the target leaves it', async () => {
    const store = await loadedStore();
    store.getState().pointAt(Date.parse('2026-12-02T12:00:00Z'));
    store.getState().setZoom('hour');
    expect(store.getState().visible).toEqual({ from: Date.parse('2026-12-02T11:30:00Z'), to: Date.parse('2026-12-02T12:30:00Z') });
    store.getState().press('PageUp');
    expect(store.getState().visible).toEqual({ from: Date.parse('2026-12-02T12:30:00Z'), to: Date.parse('2026-12-02T13:30:00Z') });
    store.getState().setZoom('month');
    const model = store.getState().model;
    expect(model && store.getState().visible).toEqual(model && visibleSpan(model, 'month', undefined));
  });

  it('keeps the wording of the value text in step with the store', async () => {
    const store = await loadedStore();
    store.getState().press('Home');
    const { model, value } = store.getState();
    const local = new Date(Date.parse('2026-11-05T02:10:00Z'));
    const localClock = [local.getHours(), local.getMinutes(), local.getSeconds()].map((part) => String(part).padStart(2, '0')).join(':');
    expect(model && value !== undefined && describeMoment(model, value)).toBe('02:10:00 UTC, ' + localClock + ' local, at the end of archive backup of 02:10 UTC, WAL continuous; 2026-11-05T02:10:00Z');
  });

  it('shows a failed read as the error, with its code and hints', async () => {
    const store = await loadedStore([new Error('the usb drive is not mounted')]);
    expect(store.getState().error).toMatchObject({ code: 'MEDIA_NOT_PRESENT', hints: ['plug it in'] });
    expect(store.getState().value).toBeUndefined();
  });
});
