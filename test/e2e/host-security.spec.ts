import { expect, test } from './console.js';

/**
 * The browser side of `drc serve`'s token (the host's own cases are vitest tests in
 * test/hosts/): a page opened without the URL's fragment, or with a stale token from an
 * earlier run, shows the refusal with what to do, and no data.
 */
for (const [what, fragment] of [
  ['without the token', ''],
  ['with a token from another run', '#token=not-this-runs-token'],
] as const) {
  test(`the console opened ${what} shows TOKEN_INVALID and how to get in, not data`, async ({ page, sandbox }) => {
    await page.goto(`${sandbox.origin}/backups${fragment}`);
    await expect(page.getByText('TOKEN_INVALID').first()).toBeVisible();
    await expect(page.getByRole('list', { name: 'What to do next' }).first()).toContainText('open the URL drc serve printed');
    await expect(page.getByRole('table', { name: 'Backups, newest first' })).toHaveCount(0);
    await expect(page.getByText('Nightly full backup')).toHaveCount(0);
  });
}
