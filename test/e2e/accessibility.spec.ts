import type { Page } from '@playwright/test';
import { join } from 'node:path';
import { expect, expectNoAxeViolations, openConsole, test, views } from './console.js';

/** The view has finished loading: no "Loading …" status left on it. */
async function settled(page: Page): Promise<void> {
  await expect(page.getByText(/^Loading/)).toHaveCount(0, { timeout: 30_000 });
}

/**
 * axe on every view and every dialog, in the light and the dark theme the OS asks for:
 * no violation of any impact. Dialogs are opened the way a person opens them, and closed
 * again with Escape or Cancel, so nothing here changes the sandbox.
 */
for (const colorScheme of ['light', 'dark'] as const) {
  test.describe(`axe, ${colorScheme} theme`, () => {
    test.use({ colorScheme });

    for (const view of views) {
      test(`the ${view.name} view`, async ({ page, sandbox }) => {
        await openConsole(page, sandbox, view.path);
        await expect(page.getByRole('heading', { level: 1, name: view.name })).toBeVisible();
        await settled(page);
        await expectNoAxeViolations(page, `${view.name} (${colorScheme})`);
      });
    }

    test('the Manual backup dialog', async ({ page, sandbox }) => {
      await openConsole(page, sandbox, '/backups');
      await page.getByTestId('manual-backup-btn').click();
      const dialog = page.getByRole('dialog', { name: 'Manual backup' });
      await expect(dialog).toBeVisible();
      await expectNoAxeViolations(page, `the Manual backup dialog (${colorScheme})`);
      // Refused without a reason: the error state must be as accessible as the empty one.
      await dialog.getByRole('button', { name: 'Start backup' }).click();
      await expect(page.getByTestId('backup-reason')).toHaveAttribute('aria-invalid', 'true');
      await expectNoAxeViolations(page, `the Manual backup dialog with a missing reason (${colorScheme})`);
      await page.keyboard.press('Escape');
      await expect(dialog).toBeHidden();
    });

    test('the backup detail dialog', async ({ page, sandbox }) => {
      await openConsole(page, sandbox, '/backups');
      await settled(page);
      await page.getByRole('button', { name: /^Details of backup / }).first().click();
      const dialog = page.getByRole('dialog');
      await expect(dialog).toBeVisible();
      await settled(page);
      await expectNoAxeViolations(page, `the backup detail dialog (${colorScheme})`);
      await page.keyboard.press('Escape');
      await expect(dialog).toBeHidden();
    });

    test('the restore wizard, step by step, and its confirmation', async ({ page, sandbox }) => {
      await openConsole(page, sandbox, '/timeline');
      await settled(page);
      await page.getByRole('slider', { name: 'Recovery target' }).focus();
      await page.keyboard.press('End');
      await page.getByRole('button', { name: 'Restore to this point…' }).click();
      const wizard = page.getByRole('dialog', { name: 'Restore to a point in time' });
      await expect(wizard).toBeVisible();
      await expectNoAxeViolations(page, `the restore wizard's first step (${colorScheme})`);

      await wizard.getByRole('textbox', { name: 'Target directory' }).fill(join(sandbox.root, `never-restored-${colorScheme}`));
      await wizard.getByRole('button', { name: 'Preview the restore' }).click();
      await expect(wizard.getByText(/^Ready to restore/)).toBeVisible({ timeout: 30_000 });
      await expectNoAxeViolations(page, `the restore wizard's preview (${colorScheme})`);

      await wizard.getByRole('button', { name: 'Restore…' }).click();
      const confirmation = page.getByRole('alertdialog');
      await expect(confirmation).toBeVisible();
      await expectNoAxeViolations(page, `the restore confirmation (${colorScheme})`);
      await confirmation.getByRole('button', { name: 'Cancel' }).click();
      await expect(confirmation).toBeHidden();
    });
  });
}
