import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { alertCodes, raise, type AlertCode } from '../../../src/main/engines/health/alert-codes.js';

describe('the alert registry', () => {
  it('is documented in docs/alerts.md, code by code, with the same severity, meaning and remedy', async () => {
    const documented = new Map(
      (await readFile(new URL('../../../docs/alerts.md', import.meta.url), 'utf8'))
        .split('\n')
        .flatMap((line) => {
          const cells = /^\| `([A-Z0-9_]+)` \| (\w+) \| (.+) \| (.+) \|$/.exec(line);
          return cells ? [[cells[1], { severity: cells[2], meaning: cells[3], hint: cells[4]?.replaceAll('\\|', '|') }] as const] : [];
        }),
    );
    expect([...documented.keys()].sort()).toEqual(Object.keys(alertCodes).sort());
    for (const [code, definition] of Object.entries(alertCodes)) {
      expect(documented.get(code), code).toEqual({ severity: definition.severity, meaning: definition.meaning, hint: definition.hint('REPO') });
    }
  });

  it('gives each alert its registered severity and remedy, naming the repository, unless the finding has a more exact hint', () => {
    expect(raise('WAL_GAP', 'nas misses 2 segments', { repository: 'nas' })).toEqual({
      severity: 'critical',
      code: 'WAL_GAP',
      message: 'nas misses 2 segments',
      hint: 'fill it from another repository with `drc sync --from … --to nas`, or take a new full backup',
      repository: 'nas',
    });
    expect(raise('JOB_FAILED', 'the backup failed', { hint: 'free space on /srv' })).toEqual({ severity: 'warning', code: 'JOB_FAILED', message: 'the backup failed', hint: 'free space on /srv' });
    const codes = Object.keys(alertCodes) as AlertCode[];
    for (const code of codes) expect(raise(code, 'seen').hint, code).not.toBe('');
  });
});
