import { z } from 'zod';
import { restorePointNameProblem } from '../restore-point-name.js';

/** Where recovery stops. `latest` replays everything the repositories hold. */
export const recoveryTargetSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('time'), time: z.string() }),
  z.object({ kind: z.literal('lsn'), lsn: z.string() }),
  z.object({ kind: z.literal('name'), name: z.string().superRefine((name, context) => {
    const problem = restorePointNameProblem(name);
    if (problem !== undefined) context.addIssue({ code: z.ZodIssueCode.custom, message: problem });
  }) }),
  z.object({ kind: z.literal('xid'), xid: z.string().regex(/^\d+$/) }),
  z.object({ kind: z.literal('immediate') }),
  z.object({ kind: z.literal('latest') }),
]);
export type RecoveryTarget = z.infer<typeof recoveryTargetSchema>;

export const restoreReportSchema = z.object({
  targetDir: z.string(),
  target: recoveryTargetSchema,
  backupId: z.string(),
  backupStopLsn: z.string(),
  backupStoppedAt: z.string(),
  /** The repository most objects came from, and every fallback to another one. */
  from: z.string(),
  fallbacks: z.array(z.object({ object: z.string(), failed: z.string(), usedInstead: z.string(), reason: z.string() })),
  files: z.number().int(),
  bytesWritten: z.number(),
  walSegments: z.number().int(),
  walFirst: z.string().optional(),
  walLast: z.string().optional(),
  /** WAL of the last segment came from the partial upload (the newest seconds of WAL). */
  usedPartialSegment: z.boolean(),
  targetTimeline: z.number().int(),
  /** The newest commit the restored WAL contains: for --latest, the data-loss window ends here. */
  newestCommitTime: z.string().optional(),
  warnings: z.array(z.string()),
  durationMs: z.number(),
  pause: z.boolean(),
  /** Where the backup's configuration files and listed directories were put, beside the data directory; absent when it had none. */
  attachmentsDir: z.string().optional(),
  /** How the data files were written — past the page cache or through it — and the measurement that chose it. */
  writes: z.object({ mode: z.enum(['direct', 'page cache']), reason: z.string() }).optional(),
});
export type RestoreReport = z.infer<typeof restoreReportSchema>;
