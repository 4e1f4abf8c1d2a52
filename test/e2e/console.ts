import { AxeBuilder } from '@axe-core/playwright';
import { test as base, expect, type Locator, type Page } from '@playwright/test';
import { consoleUrl, readSandbox, type Sandbox } from './sandbox.js';

/**
 * What every spec shares: the sandbox the global set-up built, and the ways a person
 * reaches the console — by its URL with the token, and by the keyboard.
 */
export const test = base.extend<object, { sandbox: Sandbox }>({
  sandbox: [
    // eslint-disable-next-line no-empty-pattern -- Playwright reads the fixtures a function asks for from its first parameter
    async ({}, use) => {
      await use(await readSandbox());
    },
    { scope: 'worker' },
  ],
});

export { expect };

/** The six views, as the navigation names them and as their addresses open them. */
export const views = [
  { name: 'Overview', path: '/overview', file: 'overview' },
  { name: 'Timeline', path: '/timeline', file: 'timeline' },
  { name: 'Backups', path: '/backups', file: 'backups' },
  { name: 'Restore tests', path: '/restore-tests', file: 'restore-tests' },
  { name: 'Repositories', path: '/repositories', file: 'repositories' },
  { name: 'Events', path: '/events', file: 'events' },
] as const;

/** Opens the console at a route, as the URL `drc serve` printed would, and waits for the view's heading. */
export async function openConsole(page: Page, sandbox: Pick<Sandbox, 'origin' | 'token'>, route: string): Promise<void> {
  await page.goto(consoleUrl(sandbox, route));
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
}

/**
 * Presses Tab until `target` has the focus, as a keyboard user moves through the page;
 * fails if it is not reached within `limit` presses (it is then not in the tab order).
 */
export async function tabTo(page: Page, target: Locator, limit = 60): Promise<void> {
  for (let presses = 0; presses < limit; presses++) {
    if (await target.evaluate((element) => element.matches(':focus')).catch(() => false)) return;
    await page.keyboard.press('Tab');
  }
  await expect(target, `reachable with Tab within ${String(limit)} presses`).toBeFocused({ timeout: 1 });
}

/** axe over the whole page; every violation, whatever its impact, fails with where it is and why. */
export async function expectNoAxeViolations(page: Page, what: string): Promise<void> {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const readable = violations.flatMap((violation) =>
    violation.nodes.map(
      (node) => `${violation.id} (${violation.impact ?? 'impact unknown'}): ${violation.help}\n    at ${node.target.join(' ')}\n    ${node.failureSummary?.replaceAll('\n', '\n    ') ?? ''}\n    ${violation.helpUrl}`,
    ),
  );
  expect(readable, `axe violations on ${what}:\n${readable.join('\n')}`).toEqual([]);
}
