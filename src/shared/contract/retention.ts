import { z } from 'zod';
import { retentionConfigSchema } from '../config.js';
import { backupTypeSchema } from './backup.js';

/** `drc expire` and the scheduler's expire job: what to expire, and what was (or would be) removed. */
export const expireRequestSchema = z.object({
  /** Only plan: nothing is locked, deleted or recorded. */
  dryRun: z.boolean().default(false),
  /** Expire this repository only (each repository is expired on its own anyway). */
  repository: z.string().optional(),
});
export type ExpireRequest = z.infer<typeof expireRequestSchema>;

/** One backup and why it is kept or removed ("full older than 30 days", "newest backup"…). */
export const backupDecisionSchema = z.object({
  id: z.string(),
  type: backupTypeSchema,
  stoppedAt: z.string(),
  reason: z.string(),
});
export type BackupDecision = z.infer<typeof backupDecisionSchema>;

/** WAL removed from one timeline: `segments` distinct segments (with their summaries and partials), `first` to `last`. */
export const walRangeSchema = z.object({
  timeline: z.number().int(),
  first: z.string(),
  last: z.string(),
  segments: z.number().int(),
});
export type WalRange = z.infer<typeof walRangeSchema>;

export const repositoryExpirySchema = z.object({
  repository: z.string(),
  /** planned: a dry run; expired: done; skipped: another operation holds its locks; failed: see error. */
  status: z.enum(['planned', 'expired', 'skipped', 'failed']),
  kept: z.array(backupDecisionSchema),
  removed: z.array(backupDecisionSchema),
  wal: z.object({
    /** Per timeline still holding WAL, the first segment kept (the oldest kept backup needs it). */
    keptFrom: z.array(z.object({ timeline: z.number().int(), segment: z.string() })),
    removed: z.array(walRangeSchema),
    /** Timeline history files removed (timelines older than every kept backup's). */
    removedHistories: z.array(z.string()),
    objects: z.number().int(),
    bytes: z.number(),
  }),
  chunks: z.object({
    removed: z.number().int(),
    bytes: z.number(),
    /** Referenced by no manifest but written within the grace period (a running backup's, say): kept for now. */
    inGracePeriod: z.number().int(),
    referenced: z.number().int(),
  }),
  /** Everything removed (or, in a dry run, that would be), in stored bytes. */
  bytesRemoved: z.number(),
  /** Holders of this repository's backup or write lock when it was looked at. */
  heldBy: z.array(z.string()),
  /** Readers (restore, restore test, sync) holding a lease when it ran: what they read was kept, and goes at a later run. */
  leases: z.array(z.string()).optional(),
  error: z.object({ code: z.string(), message: z.string(), hints: z.array(z.string()) }).optional(),
});
export type RepositoryExpiry = z.infer<typeof repositoryExpirySchema>;

export const expireReportSchema = z.object({
  dryRun: z.boolean(),
  /** The clock the policy was applied with. */
  now: z.string(),
  policy: retentionConfigSchema,
  /** True when every repository was expired (or planned) without being skipped or failing. */
  ok: z.boolean(),
  repositories: z.array(repositoryExpirySchema),
  unreachable: z.array(z.object({ repository: z.string(), message: z.string() })),
  /** Damaged copies passed over for a good one in another repository while planning: the plan holds, the copy needs repair. */
  warnings: z.array(z.string()),
});
export type ExpireReport = z.infer<typeof expireReportSchema>;
