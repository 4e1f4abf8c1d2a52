import type { ScheduleConfig } from '../../../shared/config.js';
import type { RunReason, ScheduleEntry, ScheduledJob } from '../../../shared/contract/schedule.js';
import type { JobState, SchedulerState } from './state.js';

/**
 * The schedule as pure arithmetic on dates: which jobs exist, when their slots fall (local
 * time of the workstation), and which are due now. No I/O and no timers, so every rule is
 * testable with a date.
 *
 * A time-scheduled job is due when its most recent slot is newer than the last run that
 * covered it (or than when the scheduler first saw the job): however many slots were
 * missed while the workstation slept, only the most recent one counts, so it runs once.
 */
export interface ClockTime {
  readonly hours: number;
  readonly minutes: number;
}

export type Trigger =
  /** Runs all the time the scheduler runs (WAL streaming). */
  | { readonly kind: 'continuous' }
  /** Every N minutes from local midnight (N divides a day, so the slots are the same every day). */
  | { readonly kind: 'interval'; readonly everyMinutes: number }
  | { readonly kind: 'daily'; readonly at: ClockTime }
  /** `on` is the JavaScript weekday: 0 = Sunday. */
  | { readonly kind: 'weekly'; readonly on: number; readonly at: ClockTime }
  /** After each successful run of another job (the restore test after a full backup). */
  | { readonly kind: 'after'; readonly job: ScheduledJob };

export interface JobDefinition {
  readonly job: ScheduledJob;
  readonly enabled: boolean;
  readonly trigger: Trigger;
  /**
   * Jobs of one group never run at the same time. Everything that takes a repository's
   * locks or reads it whole — backups, restore tests, expire, verify — is one group:
   * expire takes the backup lock (two processes racing for the locks of several
   * repositories both lose), and verify must not read what expire is deleting. The
   * repository locks keep other processes (`drc backup` by hand) out as well.
   */
  readonly group: string;
}

const weekdays = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] as const;

function clockTime(text: string): ClockTime {
  const [hours, minutes] = text.split(':').map(Number);
  return { hours: hours ?? 0, minutes: minutes ?? 0 };
}

/** The jobs in priority order: when several are due in one group, the first one runs first. */
export function jobDefinitions(schedule: ScheduleConfig): JobDefinition[] {
  return [
    { job: 'wal-stream', enabled: schedule.walStreaming, trigger: { kind: 'continuous' }, group: 'wal-stream' },
    { job: 'full-backup', enabled: schedule.fullBackup.enabled, trigger: { kind: 'daily', at: clockTime(schedule.fullBackup.at) }, group: 'repository' },
    // Before the archive: proving last night's full matters more than another copy of it.
    { job: 'restore-test', enabled: schedule.restoreTestAfterFull && schedule.fullBackup.enabled, trigger: { kind: 'after', job: 'full-backup' }, group: 'repository' },
    { job: 'archive-backup', enabled: schedule.archiveBackup.enabled, trigger: { kind: 'weekly', on: weekdays.indexOf(schedule.archiveBackup.on), at: clockTime(schedule.archiveBackup.at) }, group: 'repository' },
    // A restore point is one SQL call and a small record: it keeps its hourly slot whatever else runs.
    { job: 'restore-point', enabled: schedule.restorePoint.enabled, trigger: { kind: 'interval', everyMinutes: schedule.restorePoint.everyMinutes }, group: 'restore-point' },
    { job: 'expire', enabled: schedule.expire.enabled, trigger: { kind: 'daily', at: clockTime(schedule.expire.at) }, group: 'repository' },
    { job: 'verify', enabled: schedule.verify.enabled, trigger: { kind: 'weekly', on: weekdays.indexOf(schedule.verify.on), at: clockTime(schedule.verify.at) }, group: 'repository' },
  ];
}

export function describeTrigger(trigger: Trigger): string {
  const at = (time: ClockTime): string => `${String(time.hours).padStart(2, '0')}:${String(time.minutes).padStart(2, '0')}`;
  switch (trigger.kind) {
    case 'continuous':
      return 'continuously';
    case 'interval':
      return `every ${String(trigger.everyMinutes)} min`;
    case 'daily':
      return `daily at ${at(trigger.at)}`;
    case 'weekly':
      return `${weekdays[trigger.on] ?? '?'}s at ${at(trigger.at)}`;
    case 'after':
      return `after each successful ${trigger.job}`;
  }
}

function atClock(day: Date, time: ClockTime): Date {
  const slot = new Date(day);
  slot.setHours(time.hours, time.minutes, 0, 0);
  return slot;
}

/** Calendar days, not 24-hour steps, so a daylight-saving change does not shift the slot. */
function addDays(day: Date, days: number): Date {
  const moved = new Date(day);
  moved.setDate(moved.getDate() + days);
  return moved;
}

/** The most recent slot at or before `now`; undefined for jobs without slots. */
export function previousSlot(trigger: Trigger, now: Date): Date | undefined {
  switch (trigger.kind) {
    case 'interval': {
      const index = Math.floor((now.getHours() * 60 + now.getMinutes()) / trigger.everyMinutes);
      const slot = atClock(now, { hours: 0, minutes: index * trigger.everyMinutes });
      // On the night the clocks go back a wall-clock time happens twice; take the earlier slot.
      return slot > now ? new Date(slot.getTime() - trigger.everyMinutes * 60_000) : slot;
    }
    case 'daily': {
      const today = atClock(now, trigger.at);
      return today <= now ? today : atClock(addDays(now, -1), trigger.at);
    }
    case 'weekly':
      for (let back = 0; back <= 7; back++) {
        const slot = atClock(addDays(now, -back), trigger.at);
        if (slot.getDay() === trigger.on && slot <= now) return slot;
      }
      return undefined;
    case 'continuous':
    case 'after':
      return undefined;
  }
}

/** The first slot after `now`; undefined for jobs without slots. */
export function nextSlot(trigger: Trigger, now: Date): Date | undefined {
  switch (trigger.kind) {
    case 'interval': {
      const index = Math.floor((now.getHours() * 60 + now.getMinutes()) / trigger.everyMinutes) + 1;
      // Minutes past the day's end roll over into the next day's midnight.
      const slot = atClock(now, { hours: 0, minutes: index * trigger.everyMinutes });
      return slot <= now ? new Date(slot.getTime() + trigger.everyMinutes * 60_000) : slot;
    }
    case 'daily': {
      const today = atClock(now, trigger.at);
      return today > now ? today : atClock(addDays(now, 1), trigger.at);
    }
    case 'weekly':
      for (let ahead = 0; ahead <= 7; ahead++) {
        const slot = atClock(addDays(now, ahead), trigger.at);
        if (slot.getDay() === trigger.on && slot > now) return slot;
      }
      return undefined;
    case 'continuous':
    case 'after':
      return undefined;
  }
}

/** A run started within this long of its slot is "on time"; later, it is a catch-up of a missed slot. */
const onTimeMs = 5 * 60_000;

const time = (iso: string | undefined): number => (iso === undefined ? Number.NEGATIVE_INFINITY : Date.parse(iso));

/**
 * Why `definition`'s job should start now, or undefined if it should not. `jobs` is the
 * persisted state of every job (the restore test looks at the full backup's).
 */
export function dueReason(definition: JobDefinition, jobs: SchedulerState['jobs'], now: Date, retryAfterMs: number): RunReason | undefined {
  const state = jobs[definition.job];
  if (!definition.enabled || !state || state.running || definition.trigger.kind === 'continuous') return undefined;
  const covered = Math.max(time(state.coveredAt), time(state.since));
  const { trigger } = definition;
  if (trigger.kind === 'after') {
    const upstream = jobs[trigger.job];
    if (upstream && !upstream.running && time(upstream.succeededAt) > covered) return 'follow-up';
  } else {
    const slot = previousSlot(trigger, now);
    if (slot && slot.getTime() > covered) return now.getTime() - slot.getTime() <= onTimeMs ? 'slot' : 'catch-up';
  }
  return retryAt(state, retryAfterMs) <= now.getTime() ? 'retry' : undefined;
}

/** When a run that could not finish (it threw) is tried again; never for one that ran and reported a bad result. */
function retryAt(state: JobState, retryAfterMs: number): number {
  const last = state.lastRun;
  if (retryAfterMs <= 0 || last?.error === undefined) return Number.POSITIVE_INFINITY;
  return time(last.finishedAt) + retryAfterMs;
}

export interface DueJob {
  readonly job: ScheduledJob;
  readonly reason: RunReason;
  readonly group: string;
}

/** Every job that should start now, in priority order. Continuous jobs are never "due": they start with the scheduler. */
export function dueJobs(state: SchedulerState, schedule: ScheduleConfig, now: Date): DueJob[] {
  const retryAfterMs = schedule.retryAfterMinutes * 60_000;
  return jobDefinitions(schedule).flatMap((definition) => {
    const reason = dueReason(definition, state.jobs, now, retryAfterMs);
    return reason === undefined ? [] : [{ job: definition.job, reason, group: definition.group }];
  });
}

/**
 * When the job runs next: now if it is due, else its next slot or the retry of a failed
 * run, whichever comes first. Undefined for continuous jobs, follow-ups that are not due,
 * disabled jobs and running ones.
 */
export function nextRun(definition: JobDefinition, jobs: SchedulerState['jobs'], now: Date, retryAfterMs: number): Date | undefined {
  const state = jobs[definition.job];
  if (!definition.enabled || state?.running || definition.trigger.kind === 'continuous') return undefined;
  if (dueReason(definition, jobs, now, retryAfterMs) !== undefined) return now;
  const candidates = [nextSlot(definition.trigger, now)?.getTime(), state ? retryAt(state, retryAfterMs) : undefined].filter((at): at is number => at !== undefined && Number.isFinite(at));
  return candidates.length === 0 ? undefined : new Date(Math.min(...candidates));
}

/** Jobs the scheduler sees for the first time start counting their slots from now, not from the epoch. */
export function withJobsSeen(state: SchedulerState, schedule: ScheduleConfig, now: Date): SchedulerState {
  const jobs = { ...state.jobs };
  for (const definition of jobDefinitions(schedule)) {
    if (definition.enabled && !jobs[definition.job]) jobs[definition.job] = { since: now.toISOString() };
  }
  return { ...state, jobs };
}

/** Each job as "next scheduled runs" shows it: how it is scheduled, its last run, and when it runs next. */
export function scheduleEntries(schedule: ScheduleConfig, state: SchedulerState, now: Date): ScheduleEntry[] {
  const retryAfterMs = schedule.retryAfterMinutes * 60_000;
  return jobDefinitions(schedule).map((definition) => {
    const job = state.jobs[definition.job];
    const next = nextRun(definition, state.jobs, now, retryAfterMs);
    return {
      job: definition.job,
      enabled: definition.enabled,
      when: describeTrigger(definition.trigger),
      ...(job?.lastRun ? { lastRun: job.lastRun } : {}),
      ...(job?.running ? { runningSince: job.running.startedAt } : {}),
      ...(next ? { nextRun: next.toISOString() } : {}),
      due: dueReason(definition, state.jobs, now, retryAfterMs) !== undefined,
    };
  });
}

/** A run still marked "running" at load was cut short by a crash or power cut. */
export function interruptedRunsAbandoned(state: SchedulerState, now: Date): SchedulerState {
  const jobs = { ...state.jobs };
  for (const [job, entry] of Object.entries(jobs) as Array<[ScheduledJob, NonNullable<SchedulerState['jobs'][ScheduledJob]>]>) {
    if (!entry.running) continue;
    const { running, ...rest } = entry;
    jobs[job] = {
      ...rest,
      lastRun: { startedAt: running.startedAt, finishedAt: now.toISOString(), reason: running.reason, outcome: 'abandoned', summary: 'interrupted: the scheduler ended while it ran (crash, power cut or kill)' },
    };
  }
  return { ...state, jobs };
}
