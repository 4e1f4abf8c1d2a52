import { describe, expect, it } from 'vitest';
import { baseBackupCommand } from '../../src/main/postgres/replication/base-backup.js';
import type { Operation } from '../../src/shared/contract/operations.js';
import { DrcError } from '../../src/shared/errors.js';
import { OperationRegistry, type OperationControl } from '../../src/main/services/operations.js';
import { shellQuote } from '../../src/main/services/console-operations.js';

const verifyResult = { kind: 'verify', verify: { repositories: [], problems: [], repaired: [] } } as never;

/** Work that waits until it is told to finish, or aborted. */
function controllable(): { run: (control: OperationControl) => Promise<never>; control: Promise<OperationControl>; finish: () => void } {
  let finish = (): void => undefined;
  let handOver: (control: OperationControl) => void = () => undefined;
  const control = new Promise<OperationControl>((resolve) => (handOver = resolve));
  const run = (given: OperationControl): Promise<never> => {
    handOver(given);
    return new Promise((resolve, reject) => {
      finish = () => resolve(verifyResult);
      given.signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true });
    });
  };
  return { run, control, finish: () => finish() };
}

describe('operation registry', () => {
  it('runs work in the background and announces every state change, throttling byte progress', async () => {
    let clock = 1_000_000;
    const registry = new OperationRegistry({ now: () => new Date(clock), progressIntervalMs: 250 });
    const seen: Operation[] = [];
    registry.subscribe((operation) => seen.push(operation));
    const work = controllable();
    const started = registry.start({ kind: 'verify', title: 'Verify nas', cancelEffect: 'nothing changes', run: work.run });
    expect(started.state).toBe('running');
    const control = await work.control;
    control.phase('reading chunks');
    clock += 10;
    control.bytes(100, 1000);
    clock += 10;
    control.bytes(200, 1000);
    clock += 300;
    control.bytes(500, 1000);
    work.finish();
    const done = await registry.settled(started.id);
    expect(done).toMatchObject({ state: 'succeeded', phase: 'done', bytesDone: 500, bytesTotal: 1000, cancellable: false, result: verifyResult });
    // The second byte report came 10 ms after the phase change and was held back; the third (300 ms later) went out.
    expect(seen.map((operation) => operation.bytesDone)).toEqual([undefined, undefined, 500, 500]);
    expect(seen.at(2)?.bytesPerSecond).toBeCloseTo(500 / 0.32);
    expect(seen.at(2)?.etaSeconds).toBeCloseTo(500 / (500 / 0.32));
    expect(seen.at(2)?.message).toContain('50 %');
    expect(seen.map((operation) => operation.state)).toEqual(['running', 'running', 'running', 'succeeded']);
  });

  it('puts a failure, with its code and hints, into the record', async () => {
    const registry = new OperationRegistry();
    const started = registry.start({
      kind: 'backup',
      title: 'Full backup — test',
      cancelEffect: 'no backup is committed',
      run: () => Promise.reject(new DrcError('PG_CONNECT_FAILED', 'unable to connect to 127.0.0.1:1', { hints: ['start the server'] })),
    });
    const done = await registry.settled(started.id);
    expect(done.state).toBe('failed');
    expect(done.error).toMatchObject({ code: 'PG_CONNECT_FAILED', hints: ['start the server'] });
    expect(done.message).toContain('unable to connect');
    registry.dismiss(started.id);
    expect(registry.list()).toEqual([]);
  });

  it('cancels a running operation, refuses to dismiss one still running, and cancels all on stop', async () => {
    const registry = new OperationRegistry();
    const first = controllable();
    const second = controllable();
    const a = registry.start({ kind: 'restore', title: 'Restore', cancelEffect: 'the directory is emptied', run: first.run });
    const b = registry.start({ kind: 'restore-test', title: 'Restore test', cancelEffect: 'the scratch instance is removed', run: second.run });
    await Promise.all([first.control, second.control]);
    expect(() => registry.dismiss(a.id)).toThrow(/has not finished/);
    expect(registry.cancel(a.id)).toMatchObject({ phase: 'cancelling', cancellable: false });
    expect((await registry.settled(a.id)).state).toBe('cancelled');
    expect(registry.busy).toBe(true);
    await registry.cancelAll();
    expect(registry.get(b.id)).toMatchObject({ state: 'cancelled', message: 'Restore test: cancelled — the scratch instance is removed' });
    expect(registry.busy).toBe(false);
    expect(() => registry.cancel('op-unknown')).toThrow(/unable to find operation/);
  });

  it('keeps a one-off run scheduled until its time, and cancels it while it waits', async () => {
    const registry = new OperationRegistry();
    let ran = 0;
    const run = (): Promise<never> => {
      ran += 1;
      return Promise.resolve(verifyResult);
    };
    const soon = registry.start({ kind: 'backup', title: 'Soon', cancelEffect: 'none', at: new Date(Date.now() + 150), run });
    const later = registry.start({ kind: 'backup', title: 'Later', cancelEffect: 'none', at: new Date(Date.now() + 3_600_000), run });
    expect(soon).toMatchObject({ state: 'scheduled', scheduledFor: expect.any(String) as unknown });
    expect(later.startedAt).toBeUndefined();
    expect((await registry.settled(soon.id)).state).toBe('succeeded');
    registry.cancel(later.id);
    expect((await registry.settled(later.id)).state).toBe('cancelled');
    expect(ran).toBe(1);
  });
});

describe('backup priority and the start command', () => {
  it('asks for an immediate checkpoint for high priority and a spread one for normal', () => {
    expect(baseBackupCommand({ label: 'x', fastCheckpoint: true, includeWal: true })).toContain("CHECKPOINT 'fast'");
    expect(baseBackupCommand({ label: 'x', fastCheckpoint: false, includeWal: true })).toContain("CHECKPOINT 'spread'");
  });

  it('quotes a target directory for the shell only when it needs it', () => {
    expect(shellQuote('/var/lib/postgresql/restored')).toBe('/var/lib/postgresql/restored');
    expect(shellQuote("/srv/it's here")).toBe(`'/srv/it'\\''s here'`);
  });
});
