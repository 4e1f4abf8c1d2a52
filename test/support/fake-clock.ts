import type { Clock, TimerHandle } from '../../src/main/engines/scheduler/clock.js';

interface PendingTimer {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/**
 * A clock the test moves. `advance` runs time forward and fires each timer at its moment,
 * as a machine that stays awake does; `sleep` jumps over a stretch without firing
 * anything and then fires what is overdue, as a laptop waking from suspend does.
 * Both let pending promise callbacks run before they return.
 */
export class FakeClock implements Clock {
  private current: number;
  private timers: PendingTimer[] = [];
  private nextId = 1;

  constructor(start: Date) {
    this.current = start.getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const timer = { id: this.nextId++, at: this.current + Math.max(0, delayMs), callback };
    this.timers.push(timer);
    return { cancel: () => (this.timers = this.timers.filter((pending) => pending.id !== timer.id)) };
  }

  async advance(milliseconds: number): Promise<void> {
    const until = this.current + milliseconds;
    for (;;) {
      const next = this.timers.filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.current = Math.max(this.current, next.at);
      this.fire(next);
      await settle();
    }
    this.current = until;
    await settle();
  }

  async sleep(milliseconds: number): Promise<void> {
    this.current += milliseconds;
    for (const timer of this.timers.filter((pending) => pending.at <= this.current).sort((a, b) => a.at - b.at || a.id - b.id)) {
      if (this.timers.includes(timer)) this.fire(timer);
    }
    await settle();
  }

  private fire(timer: PendingTimer): void {
    this.timers = this.timers.filter((pending) => pending.id !== timer.id);
    timer.callback();
  }
}

/** Lets queued promise callbacks and I/O completions run (the scheduler saves its state to disk). */
export async function settle(): Promise<void> {
  for (let round = 0; round < 10; round++) await new Promise<void>((done) => setImmediate(done));
}

/** A promise the test resolves: a job that runs until the test says it is done. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((onResolve, onReject) => {
    resolve = onResolve;
    reject = onReject;
  });
  return { promise, resolve, reject };
}
