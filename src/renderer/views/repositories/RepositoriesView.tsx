import { useEffect, useId, useState, type FormEvent } from 'react';
import { useStore } from 'zustand';
import type { RepositoryInfo, RepositoryVerifyResult, SyncReport } from '../../../shared/contract/repository.js';
import { useConsole } from '../../app/console-context.js';
import { ErrorDetails } from '../../components/ErrorDetails.js';
import { formatBytes, formatMoment } from '../../components/format.js';
import { LoadFailure } from '../../components/LoadFailure.js';
import { TableScroll } from '../../components/TableScroll.js';
import { ViewHeading } from '../../components/ViewHeading.js';
import { OperationProgress } from '../../operations/OperationProgress.js';
import { createRepositoriesStore, describeRepositoryProgress, type RepositoriesStore } from './store.js';

function yesNo(value: boolean): string {
  return value ? 'yes' : 'no';
}

function objectCounts(objects: RepositoryInfo['objects']): string {
  const kinds = Object.entries(objects);
  return kinds.length === 0 ? 'none' : kinds.map(([kind, { count, bytes }]) => `${kind}: ${String(count)} (${formatBytes(bytes)})`).join(', ');
}

function RepositoryTable({ repositories, store, busy }: { repositories: readonly RepositoryInfo[]; store: RepositoriesStore; busy: boolean }) {
  return (
    <TableScroll label="Repositories table, scrolls sideways">
      <table>
        <caption>Configured repositories</caption>
        <thead>
          <tr>
            <th scope="col">Repository</th>
            <th scope="col">Type</th>
            <th scope="col">Location</th>
            <th scope="col">Media</th>
            <th scope="col">Offsite</th>
            <th scope="col">Initialized</th>
            <th scope="col">Created</th>
            <th scope="col">Key slots</th>
            <th scope="col">Objects</th>
            <th scope="col">Status</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {repositories.map((repository) => (
            <tr key={repository.repository}>
              <th scope="row">{repository.repository}</th>
              <td>{repository.type}</td>
              <td>{repository.location}</td>
              <td>{repository.media}</td>
              <td>{yesNo(repository.offsite)}</td>
              <td>{yesNo(repository.initialized)}</td>
              <td>{repository.createdAt ? formatMoment(repository.createdAt) : '—'}</td>
              <td>{repository.keySlots.map((slot) => slot.label).join(', ') || 'none'}</td>
              <td>{objectCounts(repository.objects)}</td>
              <td>{repository.error ? <ErrorDetails error={repository.error} /> : 'reachable'}</td>
              <td>
                <button
                  type="button"
                  className="button"
                  aria-label={`Verify repository ${repository.repository}`}
                  disabled={busy}
                  onClick={() => void store.getState().verify(repository.repository, false)}
                >
                  Verify
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableScroll>
  );
}

function VerifyResult({ result }: { result: RepositoryVerifyResult }) {
  const headingId = useId();
  return (
    <section aria-labelledby={headingId}>
      <h3 id={headingId}>{result.repository}</h3>
      <p>
        {result.objectsChecked} objects checked, {formatBytes(result.bytesChecked)}.
      </p>
      {result.error && <ErrorDetails error={result.error} />}
      {result.problems.length === 0 ? (
        !result.error && <p>No problems found.</p>
      ) : (
        <table>
          <caption>Problems in repository {result.repository}</caption>
          <thead>
            <tr>
              <th scope="col">Object</th>
              <th scope="col">Problem</th>
              <th scope="col">Detail</th>
              <th scope="col">Referenced by</th>
              <th scope="col">Repaired</th>
            </tr>
          </thead>
          <tbody>
            {result.problems.map((problem) => (
              <tr key={problem.object}>
                <th scope="row">{problem.object}</th>
                <td>{problem.problem}</td>
                <td>{problem.detail}</td>
                <td>{problem.referencedBy ?? '—'}</td>
                <td>{problem.repaired ? `yes, from ${problem.repairedFrom ?? 'another repository'}` : 'no'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function SyncResult({ report }: { report: SyncReport }) {
  return (
    <section aria-labelledby="sync-result-heading">
      <h2 id="sync-result-heading">
        Sync from {report.from} to {report.to}
      </h2>
      <p>
        {report.objectsCopied} objects copied ({formatBytes(report.bytesCopied)}), {report.objectsAlreadyPresent} already present.
      </p>
      {report.skippedCorrupt.length > 0 && (
        <ul aria-label="Corrupt objects not copied">
          {report.skippedCorrupt.map((object) => (
            <li key={object}>{object}</li>
          ))}
        </ul>
      )}
    </section>
  );
}

function SyncForm({ repositories, store, busy }: { repositories: readonly RepositoryInfo[]; store: RepositoriesStore; busy: boolean }) {
  const names = repositories.map((repository) => repository.repository);
  const [from, setFrom] = useState(names[0] ?? '');
  const [to, setTo] = useState(names[1] ?? '');
  const [problem, setProblem] = useState<string>();
  const fromId = useId();
  const toId = useId();
  const problemId = useId();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (from === '' || to === '' || from === to) {
      setProblem('Choose two different repositories: the one to copy from and the one to copy to.');
      return;
    }
    setProblem(undefined);
    void store.getState().sync(from, to);
  };
  return (
    <form onSubmit={submit} className="inline-form" aria-labelledby="sync-heading">
      <h2 id="sync-heading">Sync</h2>
      <p>Copies every object one repository holds and the other lacks; nothing is deleted.</p>
      <label htmlFor={fromId}>From</label>
      <select
        id={fromId}
        value={from}
        onChange={(event) => {
          setFrom(event.target.value);
        }}
      >
        {names.map((name) => (
          <option key={name}>{name}</option>
        ))}
      </select>
      <label htmlFor={toId}>To</label>
      <select
        id={toId}
        value={to}
        aria-describedby={problem ? problemId : undefined}
        onChange={(event) => {
          setTo(event.target.value);
        }}
      >
        {names.map((name) => (
          <option key={name}>{name}</option>
        ))}
      </select>
      <button type="submit" className="button" disabled={busy}>
        Sync repositories
      </button>
      {problem && (
        <p id={problemId} role="alert">
          {problem}
        </p>
      )}
    </form>
  );
}

function WorkProgress({ store }: { store: RepositoriesStore }) {
  const running = useStore(store, (state) => state.running);
  const progress = useStore(store, (state) => state.progress);
  if (!running) return null;
  const label = running.kind === 'verify' ? 'Verification progress' : 'Sync progress';
  const what =
    running.kind === 'verify' ? `Verifying ${running.repository === undefined ? 'all repositories' : `repository ${running.repository}`}` : `Syncing ${running.from} to ${running.to}`;
  const text = progress ? describeRepositoryProgress(progress, formatBytes) : `${what}: starting`;
  const percent = progress && progress.total > 0 ? Math.round((progress.done / progress.total) * 100) : undefined;
  return (
    <div className="operation">
      <div role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} {...(percent === undefined ? {} : { 'aria-valuenow': percent })} aria-valuetext={text} className="progress">
        <div className="progress-track" aria-hidden="true">
          <div className="progress-fill" style={{ width: `${String(percent ?? 5)}%` }} />
        </div>
        <p className="progress-text">{text}</p>
      </div>
    </div>
  );
}

function RepositoryOperations() {
  const { operations } = useConsole();
  const all = useStore(operations, (state) => state.operations);
  const own = Object.values(all).filter((operation) => operation.kind === 'verify' || operation.kind === 'sync');
  return (
    <>
      {own.map((operation) => (
        <OperationProgress key={operation.id} operationId={operation.id} label={`${operation.kind === 'verify' ? 'Verification' : 'Sync'} progress: ${operation.title}`} />
      ))}
    </>
  );
}

export function RepositoriesView() {
  const { client } = useConsole();
  const [store] = useState(() => createRepositoriesStore(client));
  const repositories = useStore(store, (state) => state.repositories);
  const running = useStore(store, (state) => state.running);
  const verifyReport = useStore(store, (state) => state.verifyReport);
  const syncReport = useStore(store, (state) => state.syncReport);
  const workError = useStore(store, (state) => state.workError);
  const [repair, setRepair] = useState(false);
  const repairId = useId();
  const busy = running !== undefined;

  useEffect(() => {
    void store.getState().load();
    return store.getState().watchProgress();
  }, [store]);

  return (
    <>
      <ViewHeading>Repositories</ViewHeading>
      <div className="toolbar">
        <button type="button" className="button button-primary" disabled={busy} onClick={() => void store.getState().verify(undefined, repair)}>
          Verify all repositories
        </button>
        <span className="checkbox-field">
          <input
            id={repairId}
            type="checkbox"
            checked={repair}
            onChange={(event) => {
              setRepair(event.target.checked);
            }}
          />
          <label htmlFor={repairId}>Repair damaged objects from other copies</label>
        </span>
      </div>
      <WorkProgress store={store} />
      <RepositoryOperations />
      <p role="status" className="load-status">
        {repositories.loading ? 'Loading repositories…' : ''}
        {verifyReport && !busy && (verifyReport.ok ? 'Verification found no problems.' : 'Verification found problems; see the report below.')}
        {syncReport && !busy && `Sync finished: ${String(syncReport.objectsCopied)} objects copied.`}
      </p>
      {workError && (
        <div role="alert">
          <ErrorDetails error={workError} />
        </div>
      )}
      {repositories.error && <LoadFailure what="the repositories" error={repositories.error} onRetry={() => void store.getState().load()} />}
      {repositories.value && <RepositoryTable repositories={repositories.value} store={store} busy={busy} />}
      {repositories.value && repositories.value.length > 1 && <SyncForm repositories={repositories.value} store={store} busy={busy} />}
      {verifyReport && (
        <section aria-labelledby="verification-heading">
          <h2 id="verification-heading">Verification{verifyReport.repaired ? ' and repair' : ''}</h2>
          {verifyReport.repositories.map((result) => (
            <VerifyResult key={result.repository} result={result} />
          ))}
        </section>
      )}
      {syncReport && <SyncResult report={syncReport} />}
    </>
  );
}
