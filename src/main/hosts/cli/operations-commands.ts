import type { ScheduleEntry } from '../../../shared/contract/schedule.js';
import type { HealthReport } from '../../../shared/contract/status.js';
import type { SchedulerActivity } from '../../engines/scheduler/scheduler.js';
import { runDaemon, type DaemonReport } from '../../services/daemon.js';
import { daemonJobs } from '../../services/daemon-jobs.js';
import { listEvents, parseSince, type EventHistory } from '../../services/events.js';
import { healthReport } from '../../services/status.js';
import { DrcError, exitCodeFor } from '../../../shared/errors.js';
import { exitCodes } from './exit-codes.js';
import { cliTime, contextFor, formatBytes, formatDuration, optional, type Command } from './command.js';

/** Running the policy: `daemon`, `status`, `events`. */
export const operationsCommands: Record<string, Command> = {
  daemon: {
    usage: 'drc daemon',
    summary: 'run the schedule in the foreground: WAL streaming, restore points, backups, restore tests, expire, verify (SIGINT/SIGTERM stop it cleanly)',
    options: {},
    positionals: 0,
    run: async ({ values, io }) => {
      // Log lines go to stderr whatever the output mode: stdout carries only the final report.
      const log = (line: string): void => {
        io.stderr.write(`${new Date().toISOString()} ${line}\n`);
      };
      const report = await runDaemon(await contextFor(values), daemonJobs, {
        signal: io.signal ?? new AbortController().signal,
        onActivity: (activity) => log(describeActivity(activity)),
        onWarning: (warning) => log(`warning: ${warning}`),
      });
      return { json: report, text: formatDaemonReport(report), exitCode: report.abandoned.length > 0 || !report.stateSaved ? 1 : 0 };
    },
  },
  status: {
    usage: 'drc status',
    summary: 'RPO and RTO against the objectives, 3-2-1 compliance, repositories, backups, next runs and alerts (exit 1 on a warning or critical alert, 2 when the database login is refused)',
    options: {},
    positionals: 0,
    run: async ({ values }) => {
      const report = await healthReport(await contextFor(values));
      const exitCode = report.alerts.some((alert) => alert.severity !== 'info') ? exitCodes.problem.code : exitCodes.ok.code;
      const refused = refusedLogin(report);
      if (!refused) return { json: report, text: formatHealth(report), exitCode };
      // A refused login is the same configuration error here as from backup or restore-point:
      // the same code at `.error.code` and exit 2, with the rest of the report still shown.
      const error = { code: refused.code, message: refused.message, hints: refused.hints, retryable: refused.retryable };
      const text = `${formatHealth(report)}\nerror ${refused.code}: ${refused.message}${refused.hints.map((hint) => `\nhint: ${hint}`).join('')}`;
      return { json: { ...report, error }, text, exitCode: exitCodeFor(refused) };
    },
  },
  events: {
    usage: 'drc events [--since ISO8601|30m|12h|7d|2w] [--type TYPE]',
    summary: 'operation history (backups, restores, restore tests, expire, verify, sync…) from every reachable repository',
    options: { since: { type: 'string' }, type: { type: 'string' } },
    positionals: 0,
    run: async ({ values, io }) => {
      // A span back from now (7d) is read as such; anything else is a time, read strictly.
      const since = typeof values.since !== 'string' ? undefined : /^\s*\d+[mhdw]\s*$/.test(values.since) ? parseSince(values.since) : new Date(cliTime(values.since, '--since', io));
      const history = await listEvents(await contextFor(values), { ...(since ? { since } : {}), ...optional('type', values.type) });
      return { json: history, text: formatEvents(history), exitCode: history.unreadable.length > 0 ? 1 : 0 };
    },
  },
};

function describeActivity(activity: SchedulerActivity): string {
  switch (activity.kind) {
    case 'started':
      return `${activity.job}: started (${activity.reason})`;
    case 'finished':
      return `${activity.job}: ${activity.run.outcome.toUpperCase()} after ${formatDuration(Date.parse(activity.run.finishedAt) - Date.parse(activity.run.startedAt))} — ${activity.run.summary}`;
    case 'stopping':
      return `stopping: waiting up to ${formatDuration(activity.timeoutMs)} for ${activity.waitingFor.join(', ')} to finish (send the signal again to exit at once)`;
    case 'aborting':
      return `stop timeout: asking ${activity.jobs.join(', ')} to abandon their work`;
    case 'stream-restart':
      return `wal-stream: starting again in ${formatDuration(activity.inMs)}`;
    case 'state-not-saved':
      return `warning: ${activity.error.message}`;
  }
}

function formatDaemonReport(report: DaemonReport): string {
  return [
    `scheduler stopped; state in ${report.statePath}${report.stateSaved ? '' : ' (the last changes could NOT be saved)'}`,
    ...report.abandoned.map((job) => `  ABANDONED ${job}: it runs again at the next start`),
    ...formatSchedule(report.jobs),
  ].join('\n');
}

/** Schedules are in the workstation's local time, so their runs are shown in it too. */
function localTime(iso: string): string {
  const time = new Date(iso);
  const pad = (value: number): string => String(Math.floor(Math.abs(value))).padStart(2, '0');
  const offset = -time.getTimezoneOffset();
  return `${String(time.getFullYear())}-${pad(time.getMonth() + 1)}-${pad(time.getDate())} ${pad(time.getHours())}:${pad(time.getMinutes())} ${offset < 0 ? '-' : '+'}${pad(offset / 60)}:${pad(offset % 60)}`;
}

function formatSchedule(jobs: readonly ScheduleEntry[]): string[] {
  const rows = jobs.map((entry) => [
    entry.job,
    entry.when,
    entry.lastRun ? `last ${entry.lastRun.outcome} ${localTime(entry.lastRun.startedAt)}` : 'never run',
    !entry.enabled ? 'disabled' : entry.runningSince ? `running since ${localTime(entry.runningSince)}` : entry.due ? 'due now' : entry.nextRun ? `next ${localTime(entry.nextRun)}` : '',
  ]);
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column]?.length ?? 0)));
  return rows.map((row) => `  ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()}`);
}

const ago = (seconds: number | undefined): string => (seconds === undefined ? 'unknown' : formatDuration(seconds * 1000));
const yesNo = (value: boolean): string => (value ? 'met' : 'NOT MET');

function formatHealth(report: HealthReport): string {
  const { rpo, rto } = report.objectives;
  const lines = [`DR status${report.cluster ? ` of cluster '${report.cluster.name}'` : ''} at ${report.generatedAt}`];
  if (report.cluster) {
    const slot = report.cluster.slot;
    lines.push(
      report.cluster.reachable
        ? `  server: WAL flushed to ${report.cluster.flushLsn ?? '?'}, databases ${report.cluster.databaseBytes === undefined ? '?' : formatBytes(report.cluster.databaseBytes)}${slot ? `, slot '${slot.name}' ${slot.active ? 'streaming' : 'idle'} keeps ${formatBytes(slot.retainedBytes)}` : ', no slot yet'}`
        : `  server: UNREACHABLE (${report.cluster.error ?? ''})`,
    );
  }
  lines.push('objectives:', `  RPO ${ago(rpo.seconds)} (goal ${ago(rpo.goalSeconds)}): ${yesNo(rpo.met)}`);
  for (const entry of rpo.repositories) lines.push(`    ${entry.repository}: ${entry.caughtUp ? 'holds all WAL the server has written' : entry.recoverableTo ? `recoverable to ${entry.recoverableTo} (${ago(entry.seconds)} ago)` : 'nothing to recover from'}`);
  lines.push(`  RTO ${rto.estimateSeconds === undefined ? 'unknown (no restore test)' : `≈ ${ago(rto.estimateSeconds)}`} (goal ${ago(rto.goalSeconds)}): ${yesNo(rto.met)}${rto.basedOn ? ` — restore test of ${rto.basedOn.testedAt} took ${ago(rto.basedOn.durationSeconds)}` : ''}`);

  const configuration = report.compliance.configuration;
  lines.push('3-2-1:', `  configuration: ${String(configuration.copies)} copies, media ${configuration.mediaKinds.join('+')}, ${configuration.offsite ? 'offsite' : 'nothing offsite'}: ${configuration.compliant ? 'compliant' : `NOT compliant (${configuration.shortfalls.join('; ')})`}`);

  lines.push('repositories:');
  for (const repository of report.repositories) {
    const where = `${repository.media}${repository.offsite ? ', offsite' : ''}`;
    const state = repository.state === 'ok' ? `${formatBytes(repository.bytesUsed ?? 0)}, ${String(repository.backups)} backup(s)${repository.walGaps > 0 ? `, ${String(repository.walGaps)} WAL GAP(S)` : ''}` : `${repository.state.toUpperCase()}${repository.error ? ` (${repository.error.message})` : ''}`;
    const medium = repository.medium ? `, medium '${repository.medium.name}' ${repository.medium.id}` : '';
    lines.push(`  ${repository.repository} (${where}): ${state}${medium}; last seen ${repository.lastSeen ?? 'never'}, last verified ${repository.lastVerified ?? 'never'}`);
  }
  const { backups } = report;
  lines.push(`backups in ${String(backups.windowDays)} days: ${String(backups.succeeded)} succeeded, ${String(backups.partial)} partial, ${String(backups.failed)} failed${backups.successRate === undefined ? '' : ` (${(backups.successRate * 100).toFixed(0)} % success)`}`);

  lines.push('recovery points:');
  for (const point of report.compliance.recoveryPoints) {
    const copies = [...point.repositories, ...point.lastKnownRepositories.map((name) => `${name} (last known)`)].join(', ');
    const test = point.lastRestoreTest ? `restore test ${point.lastRestoreTest.outcome} ${point.lastRestoreTest.time}` : 'not restore-tested';
    lines.push(`  ${point.backupId}  ${point.type.padEnd(11)} ${formatBytes(point.bytes).padStart(10)}  copies: ${copies}  3-2-1: ${point.compliance.compliant ? 'yes' : 'no'}  ${test}`);
  }
  if (report.compliance.recoveryPoints.length === 0) lines.push('  none');

  const scheduler = report.schedule.scheduler;
  lines.push(`schedule (${scheduler.running ? `scheduler running, pid ${String(scheduler.pid ?? '?')} on ${scheduler.host ?? '?'}` : 'no scheduler running'}):`, ...formatSchedule(report.schedule.jobs));
  if (report.schedule.stateError) lines.push(`  state unreadable: ${report.schedule.stateError}`);

  lines.push('alerts:');
  for (const alert of report.alerts) lines.push(`  ${alert.severity.toUpperCase()} ${alert.code}: ${alert.message}`, `    hint: ${alert.hint}`);
  if (report.alerts.length === 0) lines.push('  none');
  return lines.join('\n');
}

function formatEvents(history: EventHistory): string {
  const lines = history.events.map((event) => `${event.time}  ${event.type.padEnd(14)} ${event.outcome.padEnd(8)} ${`${event.operator}@${event.host}`.padEnd(24)} ${event.summary}`);
  if (history.events.length === 0) lines.push('no events');
  for (const entry of history.unreachable) lines.push(`UNREACHABLE ${entry.repository}: ${entry.message} (its events are not included)`);
  for (const entry of history.unreadable) lines.push(`UNREADABLE ${entry.object} in ${entry.repositories.join(', ')}: ${entry.message}`);
  return lines.join('\n');
}

/** The cluster's login refused (PG_AUTH_FAILED), as the error every other command gives for it. */
function refusedLogin(report: HealthReport): DrcError | undefined {
  const cluster = report.cluster;
  if (cluster?.errorCode !== 'PG_AUTH_FAILED') return undefined;
  return new DrcError('PG_AUTH_FAILED', cluster.error ?? `unable to log in to cluster '${cluster.name}'`, { hints: cluster.hints ?? [] });
}
