import { describe, expect, it } from 'vitest';
import { buildRecoveryModel, describeGap, describeMoment, describeSnap, hour, land, markerAt, minute, momentOfLsn, step, summarizePoint } from './model.js';
import { cloudGap, fixtureNow, sharedGap, thirtyDayTimeline } from './fixtures.js';

const at = (text: string): number => Date.parse(text);

describe('the recovery model', () => {
  const model = buildRecoveryModel(thirtyDayTimeline({ restoreBytesPerSecond: 100 * 1024 ** 2 }));

  it('restores only where some reachable repository has WAL: the gap all three share is cut out, one only cloud has is not', () => {
    expect(model.earliest).toBe(at('2026-11-05T02:10:00Z'));
    expect(model.latest).toBe(fixtureNow - minute);
    expect(model.restorable).toEqual([
      { from: at('2026-11-05T02:10:00Z'), to: sharedGap.from },
      { from: sharedGap.to, to: fixtureNow - minute },
    ]);
    const cloud = model.lanes.find((lane) => lane.name === 'cloud');
    expect(cloud?.restorable).toHaveLength(3);
  });

  it('snaps a moment inside a gap to the nearer edge, and one outside the windows to the ends', () => {
    expect(land(model, sharedGap.from + 5 * minute)).toMatchObject({ value: sharedGap.from, snapped: true });
    expect(land(model, sharedGap.to - 5 * minute)).toMatchObject({ value: sharedGap.to, snapped: true });
    expect(land(model, at('2026-11-01T00:00:00Z'))).toMatchObject({ value: model.earliest, snapped: true });
    expect(land(model, fixtureNow + hour)).toMatchObject({ value: model.latest, snapped: true });
    expect(land(model, at('2026-12-02T00:00:00Z'))).toMatchObject({ value: at('2026-12-02T00:00:00Z'), snapped: false });
  });

  it('steps a minute with the arrows and an hour with Page Up/Down, crossing a gap in the direction of travel', () => {
    const start = at('2026-12-02T12:00:00Z');
    expect(step(model, start, 'ArrowRight')?.value).toBe(start + minute);
    expect(step(model, start, 'ArrowUp')?.value).toBe(start + minute);
    expect(step(model, start, 'ArrowLeft')?.value).toBe(start - minute);
    expect(step(model, start, 'ArrowDown')?.value).toBe(start - minute);
    expect(step(model, start, 'PageUp')?.value).toBe(start + hour);
    expect(step(model, start, 'PageDown')?.value).toBe(start - hour);
    // At the gap's edge an arrow key jumps over it instead of sticking.
    expect(step(model, sharedGap.from, 'ArrowRight')).toMatchObject({ value: sharedGap.to, snapped: true });
    expect(step(model, sharedGap.to, 'ArrowLeft')).toMatchObject({ value: sharedGap.from, snapped: true });
    expect(step(model, sharedGap.from - 40 * minute, 'PageUp')).toMatchObject({ value: sharedGap.to, snapped: true });
  });

  it('goes to the earliest and latest moments with Home and End, and never past them', () => {
    expect(step(model, at('2026-12-02T12:00:00Z'), 'Home')?.value).toBe(model.earliest);
    expect(step(model, at('2026-12-02T12:00:00Z'), 'End')?.value).toBe(model.latest);
    expect(step(model, model.latest ?? 0, 'ArrowRight')?.value).toBe(model.latest);
    expect(step(model, model.earliest ?? 0, 'PageDown')?.value).toBe(model.earliest);
  });

  it('moves to the next and previous marker, landing a marker inside a gap on a restorable moment', () => {
    const start = at('2026-12-02T12:00:00Z');
    expect(step(model, start, 'NextMarker')?.value).toBe(at('2026-12-02T12:30:00Z'));
    expect(step(model, start, 'PreviousMarker')?.value).toBe(at('2026-12-02T11:30:00Z'));
    expect(markerAt(model, at('2026-12-02T12:30:00Z'))?.name).toBe('hourly-648');
    // The DR event at 05:15 lies in the shared gap; from 04:45 the next marker lands on the gap's nearest edge.
    expect(step(model, at('2026-12-01T04:45:00Z'), 'NextMarker')).toMatchObject({ value: sharedGap.from });
    expect(step(model, model.latest ?? 0, 'NextMarker')).toBeUndefined();
  });

  it('says which backup a point starts from and which repositories can serve it, with the reason for those that cannot', () => {
    const point = summarizePoint(model, cloudGap.to + 5 * minute);
    expect(point.backup?.stoppedAt).toBe('2026-12-04T02:10:00.000Z');
    expect(point.repositories).toEqual([
      { repository: 'cloud', media: 'cloud', canServe: false, reason: 'its WAL does not run unbroken from the backup to this moment' },
      { repository: 'local', media: 'fixed', canServe: true, reason: undefined },
      { repository: 'usb', media: 'removable', canServe: false, reason: `does not hold the backup ${point.backup?.id ?? ''}` },
    ]);
    expect(point.walContinuous).toBe(true);
  });

  it('estimates the WAL replayed and the restore time from the rates the timeline measured', () => {
    const point = summarizePoint(model, at('2026-12-04T05:10:00Z'));
    expect(point.replaySeconds).toBe(3 * 3600);
    expect(point.replayBytes).toBeCloseTo(180 * 1_048_576);
    // 2 GiB backup + 180 MiB of WAL at 100 MiB/s.
    expect(point.estimatedSeconds).toBeCloseTo((2048 + 180) / 100);
    const untested = summarizePoint(buildRecoveryModel(thirtyDayTimeline()), at('2026-12-04T05:10:00Z'));
    expect(untested.estimatedSeconds).toBeUndefined();
  });

  it('says the value in words: both clocks, the backup it follows, WAL continuity and the full ISO date', () => {
    const text = describeMoment(model, at('2026-12-04T05:10:30Z'));
    expect(text).toMatch(/^05:10:30 UTC, \d\d:\d\d:30 local, 3 h after full backup of 02:10 UTC, WAL continuous; 2026-12-04T05:10:30Z$/);
    expect(describeMoment(model, at('2026-12-04T02:10:00Z'))).toContain('at the end of full backup of 02:10 UTC');
    expect(describeMoment(model, at('2026-12-05T01:00:00Z'))).toContain('22 h 50 min after full backup of 2026-12-04 02:10 UTC');
  });

  it('announces a snap with the stretch that cannot be restored to', () => {
    const landing = land(model, sharedGap.from + 10 * minute);
    expect(landing && describeSnap(landing)).toBe(
      '2026-12-01T05:10:00Z cannot be restored to: no repository holds WAL from 2026-12-01T05:00:00Z to 2026-12-01T05:30:00Z. The target moved to 2026-12-01T05:00:00Z, the nearest restorable moment.',
    );
    const early = land(model, at('2026-11-01T00:00:00Z'));
    expect(early && describeSnap(early)).toContain('before the earliest recoverable moment');
  });

  it('announces each gap of a lane in words', () => {
    const cloud = model.lanes.find((lane) => lane.name === 'cloud');
    const gap = cloud?.gaps[1];
    expect(cloud && gap && describeGap(cloud, gap)).toBe(
      'cloud: WAL gap 2026-12-04T10:00:00Z … 10:10:00Z, not restorable (3 WAL segments missing from 000000010000000A00000010)',
    );
  });

  it('places a typed LSN between the known positions around it', () => {
    const backup = model.backups[20];
    const restorePoint = model.markers.find((marker) => marker.kind === 'restore-point' && marker.at > (backup?.at ?? 0));
    expect(backup && momentOfLsn(model, backup.stopLsn)).toBe(backup?.at);
    expect(restorePoint?.lsn && momentOfLsn(model, restorePoint.lsn)).toBe(restorePoint?.at);
    expect(momentOfLsn(model, 'not an lsn')).toBeUndefined();
  });

  it('steps and describes within the 50 ms budget over 30 days of history', () => {
    let value = model.latest ?? 0;
    const started = performance.now();
    for (let index = 0; index < 1000; index += 1) {
      value = step(model, value, index % 2 === 0 ? 'PageDown' : 'ArrowLeft')?.value ?? value;
      describeMoment(model, value);
      summarizePoint(model, value);
    }
    // On average a step costs a small fraction of the 50 ms budget, even on a busy machine: the rest is React's.
    expect((performance.now() - started) / 1000).toBeLessThan(2);
  });
});
