import { useStore } from 'zustand';
import { formatBytes, formatDuration, formatMoment } from '../../components/format.js';
import { mediaWords } from '../restore/wizard.js';
import { backupTypeWords, summarizePoint, type RecoveryModel } from './model.js';
import type { TimelineStore } from './target.js';

/**
 * What restoring to the chosen point means, before anything runs: the backup it starts
 * from, the WAL replayed, which repositories can serve it (and why the others cannot),
 * and how long it should take by the rate restore tests measured.
 */
export function ChosenPoint({ store, model, onRestore }: { store: TimelineStore; model: RecoveryModel; onRestore: () => void }) {
  const value = useStore(store, (state) => state.value);
  const kind = useStore(store, (state) => state.kind);
  if (value === undefined) return null;
  const point = summarizePoint(model, value);
  const { backup } = point;
  const approximate = kind === 'lsn' ? 'about ' : '';
  // A typed LSN, transaction id or unknown restore point is the service's to judge; a moment on the slider is judged here.
  const blocked = (kind === 'time' || kind === 'latest') && (!backup || !point.walContinuous);
  return (
    <section aria-labelledby="chosen-point-heading" className="chosen-point">
      <h2 id="chosen-point-heading">The chosen point</h2>
      {kind === 'xid' && (
        <p>A transaction id has no moment until recovery reaches it: the figures below are for the slider&apos;s moment, and the preview says which backup the restore starts from.</p>
      )}
      <dl className="facts">
        <dt>Moment</dt>
        <dd>
          {approximate}
          {formatMoment(value)}
        </dd>
        <dt>Starts from</dt>
        <dd>
          {backup ? (
            <>
              {backupTypeWords[backup.type]} {backup.id}, ended {formatMoment(backup.at)}, {formatBytes(backup.bytes)}
            </>
          ) : (
            'no backup before this moment: nothing can restore to it'
          )}
        </dd>
        <dt>WAL replayed</dt>
        <dd>
          {point.replaySeconds === undefined
            ? '—'
            : `${formatDuration(point.replaySeconds)} of WAL${point.replayBytes === undefined ? ' (its size is not known: no WAL rate measured yet)' : `, about ${formatBytes(point.replayBytes)} at the average WAL rate`}`}
          {backup && (point.walContinuous ? ', unbroken from the backup' : ', but no repository holds it unbroken from the backup')}
        </dd>
        <dt>Repositories</dt>
        <dd>
          <ul className="plain-list">
            {point.repositories.map((repository) => (
              <li key={repository.repository}>
                <span className={repository.canServe ? 'verdict verdict-yes' : 'verdict verdict-no'}>{repository.canServe ? 'can serve it' : 'cannot serve it'}</span>: {repository.repository} (
                {mediaWords[repository.media]}){repository.reason === undefined ? '' : ` — ${repository.reason}`}
              </li>
            ))}
          </ul>
        </dd>
        <dt>Estimated restore time</dt>
        <dd>
          {point.estimatedSeconds === undefined
            ? 'no restore test yet — run one to get an estimate'
            : `about ${formatDuration(point.estimatedSeconds)} at ${formatBytes(model.restoreBytesPerSecond ?? 0)}/s, the rate restore tests measured`}
        </dd>
      </dl>
      <button type="button" className="button button-primary" onClick={onRestore} disabled={blocked}>
        Restore to this point…
      </button>
      {blocked && <p className="hint">No repository can restore to this point; choose another moment.</p>}
    </section>
  );
}
