import type { Alert } from '../../../shared/contract/status.js';
import { latestEvent } from './history.js';
import type { RuleInput } from './rule.js';

/** RESTORE_TEST_FAILED: the newest restore test failed, so the newest backup is not proven. */
export function restoreTestFailed({ events }: RuleInput): Alert[] {
  const lastTest = latestEvent(events, (event) => event.type === 'restore-test');
  if (lastTest?.outcome !== 'failure') return [];
  return [
    {
      severity: 'critical',
      code: 'RESTORE_TEST_FAILED',
      message: `the last restore test (${lastTest.time}) failed: ${lastTest.summary}`,
      hint: 'read it with `drc events --type restore-test`; a backup that does not restore is not a backup — fix the cause and take a new full backup',
    },
  ];
}
