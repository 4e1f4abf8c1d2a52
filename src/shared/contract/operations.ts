import { z } from 'zod';
import { backupSummarySchema } from './backups.js';
import { restoreReportSchema } from './restore.js';
import { partialRestoreReportSchema, restoreTestRecordSchema } from './restore-test.js';
import { syncReportSchema, verifyReportSchema } from './repository.js';

/**
 * Long work — a backup, a restore, a restore test, verify or sync — runs as an
 * operation: starting one returns its id at once, its progress arrives on
 * `operations.changed`, it can be cancelled, and its result stays until the person
 * dismisses it (a progress display that vanishes on its own hides failures).
 */
export const errorDataSchema = z.object({ code: z.string(), message: z.string(), hints: z.array(z.string()), retryable: z.boolean().optional() });

export const operationKindSchema = z.enum(['backup', 'restore', 'partial-restore', 'restore-test', 'verify', 'sync']);
export type OperationKind = z.infer<typeof operationKindSchema>;

/** `scheduled`: a one-off run waiting for its time (a manual backup "at 02:00"). */
export const operationStateSchema = z.enum(['scheduled', 'running', 'succeeded', 'failed', 'cancelled']);
export type OperationState = z.infer<typeof operationStateSchema>;

export const operationResultSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('backup'), backup: backupSummarySchema }),
  /** `startCommand`: the exact command that starts the restored server (it recovers to the target, then promotes or pauses). */
  z.object({ kind: z.literal('restore'), restore: restoreReportSchema, startCommand: z.string(), dataLossMinutes: z.number().optional() }),
  z.object({ kind: z.literal('partial-restore'), partialRestore: partialRestoreReportSchema }),
  z.object({ kind: z.literal('restore-test'), restoreTest: restoreTestRecordSchema }),
  z.object({ kind: z.literal('verify'), verify: verifyReportSchema }),
  z.object({ kind: z.literal('sync'), sync: syncReportSchema }),
]);
export type OperationResult = z.infer<typeof operationResultSchema>;

export const operationSchema = z.object({
  id: z.string(),
  kind: operationKindSchema,
  /** What it is, in words: "Full backup — before deploy 4.2". */
  title: z.string(),
  state: operationStateSchema,
  /** The engine's phase, in words ("fetching files", "replaying WAL"). */
  phase: z.string(),
  createdAt: z.string(),
  scheduledFor: z.string().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  bytesDone: z.number().optional(),
  /** Never below bytesDone. */
  bytesTotal: z.number().optional(),
  bytesPerSecond: z.number().optional(),
  etaSeconds: z.number().optional(),
  /** One sentence for a live region: what is happening now, or how it ended. */
  message: z.string(),
  /** Copies that failed and the repository used instead, as they happen. */
  fallbacks: z.array(z.string()),
  cancellable: z.boolean(),
  /** What cancelling leaves behind, said before the person cancels. */
  cancelEffect: z.string(),
  /** The backup this operation made or reads, once known. */
  backupId: z.string().optional(),
  error: errorDataSchema.optional(),
  result: operationResultSchema.optional(),
});
export type Operation = z.infer<typeof operationSchema>;

export const operationStartedSchema = z.object({ operationId: z.string() });
export type OperationStarted = z.infer<typeof operationStartedSchema>;

export const operationSelectionSchema = z.object({ operationId: z.string().min(1) });
