import { z } from 'zod';
import { compliance321Schema, restoreTestSummarySchema } from './status.js';

/**
 * The Backups view: what was taken, why, by whom, and where the copies are. These are
 * view shapes, derived from the stored backup records in `src/main`; changing one never
 * changes what is on disk.
 */
export const backupKindSchema = z.enum(['full', 'incremental', 'archive', 'manual']);
export type BackupKind = z.infer<typeof backupKindSchema>;

/** The seed's components: the data directory always; configuration files and listed directories on request. */
export const backupComponentSchema = z.enum(['database', 'configurations', 'files']);
export type BackupComponent = z.infer<typeof backupComponentSchema>;

/** `high`: an immediate checkpoint (starts at once, I/O burst); `normal`: a spread checkpoint. */
export const backupPrioritySchema = z.enum(['normal', 'high']);
export type BackupPriority = z.infer<typeof backupPrioritySchema>;

export const backupCopySchema = z.object({
  repository: z.string(),
  /** present: seen there now; unreachable: recorded there but the repository cannot be read now; missing: never completed there. */
  state: z.enum(['present', 'unreachable', 'missing']),
});

export const backupSummarySchema = z.object({
  id: z.string(),
  type: backupKindSchema,
  reason: z.string(),
  operator: z.string(),
  host: z.string(),
  cluster: z.string(),
  startedAt: z.string(),
  stoppedAt: z.string(),
  durationMs: z.number(),
  startLsn: z.string(),
  stopLsn: z.string(),
  timeline: z.number().int(),
  serverVersion: z.string(),
  bytesRead: z.number(),
  bytesStored: z.number(),
  files: z.number().int(),
  components: z.array(backupComponentSchema),
  copies: z.array(backupCopySchema),
  compliance: compliance321Schema,
  lastRestoreTest: restoreTestSummarySchema.optional(),
});
export type BackupSummary = z.infer<typeof backupSummarySchema>;

export const backupDetailSchema = backupSummarySchema.extend({
  incrementalFrom: z.string().optional(),
  nativeIncremental: z.boolean(),
  walSegmentSize: z.number().int(),
  tablespaces: z.array(z.object({ oid: z.number().int(), location: z.string() })),
  /** Files kept beside the data directory: configuration files outside it, and the directories listed under `files`. */
  attachments: z.array(z.object({ component: backupComponentSchema, path: z.string(), bytes: z.number() })),
  restoreTests: z.array(restoreTestSummarySchema.extend({ id: z.string(), durationMs: z.number(), rowsVerified: z.number() })),
});
export type BackupDetail = z.infer<typeof backupDetailSchema>;

export const backupListSchema = z.object({
  backups: z.array(backupSummarySchema),
  unreachable: z.array(z.object({ repository: z.string(), message: z.string() })),
});
export type BackupList = z.infer<typeof backupListSchema>;

export const backupStartRequestSchema = z.object({
  type: z.enum(['full', 'incremental', 'manual']).default('full'),
  /** Why: shown in the history and on the timeline. Required for a manual backup. */
  reason: z.string().trim().min(1, 'say why this backup is taken').max(500),
  components: z.array(backupComponentSchema).default(['database']),
  priority: backupPrioritySchema.default('normal'),
  /** ISO 8601 with an offset: a one-off scheduled run. Absent: now. */
  at: z.string().optional(),
});
export type BackupStartRequest = z.input<typeof backupStartRequestSchema>;

export const backupStartedSchema = z.object({
  operationId: z.string(),
  backupId: z.string(),
  /** From earlier backups' rates; absent before the first backup. */
  estimatedDurationSeconds: z.number().optional(),
  scheduledFor: z.string().optional(),
  components: z.array(backupComponentSchema),
});
export type BackupStarted = z.infer<typeof backupStartedSchema>;
