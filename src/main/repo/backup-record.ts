import { z } from 'zod';
import { backupTypeSchema } from '../../shared/contract/backup.js';

/**
 * What is recorded about every backup, in its manifest (the `backup` section) and its
 * event record: a repository format, kept beside the manifest it lives in and apart from
 * the view contract, so the Backups view can change without changing what is on disk.
 * LSNs are text as PostgreSQL prints them (`16/B374D848`); times are ISO 8601 UTC.
 */
const errorDataSchema = z.object({ code: z.string(), message: z.string(), hints: z.array(z.string()) });

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
  /** What the backup holds besides the data directory; absent in backups taken before components existed (database only). */
  components: z.array(z.enum(['database', 'configurations', 'files'])).optional(),
  /** Repositories that received a complete copy when the backup committed. */
  repositories: z.array(z.string()),
  missingCopies: z.array(z.object({ repository: z.string(), error: errorDataSchema })),
  /** What the backup left out of the data directory and a restore will lack (a link other than pg_wal's or a tablespace's). */
  warnings: z.array(z.string()).optional(),
});
export type BackupRecord = z.infer<typeof backupRecordSchema>;
