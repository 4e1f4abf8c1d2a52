import type { Alert } from '../../../shared/contract/status.js';
import type { RuleInput } from './rule.js';
import { raise } from './alert-codes.js';

/** SCHEDULER_NOT_RUNNING: the next runs shown are what a scheduler would do, not what will happen. */
export function schedulerNotRunning({ report }: RuleInput): Alert[] {
  if (report.schedule.scheduler.running) return [];
  return [raise('SCHEDULER_NOT_RUNNING', 'no scheduler runs for this cluster on this workstation: the next runs shown are when it would run them')];
}

/** JOB_FAILED: a scheduled job's last run failed and it is not running again. */
export function jobFailed({ report }: RuleInput): Alert[] {
  return report.schedule.jobs.flatMap((entry): Alert[] => {
    // A job running again (WAL streaming restarted) is judged by that run, not the failed one before it.
    if (!entry.enabled || entry.runningSince !== undefined || entry.lastRun?.outcome !== 'failure') return [];
    return [raise('JOB_FAILED', `the scheduled ${entry.job} of ${entry.lastRun.startedAt} failed: ${entry.lastRun.summary}`, { hint: entry.lastRun.error?.hints[0] ?? `see \`drc events\` for the ${entry.job}` })];
  });
}
