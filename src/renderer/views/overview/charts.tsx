import { useId } from 'react';
import { formatBytes } from '../../components/format.js';
import type { BackupDay, RepositoryStorage } from './summaries.js';

/**
 * The Overview's charts. Each is an SVG with a one-sentence summary as its name and the
 * same figures in a table right below, because a chart alone says nothing to a screen
 * reader; outcomes differ by fill pattern and by label, never by colour alone.
 */

export function StorageChart({ storage, summary }: { storage: readonly RepositoryStorage[]; summary: string }) {
  const summaryId = useId();
  const largest = Math.max(1, ...storage.map((entry) => entry.bytes ?? 0));
  const rowHeight = 28;
  return (
    <figure className="chart">
      <figcaption id={summaryId}>{summary}</figcaption>
      <svg role="img" aria-labelledby={summaryId} viewBox={`0 0 600 ${String(storage.length * rowHeight + 8)}`} className="chart-svg">
        {storage.map((entry, index) => {
          const y = index * rowHeight + 4;
          const width = entry.bytes === undefined ? 0 : Math.max(2, (entry.bytes / largest) * 330);
          return (
            <g key={entry.repository}>
              <text x={0} y={y + 17} className="chart-label">
                {entry.repository}
              </text>
              <rect x={140} y={y + 3} width={width} height={rowHeight - 10} className="chart-bar" />
              <text x={148 + width} y={y + 17} className="chart-label">
                {entry.bytes === undefined ? 'unreadable' : formatBytes(entry.bytes)}
              </text>
            </g>
          );
        })}
      </svg>
      <table>
        <caption>Storage per repository</caption>
        <thead>
          <tr>
            <th scope="col">Repository</th>
            <th scope="col">Stored</th>
          </tr>
        </thead>
        <tbody>
          {storage.map((entry) => (
            <tr key={entry.repository}>
              <th scope="row">{entry.repository}</th>
              <td>{entry.bytes === undefined ? 'could not be read' : formatBytes(entry.bytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

const outcomes = [
  { key: 'success', label: 'succeeded', fill: 'url(#outcome-success)' },
  { key: 'partial', label: 'partly succeeded', fill: 'url(#outcome-partial)' },
  { key: 'failure', label: 'failed', fill: 'url(#outcome-failure)' },
] as const;

export function BackupSuccessChart({ days, summary }: { days: readonly BackupDay[]; summary: string }) {
  const summaryId = useId();
  const most = Math.max(1, ...days.map((day) => day.success + day.partial + day.failure));
  const columnWidth = 18;
  const height = 120;
  return (
    <figure className="chart">
      <figcaption id={summaryId}>{summary}</figcaption>
      <svg role="img" aria-labelledby={summaryId} viewBox={`0 0 ${String(days.length * columnWidth + 40)} ${String(height + 24)}`} className="chart-svg">
        <defs>
          <pattern id="outcome-success" width="6" height="6" patternUnits="userSpaceOnUse">
            <rect width="6" height="6" className="chart-success" />
          </pattern>
          <pattern id="outcome-partial" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
            <rect width="6" height="6" className="chart-partial" />
            <line x1="0" y1="0" x2="0" y2="6" className="chart-hatch" />
          </pattern>
          <pattern id="outcome-failure" width="6" height="6" patternUnits="userSpaceOnUse">
            <rect width="6" height="6" className="chart-failure" />
            <path d="M0 0L6 6M6 0L0 6" className="chart-hatch" />
          </pattern>
        </defs>
        {days.map((day, index) => {
          let top = height;
          return (
            <g key={day.day}>
              {outcomes.map((outcome) => {
                const count = day[outcome.key];
                const barHeight = (count / most) * (height - 10);
                top -= barHeight;
                return count === 0 ? null : <rect key={outcome.key} x={index * columnWidth + 2} y={top} width={columnWidth - 4} height={barHeight} fill={outcome.fill} className="chart-outline" />;
              })}
              {index % 7 === 0 && (
                <text x={index * columnWidth} y={height + 16} className="chart-label chart-small">
                  {day.day.slice(5)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <ul className="chart-legend" aria-label="Legend">
        {outcomes.map((outcome) => (
          <li key={outcome.key}>
            <svg aria-hidden="true" width="14" height="14" viewBox="0 0 14 14">
              <rect width="14" height="14" fill={outcome.fill} className="chart-outline" />
            </svg>{' '}
            {outcome.label}
          </li>
        ))}
      </ul>
      <details className="chart-data">
        <summary>Show backup outcomes as a table</summary>
        <table>
          <caption>Backups per day (UTC)</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Succeeded</th>
              <th scope="col">Partly succeeded</th>
              <th scope="col">Failed</th>
            </tr>
          </thead>
          <tbody>
            {days.map((day) => (
              <tr key={day.day}>
                <th scope="row">{day.day}</th>
                <td>{day.success}</td>
                <td>{day.partial}</td>
                <td>{day.failure}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
