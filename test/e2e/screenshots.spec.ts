import type { Page } from '@playwright/test';
import { join, resolve } from 'node:path';
import { expect, openConsole, test, views } from './console.js';

/**
 * The README's pictures: every view and the main dialogs at 1280×860, light theme,
 * after the other specs have left a history (two backups, a restore test, a restore).
 * Runs last (its project depends on the others). Times differ from run to run; the
 * layout does not: no animation, no caret, and each view settled before the shot.
 */
const directory = resolve(import.meta.dirname, '..', '..', 'docs', 'screenshots');

async function shoot(page: Page, name: string): Promise<void> {
  await expect(page.getByText(/^Loading/)).toHaveCount(0, { timeout: 30_000 });
  await page.screenshot({ path: join(directory, `${name}.png`), animations: 'disabled', caret: 'hide' });
}

test.use({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' });

for (const view of views) {
  test(`screenshot of the ${view.name} view`, async ({ page, sandbox }) => {
    await openConsole(page, sandbox, view.path);
    await expect(page.getByRole('heading', { level: 1, name: view.name })).toBeVisible();
    await shoot(page, view.file);
  });
}

test('screenshots of the Manual backup and backup detail dialogs', async ({ page, sandbox }) => {
  await openConsole(page, sandbox, '/backups');
  await page.getByTestId('manual-backup-btn').click();
  await page.getByTestId('backup-reason').fill('Before deploy 4.2');
  await shoot(page, 'manual-backup-dialog');
  await page.keyboard.press('Escape');

  await page.getByRole('button', { name: /^Details of backup / }).first().click();
  await expect(page.getByRole('dialog')).toBeVisible();
  await shoot(page, 'backup-detail-dialog');
});

test('screenshots of the restore wizard and its confirmation', async ({ page, sandbox }) => {
  await openConsole(page, sandbox, '/timeline');
  await page.getByRole('slider', { name: 'Recovery target' }).focus();
  await page.keyboard.press('End');
  await page.getByRole('button', { name: 'Restore to this point…' }).click();
  const wizard = page.getByRole('dialog', { name: 'Restore to a point in time' });
  await wizard.getByRole('textbox', { name: 'Target directory' }).fill(join(sandbox.root, 'wedsync-restored'));
  await wizard.getByRole('button', { name: 'Preview the restore' }).click();
  await expect(wizard.getByText(/^Ready to restore/)).toBeVisible({ timeout: 30_000 });
  await shoot(page, 'restore-wizard-preview');

  await wizard.getByRole('button', { name: 'Restore…' }).click();
  await expect(page.getByRole('alertdialog')).toBeVisible();
  await shoot(page, 'restore-confirmation');
});
