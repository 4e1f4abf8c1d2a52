import { useEffect, useId } from 'react';
import { useStore } from 'zustand';
import type { RepositoryInfo, RepositoryVerifyResult } from '../shared/contract/repository.js';
import type { DashboardStore } from './store.js';

interface ShownError {
  readonly code: string;
  readonly message: string;
  readonly hints: readonly string[];
}

/** Errors are printed as they are: code, the "unable to …" message, then what to do next. */
function ErrorDetails({ error }: { error: ShownError }) {
  return (
    <div>
      <p>
        <strong>{error.code}</strong>: {error.message}
      </p>
      {error.hints.length > 0 && (
        <ul aria-label="What to do next">
          {error.hints.map((hint) => (
            <li key={hint}>{hint}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

function yesNo(value: boolean): string {
  return value ? 'yes' : 'no';
}

function objectCounts(objects: RepositoryInfo['objects']): string {
  const kinds = Object.entries(objects);
  return kinds.length === 0 ? 'none' : kinds.map(([kind, { count }]) => `${kind}: ${count}`).join(', ');
}

function RepositoryTable({ repositories }: { repositories: readonly RepositoryInfo[] }) {
  return (
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
          <th scope="col">Objects</th>
          <th scope="col">Status</th>
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
            <td>{objectCounts(repository.objects)}</td>
            <td>{repository.error ? <ErrorDetails error={repository.error} /> : 'reachable'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function VerifyResult({ result }: { result: RepositoryVerifyResult }) {
  const headingId = useId();
  return (
    <section aria-labelledby={headingId}>
      <h3 id={headingId}>{result.repository}</h3>
      <p>{result.objectsChecked} objects checked.</p>
      {result.error && <ErrorDetails error={result.error} />}
      {result.problems.length === 0 ? (
        <p>No problems found.</p>
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

export function App({ store }: { store: DashboardStore }) {
  const repositories = useStore(store, (state) => state.repositories);
  const verifyReport = useStore(store, (state) => state.verifyReport);
  const busy = useStore(store, (state) => state.busy);
  const status = useStore(store, (state) => state.status);
  const error = useStore(store, (state) => state.error);

  useEffect(() => {
    const { loadRepositories, watchProgress } = store.getState();
    void loadRepositories();
    return watchProgress();
  }, [store]);

  return (
    <>
      <header>
        <h1>DR Console</h1>
      </header>
      <main>
        <section aria-labelledby="repositories-heading">
          <h2 id="repositories-heading">Repositories</h2>
          <button type="button" disabled={busy !== undefined} onClick={() => void store.getState().verifyRepositories()}>
            Verify repositories
          </button>
          <p role="status">{status}</p>
          {error && (
            <div role="alert">
              <ErrorDetails error={error} />
            </div>
          )}
          <RepositoryTable repositories={repositories} />
        </section>
        {verifyReport && (
          <section aria-labelledby="verification-heading">
            <h2 id="verification-heading">Verification</h2>
            {verifyReport.repositories.map((result) => (
              <VerifyResult key={result.repository} result={result} />
            ))}
          </section>
        )}
      </main>
    </>
  );
}
