import type { RecoveryTarget, RestoreReport } from '../../../shared/contract/restore.js';
import type { RestoreTestRecord } from '../../../shared/contract/restore-test.js';
import { DrcError } from '../../../shared/errors.js';
import { recordInEvery } from '../../repo/repository.js';
import { removeLeftoverScratchInstances, ScratchInstance } from '../../postgres/scratch-instance.js';
import { newEvent } from '../../repo/events.js';
import type { RepositorySet } from '../../repo/repository-set.js';
import { describeTarget } from '../restore/select.js';
import { checkServerManifest } from './manifest-checksums.js';
import { inspectRecovery, type RecoveryOutcome } from './recovery.js';
import { checkRelations, type RelationChecks } from './relations.js';
import { loadServerManifest, restoreIntoScratch, withLeasedScratchRestore, type ScratchRecoveryOptions, type ScratchRestorePlan } from './scratch-restore.js';
import { TestLog } from './test-log.js';

export type RestoreTestPhase = 'cleanup' | 'select' | 'restore' | 'checksums' | 'start' | 'recover' | 'amcheck' | 'record';

export interface RestoreTestOptions extends ScratchRecoveryOptions {
  /** `latest` (everything the repositories hold after the backup) or a time. */
  readonly target: RecoveryTarget;
  /** Bytes are given while the backup is restored into the scratch directory. */
  readonly onProgress?: (progress: { phase: RestoreTestPhase; detail: string; bytesDone?: number; bytesTotal?: number }) => void;
}

/**
 * restore test: proves a recovery point by restoring it and reading everything back.
 *
 *  1. cleanup   — scratch instances a killed drc left behind are stopped and removed.
 *  2. select    — the backup, and server binaries of its major version, before any fetch.
 *  3. restore   — the ordinary restore into a scratch directory; every chunk and WAL
 *                 segment is authenticated on the way (a damaged copy is reported).
 *  4. checksums — the restored files against the server's own backup_manifest.
 *  5. start     — a private server on the copy: own socket, trust only for this user.
 *  6. recover   — until the target is reached and the server promotes; WAL left
 *                 unreplayed is data loss and fails the test.
 *  7. amcheck   — heaps and B-tree indexes of every database; every table read to the
 *                 end and its rows counted.
 *  8. remove    — the server stopped and the directory deleted, whatever happened above.
 *  9. record    — a `restore-test` event in every repository, passed or failed.
 *
 * A failed check never throws: it is in the record (`success: false`, `failure`), and the
 * caller decides what a failure means (the CLI exits 1). Only a test that cannot begin
 * (no such backup, no binaries) throws.
 */
export async function runRestoreTest(set: RepositorySet, options: RestoreTestOptions): Promise<RestoreTestRecord> {
  const startedAt = new Date();
  const progress = options.onProgress ?? (() => undefined);
  progress({ phase: 'cleanup', detail: 'looking for scratch instances left behind' });
  const leftovers = await removeLeftoverScratchInstances(options.scratch?.stateDir);

  progress({ phase: 'select', detail: 'choosing the backup and server binaries' });
  // A hole in the WAL is what a restore test is there to find: it is recorded as data loss, not refused.
  return withLeasedScratchRestore(set, { ...options, onGap: 'record' }, 'restore test', async (plan) => {
    const scratch = await ScratchInstance.create('restore-test', options.scratch);
    const log = new TestLog();
    let outcome: Outcome = { restoreDurationMs: 0, recoveryDurationMs: 0 };
    try {
      outcome = await runChecks(plan, scratch, log, options, progress);
    } finally {
      progress({ phase: 'cleanup', detail: `removing scratch instance ${scratch.id}` });
      outcome.removed = await scratch.remove().then(
        () => true,
        (error: unknown) => {
          log.warnings.push(`scratch instance ${scratch.id} could not be removed (${(error as Error).message}); the next restore test removes it`);
          return false;
        },
      );
    }

    // Stopped by SIGINT/SIGTERM before any check found a problem: it proved nothing either way.
    const cancelled = options.signal?.aborted === true && !log.failed;
    const relations = outcome.relations;
    const record: RestoreTestRecord = {
      // The id of the event that records it, given when it is recorded.
      id: '',
      backupId: plan.backup.record.id,
      backupStoppedAt: plan.backup.record.stoppedAt,
      target: options.target,
      ...(options.from === undefined ? {} : { from: options.from }),
      startedAt: startedAt.toISOString(),
      completedAt: new Date().toISOString(),
      success: !log.failed && options.signal?.aborted !== true,
      errorsFound: log.problems,
      warnings: [...log.warnings, ...(relations?.warnings ?? [])],
      failure: log.failure(`backup '${plan.backup.record.id}' at ${describeTarget(options.target)}`),
      ...(cancelled ? { cancelled } : {}),
      checks: log.finish(options.signal?.aborted === true),
      rowsVerified: relations?.rowsVerified ?? 0,
      tables: relations?.tables ?? [],
      heapsChecked: relations?.heapsChecked ?? 0,
      indexesChecked: relations?.indexesChecked ?? 0,
      databases: relations?.databases ?? [],
      restoreDurationMs: outcome.restoreDurationMs,
      recoveryDurationMs: outcome.recoveryDurationMs,
      durationMs: Date.now() - startedAt.getTime(),
      dataLossDetected: outcome.dataLoss === true,
      recoveredTo: outcome.recovery ? { lsn: outcome.recovery.lsn, lastCommitTime: outcome.recovery.lastCommitTime } : undefined,
      binaries: { bindir: plan.binaries.bindir, version: plan.binaries.version, source: plan.binaries.source },
      scratch: { id: scratch.id, directory: scratch.directory, port: scratch.port, postmasterPid: scratch.postmasterPid, removed: outcome.removed === true },
      leftoversRemoved: leftovers.map((leftover) => ({ ...leftover })),
      recordedIn: [],
    };
    progress({ phase: 'record', detail: 'recording the result in every repository' });
    return recordEverywhere(set, record);
  });
}

interface Outcome {
  restoreDurationMs: number;
  recoveryDurationMs: number;
  dataLoss?: boolean;
  recovery?: RecoveryOutcome;
  relations?: RelationChecks;
  removed?: boolean;
}

/** Steps 3–7. Each records its check; a step whose result the next ones need ends the run when it fails. */
async function runChecks(plan: ScratchRestorePlan, scratch: ScratchInstance, log: TestLog, options: RestoreTestOptions, progress: NonNullable<RestoreTestOptions['onProgress']>): Promise<Outcome> {
  const outcome: Outcome = { restoreDurationMs: 0, recoveryDurationMs: 0 };
  // An interrupted check is no finding: it is listed as interrupted, the rest as not run.
  const interrupted = (): boolean => options.signal?.aborted === true;

  let clock = Date.now();
  progress({ phase: 'restore', detail: `backup ${plan.backup.record.id}` });
  let report: RestoreReport;
  try {
    report = await restoreIntoScratch(
      plan,
      scratch,
      options.target,
      (value) => progress({ phase: 'restore', detail: `${value.phase} ${String(Math.round(value.bytesDone / 1048576))} of ${String(Math.round(value.bytesTotal / 1048576))} MiB`, bytesDone: value.bytesDone, bytesTotal: value.bytesTotal }),
      options.signal,
    );
  } catch (error) {
    outcome.restoreDurationMs = Date.now() - clock;
    if (interrupted()) {
      log.interrupted('restore', outcome.restoreDurationMs);
      return outcome;
    }
    const code = error instanceof DrcError ? error.code : undefined;
    // An object with no authentic copy is the chunk check failing; anything else is the restore's.
    const check = code === 'OBJECT_MISSING' || code === 'OBJECT_CORRUPT' ? 'chunks' : 'restore';
    outcome.dataLoss = code === 'WAL_MISSING';
    if (check === 'chunks') log.failedBecause('restore', 'chunks', outcome.restoreDurationMs);
    log.fail(check, describeError(error), check === 'chunks' ? 0 : outcome.restoreDurationMs);
    return outcome;
  }
  outcome.restoreDurationMs = Date.now() - clock;
  log.add('restore', `${String(report.files)} files, ${String(report.bytesWritten)} bytes and ${String(report.walSegments)} WAL segment(s) restored from '${report.from}'`, outcome.restoreDurationMs);
  log.add('chunks', report.fallbacks.length === 0 ? `every object authenticated in '${report.from}'` : `${String(report.fallbacks.length)} object(s) were damaged or missing in one repository and read from another`, 0, {
    warnings: report.fallbacks.map((fallback) => `${fallback.object}: unusable in '${fallback.failed}' (${fallback.reason}); read from '${fallback.usedInstead}' — run \`drc verify --repair\``),
  });

  if (interrupted()) return outcome;
  progress({ phase: 'checksums', detail: "comparing restored files with the server's backup_manifest" });
  clock = Date.now();
  try {
    const serverManifest = await loadServerManifest(plan);
    if (serverManifest === undefined) {
      log.add('manifest-checksums', 'the backup holds no server backup_manifest to compare with', Date.now() - clock, { warnings: [`backup ${plan.backup.record.id} has no server backup_manifest: its files were not compared with the server's checksums`] });
    } else {
      const checked = await checkServerManifest(scratch.dataDir, serverManifest, { nativeIncremental: plan.backup.record.nativeIncremental, inPlaceTablespaces: plan.backup.record.tablespaces.length > 0 });
      log.add('manifest-checksums', `${String(checked.filesChecked)} files (${String(checked.bytesChecked)} bytes) match the server's checksums; ${String(checked.adjusted)} rewritten on purpose checked for what stays true`, Date.now() - clock, {
        problems: checked.mismatches,
      });
    }
  } catch (error) {
    log.fail('manifest-checksums', describeError(error), Date.now() - clock);
  }

  if (interrupted()) return outcome;
  progress({ phase: 'start', detail: `PostgreSQL ${plan.binaries.version} from ${plan.binaries.bindir}` });
  clock = Date.now();
  try {
    await scratch.start(plan.binaries, options.loginRoles);
  } catch (error) {
    log.fail('start', describeError(error), Date.now() - clock);
    return outcome;
  }
  log.add('start', `PostgreSQL ${plan.binaries.version} (${plan.binaries.source}) started on the copy`, Date.now() - clock);

  progress({ phase: 'recover', detail: `replaying WAL to ${describeTarget(options.target)}` });
  try {
    await scratch.waitUntilRecovered(options.signal);
    outcome.recoveryDurationMs = Date.now() - clock;
    outcome.recovery = await inspectRecovery(scratch, { report, target: options.target, backup: plan.backup.record, wal: plan.wal });
  } catch (error) {
    outcome.recoveryDurationMs = Date.now() - clock;
    if (interrupted()) log.interrupted('recovery', outcome.recoveryDurationMs);
    else log.fail('recovery', describeError(error), outcome.recoveryDurationMs);
    return outcome;
  }
  outcome.dataLoss = outcome.recovery.dataLoss.length > 0;
  log.add('recovery', `recovered to ${outcome.recovery.lsn ?? 'the end of the backup'}${outcome.recovery.lastCommitTime === undefined ? '' : `, last commit ${outcome.recovery.lastCommitTime}`}`, outcome.recoveryDurationMs, { problems: outcome.recovery.dataLoss });

  if (interrupted()) return outcome;
  clock = Date.now();
  try {
    outcome.relations = await checkRelations(scratch, { ...(options.signal ? { signal: options.signal } : {}), onProgress: (detail) => progress({ phase: 'amcheck', detail }) });
  } catch (error) {
    if (interrupted()) log.interrupted('amcheck', Date.now() - clock);
    else log.fail('amcheck', describeError(error), Date.now() - clock);
    return outcome;
  }
  const relations = outcome.relations;
  const elapsed = Date.now() - clock;
  log.add('amcheck', `${String(relations.heapsChecked)} heaps and ${String(relations.indexesChecked)} B-tree indexes in ${String(relations.databases.length)} database(s)`, elapsed, { problems: relations.amcheckProblems });
  log.add('read-tables', `${String(relations.tables.length)} tables read to the end, ${String(relations.rowsVerified)} rows`, 0, { problems: relations.readProblems });
  return outcome;
}

function describeError(error: unknown): string {
  if (!(error instanceof DrcError)) return error instanceof Error ? error.message : String(error);
  // The hints of a failed read name the damaged copies ("nas: unable to authenticate …").
  const details = error.hints.filter((hint) => !hint.startsWith('run `'));
  return details.length > 0 ? `${error.message} (${details.join('; ')})` : error.message;
}

/**
 * record: the result goes to every repository, whichever copy was tested. A repository
 * that cannot take it (a write-protected stick) is a warning in the returned record, not a
 * reason to lose the result.
 */
async function recordEverywhere(set: RepositorySet, record: RestoreTestRecord): Promise<RestoreTestRecord> {
  const summary = record.cancelled === true
    ? `restore test of backup ${record.backupId} to ${describeTarget(record.target)} cancelled (SIGINT/SIGTERM) before it finished: it proves nothing either way`
    : record.success
    ? `restore test of backup ${record.backupId} to ${describeTarget(record.target)} passed: ${String(record.tables.length)} tables, ${String(record.rowsVerified)} rows verified`
    : `restore test of backup ${record.backupId} to ${describeTarget(record.target)} FAILED: ${record.failure?.message ?? 'see errors'}`;
  // A cancelled test is its own kind of event: whatever reads `restore-test` events (the
  // failed-test alert, success rates, the timeline) must not take it for a failure, nor
  // let it hide the verdict of the last test that did run to the end.
  const event = record.cancelled === true ? newEvent('restore-test-cancelled', 'partial', summary, {}) : newEvent('restore-test', record.success ? 'success' : 'failure', summary, {});
  const stored: RestoreTestRecord = { ...record, id: event.id };
  // Where it was recorded is known only afterwards: the caller gets it, the events do not.
  const details: Record<string, unknown> = { ...stored };
  delete details.recordedIn;
  event.details = details;
  const { recorded, failed } = await recordInEvery(set.repositories, event);
  const notRecorded = [...set.unreachable.map((entry) => ({ repository: entry.target.name, message: entry.error.message })), ...failed.map((entry) => ({ repository: entry.repository, message: entry.error.message }))];
  const warnings = [...stored.warnings, ...notRecorded.map((entry) => `the restore test could not be recorded in repository '${entry.repository}': ${entry.message}`)];
  return { ...stored, warnings, recordedIn: recorded };
}
