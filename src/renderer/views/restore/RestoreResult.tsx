import { useState } from 'react';
import type { Operation } from '../../../shared/contract/operations.js';
import { formatBytes, formatDuration, formatMoment } from '../../components/format.js';

/** The start command with a Copy button; the command is also plain selectable text, for when the clipboard is refused. */
function StartCommand({ command }: { command: string }) {
  const [copied, setCopied] = useState<string>();
  return (
    <div className="start-command">
      <p>Start the restored server with:</p>
      <pre>
        <code>{command}</code>
      </pre>
      <button
        type="button"
        className="button"
        onClick={() => {
          navigator.clipboard.writeText(command).then(
            () => {
              setCopied('Copied to the clipboard.');
            },
            () => {
              setCopied('The clipboard refused the copy: select the command and copy it by hand.');
            },
          );
        }}
      >
        Copy command
      </button>
      <p role="status" className="hint">
        {copied}
      </p>
    </div>
  );
}

/**
 * What a finished restore leaves the person with: the exact command to start the
 * restored cluster, or the rows each table brought back, and that the restore is in the
 * event history as a DR event.
 */
export function RestoreResult({ operation }: { operation: Operation }) {
  const { result } = operation;
  if (result?.kind === 'restore') {
    const { restore } = result;
    return (
      <div className="restore-result">
        <StartCommand command={result.startCommand} />
        <ul>
          <li>
            From backup {restore.backupId} (ended {formatMoment(restore.backupStoppedAt)}), {String(restore.walSegments)} WAL segments, {formatBytes(restore.bytesWritten)} written in{' '}
            {formatDuration(restore.durationMs / 1000)}.
          </li>
          {restore.newestCommitTime !== undefined && <li>Newest commit in the restored WAL: {formatMoment(restore.newestCommitTime)}.</li>}
          {result.dataLossMinutes !== undefined && <li>Data loss: about {String(result.dataLossMinutes)} minutes of changes before the restore started are not in it.</li>}
          {restore.attachmentsDir !== undefined && <li>Configuration files and listed directories were put beside the data directory, in {restore.attachmentsDir}.</li>}
          {restore.pause && <li>Recovery pauses at the target: check the data, then run SELECT pg_wal_replay_resume() to promote.</li>}
          {restore.warnings.map((warning) => (
            <li key={warning}>Warning: {warning}</li>
          ))}
          <li>The restore was recorded as a DR event; it is listed in the Events view.</li>
        </ul>
      </div>
    );
  }
  if (result?.kind === 'partial-restore') {
    const report = result.partialRestore;
    return (
      <div className="restore-result">
        <table className="data-table">
          <caption>
            Rows brought back into schema {report.schema} of {report.into}
          </caption>
          <thead>
            <tr>
              <th scope="col">Table in the backup</th>
              <th scope="col">Restored as</th>
              <th scope="col">Rows</th>
            </tr>
          </thead>
          <tbody>
            {report.tables.map((table) => (
              <tr key={table.source}>
                <th scope="row">{table.source}</th>
                <td>{table.target}</td>
                <td>{table.rows.toLocaleString('en')}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <ul>
          <li>
            From backup {report.backupId}, in {formatDuration(report.durationMs / 1000)}.
          </li>
          {report.warnings.map((warning) => (
            <li key={warning}>Warning: {warning}</li>
          ))}
          <li>The partial restore was recorded as a DR event; it is listed in the Events view.</li>
        </ul>
      </div>
    );
  }
  return null;
}
