import { z } from 'zod';
import { backupKindSchema } from './backups.js';
import { recoveryTargetSchema } from './restore.js';
import { mediaKindSchema } from './status.js';

/**
 * The recovery timeline and the point-in-time restore wizard. Times are ISO 8601 UTC;
 * the view shows them beside local time.
 */
export const timelineRequestSchema = z.object({ days: z.number().int().min(1).max(400).default(30) });

export const recoverableWindowSchema = z.object({ from: z.string(), to: z.string(), timeline: z.number().int() });

/** A stretch with no WAL: nothing inside it can be restored to, from this repository. */
export const walGapSchema = z.object({
  from: z.string(),
  to: z.string(),
  timeline: z.number().int(),
  firstMissing: z.string(),
  missingSegments: z.number().int(),
});
export type WalGap = z.infer<typeof walGapSchema>;

export const timelineRepositorySchema = z.object({
  repository: z.string(),
  media: mediaKindSchema,
  offsite: z.boolean(),
  reachable: z.boolean(),
  error: z.string().optional(),
  windows: z.array(recoverableWindowSchema),
  gaps: z.array(walGapSchema),
});
export type TimelineRepository = z.infer<typeof timelineRepositorySchema>;

export const markerKindSchema = z.enum(['backup', 'restore-point', 'restore-test', 'dr-event']);
export type MarkerKind = z.infer<typeof markerKindSchema>;

export const timelineMarkerSchema = z.object({
  id: z.string(),
  kind: markerKindSchema,
  time: z.string(),
  /** In words, for the grid and the screen reader: "full backup — before deploy". */
  label: z.string(),
  backupType: backupKindSchema.optional(),
  backupId: z.string().optional(),
  outcome: z.enum(['success', 'failure', 'partial']).optional(),
  lsn: z.string().optional(),
  /** Restore points: the name to type as a target. */
  name: z.string().optional(),
  repositories: z.array(z.string()),
});
export type TimelineMarker = z.infer<typeof timelineMarkerSchema>;

/** What the page needs to say, for any point, which backup it starts from and which copies serve it — without a round trip per key press. */
export const timelineBackupSchema = z.object({
  id: z.string(),
  type: backupKindSchema,
  stoppedAt: z.string(),
  stopLsn: z.string(),
  timeline: z.number().int(),
  bytes: z.number(),
  repositories: z.array(z.string()),
});
export type TimelineBackup = z.infer<typeof timelineBackupSchema>;

export const timelineSchema = z.object({
  generatedAt: z.string(),
  /** The span shown (now − days … now). */
  from: z.string(),
  to: z.string(),
  /** Earliest and latest recoverable moments over all repositories; absent with no backup. */
  earliest: z.string().optional(),
  latest: z.string().optional(),
  repositories: z.array(timelineRepositorySchema),
  backups: z.array(timelineBackupSchema),
  markers: z.array(timelineMarkerSchema),
  /** Measured by restore tests: bytes restored per second, for the estimate. */
  restoreBytesPerSecond: z.number().optional(),
  /** WAL bytes per second of elapsed time, averaged over the window, for the replay estimate. */
  walBytesPerSecond: z.number().optional(),
});
export type Timeline = z.infer<typeof timelineSchema>;

export const restoreRequestSchema = z.object({
  target: recoveryTargetSchema,
  targetDir: z.string().min(1),
  from: z.string().optional(),
  backupId: z.string().optional(),
  /** Stop at the target and wait (pg_wal_replay_resume) instead of promoting. */
  pause: z.boolean().default(false),
});
export type RestoreRequest = z.input<typeof restoreRequestSchema>;

export const partialRestoreRequestSchema = z.object({
  target: recoveryTargetSchema,
  /** schema.table, each. */
  tables: z.array(z.string().min(1)).min(1),
  /** The live database to copy into, as a conninfo or URI; default: the configured cluster. */
  into: z.string().optional(),
  schema: z.string().optional(),
  database: z.string().optional(),
  from: z.string().optional(),
  backupId: z.string().optional(),
});
export type PartialRestoreRequest = z.input<typeof partialRestoreRequestSchema>;

export const planRequestSchema = z.discriminatedUnion('mode', [
  restoreRequestSchema.extend({ mode: z.literal('cluster') }),
  partialRestoreRequestSchema.extend({ mode: z.literal('tables') }),
]);
export type PlanRequest = z.input<typeof planRequestSchema>;

export const planCheckSchema = z.object({ name: z.string(), ok: z.boolean(), message: z.string(), hint: z.string().optional() });

export const restorePlanSchema = z.object({
  target: recoveryTargetSchema,
  backupId: z.string(),
  backupType: backupKindSchema,
  backupStoppedAt: z.string(),
  timeline: z.number().int(),
  walFrom: z.string().optional(),
  walTo: z.string().optional(),
  walSegments: z.number().int(),
  walBytes: z.number(),
  repositories: z.array(
    z.object({
      repository: z.string(),
      media: mediaKindSchema,
      canServe: z.boolean(),
      /** Why not, in words; absent when it can. */
      reason: z.string().optional(),
      bytes: z.number(),
    }),
  ),
  estimatedSeconds: z.number().optional(),
  estimateBasis: z.string(),
  checks: z.array(planCheckSchema),
  /** Every check passed and some repository can serve it. */
  ready: z.boolean(),
});
export type RestorePlan = z.infer<typeof restorePlanSchema>;

/** Destructive: the person types the target's name (the directory, or the database) to confirm. */
export const confirmedRestoreSchema = restoreRequestSchema.extend({ confirm: z.string() });
export const confirmedPartialRestoreSchema = partialRestoreRequestSchema.extend({ confirm: z.string() });
