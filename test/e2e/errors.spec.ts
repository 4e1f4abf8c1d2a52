import { rename } from 'node:fs/promises';
import type { RepositoryInfo } from '../../src/shared/contract/repository.js';
import { apiEnvelope, callApi, drcEnvironment, serveConsole, type Sandbox } from './sandbox.js';
import { expect, openConsole, test } from './console.js';

/** The error the services report for one repository, as `drc repo info` prints it too. */
async function repositoryError(console: Pick<Sandbox, 'origin' | 'token'>, repository: string): Promise<NonNullable<RepositoryInfo['error']>> {
  const [info] = await callApi<RepositoryInfo[]>(console, 'repository/info', { repository });
  if (info?.error === undefined) throw new Error(`repository '${repository}' reports no error`);
  return info.error;
}

/**
 * A failure reads the same in the console as on the command line: its code, and what to
 * do next. The expected code and hint are what the services answer over the API, so the test checks that the page passes the engine's words
 * through, not a paraphrase.
 */
test.describe('errors are shown with their code and hint', () => {
  test('a wrong passphrase: PASSPHRASE_WRONG on the Overview and the Backups view', async ({ page, sandbox }) => {
    const served = await serveConsole('serve-wrong-passphrase', sandbox.configPath, drcEnvironment({ DRC_PASSPHRASE: 'not the passphrase' }));
    try {
      // The repositories' headers read without the key; listing the backups needs it.
      const listing = await apiEnvelope(served, 'backups/list');
      if (listing.ok) throw new Error('the backups were listed with a wrong passphrase');
      const expected = listing.error;
      expect(expected.code).toBe('PASSPHRASE_WRONG');
      for (const route of ['/overview', '/backups']) {
        await openConsole(page, served, route);
        await expect(page.getByText('PASSPHRASE_WRONG').first()).toBeVisible({ timeout: 30_000 });
        await expect(page.getByRole('list', { name: 'What to do next' }).getByText(expected.hints[0] ?? '', { exact: true }).first()).toBeVisible();
      }
    } finally {
      await served.server.stop();
    }
  });

  test('an unplugged removable repository: MEDIA_NOT_PRESENT on the Repositories view', async ({ page, sandbox }) => {
    const unplugged = `${sandbox.usbMountPoint}.unplugged`;
    await rename(sandbox.usbMountPoint, unplugged);
    try {
      const expected = await repositoryError(sandbox, 'usb');
      expect(expected.code).toBe('MEDIA_NOT_PRESENT');

      await openConsole(page, sandbox, '/repositories');
      const usb = page.getByRole('row').filter({ hasText: 'usb' });
      await expect(usb.getByText('MEDIA_NOT_PRESENT')).toBeVisible({ timeout: 30_000 });
      await expect(usb.getByText(expected.hints[0] ?? '', { exact: false })).toBeVisible();
      // The other repository is still shown as usable: one absent drive does not blank the view.
      await expect(page.getByRole('row').filter({ hasText: 'nas' }).getByText('MEDIA_NOT_PRESENT')).toHaveCount(0);
    } finally {
      await rename(unplugged, sandbox.usbMountPoint);
    }
  });
});
