import { once } from 'node:events';
import type { ScheduleEntry } from '../../shared/contract/schedule.js';
import { DrcError } from '../../shared/errors.js';
import { scheduleEntries } from '../engines/scheduler/calendar.js';
import { Scheduler, type JobFunctions, type JobResult, type SchedulerActivity } from '../engines/scheduler/scheduler.js';
import { SchedulerStateStore } from '../engines/scheduler/state-store.js';
import { requireCluster } from '../postgres/cluster.js';
import { newEvent } from '../repo/events.js';
import { backup, createRestorePoint } from './backup.js';
import { withRepositorySet, type ServiceContext } from './context.js';
import { verify } from './repository.js';
import { streamWalForever } from './wal.js';

/**
 * `drc daemon`: the scheduler in the foreground, wired to the real services, until the
 * signal (SIGINT/SIGTERM) stops it. Restore tests and expiry come from their own services
 * through `DaemonJobs` (see daemon-jobs.ts), so this file depends only on their shape.
 */
export interface JobReport {
  readonly ok: boolean;
  readonly summary: string;
}
export type RestoreTestJob = (context: ServiceContext, signal: AbortSignal) => Promise<JobReport>;
export type ExpireJob = (context: ServiceContext, signal: AbortSignal) => Promise<JobReport>;

export interface DaemonJobs {
  readonly restoreTest: RestoreTestJob;
  readonly expire: ExpireJob;
}

export interface DaemonOptions {
  readonly signal: AbortSignal;
  readonly onActivity?: (activity: SchedulerActivity) => void;
  /** Warnings of WAL streaming (an unlimited max_slot_wal_keep_size, a repository that failed). */
  readonly onWarning?: (warning: string) => void;
}

export interface DaemonReport {
  readonly statePath: string;
  readonly abandoned: string[];
  readonly stateSaved: boolean;
  /** The schedule as the daemon left it: last runs and next runs. */
  readonly jobs: ScheduleEntry[];
}

export async function runDaemon(context: ServiceContext, jobs: DaemonJobs, options: DaemonOptions): Promise<DaemonReport> {
  const cluster = requireCluster(context.config.cluster);
  const store = SchedulerStateStore.forConfig(context.config, cluster.name);
  // One scheduler per cluster: a second daemon would take every restore point twice.
  const ownership = await store.acquire();
  try {
    const scheduler = new Scheduler({
      cluster: cluster.name,
      schedule: context.config.schedule,
      jobs: scheduledJobs(context, jobs, options),
      store,
      ...(options.onActivity ? { onActivity: options.onActivity } : {}),
    });
    await scheduler.start();
    if (!options.signal.aborted) await once(options.signal, 'abort');
    const stopped = await scheduler.stop();
    const state = scheduler.snapshot() ?? (await store.load());
    return { statePath: store.path, abandoned: stopped.abandoned, stateSaved: stopped.stateSaved, jobs: scheduleEntries(context.config.schedule, state, new Date()) };
  } finally {
    await ownership.release();
  }
}

/** Each scheduled job as a call of the service that does it. */
function scheduledJobs(context: ServiceContext, jobs: DaemonJobs, options: DaemonOptions): JobFunctions {
  return {
    'wal-stream': async ({ signal }) => {
      const status = await streamWalForever(context, {
        signal,
        onStatus: (value) => {
          for (const warning of value.warnings.splice(0)) options.onWarning?.(warning);
        },
      });
      const failed = status.failedRepositories.map((entry) => `${entry.repository}: ${entry.error.message}`);
      return { outcome: failed.length === 0 ? 'success' : 'partial', summary: `streamed to ${status.storedLsn} on timeline ${String(status.timeline)}, ${String(status.segmentsStored)} segment(s)${failed.length > 0 ? `; failed: ${failed.join('; ')}` : ''}` };
    },
    'restore-point': recordingFailure(context, 'restore-point', async () => {
      const point = await createRestorePoint(context, `drc-${new Date().toISOString().slice(0, 19)}Z`);
      return { outcome: 'success', summary: `restore point '${point.name}' at ${point.lsn}` };
    }),
    // The backup service records its own failures.
    'full-backup': () => scheduledBackup(context, 'full', 'scheduled daily full backup'),
    'archive-backup': () => scheduledBackup(context, 'archive', 'scheduled weekly archive backup'),
    'restore-test': recordingFailure(context, 'restore-test', async ({ signal }) => outcomeOf(await jobs.restoreTest(context, signal))),
    expire: recordingFailure(context, 'expire', async ({ signal }) => outcomeOf(await jobs.expire(context, signal))),
    verify: recordingFailure(context, 'verify', async () => {
      const report = await verify(context, { repair: false });
      const problems = report.repositories.reduce((sum, entry) => sum + entry.problems.length, 0);
      const unverified = report.repositories.filter((entry) => entry.error !== undefined);
      if (report.ok) return { outcome: 'success', summary: 'every object authenticated' };
      // A stick away in its drawer is rotation, not damage: what was reachable is proven.
      const onlyAbsentMedia = problems === 0 && unverified.every((entry) => entry.error?.code === 'MEDIA_NOT_PRESENT');
      const summary = `${String(problems)} problem(s)${unverified.length > 0 ? `; not verified: ${unverified.map((entry) => `${entry.repository} (${entry.error?.message ?? ''})`).join(', ')}` : ''}`;
      return { outcome: onlyAbsentMedia ? 'partial' : 'failure', summary: problems > 0 ? `${summary} — run \`drc verify --repair\`` : summary };
    }),
  };
}

function outcomeOf(report: JobReport): JobResult {
  return { outcome: report.ok ? 'success' : 'failure', summary: report.summary };
}

async function scheduledBackup(context: ServiceContext, type: 'full' | 'archive', reason: string): Promise<JobResult> {
  const record = await backup(context, { type, reason });
  const missing = record.missingCopies.map((copy) => copy.repository);
  return { outcome: missing.length === 0 ? 'success' : 'partial', summary: `${type} backup ${record.id} in ${record.repositories.join(', ')}${missing.length > 0 ? `; missing in ${missing.join(', ')} (\`drc sync\` fills it)` : ''}` };
}

/**
 * A job that could not run at all leaves no record of its own (backups record their own
 * failures): the failure is written to the repositories that can be reached, so
 * the history and the backup success rate show it.
 */
function recordingFailure(context: ServiceContext, eventType: string, work: JobFunctions[keyof JobFunctions]): JobFunctions[keyof JobFunctions] {
  return async (job) => {
    try {
      return await work(job);
    } catch (error) {
      if (error instanceof DrcError && !job.signal.aborted) {
        const event = newEvent(eventType, 'failure', `scheduled ${job.job} failed: ${error.message}`, { scheduled: true, job: job.job, error: error.toData() });
        // Best effort: a repository out of reach cannot take the record, and the scheduler state holds the failure anyway.
        await withRepositorySet(context, undefined, (set) => Promise.allSettled(set.repositories.map((repository) => repository.appendEvent(event)))).catch((recordError: unknown) => {
          if (!(recordError instanceof DrcError)) throw recordError;
        });
      }
      throw error;
    }
  };
}
