import { z } from 'zod';
import { jobOutcomeSchema, runReasonSchema, scheduledJobSchema } from '../../../shared/contract/schedule.js';

/**
 * The scheduler's state file: what ran, what was missed and what was interrupted, so
 * after sleep, a restart or a crash the scheduler knows where it stands. A disk format,
 * kept here beside its writer (state-store.ts) and apart from the view contract: the
 * dashboard's schedule shapes can change without changing what is on disk. Job names,
 * outcomes and reasons are the shared vocabulary both use.
 */
const errorDataSchema = z.object({ code: z.string(), message: z.string(), hints: z.array(z.string()) });

export const storedJobRunSchema = z.object({
  startedAt: z.string(),
  finishedAt: z.string(),
  reason: runReasonSchema,
  outcome: jobOutcomeSchema,
  summary: z.string(),
  /** Set when the job could not run to the end (it threw): such a run is retried. */
  error: errorDataSchema.optional(),
});

export const jobStateSchema = z.object({
  /** When the scheduler first ran with this job enabled: slots before it are not "missed". */
  since: z.string(),
  /** Start of the newest run that was not abandoned: every slot up to here is done. */
  coveredAt: z.string().optional(),
  /** Start of the newest run that succeeded (fully or partly): a full backup's restore test follows it. */
  succeededAt: z.string().optional(),
  lastRun: storedJobRunSchema.optional(),
  /** Present while the job runs; found at load, it means the previous scheduler died mid-run. */
  running: z.object({ startedAt: z.string(), reason: runReasonSchema }).optional(),
});
export type JobState = z.infer<typeof jobStateSchema>;

export const schedulerStateSchema = z.object({
  format: z.literal(1),
  cluster: z.string(),
  jobs: z.partialRecord(scheduledJobSchema, jobStateSchema),
});
export type SchedulerState = z.infer<typeof schedulerStateSchema>;
