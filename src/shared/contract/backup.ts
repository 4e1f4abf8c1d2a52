import { z } from 'zod';

export const backupTypeSchema = z.enum(['full', 'incremental', 'archive', 'manual']);
export type BackupType = z.infer<typeof backupTypeSchema>;

const errorDataSchema = z.object({ code: z.string(), message: z.string(), hints: z.array(z.string()) });

/**
 * What is recorded about every backup, in its manifest and its event record. LSNs are
 * text as PostgreSQL prints them (`16/B374D848`); times are ISO 8601 UTC.
 */
export const backupRecordSchema = z.object({
  id: z.string(),
  type: backupTypeSchema,
  reason: z.string(),
  operator: z.string(),
  host: z.string(),
  cluster: z.string(),
  startedAt: z.string(),
  stoppedAt: z.string(),
  startLsn: z.string(),
  stopLsn: z.string(),
  timeline: z.number().int(),
  serverVersion: z.string(),
  serverVersionNum: z.number().int(),
  systemId: z.string(),
  walSegmentSize: z.number().int(),
  /** Next transaction id after the backup: a backup can reach an --xid target above it. */
  nextXid: z.string().optional(),
  /** Bytes streamed from the server, bytes of chunks some repository lacked, sealed bytes written. */
  bytesRead: z.number(),
  bytesNew: z.number(),
  bytesStored: z.number(),
  durationMs: z.number(),
  files: z.number().int(),
  /** The backup whose manifest the server compared against (PostgreSQL 17+ native incremental). */
  incrementalFrom: z.string().optional(),
  nativeIncremental: z.boolean(),
  tablespaces: z.array(z.object({ oid: z.number().int(), location: z.string() })),
  /** Repositories that received a complete copy when the backup committed. */
  repositories: z.array(z.string()),
  missingCopies: z.array(z.object({ repository: z.string(), error: errorDataSchema })),
});
export type BackupRecord = z.infer<typeof backupRecordSchema>;

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
