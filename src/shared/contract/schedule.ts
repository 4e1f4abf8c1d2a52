import { z } from 'zod';

/**
 * The scheduler's jobs as the dashboard and `drc status` show them: what each does, its
 * last run and its next. What the scheduler stores on disk is its own format
 * (src/main/engines/scheduler/state.ts).
 */
export const scheduledJobSchema = z.enum(['wal-stream', 'restore-point', 'full-backup', 'archive-backup', 'restore-test', 'expire', 'verify']);
export type ScheduledJob = z.infer<typeof scheduledJobSchema>;

/** `abandoned`: stopped before it finished (stop timeout, crash); its slot counts as not run. */
export const jobOutcomeSchema = z.enum(['success', 'partial', 'failure', 'abandoned']);
export type JobOutcome = z.infer<typeof jobOutcomeSchema>;

/** Why a run started: its slot came, a missed slot was caught up, a failed run is retried, or it follows a full backup. */
export const runReasonSchema = z.enum(['slot', 'catch-up', 'retry', 'follow-up', 'start']);
export type RunReason = z.infer<typeof runReasonSchema>;

const errorDataSchema = z.object({ code: z.string(), message: z.string(), hints: z.array(z.string()) });

export const jobRunSchema = z.object({
  startedAt: z.string(),
  finishedAt: z.string(),
  reason: runReasonSchema,
  outcome: jobOutcomeSchema,
  summary: z.string(),
  /** Set when the job could not run to the end (it threw): such a run is retried. */
  error: errorDataSchema.optional(),
});
export type JobRun = z.infer<typeof jobRunSchema>;

/** One line of "next scheduled runs". */
export const scheduleEntrySchema = z.object({
  job: scheduledJobSchema,
  enabled: z.boolean(),
  /** In words: "daily at 01:00", "every 60 min", "after each successful full backup". */
  when: z.string(),
  lastRun: jobRunSchema.optional(),
  runningSince: z.string().optional(),
  /** Absent for continuous or follow-up jobs and for disabled ones. */
  nextRun: z.string().optional(),
  /** The next run is a catch-up of a missed slot or a retry of a failed run. */
  due: z.boolean(),
});
export type ScheduleEntry = z.infer<typeof scheduleEntrySchema>;

export const schedulerOverviewSchema = z.object({
  /** The process that runs the schedule (`drc daemon` or the desktop app), if one runs now. */
  scheduler: z.object({ running: z.boolean(), pid: z.number().int().optional(), host: z.string().optional(), since: z.string().optional() }),
  statePath: z.string(),
  jobs: z.array(scheduleEntrySchema),
  /** The state file could not be read: next runs are computed as if nothing had run. */
  stateError: z.string().optional(),
});
export type SchedulerOverview = z.infer<typeof schedulerOverviewSchema>;
