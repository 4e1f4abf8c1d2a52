import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { makeTempDir, startClusterFromDataDir } from '../support/postgres.js';
import { drcOrFail, waitForWalStored, type Sandbox } from './sandbox.js';
import { expect, openConsole, tabTo, test } from './console.js';

async function sql<Row extends Record<string, unknown>>(sandbox: Sandbox, text: string): Promise<Row[]> {
  const client = new pg.Client({ host: '127.0.0.1', port: sandbox.cluster.port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    return (await client.query<Row>(text)).rows;
  } finally {
    await client.end();
  }
}

/**
 * The heart of the product, by keyboard alone: guests added after the nightly backup,
 * a restore point, then an accidental DELETE. On the timeline the DBA moves the
 * "Recovery target" slider with the keys to the moment before the delete, restores into
 * a new directory through the wizard, and the restored server has every deleted row back.
 */
test('a point-in-time restore chosen on the timeline by keyboard alone brings deleted rows back', async ({ page, sandbox }) => {
  test.setTimeout(240_000);
  await sql(sandbox, "INSERT INTO guests (name) SELECT 'late guest ' || g FROM generate_series(1, 30) g");
  const [{ count: guestsBefore } = { count: '0' }] = await sql<{ count: string }>(sandbox, 'SELECT count(*)::text AS count FROM guests');
  const restorePoint = JSON.parse(await drcOrFail(['restore-point', 'before-cleanup', '--config', sandbox.configPath, '--json'])) as { time: string };
  // The accident comes a moment later, so the target and the delete can never share a timestamp.
  await sleep(1100);
  await sql(sandbox, 'DELETE FROM guests WHERE id % 3 = 0');
  const [{ count: guestsLeft } = { count: '0' }] = await sql<{ count: string }>(sandbox, 'SELECT count(*)::text AS count FROM guests');
  expect(Number(guestsLeft)).toBeLessThan(Number(guestsBefore));
  const [{ lsn } = { lsn: '0/0' }] = await sql<{ lsn: string }>(sandbox, 'SELECT pg_current_wal_lsn()::text AS lsn');
  await sql(sandbox, 'SELECT pg_switch_wal()');
  await waitForWalStored(sandbox, lsn);

  await openConsole(page, sandbox, '/timeline');
  const slider = page.getByRole('slider', { name: 'Recovery target' });
  await tabTo(page, slider);

  // End: the latest recoverable moment, which is after the delete.
  await page.keyboard.press('End');
  const atLatest = await slider.getAttribute('aria-valuetext');
  // One minute back and forward again: the arrow keys move the target and say so.
  await page.keyboard.press('ArrowLeft');
  await expect(slider).not.toHaveAttribute('aria-valuetext', atLatest ?? '');
  await page.keyboard.press('End');
  // The previous marker: the restore point made just before the delete.
  await expect(slider).toHaveAttribute('aria-keyshortcuts', /\[/);
  await page.keyboard.press('[');
  await expect(slider).toHaveAttribute('aria-valuetext', new RegExp(new Date(restorePoint.time).toISOString().slice(11, 19)));

  // The parent exists, as a DBA's mount point would; the restore creates the directory itself.
  const targetDir = join(await makeTempDir('drc-e2e-restore-'), 'restored');
  const openWizard = page.getByRole('button', { name: 'Restore to this point…' });
  await tabTo(page, openWizard);
  await page.keyboard.press('Enter');
  const wizard = page.getByRole('dialog', { name: 'Restore to a point in time' });
  await expect(wizard).toBeVisible();

  await tabTo(page, wizard.getByRole('textbox', { name: 'Target directory' }));
  await page.keyboard.type(targetDir);
  await tabTo(page, wizard.getByRole('button', { name: 'Preview the restore' }));
  await page.keyboard.press('Enter');
  await expect(wizard.getByText(/^Ready to restore/)).toBeVisible({ timeout: 30_000 });

  await tabTo(page, wizard.getByRole('button', { name: 'Restore…' }));
  await page.keyboard.press('Enter');
  const confirmation = page.getByRole('alertdialog');
  await expect(confirmation).toBeVisible();
  await expect(confirmation.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await tabTo(page, confirmation.getByRole('textbox'));
  // The directory's own name, as the prompt asks.
  await page.keyboard.type('restored');
  await tabTo(page, confirmation.getByRole('button', { name: 'Restore', exact: true }));
  await page.keyboard.press('Enter');

  const progress = page.getByRole('progressbar', { name: /restore progress/i }).first();
  await expect(progress).toHaveAttribute('aria-valuetext', /^(Finished|Failed|Cancelled)/, { timeout: 120_000 });
  expect(await progress.getAttribute('aria-valuetext')).toMatch(/^Finished/);
  await expect(page.getByText(`pg_ctl start -D ${targetDir}`, { exact: false })).toBeVisible();

  const restored = await startClusterFromDataDir(targetDir, sandbox.cluster.major);
  try {
    const [{ count } = { count: '0' }] = await restored.sql<{ count: string }>('SELECT count(*)::text AS count FROM guests');
    expect(Number(count)).toBe(Number(guestsBefore));
    const [{ late } = { late: '0' }] = await restored.sql<{ late: string }>("SELECT count(*)::text AS late FROM guests WHERE name LIKE 'late guest %'");
    expect(Number(late)).toBe(30);
  } finally {
    await restored.remove();
    await rm(dirname(targetDir), { recursive: true, force: true });
  }
});
