import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scheduleConfigSchema, type ScheduleConfig } from '../../src/shared/config.js';
import type { ScheduledJob } from '../../src/shared/contract/schedule.js';
import { schedulerStateSchema, type SchedulerState } from '../../src/main/engines/scheduler/state.js';
import { DrcError } from '../../src/shared/errors.js';
import { dueJobs, jobDefinitions, nextRun, nextSlot, previousSlot } from '../../src/main/engines/scheduler/calendar.js';
import { Scheduler, type JobContext, type JobFunctions, type JobResult, type SchedulerActivity } from '../../src/main/engines/scheduler/scheduler.js';
import { SchedulerStateStore } from '../../src/main/engines/scheduler/state-store.js';
import { deferred, FakeClock } from '../support/fake-clock.js';
import { tempDirectory } from '../support/temp.js';

/** Local wall-clock times (the schedule is in the workstation's local time). June 15, 2026 is a Monday. */
const at = (day: number, hours: number, minutes = 0): Date => new Date(2026, 5, day, hours, minutes);
const schedule = (overrides: Record<string, unknown> = {}): ScheduleConfig => scheduleConfigSchema.parse(overrides);
const minutes = (count: number): number => count * 60_000;
const hours = (count: number): number => count * 3_600_000;
const definition = (job: ScheduledJob, config = schedule()) => {
  const found = jobDefinitions(config).find((entry) => entry.job === job);
  if (!found) throw new Error(`no definition for ${job}`);
  return found;
};

describe('schedule calculator', () => {
  it('places slots in local time: daily, weekly and every N minutes from midnight', () => {
    const full = definition('full-backup').trigger;
    expect(previousSlot(full, at(16, 0, 30))).toEqual(at(15, 1));
    expect(previousSlot(full, at(16, 1))).toEqual(at(16, 1));
    expect(nextSlot(full, at(16, 1))).toEqual(at(17, 1));

    const archive = definition('archive-backup').trigger;
    expect(previousSlot(archive, at(18, 9))).toEqual(at(14, 2));
    expect(nextSlot(archive, at(18, 9))).toEqual(at(21, 2));
    expect(nextSlot(archive, at(21, 1, 59))).toEqual(at(21, 2));

    const points = definition('restore-point').trigger;
    expect(previousSlot(points, at(16, 9, 59))).toEqual(at(16, 9));
    expect(nextSlot(points, at(16, 23, 30))).toEqual(at(17, 0));
    const quarter = definition('restore-point', schedule({ restorePoint: { enabled: true, everyMinutes: 15 } })).trigger;
    expect(nextSlot(quarter, at(16, 9, 50))).toEqual(at(16, 10));
    expect(previousSlot(quarter, at(16, 9, 50))).toEqual(at(16, 9, 45));
  });

  it('refuses an interval that does not divide a day', () => {
    expect(scheduleConfigSchema.safeParse({ restorePoint: { enabled: true, everyMinutes: 7 } }).success).toBe(false);
  });

  it('collapses missed slots into one run, and does not catch up slots from before the job was first scheduled', () => {
    const state: SchedulerState = {
      format: 1,
      cluster: 'wedsync',
      jobs: {
        'full-backup': { since: at(1, 0).toISOString(), coveredAt: at(15, 1).toISOString(), lastRun: run(at(15, 1), 'success') },
        expire: { since: at(1, 0).toISOString(), coveredAt: at(15, 3).toISOString(), lastRun: run(at(15, 3), 'success') },
        verify: { since: at(17, 12).toISOString() },
        'archive-backup': { since: at(17, 12).toISOString() },
      },
    };
    // Asleep from Monday evening to Thursday 09:00: three full-backup and expire slots missed.
    const due = dueJobs(state, schedule(), at(18, 9));
    expect(due.map((entry) => [entry.job, entry.reason])).toEqual([
      ['full-backup', 'catch-up'],
      ['expire', 'catch-up'],
    ]);
    // Once run, the job is not due again until its next slot.
    const after = { ...state, jobs: { ...state.jobs, 'full-backup': { since: at(1, 0).toISOString(), coveredAt: at(18, 9).toISOString(), lastRun: run(at(18, 9), 'success') } } };
    expect(dueJobs(after, schedule(), at(18, 12)).map((entry) => entry.job)).toEqual(['expire']);
    expect(nextRun(definition('full-backup'), after.jobs, at(18, 12), 0)).toEqual(at(19, 1));
  });

  it('calls a run on time within minutes of its slot, and a catch-up after that', () => {
    const state: SchedulerState = { format: 1, cluster: 'c', jobs: { 'full-backup': { since: at(14, 12).toISOString() } } };
    expect(dueJobs(state, schedule(), at(15, 1, 0))[0]?.reason).toBe('slot');
    expect(dueJobs(state, schedule(), at(15, 7, 0))[0]?.reason).toBe('catch-up');
  });

  it('follows a successful full backup with one restore test, and a failed one with none', () => {
    const jobs = (outcome: 'success' | 'failure'): SchedulerState['jobs'] => ({
      'full-backup': { since: at(1, 0).toISOString(), coveredAt: at(15, 1).toISOString(), ...(outcome === 'success' ? { succeededAt: at(15, 1).toISOString() } : {}), lastRun: run(at(15, 1), outcome) },
      'restore-test': { since: at(1, 0).toISOString(), coveredAt: at(14, 2).toISOString() },
    });
    expect(dueJobs({ format: 1, cluster: 'c', jobs: jobs('success') }, schedule(), at(15, 2)).map((entry) => [entry.job, entry.reason])).toEqual([['restore-test', 'follow-up']]);
    expect(dueJobs({ format: 1, cluster: 'c', jobs: jobs('failure') }, schedule(), at(15, 2))).toEqual([]);
    expect(dueJobs({ format: 1, cluster: 'c', jobs: jobs('success') }, schedule({ restoreTestAfterFull: false }), at(15, 2))).toEqual([]);
  });

  it('retries a job that could not run after retryAfterMinutes, but not one that ran and reported a failure', () => {
    const failed = (error: boolean): SchedulerState => ({
      format: 1,
      cluster: 'c',
      jobs: { verify: { since: at(1, 0).toISOString(), coveredAt: at(20, 4).toISOString(), lastRun: { ...run(at(20, 4), 'failure'), ...(error ? { error: { code: 'MEDIA_NOT_PRESENT', message: 'stick gone', hints: [] } } : {}) } } },
    });
    // It ended at 04:10: tried again from 04:40.
    expect(dueJobs(failed(true), schedule(), at(20, 4, 39))).toEqual([]);
    expect(dueJobs(failed(true), schedule(), at(20, 4, 40)).map((entry) => [entry.job, entry.reason])).toEqual([['verify', 'retry']]);
    expect(nextRun(definition('verify'), failed(true).jobs, at(20, 4, 10), minutes(30))).toEqual(at(20, 4, 40));
    expect(dueJobs(failed(false), schedule(), at(20, 9))).toEqual([]);
    expect(dueJobs(failed(true), schedule({ retryAfterMinutes: 0 }), at(20, 9))).toEqual([]);
  });
});

function run(startedAt: Date, outcome: 'success' | 'failure'): NonNullable<SchedulerState['jobs']['full-backup']>['lastRun'] & object {
  return { startedAt: startedAt.toISOString(), finishedAt: new Date(startedAt.getTime() + minutes(10)).toISOString(), reason: 'slot', outcome, summary: outcome };
}

/** Fake jobs at the scheduler's boundary: each call is recorded; a job ends when the test says so (or at once). */
class FakeJobs {
  readonly calls: Array<{ job: ScheduledJob; reason: string; at: Date }> = [];
  readonly pending = new Map<ScheduledJob, Array<ReturnType<typeof deferred<JobResult>>>>();
  readonly held = new Set<ScheduledJob>();
  readonly failing = new Map<ScheduledJob, Error>();
  readonly running = new Map<string, number>();
  maxRunningPerGroup = new Map<string, number>();

  constructor(private readonly clock: FakeClock) {}

  count(job: ScheduledJob): number {
    return this.calls.filter((call) => call.job === job).length;
  }

  /** Ends the oldest running call of `job`. */
  finish(job: ScheduledJob, result: JobResult = { outcome: 'success', summary: 'done' }): void {
    const next = this.pending.get(job)?.shift();
    if (!next) throw new Error(`${job} is not running`);
    next.resolve(result);
  }

  functions(): JobFunctions {
    const groups = new Map(jobDefinitions(schedule()).map((entry) => [entry.job, entry.group]));
    const make =
      (job: ScheduledJob) =>
      async (context: JobContext): Promise<JobResult> => {
        this.calls.push({ job, reason: context.reason, at: this.clock.now() });
        const group = groups.get(job) ?? job;
        this.running.set(group, (this.running.get(group) ?? 0) + 1);
        this.maxRunningPerGroup.set(group, Math.max(this.maxRunningPerGroup.get(group) ?? 0, this.running.get(group) ?? 0));
        try {
          const failure = this.failing.get(job);
          if (failure) throw failure;
          if (job === 'wal-stream') {
            await new Promise((done) => context.signal.addEventListener('abort', done, { once: true }));
            return { outcome: 'success', summary: 'stopped' };
          }
          if (!this.held.has(job)) return { outcome: 'success', summary: `${job} done` };
          const ending = deferred<JobResult>();
          this.pending.set(job, [...(this.pending.get(job) ?? []), ending]);
          context.signal.addEventListener('abort', () => ending.reject(new DrcError('BACKUP_FAILED', `${job} aborted`)), { once: true });
          return await ending.promise;
        } finally {
          this.running.set(group, (this.running.get(group) ?? 1) - 1);
        }
      };
    return {
      'wal-stream': make('wal-stream'),
      'restore-point': make('restore-point'),
      'full-backup': make('full-backup'),
      'archive-backup': make('archive-backup'),
      'restore-test': make('restore-test'),
      expire: make('expire'),
      verify: make('verify'),
    };
  }
}

describe('scheduler', () => {
  let directory: { path: string; remove: () => Promise<void> };
  let clock: FakeClock;
  let jobs: FakeJobs;
  let activity: SchedulerActivity[];
  const schedulers: Scheduler[] = [];

  const startScheduler = async (config: ScheduleConfig = schedule()): Promise<Scheduler> => {
    const scheduler = new Scheduler({ cluster: 'wedsync', schedule: config, jobs: jobs.functions(), store: new SchedulerStateStore(directory.path, 'wedsync'), clock, onActivity: (entry) => activity.push(entry) });
    schedulers.push(scheduler);
    await scheduler.start();
    return scheduler;
  };
  const savedState = async (): Promise<SchedulerState> => schedulerStateSchema.parse(JSON.parse(await readFile(new SchedulerStateStore(directory.path, 'wedsync').path, 'utf8')));

  beforeEach(async () => {
    directory = await tempDirectory('drc-scheduler-');
    clock = new FakeClock(at(15, 0, 30));
    jobs = new FakeJobs(clock);
    activity = [];
  });

  afterEach(async () => {
    for (const pending of jobs.pending.values()) for (const each of pending) each.resolve({ outcome: 'success', summary: 'test over' });
    await Promise.all(schedulers.splice(0).map((scheduler) => scheduler.stop()));
    await directory.remove();
  });

  it('streams WAL from the start and runs each job at its slot', async () => {
    await startScheduler();
    expect(jobs.calls.map((call) => call.job)).toEqual(['wal-stream']);
    await clock.advance(minutes(30));
    expect(jobs.calls.map((call) => [call.job, call.reason])).toEqual([
      ['wal-stream', 'start'],
      ['full-backup', 'slot'],
      ['restore-point', 'slot'],
      ['restore-test', 'follow-up'],
    ]);
    await clock.advance(hours(2));
    expect(jobs.count('expire')).toBe(1);
    expect(jobs.count('restore-point')).toBe(3);
    expect(jobs.count('full-backup')).toBe(1);
  });

  it('after sleeping through three days of slots, runs each missed job once', async () => {
    await startScheduler();
    await clock.sleep(at(18, 9, 10).getTime() - at(15, 0, 30).getTime());
    expect(jobs.count('full-backup')).toBe(1);
    expect(jobs.count('restore-test')).toBe(1);
    expect(jobs.count('expire')).toBe(1);
    expect(jobs.count('restore-point')).toBe(1);
    expect(jobs.count('archive-backup')).toBe(0);
    expect(jobs.count('verify')).toBe(0);
    expect(jobs.calls.filter((call) => call.job !== 'wal-stream' && call.job !== 'restore-test').every((call) => call.reason === 'catch-up')).toBe(true);
    // Nothing more until the next slots: restore points hourly, the full backup tomorrow at 01:00.
    await clock.advance(minutes(49));
    expect(jobs.count('restore-point')).toBe(1);
    await clock.advance(minutes(2));
    expect(jobs.count('restore-point')).toBe(2);
    expect(jobs.count('full-backup')).toBe(1);
  });

  it('catches up missed slots once after downtime, from the persisted state', async () => {
    const first = await startScheduler();
    await clock.advance(hours(3));
    expect(jobs.count('full-backup')).toBe(1);
    await first.stop();
    const saved = await savedState();
    expect(saved.jobs['full-backup']?.lastRun).toMatchObject({ outcome: 'success', startedAt: at(15, 1).toISOString() });

    // Off from Monday 03:30 to Sunday 12:00: every job has missed slots.
    await clock.sleep(at(21, 12).getTime() - clock.now().getTime());
    jobs.calls.length = 0;
    await startScheduler();
    await clock.advance(minutes(1));
    const counts = Object.fromEntries(['full-backup', 'archive-backup', 'restore-test', 'expire', 'verify', 'restore-point'].map((job) => [job, jobs.count(job as ScheduledJob)]));
    expect(counts).toEqual({ 'full-backup': 1, 'archive-backup': 1, 'restore-test': 1, expire: 1, verify: 1, 'restore-point': 1 });
  });

  it('never runs two repository jobs at once: each waits its turn, in priority order', async () => {
    clock = new FakeClock(at(20, 0, 30));
    jobs = new FakeJobs(clock);
    jobs.held.add('full-backup').add('restore-test').add('archive-backup').add('expire').add('verify');
    await startScheduler();
    // Saturday's full backup (01:00) runs long: expire (03:00) and verify (04:00) wait for it.
    await clock.advance(hours(4));
    expect(jobs.count('full-backup')).toBe(1);
    expect(jobs.count('expire')).toBe(0);
    expect(jobs.count('verify')).toBe(0);

    // Sunday 02:05: Sunday's full (01:00) and the archive (02:00) are due too, and it still runs.
    await clock.advance(at(21, 2, 5).getTime() - clock.now().getTime());
    expect(jobs.count('full-backup')).toBe(1);
    const order: ScheduledJob[] = [];
    for (const job of ['full-backup', 'full-backup', 'restore-test', 'archive-backup', 'expire', 'verify'] as const) {
      const before = jobs.calls.length;
      jobs.finish(job);
      await clock.advance(0);
      order.push(...jobs.calls.slice(before).map((call) => call.job).filter((started) => started !== 'restore-point'));
    }
    // The missed full first, then one restore test of the newest full, the archive, then maintenance.
    expect(order).toEqual(['full-backup', 'restore-test', 'archive-backup', 'expire', 'verify']);
    expect(jobs.maxRunningPerGroup.get('repository')).toBe(1);
    // Restore points are their own group and kept their hourly slots throughout.
    expect(jobs.count('restore-point')).toBe(26);
    await clock.advance(minutes(10));
    expect(jobs.count('restore-test')).toBe(1);
  });

  it('records a job cut short by a crash as abandoned and runs it again at the next start', async () => {
    jobs.held.add('full-backup');
    const first = await startScheduler();
    await clock.advance(minutes(31));
    expect(jobs.count('full-backup')).toBe(1);
    await first.whenSaved();
    expect((await savedState()).jobs['full-backup']?.running).toBeDefined();

    // The process dies here: its clock never moves again. A new scheduler starts from the file an hour later.
    clock = new FakeClock(at(15, 2, 31));
    await startScheduler();
    expect(jobs.count('full-backup')).toBe(2);
    expect(jobs.calls.filter((call) => call.job === 'full-backup').at(-1)?.reason).toBe('catch-up');
    await schedulers.at(-1)?.whenSaved();
    const state = await savedState();
    expect(state.jobs['full-backup']?.lastRun).toMatchObject({ outcome: 'abandoned', startedAt: at(15, 1).toISOString() });
  });

  it('on stop, stops WAL streaming at once, lets running jobs finish within the timeout, then abandons them', async () => {
    jobs.held.add('full-backup');
    const scheduler = await startScheduler(schedule({ stopTimeoutSeconds: 60 }));
    await clock.advance(minutes(31));
    expect(scheduler.runningJobs.sort()).toEqual(['full-backup', 'wal-stream']);

    let stopped = false;
    const stopping = scheduler.stop().then((report) => {
      stopped = true;
      return report;
    });
    await clock.advance(0);
    expect(scheduler.runningJobs).toEqual(['full-backup']);
    await clock.advance(59_000);
    expect(stopped).toBe(false);
    await clock.advance(1_000);
    const report = await stopping;
    expect(report).toEqual({ abandoned: ['full-backup'], stateSaved: true });
    expect(activity.some((entry) => entry.kind === 'aborting')).toBe(true);

    const state = await savedState();
    expect(state.jobs['wal-stream']?.lastRun).toMatchObject({ outcome: 'success', summary: 'stopped' });
    expect(state.jobs['full-backup']?.lastRun?.outcome).toBe('abandoned');
    expect(state.jobs['full-backup']?.coveredAt).toBeUndefined();
    expect(state.jobs['full-backup']?.running).toBeUndefined();
  });

  it('a job that finishes within the stop timeout is recorded as it ended', async () => {
    jobs.held.add('full-backup');
    const scheduler = await startScheduler();
    await clock.advance(minutes(31));
    const stopping = scheduler.stop();
    await clock.advance(10_000);
    jobs.finish('full-backup', { outcome: 'partial', summary: 'missing copy in usb' });
    expect(await stopping).toEqual({ abandoned: [], stateSaved: true });
    expect((await savedState()).jobs['full-backup']?.lastRun).toMatchObject({ outcome: 'partial', summary: 'missing copy in usb' });
  });

  it('retries a job that could not run, and restarts WAL streaming with a growing delay', async () => {
    jobs.failing.set('full-backup', new DrcError('PG_CONNECT_FAILED', 'unable to connect to PostgreSQL at 127.0.0.1:5432'));
    jobs.failing.set('wal-stream', new DrcError('PG_CONNECT_FAILED', 'unable to connect to PostgreSQL at 127.0.0.1:5432'));
    const scheduler = await startScheduler();
    await clock.advance(minutes(31));
    expect(jobs.count('full-backup')).toBe(1);
    await scheduler.whenSaved();
    const state = await savedState();
    expect(state.jobs['full-backup']?.lastRun).toMatchObject({ outcome: 'failure', error: { code: 'PG_CONNECT_FAILED' } });
    expect(jobs.count('restore-test')).toBe(0);

    jobs.failing.delete('full-backup');
    await clock.advance(minutes(30));
    expect(jobs.calls.filter((call) => call.job === 'full-backup').map((call) => call.reason)).toEqual(['slot', 'retry']);
    expect(jobs.count('restore-test')).toBe(1);

    const restarts = activity.flatMap((entry) => (entry.kind === 'stream-restart' ? [entry.inMs] : []));
    expect(restarts.slice(0, 6)).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000]);
  });

  it('refuses a second scheduler for the same cluster and state directory', async () => {
    const store = new SchedulerStateStore(directory.path, 'wedsync');
    const lock = await store.acquire();
    try {
      expect((await store.holder())?.pid).toBe(process.pid);
      await expect(new SchedulerStateStore(directory.path, 'wedsync').acquire()).rejects.toMatchObject({ code: 'LOCK_HELD' });
    } finally {
      await lock.release();
    }
    expect(await store.holder()).toBeUndefined();
  });
});
