import { callApi } from './sandbox.js';
import { expect, test } from './console.js';
import type { BackupList } from '../../src/shared/contract/backups.js';

/**
 * The seed's test as it was written (WS-191), against the real console: the seed's
 * address, its three test ids, then what it left unsaid — the backup finishes and is
 * listed with its reason, and its result stays until dismissed.
 */
test('Admin can initiate manual backup and verify completion', async ({ page, sandbox }) => {
  await page.goto(`${sandbox.origin}/admin/backups#token=${encodeURIComponent(sandbox.token)}`);
  await expect(page.getByRole('heading', { level: 1, name: 'Backups' })).toBeVisible();

  await page.getByTestId('manual-backup-btn').click();
  const dialog = page.getByRole('dialog', { name: 'Manual backup' });
  await expect(dialog).toBeVisible();
  await page.getByTestId('backup-reason').fill('Pre-deployment backup');
  await dialog.getByRole('button', { name: 'Start backup' }).click();

  const progress = page.getByTestId('backup-progress');
  await expect(progress).toBeVisible();
  await expect(progress).toHaveAttribute('role', 'progressbar');
  await expect(progress).toHaveAttribute('aria-valuetext', /^(Finished|Failed|Cancelled)/, { timeout: 90_000 });
  expect(await progress.getAttribute('aria-valuetext')).toMatch(/^Finished/);
  // The dialog closed once the backup started, and gave the focus back to the button that opened it.
  await expect(dialog).toBeHidden();
  await expect(page.getByTestId('manual-backup-btn')).toBeFocused();

  const listed = page.getByRole('table', { name: 'Backups, newest first' }).getByRole('row').filter({ hasText: 'Pre-deployment backup' });
  await expect(listed).toHaveCount(1);

  // What the list shows is what the repositories hold: the reason is in the stored backup record.
  const { backups } = await callApi<BackupList>(sandbox, 'backups/list');
  const stored = backups.find((backup) => backup.reason === 'Pre-deployment backup');
  expect(stored?.copies.map((copy) => `${copy.repository}:${copy.state}`)).toEqual(['nas:present', 'usb:present']);

  // The result stays until the person dismisses it.
  await page.getByRole('region', { name: 'Backup progress', exact: true }).getByRole('button', { name: 'Dismiss result' }).click();
  await expect(progress).toBeHidden();
});
