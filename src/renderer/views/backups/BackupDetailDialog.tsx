import { Dialog, Heading, Modal, ModalOverlay } from 'react-aria-components';
import { useStore } from 'zustand';
import { formatBytes, formatDuration, formatMoment } from '../../components/format.js';
import { LoadFailure } from '../../components/LoadFailure.js';
import type { BackupsStore } from './store.js';

/** One backup in full: where it came from, what it holds, where its copies are, and how its restore tests went. */
export function BackupDetailDialog({ store }: { store: BackupsStore }) {
  const selected = useStore(store, (state) => state.selected);
  const detail = useStore(store, (state) => state.detail);
  const close = () => {
    store.getState().close();
  };
  const backup = detail.value;
  return (
    <ModalOverlay
      className="modal-overlay"
      isDismissable
      isOpen={selected !== undefined}
      onOpenChange={(isOpen) => {
        if (!isOpen) close();
      }}
    >
      <Modal className="modal">
        <Dialog className="dialog">
          <Heading slot="title">Backup {selected}</Heading>
          {detail.loading && <p role="status">Loading the backup…</p>}
          {detail.error && selected !== undefined && (
            <LoadFailure what={`backup ${selected}`} error={detail.error} onRetry={() => void store.getState().open(selected)} />
          )}
          {backup && (
            <>
              <dl className="facts">
                <dt>Type</dt>
                <dd>
                  {backup.type}
                  {backup.incrementalFrom && `, incremental from ${backup.incrementalFrom}${backup.nativeIncremental ? ' (PostgreSQL native incremental)' : ''}`}
                </dd>
                <dt>Reason</dt>
                <dd>{backup.reason || '—'}</dd>
                <dt>Operator</dt>
                <dd>
                  {backup.operator} on {backup.host}
                </dd>
                <dt>Cluster</dt>
                <dd>
                  {backup.cluster}, PostgreSQL {backup.serverVersion}, timeline {backup.timeline}
                </dd>
                <dt>Started</dt>
                <dd>{formatMoment(backup.startedAt)}</dd>
                <dt>Finished</dt>
                <dd>
                  {formatMoment(backup.stoppedAt)} ({formatDuration(backup.durationMs / 1000)})
                </dd>
                <dt>WAL range</dt>
                <dd>
                  {backup.startLsn} to {backup.stopLsn}, segments of {formatBytes(backup.walSegmentSize)}
                </dd>
                <dt>Size</dt>
                <dd>
                  {formatBytes(backup.bytesRead)} read, {formatBytes(backup.bytesStored)} stored, {backup.files} files
                </dd>
                <dt>Components</dt>
                <dd>{backup.components.join(', ')}</dd>
                <dt>Copies</dt>
                <dd>{backup.copies.map((copy) => `${copy.repository}: ${copy.state}`).join('; ') || 'none'}</dd>
                <dt>3-2-1</dt>
                <dd>{backup.compliance.compliant ? 'met' : `not met: ${backup.compliance.shortfalls.join('; ')}`}</dd>
              </dl>
              {backup.tablespaces.length > 0 && (
                <>
                  <h3>Tablespaces</h3>
                  <ul>
                    {backup.tablespaces.map((tablespace) => (
                      <li key={tablespace.oid}>
                        {tablespace.oid}: {tablespace.location}
                      </li>
                    ))}
                  </ul>
                </>
              )}
              {backup.attachments.length > 0 && (
                <>
                  <h3>Files kept beside the data directory</h3>
                  <ul>
                    {backup.attachments.map((attachment) => (
                      <li key={attachment.path}>
                        {attachment.component}: {attachment.path} ({formatBytes(attachment.bytes)})
                      </li>
                    ))}
                  </ul>
                </>
              )}
              <h3>Restore tests</h3>
              {backup.restoreTests.length === 0 ? (
                <p>Never restore-tested.</p>
              ) : (
                <ul>
                  {backup.restoreTests.map((test) => (
                    <li key={test.id}>
                      {test.outcome} on {formatMoment(test.time)}: {test.summary} ({test.rowsVerified} rows verified, {formatDuration(test.durationMs / 1000)})
                    </li>
                  ))}
                </ul>
              )}
            </>
          )}
          <div className="dialog-actions">
            <button type="button" className="button" onClick={close}>
              Close
            </button>
          </div>
        </Dialog>
      </Modal>
    </ModalOverlay>
  );
}
