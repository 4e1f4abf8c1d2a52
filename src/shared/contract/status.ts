import { z } from 'zod';
import { schedulerOverviewSchema } from './schedule.js';

/**
 * `drc status` and the dashboard's health view: are the recovery objectives met now, is
 * every recovery point kept 3-2-1, and what needs the DBA's attention. Times are ISO 8601
 * UTC; durations in seconds; sizes in bytes.
 */
export const mediaKindSchema = z.enum(['cloud', 'removable', 'fixed']);
export type MediaKind = z.infer<typeof mediaKindSchema>;

export const alertSeveritySchema = z.enum(['critical', 'warning', 'info']);
export type AlertSeverity = z.infer<typeof alertSeveritySchema>;

export const alertSchema = z.object({
  severity: alertSeveritySchema,
  /** Stable identifier of the rule, e.g. RPO_BREACHED, for filters and monitoring. */
  code: z.string(),
  message: z.string(),
  /** What to do next, in the DBA's words. */
  hint: z.string(),
  repository: z.string().optional(),
});
export type Alert = z.infer<typeof alertSchema>;

export const repositoryRpoSchema = z.object({
  repository: z.string(),
  /** The newest moment a restore from this repository alone reaches. */
  recoverableTo: z.string().optional(),
  /** now − recoverableTo (0 when the repository holds every WAL byte the server has written). */
  seconds: z.number().optional(),
  /** The repository holds all WAL up to the server's current flush position. */
  caughtUp: z.boolean(),
  met: z.boolean(),
});
export type RepositoryRpo = z.infer<typeof repositoryRpoSchema>;

export const objectivesSchema = z.object({
  rpo: z.object({
    goalSeconds: z.number(),
    /** The best repository's RPO: what a restore from the freshest copy would lose. */
    seconds: z.number().optional(),
    met: z.boolean(),
    repositories: z.array(repositoryRpoSchema),
  }),
  rto: z.object({
    goalSeconds: z.number(),
    estimateSeconds: z.number().optional(),
    met: z.boolean(),
    /** The restore test the estimate is scaled from (the slowest of the recent ones, after scaling). */
    basedOn: z
      .object({ testedAt: z.string(), backupId: z.string().optional(), durationSeconds: z.number(), testedBytes: z.number().optional(), currentBytes: z.number().optional() })
      .optional(),
  }),
});
export type Objectives = z.infer<typeof objectivesSchema>;

export const compliance321Schema = z.object({
  /** Copies counting production. */
  copies: z.number().int(),
  mediaKinds: z.array(mediaKindSchema),
  offsite: z.boolean(),
  compliant: z.boolean(),
  /** What is short of 3-2-1, in words. */
  shortfalls: z.array(z.string()),
});
export type Compliance321 = z.infer<typeof compliance321Schema>;

export const restoreTestSummarySchema = z.object({ time: z.string(), outcome: z.enum(['success', 'failure', 'partial']), summary: z.string() });

export const recoveryPointSchema = z.object({
  backupId: z.string(),
  type: z.string(),
  stoppedAt: z.string(),
  bytes: z.number(),
  /** Repositories seen holding it now. */
  repositories: z.array(z.string()),
  /** Repositories that received it when it was made but cannot be reached now (a stick in a drawer). */
  lastKnownRepositories: z.array(z.string()),
  compliance: compliance321Schema,
  lastRestoreTest: restoreTestSummarySchema.optional(),
});
export type RecoveryPoint = z.infer<typeof recoveryPointSchema>;

export const repositoryHealthSchema = z.object({
  repository: z.string(),
  media: mediaKindSchema,
  offsite: z.boolean(),
  state: z.enum(['ok', 'unreachable', 'uninitialized']),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  bytesUsed: z.number().optional(),
  backups: z.number().int(),
  walGaps: z.number().int(),
  /** The label on a removable medium, when it is plugged in. */
  medium: z.object({ id: z.string(), name: z.string(), firstUsed: z.string() }).optional(),
  lastSeen: z.string().optional(),
  lastVerified: z.string().optional(),
});
export type RepositoryHealth = z.infer<typeof repositoryHealthSchema>;

export const clusterHealthSchema = z.object({
  name: z.string(),
  reachable: z.boolean(),
  error: z.string().optional(),
  /** The DrcError code of `error` (PG_AUTH_FAILED, PG_CONNECT_FAILED…): a refused login is a configuration error, not a finding. */
  errorCode: z.string().optional(),
  hints: z.array(z.string()).optional(),
  databaseBytes: z.number().optional(),
  flushLsn: z.string().optional(),
  slot: z
    .object({
      name: z.string(),
      active: z.boolean(),
      retainedBytes: z.number(),
      /** pg_replication_slots.wal_status: reserved, extended, unreserved or lost. */
      walStatus: z.string().optional(),
    })
    .optional(),
});
export type ClusterHealth = z.infer<typeof clusterHealthSchema>;

export const healthReportSchema = z.object({
  generatedAt: z.string(),
  cluster: clusterHealthSchema.optional(),
  objectives: objectivesSchema,
  compliance: z.object({ configuration: compliance321Schema, recoveryPoints: z.array(recoveryPointSchema) }),
  repositories: z.array(repositoryHealthSchema),
  backups: z.object({
    windowDays: z.number().int(),
    succeeded: z.number().int(),
    partial: z.number().int(),
    failed: z.number().int(),
    /** Fully successful backups / all backups in the window; absent when there were none. */
    successRate: z.number().optional(),
  }),
  schedule: schedulerOverviewSchema,
  alerts: z.array(alertSchema),
});
export type HealthReport = z.infer<typeof healthReportSchema>;
