import type { ScheduleConfig } from '../../../shared/config.js';
import { toErrorData } from '../../../shared/contract/index.js';
import type { JobOutcome, JobRun, RunReason, ScheduledJob } from '../../../shared/contract/schedule.js';
import type { SchedulerState } from './state.js';
import type { ErrorData } from '../../../shared/errors.js';
import { dueJobs, interruptedRunsAbandoned, jobDefinitions, nextRun, withJobsSeen, type JobDefinition } from './calendar.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';

export interface JobContext {
  readonly job: ScheduledJob;
  readonly reason: RunReason;
  /** Aborted when the scheduler stops (at once for WAL streaming, after the stop timeout for the rest). */
  readonly signal: AbortSignal;
}

export interface JobResult {
  readonly outcome: Exclude<JobOutcome, 'abandoned'>;
  readonly summary: string;
}

/**
 * What actually does the work: the daemon wires the real services, tests wire fakes. A
 * job that cannot run throws; one that ran and found a problem returns `failure`.
 * `wal-stream` runs until its signal is aborted.
 */
export type JobFunction = (context: JobContext) => Promise<JobResult>;
export type JobFunctions = Readonly<Record<ScheduledJob, JobFunction>>;

export interface StateStore {
  load(): Promise<SchedulerState>;
  save(state: SchedulerState): Promise<void>;
}

export type SchedulerActivity =
  | { readonly kind: 'started'; readonly job: ScheduledJob; readonly reason: RunReason; readonly time: Date }
  | { readonly kind: 'finished'; readonly job: ScheduledJob; readonly run: JobRun }
  | { readonly kind: 'stopping'; readonly waitingFor: ScheduledJob[]; readonly timeoutMs: number }
  | { readonly kind: 'aborting'; readonly jobs: ScheduledJob[] }
  | { readonly kind: 'stream-restart'; readonly inMs: number }
  | { readonly kind: 'state-not-saved'; readonly error: ErrorData };

export interface SchedulerOptions {
  readonly cluster: string;
  readonly schedule: ScheduleConfig;
  readonly jobs: JobFunctions;
  readonly store: StateStore;
  readonly clock?: Clock;
  readonly onActivity?: (activity: SchedulerActivity) => void;
}

export interface StopReport {
  /** Jobs that were still running at the stop timeout and gave up when asked to. */
  readonly abandoned: ScheduledJob[];
  /** The last state could not be saved: the next start may run a job again. */
  readonly stateSaved: boolean;
}

/**
 * A timer may sleep through a suspend (Node's timers follow a monotonic clock that stops
 * while the machine sleeps), so the scheduler never waits longer than this before looking
 * at the wall clock again: after a wake-up, missed jobs start within a minute.
 */
const maxSleepMs = 60_000;
/** WAL streaming that ended is restarted after 10 s, doubling up to 5 min while it keeps failing. */
const streamRestartMs = { first: 10_000, max: 5 * 60_000 };

interface RunningJob {
  readonly group: string;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/**
 * The in-process scheduler of `drc daemon` and the desktop app.
 *
 *  - start:  load the state; a job found "running" was interrupted (crash, power cut) and
 *            is recorded as abandoned, so its slot counts as missed; start WAL streaming.
 *  - tick:   start every due job whose group is free; look again when a job ends, and at
 *            the next slot (at most a minute later).
 *  - record: every start and end is saved at once, so a crash loses no history.
 *  - stop:   stop WAL streaming; let running jobs finish within the stop timeout, then
 *            abort them; wait until every one has ended and the state is saved.
 */
export class Scheduler {
  private readonly clock: Clock;
  private readonly definitions: JobDefinition[];
  private readonly running = new Map<ScheduledJob, RunningJob>();
  private state: SchedulerState | undefined;
  private timer: TimerHandle | undefined;
  private streamRestart: TimerHandle | undefined;
  private streamFailures = 0;
  private stopping = false;
  private saving: Promise<void> = Promise.resolve();
  private lastSaveFailed = false;

  constructor(private readonly options: SchedulerOptions) {
    this.clock = options.clock ?? systemClock;
    this.definitions = jobDefinitions(options.schedule);
  }

  get runningJobs(): ScheduledJob[] {
    return [...this.running.keys()];
  }

  async start(): Promise<void> {
    const now = this.clock.now();
    this.state = withJobsSeen(interruptedRunsAbandoned(await this.options.store.load(), now), this.options.schedule, now);
    this.save();
    if (this.options.schedule.walStreaming) this.launch('wal-stream', 'start');
    this.tick();
  }

  async stop(): Promise<StopReport> {
    this.stopping = true;
    this.timer?.cancel();
    this.streamRestart?.cancel();
    // Streaming has no natural end: stopping it flushes the segment being written and returns.
    this.running.get('wal-stream')?.controller.abort();
    const waitingFor = this.runningJobs.filter((job) => job !== 'wal-stream');
    const timeoutMs = this.options.schedule.stopTimeoutSeconds * 1000;
    if (waitingFor.length > 0) this.options.onActivity?.({ kind: 'stopping', waitingFor, timeoutMs });
    const deadline = this.clock.setTimer(timeoutMs, () => {
      const jobs = this.runningJobs;
      if (jobs.length > 0) this.options.onActivity?.({ kind: 'aborting', jobs });
      for (const running of this.running.values()) running.controller.abort();
    });
    const stopped = [...this.running.entries()];
    await Promise.all(stopped.map(([, running]) => running.done));
    deadline.cancel();
    await this.saving;
    const abandoned = stopped.map(([job]) => job).filter((job) => this.state?.jobs[job]?.lastRun?.outcome === 'abandoned');
    return { abandoned, stateSaved: !this.lastSaveFailed };
  }

  /** Resolves once every state change made so far is on disk (or failed to get there, which was reported). */
  whenSaved(): Promise<void> {
    return this.saving;
  }

  /** The state as it is now (what `drc status` would read from the file). */
  snapshot(): SchedulerState | undefined {
    return this.state === undefined ? undefined : structuredClone(this.state);
  }

  private tick(): void {
    const state = this.state;
    if (this.stopping || !state) return;
    this.timer?.cancel();
    const now = this.clock.now();
    for (const due of dueJobs(state, this.options.schedule, now)) {
      const groupBusy = [...this.running.values()].some((running) => running.group === due.group);
      if (!groupBusy) this.launch(due.job, due.reason);
    }
    // A due job waiting for its group starts when the running one ends (that ends with a tick).
    const retryAfterMs = this.options.schedule.retryAfterMinutes * 60_000;
    const upcoming = this.definitions
      .map((definition) => nextRun(definition, state.jobs, now, retryAfterMs)?.getTime())
      .filter((at): at is number => at !== undefined && at > now.getTime());
    const delay = Math.min(maxSleepMs, ...upcoming.map((at) => at - now.getTime()));
    this.timer = this.clock.setTimer(delay, () => this.tick());
  }

  private launch(job: ScheduledJob, reason: RunReason): void {
    const state = this.state;
    if (!state) return;
    const startedAt = this.clock.now();
    const group = this.definitions.find((definition) => definition.job === job)?.group ?? job;
    state.jobs[job] = { ...(state.jobs[job] ?? { since: startedAt.toISOString() }), running: { startedAt: startedAt.toISOString(), reason } };
    this.save();
    this.options.onActivity?.({ kind: 'started', job, reason, time: startedAt });
    const controller = new AbortController();
    const done = this.execute(job, reason, startedAt, controller.signal).then(() => {
      this.running.delete(job);
      if (job === 'wal-stream') this.restartStreamLater(startedAt);
      else this.tick();
    });
    this.running.set(job, { group, controller, done });
  }

  /** Runs one job to its end and records the run; never rejects. */
  private async execute(job: ScheduledJob, reason: RunReason, startedAt: Date, signal: AbortSignal): Promise<void> {
    let run: JobRun;
    try {
      const result = await this.options.jobs[job]({ job, reason, signal });
      run = { startedAt: startedAt.toISOString(), finishedAt: this.clock.now().toISOString(), reason, outcome: result.outcome, summary: result.summary };
    } catch (error) {
      const data = toErrorData(error, `run the scheduled ${job}`);
      run = signal.aborted
        ? { startedAt: startedAt.toISOString(), finishedAt: this.clock.now().toISOString(), reason, outcome: 'abandoned', summary: `abandoned when the scheduler stopped: ${data.message}` }
        : { startedAt: startedAt.toISOString(), finishedAt: this.clock.now().toISOString(), reason, outcome: 'failure', summary: data.message, error: { code: data.code, message: data.message, hints: data.hints } };
    }
    this.record(job, run);
    this.options.onActivity?.({ kind: 'finished', job, run });
  }

  private record(job: ScheduledJob, run: JobRun): void {
    const state = this.state;
    if (!state) return;
    const previous = { ...(state.jobs[job] ?? { since: run.startedAt }) };
    delete previous.running;
    state.jobs[job] = {
      ...previous,
      lastRun: run,
      ...(run.outcome === 'abandoned' ? {} : { coveredAt: run.startedAt }),
      ...(run.outcome === 'success' || run.outcome === 'partial' ? { succeededAt: run.startedAt } : {}),
    };
    this.save();
  }

  /** Streaming ends only on stop, or when the server or every repository went away: then it is started again. */
  private restartStreamLater(startedAt: Date): void {
    if (this.stopping) return;
    const ranLong = this.clock.now().getTime() - startedAt.getTime() >= streamRestartMs.max;
    this.streamFailures = ranLong ? 0 : this.streamFailures + 1;
    const inMs = Math.min(streamRestartMs.max, streamRestartMs.first * 2 ** Math.max(0, this.streamFailures - 1));
    this.options.onActivity?.({ kind: 'stream-restart', inMs });
    this.streamRestart = this.clock.setTimer(inMs, () => {
      if (!this.stopping) this.launch('wal-stream', 'retry');
    });
  }

  /** Saves are chained, one at a time, each with the state as it was when asked. */
  private save(): void {
    const state = this.snapshot();
    if (!state) return;
    this.saving = this.saving.then(
      () =>
        this.options.store.save(state).then(
          () => {
            this.lastSaveFailed = false;
          },
          (error: unknown) => {
            this.lastSaveFailed = true;
            this.options.onActivity?.({ kind: 'state-not-saved', error: toErrorData(error, 'save the scheduler state') });
          },
        ),
    );
  }
}
