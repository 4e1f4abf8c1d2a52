import { DrcError } from '../../shared/errors.js';
import type { DaemonJobs } from './daemon.js';
import { restoreTest } from './restore-test.js';
import { expire } from './retention.js';

/** The restore-test and expire services as the daemon's scheduled jobs. */
export const daemonJobs: DaemonJobs = {
  restoreTest: async (context, signal) => {
    const record = await restoreTest(context, { signal });
    const problems = record.failure?.message ?? record.errorsFound.map((problem) => `${problem.check}: ${problem.message}`).join('; ');
    return {
      ok: record.success,
      summary: record.success
        ? `backup ${record.backupId} restored and proven: ${String(record.tables.length)} tables, ${String(record.rowsVerified)} rows read in ${String(Math.round(record.durationMs / 1000))} s`
        : `backup ${record.backupId} did not pass its restore test: ${problems}`,
    };
  },
  // Expiry deletes manifests before what they reference, so it has no unsafe point to be stopped at and runs to its end.
  expire: async (context) => {
    const report = await expire(context, { dryRun: false });
    const removed = report.repositories.reduce((sum, entry) => sum + entry.removed.length, 0);
    const notDone = [
      ...report.repositories.filter((entry) => entry.status === 'skipped' || entry.status === 'failed').map((entry) => `${entry.repository} ${entry.status}${entry.error ? ` (${entry.error.message})` : ''}`),
      ...report.unreachable.map((entry) => `${entry.repository} unreachable (${entry.message})`),
    ];
    const summary = `${String(removed)} backup(s) expired across ${String(report.repositories.length)} repositories${notDone.length > 0 ? `; ${notDone.join('; ')}` : ''}`;
    // A repository skipped because another operation held its locks was not expired at all: that is a run to retry, not a result.
    if (report.repositories.some((entry) => entry.status === 'skipped')) {
      throw new DrcError('LOCK_HELD', `unable to expire every repository: ${summary}`, { hints: ['another operation held the locks; the scheduler tries again later'] });
    }
    return { ok: report.ok, summary };
  },
};
