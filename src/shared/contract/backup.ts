import { z } from 'zod';

export const backupTypeSchema = z.enum(['full', 'incremental', 'archive', 'manual']);
export type BackupType = z.infer<typeof backupTypeSchema>;

/**
 * The backup vocabulary and the engine's progress. What is stored about a backup (its
 * record in the manifest) is a repository format: src/main/repo/backup-record.ts.
 */
export const backupProgressSchema = z.object({
  phase: z.enum(['connect', 'stream', 'commit', 'done']),
  bytesDone: z.number(),
  /** The server's estimate of the data directory's size; 0 while unknown. */
  bytesTotal: z.number(),
  bytesPerSecond: z.number(),
  etaSeconds: z.number().optional(),
});
export type BackupProgress = z.infer<typeof backupProgressSchema>;

export const backupRequestSchema = z.object({
  type: backupTypeSchema.default('full'),
  reason: z.string().default(''),
  operator: z.string().optional(),
});
