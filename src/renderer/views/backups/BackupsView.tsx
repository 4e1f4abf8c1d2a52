import { useEffect, useState } from 'react';
import { useStore } from 'zustand';
import type { BackupSummary } from '../../../shared/contract/backups.js';
import { useConsole } from '../../app/console-context.js';
import { formatBytes, formatDuration, formatMoment } from '../../components/format.js';
import { LoadFailure } from '../../components/LoadFailure.js';
import { TableScroll } from '../../components/TableScroll.js';
import { ViewHeading } from '../../components/ViewHeading.js';
import { OperationProgress } from '../../operations/OperationProgress.js';
import { BackupDetailDialog } from './BackupDetailDialog.js';
import { ManualBackupDialog } from './ManualBackupDialog.js';
import { createBackupsStore, type BackupsStore } from './store.js';

function BackupRow({ backup, store }: { backup: BackupSummary; store: BackupsStore }) {
  return (
    <tr>
      <th scope="row">{backup.id}</th>
      <td>{backup.type}</td>
      <td>{backup.reason || '—'}</td>
      <td>{backup.operator}</td>
      <td>{formatMoment(backup.stoppedAt)}</td>
      <td>{formatBytes(backup.bytesRead)}</td>
      <td>{formatBytes(backup.bytesStored)}</td>
      <td>{formatDuration(backup.durationMs / 1000)}</td>
      <td>
        <ul className="plain-list">
          {backup.copies.map((copy) => (
            <li key={copy.repository}>
              {copy.repository}: {copy.state}
            </li>
          ))}
        </ul>
      </td>
      <td>{backup.compliance.compliant ? 'met' : `not met: ${backup.compliance.shortfalls.join('; ')}`}</td>
      <td>{backup.lastRestoreTest ? `${backup.lastRestoreTest.outcome}, ${formatMoment(backup.lastRestoreTest.time)}` : 'never tested'}</td>
      <td>
        <button type="button" className="button" aria-label={`Details of backup ${backup.id}`} onClick={() => void store.getState().open(backup.id)}>
          Details
        </button>
      </td>
    </tr>
  );
}

/** Backup operations, newest first: the one started here first, so it carries the seed's test id. */
function BackupOperations({ store }: { store: BackupsStore }) {
  const { operations } = useConsole();
  const all = useStore(operations, (state) => state.operations);
  const started = useStore(store, (state) => state.started);
  const others = Object.values(all)
    .filter((operation) => operation.kind === 'backup' && operation.id !== started)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  if (started === undefined && others.length === 0) return null;
  return (
    <section aria-labelledby="backup-operations-heading">
      <h2 id="backup-operations-heading">Backups in progress</h2>
      {started !== undefined && (
        <OperationProgress
          operationId={started}
          label="Backup progress"
          testId="backup-progress"
          onDismissed={() => {
            store.getState().forgetStarted();
          }}
        />
      )}
      {others.map((operation) => (
        <OperationProgress key={operation.id} operationId={operation.id} label={`Backup progress: ${operation.title}`} />
      ))}
    </section>
  );
}

export function BackupsView() {
  const { client, operations } = useConsole();
  const [store] = useState(() => createBackupsStore(client));
  const list = useStore(store, (state) => state.list);

  useEffect(() => {
    void store.getState().load();
    return store.getState().follow(operations);
  }, [store, operations]);

  return (
    <>
      <ViewHeading>Backups</ViewHeading>
      <div className="toolbar">
        <ManualBackupDialog store={store} />
        <button type="button" className="button" onClick={() => void store.getState().load()} disabled={list.loading}>
          Refresh list
        </button>
      </div>
      <BackupOperations store={store} />
      <p role="status" className="load-status">
        {list.loading ? 'Loading backups…' : list.value ? `${String(list.value.backups.length)} backups.` : ''}
      </p>
      {list.error && <LoadFailure what="the backups" error={list.error} onRetry={() => void store.getState().load()} />}
      {list.value && list.value.unreachable.length > 0 && (
        <ul aria-label="Repositories that could not be read" className="warnings">
          {list.value.unreachable.map((entry) => (
            <li key={entry.repository}>
              Repository {entry.repository} could not be read: {entry.message}. Backups held only there are missing from this list.
            </li>
          ))}
        </ul>
      )}
      {list.value && list.value.backups.length === 0 && <p>No backups yet. Start one with Manual backup.</p>}
      {list.value && list.value.backups.length > 0 && (
        <TableScroll label="Backups table, scrolls sideways">
          <table>
            <caption>Backups, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Backup</th>
                <th scope="col">Type</th>
                <th scope="col">Reason</th>
                <th scope="col">Operator</th>
                <th scope="col">Finished</th>
                <th scope="col">Read</th>
                <th scope="col">Stored</th>
                <th scope="col">Duration</th>
                <th scope="col">Copies</th>
                <th scope="col">3-2-1</th>
                <th scope="col">Restore test</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {[...list.value.backups]
                .sort((a, b) => b.stoppedAt.localeCompare(a.stoppedAt))
                .map((backup) => (
                  <BackupRow key={backup.id} backup={backup} store={store} />
                ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      <BackupDetailDialog store={store} />
    </>
  );
}
