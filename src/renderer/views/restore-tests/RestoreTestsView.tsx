import { useEffect, useId, useState, type FormEvent } from 'react';
import { useStore } from 'zustand';
import type { RestoreTestRecord } from '../../../shared/contract/restore-test.js';
import { useConsole } from '../../app/console-context.js';
import { ErrorDetails } from '../../components/ErrorDetails.js';
import { formatDuration, formatMoment } from '../../components/format.js';
import { LoadFailure } from '../../components/LoadFailure.js';
import { ViewHeading } from '../../components/ViewHeading.js';
import { OperationProgress } from '../../operations/OperationProgress.js';
import { createRestoreTestsStore, testsPerBackup, type RestoreTestsStore } from './store.js';

const latest = 'latest';

function RunRestoreTest({ store }: { store: RestoreTestsStore }) {
  const backups = useStore(store, (state) => state.backups);
  const runError = useStore(store, (state) => state.runError);
  const [choice, setChoice] = useState(latest);
  const selectId = useId();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void store.getState().run(choice === latest ? undefined : choice);
  };
  return (
    <section aria-labelledby="run-test-heading">
      <h2 id="run-test-heading">Run a restore test now</h2>
      <p>The backup is restored into a scratch directory, started, checked (checksums, amcheck, every table read) and removed; production is not touched.</p>
      <form onSubmit={submit} className="inline-form">
        <label htmlFor={selectId}>Backup to test</label>
        <select
          id={selectId}
          value={choice}
          onChange={(event) => {
            setChoice(event.target.value);
          }}
        >
          <option value={latest}>Latest backup</option>
          {[...(backups.value ?? [])]
            .sort((a, b) => b.stoppedAt.localeCompare(a.stoppedAt))
            .map((backup) => (
              <option key={backup.id} value={backup.id}>
                {backup.id} — {backup.type}, {formatMoment(backup.stoppedAt)}
                {backup.reason ? ` — ${backup.reason}` : ''}
              </option>
            ))}
        </select>
        <button type="submit" className="button button-primary">
          Run restore test
        </button>
      </form>
      {runError && (
        <div role="alert">
          <p>The restore test did not start.</p>
          <ErrorDetails error={runError} />
        </div>
      )}
    </section>
  );
}

function RestoreTestOperations() {
  const { operations } = useConsole();
  const all = useStore(operations, (state) => state.operations);
  const tests = Object.values(all)
    .filter((operation) => operation.kind === 'restore-test')
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  if (tests.length === 0) return null;
  return (
    <section aria-labelledby="running-tests-heading">
      <h2 id="running-tests-heading">Restore tests in progress</h2>
      {tests.map((operation, index) => (
        <OperationProgress key={operation.id} operationId={operation.id} label={index === 0 ? 'Restore test progress' : `Restore test progress: ${operation.title}`} />
      ))}
    </section>
  );
}

function TestRecord({ record }: { record: RestoreTestRecord }) {
  const headingId = useId();
  return (
    <article aria-labelledby={headingId} className={`restore-test restore-test-${record.success ? 'passed' : 'failed'}`}>
      <h4 id={headingId}>
        {record.success ? 'Passed' : 'Failed'}: test of {formatMoment(record.startedAt)}
      </h4>
      <p>
        {record.rowsVerified} rows verified in {record.tables.length} tables of {record.databases.join(', ') || 'no databases'}; {record.heapsChecked} heaps and{' '}
        {record.indexesChecked} indexes checked. Took {formatDuration(record.durationMs / 1000)} (restore {formatDuration(record.restoreDurationMs / 1000)}, recovery{' '}
        {formatDuration(record.recoveryDurationMs / 1000)}).
        {record.dataLossDetected && ' Data loss detected: recovery did not reach all the WAL it was given.'}
      </p>
      <p>
        Server binaries: PostgreSQL {record.binaries.version} from {record.binaries.bindir} ({record.binaries.source}).
        {record.from !== undefined && ` Restored from repository ${record.from} only.`}
      </p>
      {record.failure && (
        <div className="failure">
          <ErrorDetails error={record.failure} />
        </div>
      )}
      <table>
        <caption>Checks</caption>
        <thead>
          <tr>
            <th scope="col">Check</th>
            <th scope="col">Outcome</th>
            <th scope="col">Duration</th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {record.checks.map((check) => (
            <tr key={check.name}>
              <th scope="row">{check.name}</th>
              <td>{check.status}</td>
              <td>{formatDuration(check.durationMs / 1000)}</td>
              <td>{check.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {record.errorsFound.length > 0 && (
        <ul aria-label="Problems found">
          {record.errorsFound.map((problem) => (
            <li key={`${problem.check}-${problem.message}`}>
              {problem.check}: {problem.message}
            </li>
          ))}
        </ul>
      )}
      {record.warnings.length > 0 && (
        <ul aria-label="Warnings">
          {record.warnings.map((warning) => (
            <li key={warning}>{warning}</li>
          ))}
        </ul>
      )}
    </article>
  );
}

export function RestoreTestsView() {
  const { client, operations } = useConsole();
  const [store] = useState(() => createRestoreTestsStore(client));
  const history = useStore(store, (state) => state.history);

  useEffect(() => {
    void store.getState().load();
    return store.getState().follow(operations);
  }, [store, operations]);

  const groups = history.value ? testsPerBackup(history.value) : [];
  return (
    <>
      <ViewHeading>Restore tests</ViewHeading>
      <RunRestoreTest store={store} />
      <RestoreTestOperations />
      <section aria-labelledby="history-heading">
        <h2 id="history-heading">History per backup</h2>
        <p role="status" className="load-status">
          {history.loading ? 'Loading the restore test history…' : ''}
        </p>
        {history.error && <LoadFailure what="the restore test history" error={history.error} onRetry={() => void store.getState().load()} />}
        {history.value && groups.length === 0 && <p>No restore test has run yet. Run one above to prove a backup restores.</p>}
        {groups.map((group) => (
          <section key={group.backupId} aria-labelledby={`tests-${group.backupId}`}>
            <h3 id={`tests-${group.backupId}`}>
              Backup {group.backupId}, taken {formatMoment(group.backupStoppedAt)}
            </h3>
            {group.tests.map((record) => (
              <TestRecord key={record.id} record={record} />
            ))}
          </section>
        ))}
      </section>
    </>
  );
}
