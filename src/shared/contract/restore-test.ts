import { z } from 'zod';
import { recoveryTargetSchema } from './restore.js';

const errorDataSchema = z.object({ code: z.string(), message: z.string(), hints: z.array(z.string()) });

/** The server binaries a scratch instance ran with, and why they were chosen. */
export const scratchBinariesSchema = z.object({
  bindir: z.string(),
  version: z.string(),
  source: z.string(),
});
export type ScratchBinaries = z.infer<typeof scratchBinariesSchema>;

/** A scratch instance a killed `drc` left behind, found and removed by a later run. */
export const scratchLeftoverSchema = z.object({
  id: z.string(),
  /** What it was started for: restore-test or partial-restore. */
  purpose: z.string(),
  directory: z.string(),
  /** The postmaster still ran and was stopped. */
  stoppedServer: z.boolean(),
  /** Owner process (a `drc` that no longer runs) and when it started the instance. */
  ownerPid: z.number().int(),
  createdAt: z.string(),
});
export type ScratchLeftover = z.infer<typeof scratchLeftoverSchema>;

export const scratchSummarySchema = z.object({
  id: z.string(),
  directory: z.string(),
  port: z.number().int().optional(),
  postmasterPid: z.number().int().optional(),
  /** Stopped and deleted (false only if cleanup itself failed; see warnings). */
  removed: z.boolean(),
});

/** The checks of a restore test, in the order they run. */
export const restoreTestCheckNameSchema = z.enum(['restore', 'chunks', 'manifest-checksums', 'start', 'recovery', 'amcheck', 'read-tables']);
export type RestoreTestCheckName = z.infer<typeof restoreTestCheckNameSchema>;

export const restoreTestCheckSchema = z.object({
  name: restoreTestCheckNameSchema,
  status: z.enum(['passed', 'failed', 'warning', 'skipped']),
  detail: z.string(),
  durationMs: z.number(),
});
export type RestoreTestCheck = z.infer<typeof restoreTestCheckSchema>;

/** One table of the restored cluster, read to the end. */
export const verifiedTableSchema = z.object({
  database: z.string(),
  schema: z.string(),
  name: z.string(),
  kind: z.enum(['table', 'materialized view']),
  rows: z.number(),
  /** B-tree indexes of the table checked with bt_index_check (heapallindexed). */
  indexesChecked: z.number().int(),
});
export type VerifiedTable = z.infer<typeof verifiedTableSchema>;

export const restoreTestProblemSchema = z.object({ check: restoreTestCheckNameSchema, message: z.string() });
export type RestoreTestProblem = z.infer<typeof restoreTestProblemSchema>;

/**
 * The record of one restore test — stored as a `restore-test` event in every repository.
 * Field names follow the backup_tests table of the WS-191 spec where one exists
 * (success, errors_found, data_samples_verified → rowsVerified, restore_duration,
 * data_loss_detected).
 */
export const restoreTestRecordSchema = z.object({
  id: z.string(),
  backupId: z.string(),
  backupStoppedAt: z.string(),
  target: recoveryTargetSchema,
  /** Restored from this repository only (`--from`), or from all with fallback. */
  from: z.string().optional(),
  startedAt: z.string(),
  completedAt: z.string(),
  success: z.boolean(),
  /** Stopped (SIGINT/SIGTERM, or cancelled in the console) before any check failed: neither passed nor failed. */
  cancelled: z.boolean().optional(),
  /** What failed, one entry per problem; empty when the test passed. */
  errorsFound: z.array(restoreTestProblemSchema),
  /** Damaged copies the restore worked around, scratch cleanup trouble, unrecorded repositories. */
  warnings: z.array(z.string()),
  /** Set when the test failed: the reason, as an error a DBA can act on. */
  failure: errorDataSchema.optional(),
  checks: z.array(restoreTestCheckSchema),
  rowsVerified: z.number(),
  tables: z.array(verifiedTableSchema),
  /** Relations (catalogs included) whose heap verify_heapam read, and B-tree indexes checked. */
  heapsChecked: z.number().int(),
  indexesChecked: z.number().int(),
  databases: z.array(z.string()),
  restoreDurationMs: z.number(),
  recoveryDurationMs: z.number(),
  durationMs: z.number(),
  /** Recovery did not replay all the WAL it was given, or the WAL archive has a gap on the way to the target. */
  dataLossDetected: z.boolean(),
  recoveredTo: z.object({ lsn: z.string().optional(), lastCommitTime: z.string().optional() }).optional(),
  binaries: scratchBinariesSchema,
  scratch: scratchSummarySchema,
  leftoversRemoved: z.array(scratchLeftoverSchema),
  /** Repositories the record was written to. */
  recordedIn: z.array(z.string()),
});
export type RestoreTestRecord = z.infer<typeof restoreTestRecordSchema>;

export const restoreTestRequestSchema = z.object({
  backupId: z.string().optional(),
  /** ISO 8601; without it, recovery replays everything the repositories hold after the backup. */
  time: z.string().optional(),
  from: z.string().optional(),
});

/** A table brought back by a partial restore. */
export const restoredTableSchema = z.object({
  source: z.string(),
  target: z.string(),
  rows: z.number(),
  columns: z.number().int(),
  primaryKey: z.array(z.string()),
  /** Column defaults left out (they use a sequence of the restored copy, which does not exist in the live database). */
  droppedDefaults: z.array(z.string()),
});
export type RestoredTable = z.infer<typeof restoredTableSchema>;

export const partialRestoreReportSchema = z.object({
  backupId: z.string(),
  target: recoveryTargetSchema,
  /** The database of the backup the tables came from, and where they went. */
  database: z.string(),
  into: z.string(),
  schema: z.string(),
  createdSchema: z.boolean(),
  tables: z.array(restoredTableSchema),
  restoreDurationMs: z.number(),
  recoveryDurationMs: z.number(),
  copyDurationMs: z.number(),
  durationMs: z.number(),
  binaries: scratchBinariesSchema,
  scratch: scratchSummarySchema,
  leftoversRemoved: z.array(scratchLeftoverSchema),
  warnings: z.array(z.string()),
});
export type PartialRestoreReport = z.infer<typeof partialRestoreReportSchema>;
