import type { RestoreTestRecord } from '../../src/shared/contract/restore-test.js';
import { callApi } from './sandbox.js';
import { expect, openConsole, test } from './console.js';

/** "Prove last night's backup": a restore test started from the dashboard runs, passes, and joins the history. */
test('a restore test started from the dashboard passes and is listed with its checks', async ({ page, sandbox }) => {
  const before = await callApi<RestoreTestRecord[]>(sandbox, 'restoreTests/history', {});
  await openConsole(page, sandbox, '/restore-tests');
  await expect(page.getByRole('heading', { level: 1, name: 'Restore tests' })).toBeVisible();

  await expect(page.getByRole('combobox', { name: 'Backup to test' })).toHaveValue('latest');
  await page.getByRole('button', { name: 'Run restore test' }).click();

  const progress = page.getByRole('progressbar', { name: 'Restore test progress', exact: true });
  await expect(progress).toBeVisible();
  await expect(progress).toHaveAttribute('aria-valuetext', /^(Finished|Failed|Cancelled)/, { timeout: 110_000 });
  expect(await progress.getAttribute('aria-valuetext')).toMatch(/^Finished/);

  const after = await callApi<RestoreTestRecord[]>(sandbox, 'restoreTests/history', {});
  expect(after).toHaveLength(before.length + 1);
  const newest = after.find((record) => !before.some((earlier) => earlier.id === record.id));
  expect(newest?.success).toBe(true);
  expect(newest?.rowsVerified).toBeGreaterThan(0);

  const listed = page.getByRole('article').filter({ has: page.getByRole('heading', { level: 4, name: /^Passed: test of/ }) });
  await expect(listed).toHaveCount(after.filter((record) => record.success).length);
  await expect(listed.first().getByRole('table', { name: 'Checks' })).toBeVisible();
});
