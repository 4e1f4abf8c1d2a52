import type { Alert } from '../../../shared/contract/status.js';
import { latestEvent } from './history.js';
import type { RuleInput } from './rule.js';
import { raise } from './alert-codes.js';

/** RESTORE_TEST_FAILED: the newest restore test failed, so the newest backup is not proven. */
export function restoreTestFailed({ events }: RuleInput): Alert[] {
  const lastTest = latestEvent(events, (event) => event.type === 'restore-test');
  if (lastTest?.outcome !== 'failure') return [];
  return [raise('RESTORE_TEST_FAILED', `the last restore test (${lastTest.time}) failed: ${lastTest.summary}`)];
}
