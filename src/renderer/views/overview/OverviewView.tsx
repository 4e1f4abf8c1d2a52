import { useEffect, useState } from 'react';
import { useStore } from 'zustand';
import type { Compliance321, HealthReport } from '../../../shared/contract/status.js';
import { useConsole } from '../../app/console-context.js';
import { formatBytes, formatMoment } from '../../components/format.js';
import { LoadFailure } from '../../components/LoadFailure.js';
import { TableScroll } from '../../components/TableScroll.js';
import { ViewHeading } from '../../components/ViewHeading.js';
import { BackupSuccessChart, StorageChart } from './charts.js';
import { createOverviewStore, backupHistoryDays } from './store.js';
import {
  backupOutcomesByDay,
  objectiveGauges,
  storagePerRepository,
  summarizeBackupDays,
  summarizeStorage,
  type ObjectiveGauge,
} from './summaries.js';

function Gauge({ gauge }: { gauge: ObjectiveGauge }) {
  if (gauge.seconds === undefined) {
    return <p className={`gauge gauge-unknown`}>{gauge.text}</p>;
  }
  const percent = Math.min(100, (gauge.seconds / gauge.maxSeconds) * 100);
  const goalPercent = (gauge.goalSeconds / gauge.maxSeconds) * 100;
  return (
    <div className={`gauge ${gauge.met ? 'gauge-met' : 'gauge-breached'}`}>
      <div
        role="meter"
        aria-label={gauge.name}
        aria-valuemin={0}
        aria-valuemax={gauge.maxSeconds}
        aria-valuenow={gauge.seconds}
        aria-valuetext={gauge.text}
        className="meter"
      >
        <div className="meter-fill" style={{ width: `${String(percent)}%` }} />
        <div className="meter-goal" style={{ left: `${String(goalPercent)}%` }} />
      </div>
      <p className="gauge-text">
        <span aria-hidden="true" className="verdict-mark">
          {gauge.met ? '✓' : '✗'}
        </span>{' '}
        {gauge.text}
      </p>
    </div>
  );
}

function compliance(entry: Compliance321): string {
  return entry.compliant ? 'yes' : `no: ${entry.shortfalls.join('; ')}`;
}

function Objectives({ report }: { report: HealthReport }) {
  const gauges = objectiveGauges(report);
  const { rpo, rto } = report.objectives;
  return (
    <section aria-labelledby="objectives-heading">
      <h2 id="objectives-heading">Recovery objectives</h2>
      <div className="gauges">
        {gauges.map((gauge) => (
          <Gauge key={gauge.name} gauge={gauge} />
        ))}
      </div>
      {rto.basedOn && (
        <p>
          RTO estimated from the restore test of {formatMoment(rto.basedOn.testedAt)}, which took {Math.round(rto.basedOn.durationSeconds)} s.
        </p>
      )}
      {rpo.repositories.length > 0 && (
        <table>
          <caption>RPO per repository</caption>
          <thead>
            <tr>
              <th scope="col">Repository</th>
              <th scope="col">Recoverable to</th>
              <th scope="col">Caught up with the server</th>
              <th scope="col">Objective</th>
            </tr>
          </thead>
          <tbody>
            {rpo.repositories.map((entry) => (
              <tr key={entry.repository}>
                <th scope="row">{entry.repository}</th>
                <td>{entry.recoverableTo ? formatMoment(entry.recoverableTo) : 'nothing recoverable'}</td>
                <td>{entry.caughtUp ? 'yes' : 'no'}</td>
                <td>{entry.met ? 'met' : 'not met'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Alerts({ report }: { report: HealthReport }) {
  return (
    <section aria-labelledby="alerts-heading">
      <h2 id="alerts-heading">Alerts</h2>
      {report.alerts.length === 0 ? (
        <p>No alerts: nothing needs your attention.</p>
      ) : (
        <ul className="alerts">
          {report.alerts.map((alert) => (
            <li key={`${alert.code}-${alert.repository ?? ''}`} className={`alert alert-${alert.severity}`}>
              <p>
                <strong className="severity">{alert.severity === 'critical' ? 'Critical' : alert.severity === 'warning' ? 'Warning' : 'Information'}:</strong>{' '}
                {alert.message} <span className="alert-code">({alert.code})</span>
              </p>
              <p className="hint">What to do: {alert.hint}</p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Compliance({ report }: { report: HealthReport }) {
  const { configuration, recoveryPoints } = report.compliance;
  return (
    <section aria-labelledby="compliance-heading">
      <h2 id="compliance-heading">3-2-1</h2>
      <p>
        Configuration: {configuration.copies} copies on {configuration.mediaKinds.join(', ') || 'no'} media, {configuration.offsite ? 'one offsite' : 'none offsite'} —{' '}
        {configuration.compliant ? '3-2-1 met' : `3-2-1 not met: ${configuration.shortfalls.join('; ')}`}.
      </p>
      {recoveryPoints.length === 0 ? (
        <p>No recovery points yet.</p>
      ) : (
        <TableScroll label="3-2-1 per recovery point, scrolls sideways">
          <table>
            <caption>3-2-1 per recovery point</caption>
            <thead>
              <tr>
                <th scope="col">Backup</th>
                <th scope="col">Type</th>
                <th scope="col">Taken</th>
                <th scope="col">Size</th>
                <th scope="col">Held by</th>
                <th scope="col">3-2-1</th>
                <th scope="col">Last restore test</th>
              </tr>
            </thead>
            <tbody>
              {recoveryPoints.map((point) => (
                <tr key={point.backupId}>
                  <th scope="row">{point.backupId}</th>
                  <td>{point.type}</td>
                  <td>{formatMoment(point.stoppedAt)}</td>
                  <td>{formatBytes(point.bytes)}</td>
                  <td>
                    {point.repositories.join(', ') || 'none reachable'}
                    {point.lastKnownRepositories.length > 0 && ` (not reachable now: ${point.lastKnownRepositories.join(', ')})`}
                  </td>
                  <td>{compliance(point.compliance)}</td>
                  <td>{point.lastRestoreTest ? `${point.lastRestoreTest.outcome} on ${formatMoment(point.lastRestoreTest.time)}` : 'never tested'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
    </section>
  );
}

function LastRuns({ report }: { report: HealthReport }) {
  const newest = [...report.compliance.recoveryPoints].sort((a, b) => b.stoppedAt.localeCompare(a.stoppedAt))[0];
  const tested = report.compliance.recoveryPoints
    .flatMap((point) => (point.lastRestoreTest ? [{ backupId: point.backupId, test: point.lastRestoreTest }] : []))
    .sort((a, b) => b.test.time.localeCompare(a.test.time))[0];
  return (
    <section aria-labelledby="last-runs-heading">
      <h2 id="last-runs-heading">Last backup and restore test</h2>
      <dl className="facts">
        <dt>Last backup</dt>
        <dd>{newest ? `${newest.type} backup ${newest.backupId}, finished ${formatMoment(newest.stoppedAt)}` : 'none yet'}</dd>
        <dt>Last restore test</dt>
        <dd>{tested ? `${tested.test.outcome} on ${formatMoment(tested.test.time)} (backup ${tested.backupId}): ${tested.test.summary}` : 'none yet'}</dd>
        <dt>Backups in the last {report.backups.windowDays} days</dt>
        <dd>
          {report.backups.succeeded} succeeded, {report.backups.partial} partly, {report.backups.failed} failed
          {report.backups.successRate !== undefined && ` (${String(Math.round(report.backups.successRate * 100))} % fully successful)`}
        </dd>
      </dl>
    </section>
  );
}

function Schedule({ report }: { report: HealthReport }) {
  const { schedule } = report;
  return (
    <section aria-labelledby="schedule-heading">
      <h2 id="schedule-heading">Next scheduled runs</h2>
      <p>
        {schedule.scheduler.running
          ? `The scheduler runs${schedule.scheduler.host ? ` on ${schedule.scheduler.host}` : ''}${schedule.scheduler.since ? ` since ${formatMoment(schedule.scheduler.since)}` : ''}.`
          : 'No scheduler runs now: scheduled jobs wait until `drc daemon` or the desktop app runs.'}
      </p>
      {schedule.stateError && <p>The scheduler state could not be read ({schedule.stateError}); next runs are computed as if nothing had run.</p>}
      <TableScroll label="Scheduled jobs, scrolls sideways">
        <table>
          <caption>Scheduled jobs</caption>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">When</th>
              <th scope="col">Next run</th>
              <th scope="col">Last run</th>
            </tr>
          </thead>
          <tbody>
            {schedule.jobs.map((job) => (
              <tr key={job.job}>
                <th scope="row">{job.job}</th>
                <td>{job.enabled ? job.when : 'disabled'}</td>
                <td>
                  {job.runningSince ? `running since ${formatMoment(job.runningSince)}` : job.nextRun ? formatMoment(job.nextRun) : '—'}
                  {job.due && ' (due: catching up or retrying)'}
                </td>
                <td>{job.lastRun ? `${job.lastRun.outcome}, ${formatMoment(job.lastRun.finishedAt)}: ${job.lastRun.summary}` : 'never'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
    </section>
  );
}

export function OverviewView() {
  const { client } = useConsole();
  const [store] = useState(() => createOverviewStore(client));
  const report = useStore(store, (state) => state.report);
  const repositories = useStore(store, (state) => state.repositories);
  const backupEvents = useStore(store, (state) => state.backupEvents);

  useEffect(() => {
    void store.getState().load();
  }, [store]);

  const reload = () => void store.getState().load();
  const storage = storagePerRepository(report.value, repositories.value);
  const days = backupEvents.value ? backupOutcomesByDay(backupEvents.value, backupHistoryDays, new Date()) : undefined;

  return (
    <>
      <ViewHeading>Overview</ViewHeading>
      <p role="status" className="load-status">
        {report.loading ? 'Loading the recovery status…' : ''}
      </p>
      {report.error && <LoadFailure what="the recovery status" error={report.error} onRetry={reload} />}
      {report.value && (
        <>
          <p className="generated">Status as of {formatMoment(report.value.generatedAt)}.</p>
          <Objectives report={report.value} />
          <Alerts report={report.value} />
          <LastRuns report={report.value} />
          <Compliance report={report.value} />
          <Schedule report={report.value} />
        </>
      )}
      <section aria-labelledby="storage-heading">
        <h2 id="storage-heading">Storage per repository</h2>
        {repositories.error && !report.value && <LoadFailure what="the repositories" error={repositories.error} onRetry={reload} />}
        {storage.length > 0 ? <StorageChart storage={storage} summary={summarizeStorage(storage, formatBytes)} /> : <p>No repository sizes yet.</p>}
      </section>
      <section aria-labelledby="success-heading">
        <h2 id="success-heading">Backup success over time</h2>
        {backupEvents.error && <LoadFailure what="the backup history" error={backupEvents.error} onRetry={reload} />}
        {days && <BackupSuccessChart days={days} summary={summarizeBackupDays(days)} />}
      </section>
    </>
  );
}
