/// <reference lib="dom" />
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from '@playwright/test';
import { createHttpHost, type HttpHost } from '../src/main/hosts/http.js';
import { createContext, withRepositorySet } from '../src/main/services/context.js';
import { ensureWalIndex } from '../src/main/engines/wal/wal-index.js';
import { createServices } from '../src/main/services/index.js';
import { DrcError } from '../src/shared/errors.js';
import { directoryBytes } from './support/processes.js';
import { describeLoad, describeMachine, formatMs, verdict } from './support/report.js';
import { syntheticPassphraseVariable, writeSyntheticHistory, type SyntheticHistory } from './support/synthetic-history.js';

/**
 * The console's performance (issue 9 §7) over a synthetic history in the real repository
 * format, from local repositories, warm: `status.report` and `recovery.timeline` (median
 * of 5 after one untimed call) at 7, 30 and 90 days of history; the renderer bundle's
 * size; and in Chromium the dashboard's first render and one keyboard step on the
 * timeline's "Recovery target" slider. Prints figures against their targets; asserts
 * nothing. A view or service not built yet is reported as "not measurable yet", not a crash.
 */
export interface ConsoleBenchOptions {
  /** Days of history to build and time; the growth line compares them. Default 7, 30, 90. */
  readonly days?: readonly number[];
  /** Regenerate the histories even if a cached copy exists. */
  readonly fresh?: boolean;
}

const root = fileURLToPath(new URL('..', import.meta.url));
const rendererDir = join(root, 'dist', 'renderer');
const chromiumPath = '/usr/bin/chromium';
/** The history every browser figure is taken on: the 30 days the issue describes. */
const browserDays = 30;
const timedRuns = 5;
const keyboardSteps = 20;
/** How long to wait for a view's element before calling it not built yet. */
const elementTimeoutMs = 15_000;
/** The RPO meter waits for the status report: give it long enough to return a (failing) figure rather than none. */
const dataTimeoutMs = 60_000;
/** A cached history older than this is rebuilt, so "now" in status stays near the history's end. */
const cacheMaxAgeMs = 24 * 3_600_000;

const targets = { serviceMs: 500, firstRenderMs: 1500, keyboardStepMs: 50, bundleBytes: 1.5 * 1024 * 1024 } as const;

/** A figure for the final table: a value against its target, or why there is none. */
interface Figure {
  readonly name: string;
  readonly value?: number;
  readonly unit: 'ms' | 'bytes';
  readonly target?: number;
  readonly note?: string;
}

export async function benchConsole(options: ConsoleBenchOptions = {}): Promise<void> {
  const daysList = options.days ?? [7, 30, 90];
  const previousPassphrase = process.env[syntheticPassphraseVariable];
  // Cached histories were written with this passphrase; the bench's own, never a real one.
  process.env[syntheticPassphraseVariable] = 'console bench synthetic history';
  const figures: Figure[] = [];
  try {
    console.log(`\n## console — status, timeline data, renderer bundle and browser figures over a synthetic history`);
    console.log(`machine: ${await describeMachine()}; Node ${process.version}`);

    const histories: SyntheticHistory[] = [];
    for (const days of daysList) histories.push(await historyOf(days, options.fresh ?? false));

    console.log('\n### services, warm (one untimed call, then the median of 5), no cluster configured');
    const growth: Array<{ days: number; status?: number; timeline?: number }> = [];
    for (const history of histories) {
      const services = await createServices({ configPath: history.configPath });
      const context = await createContext({ configPath: history.configPath });
      const unlock = await medianMs(() => withRepositorySet(context, undefined, () => Promise.resolve()), 3);
      console.log(`${String(history.days)} days: opening the repositories (key-slot scrypt + headers) takes ${formatMs(unlock.median)} per one-shot drc command; the console keeps the key unlocked and does not pay it per call`);
      const status = await measureService(`status.report, ${String(history.days)} days`, () => services.status.report({}));
      const timeline = await measureService(`recovery.timeline {days: 30}, ${String(history.days)} days`, () => services.recovery.timeline({ days: 30 }));
      figures.push(status, timeline);
      growth.push({ days: history.days, ...(status.value === undefined ? {} : { status: status.value }), ...(timeline.value === undefined ? {} : { timeline: timeline.value }) });
    }
    printGrowth(growth);

    console.log('\n### renderer');
    figures.push(await bundleFigure());
    const browserHistory = histories.find((history) => history.days === browserDays) ?? histories.at(-1);
    if (browserHistory) figures.push(...(await browserFigures(browserHistory)));

    printTable(figures);
    console.log('\ndatasets:');
    for (const history of histories) {
      const bytes = (await directoryBytes(history.repositories.nas)) + (await directoryBytes(history.repositories.usb));
      const counts = history.counts;
      console.log(
        `  ${String(history.days).padStart(3)} days (${history.from} … ${history.to}): ${String(counts.fullBackups)} fulls, ${String(counts.archiveBackups)} archives, ${String(counts.restorePoints)} restore points, ` +
          `${String(counts.restoreTests)} restore tests, ${String(counts.events)} events, ${String(counts.walSegments)} WAL segments with summaries; ` +
          `${String(counts.objectsPerRepository)} objects per repository, 2 repositories (nas local, usb removable), ${formatBytes(bytes)} on disk`,
      );
    }
  } finally {
    if (previousPassphrase === undefined) delete process.env[syntheticPassphraseVariable];
    else process.env[syntheticPassphraseVariable] = previousPassphrase;
  }
}

// ---- histories --------------------------------------------------------------------

/**
 * The history for `days`, from the cache when one exists that the same generator wrote
 * in the last day: the cache key includes a hash of the generator's source, so a changed
 * format is never timed from an old copy.
 */
async function historyOf(days: number, fresh: boolean): Promise<SyntheticHistory> {
  const generator = await readFile(fileURLToPath(new URL('./support/synthetic-history.ts', import.meta.url)));
  const version = createHash('sha256').update(generator).digest('hex').slice(0, 12);
  const directory = join(tmpdir(), 'drc-bench-console', `${String(days)}d-${version}`);
  const marker = join(directory, 'history.json');
  if (!fresh && existsSync(marker)) {
    const cached = JSON.parse(await readFile(marker, 'utf8')) as SyntheticHistory;
    const age = Date.now() - Date.parse(cached.to);
    if (age < cacheMaxAgeMs) {
      console.log(`history, ${String(days)} days: cached in ${directory} (ends ${cached.to}; generated in ${formatMs(cached.generationMs)})`);
      return cached;
    }
  }
  // Copies an older generator wrote are never read again: they go before a new one is written.
  const cacheRoot = dirname(directory);
  const stale = existsSync(cacheRoot) ? (await readdir(cacheRoot)).filter((entry) => entry.startsWith(`${String(days)}d-`)) : [];
  await Promise.all(stale.map((entry) => rm(join(cacheRoot, entry), { recursive: true, force: true })));
  await mkdir(directory, { recursive: true });
  const history = await writeSyntheticHistory({ directory, days });
  // A live repository's first WAL write builds its WAL index: the console reads it that way.
  const migrated = performance.now();
  await withRepositorySet(await createContext({ configPath: history.configPath }), undefined, (set) => Promise.all(set.repositories.map((repository) => ensureWalIndex(repository))));
  await writeFile(marker, JSON.stringify(history));
  const perRepository = history.counts.objectsPerRepository;
  console.log(
    `history, ${String(days)} days: generated in ${formatMs(history.generationMs)} (${String(perRepository * 2)} objects, ${Math.round((perRepository * 2) / (history.generationMs / 1000)).toLocaleString('en')} objects/s), WAL indexes built in ${formatMs(performance.now() - migrated)}, in ${directory}`,
  );
  return history;
}

// ---- services ---------------------------------------------------------------------

async function medianMs(work: () => Promise<unknown>, runs: number): Promise<{ median: number; all: number[] }> {
  const all: number[] = [];
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    await work();
    all.push(performance.now() - started);
  }
  const sorted = [...all].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN, all };
}

/** A service call that is not built yet, or that fails on this history, is a finding to print, not a crash. */
async function measureService(name: string, call: () => Promise<unknown>): Promise<Figure> {
  try {
    await call();
  } catch (error) {
    if (!(error instanceof DrcError)) throw error;
    const note = error.message.includes('not built yet') ? `not measurable yet: ${error.message}` : `failed: ${error.code}: ${error.message}`;
    console.log(`${name}: ${note}`);
    return { name, unit: 'ms', target: targets.serviceMs, note };
  }
  const { median, all } = await medianMs(call, timedRuns);
  console.log(`${name}: median ${formatMs(median)} (runs: ${all.map(formatMs).join(', ')}) — ${verdict(median, targets.serviceMs)} (target ≤ ${String(targets.serviceMs)} ms)`);
  return { name, value: median, unit: 'ms', target: targets.serviceMs };
}

function printGrowth(growth: ReadonlyArray<{ days: number; status?: number; timeline?: number }>): void {
  const base = growth[0];
  if (!base) return;
  const describe = (key: 'status' | 'timeline'): string => {
    const first = base[key];
    const steps = growth.map((entry) => {
      const value = entry[key];
      if (value === undefined) return `${String(entry.days)} d: —`;
      return `${String(entry.days)} d: ${formatMs(value)}${first === undefined || entry === base ? '' : ` (×${(value / first).toFixed(2)})`}`;
    });
    return steps.join(' → ');
  };
  const span = growth.map((entry) => String(entry.days)).join(' → ');
  console.log(`growth with days of history (${span}):`);
  console.log(`  status:   ${describe('status')}`);
  console.log(`  timeline: ${describe('timeline')}`);
}

// ---- renderer ---------------------------------------------------------------------

async function bundleFigure(): Promise<Figure> {
  const name = 'renderer bundle, dist/renderer/*.js (minified)';
  let files: string[];
  try {
    files = (await readdir(rendererDir)).filter((file) => file.endsWith('.js'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    files = [];
  }
  if (files.length === 0) {
    const note = 'not measurable yet: dist/renderer has no bundle; run `npm run build` first';
    console.log(`${name}: ${note}`);
    return { name, unit: 'bytes', target: targets.bundleBytes, note };
  }
  const sizes = await Promise.all(files.map(async (file) => ({ file, bytes: (await stat(join(rendererDir, file))).size })));
  const bytes = sizes.reduce((sum, entry) => sum + entry.bytes, 0);
  console.log(`${name}: ${sizes.map((entry) => `${entry.file} ${formatBytes(entry.bytes)}`).join(', ')} — ${verdict(bytes, targets.bundleBytes)} (target ≤ 1.5 MiB)`);
  return { name, value: bytes, unit: 'bytes', target: targets.bundleBytes };
}

/**
 * The dashboard in Chromium, served in this process by the HTTP host `drc serve` uses,
 * over the 30-day history. Times are taken inside the page (performance.now(), keydown
 * time stamps) so Playwright's own round trips are not counted.
 */
async function browserFigures(history: SyntheticHistory): Promise<Figure[]> {
  const firstRender = `dashboard first render, warm (${String(history.days)} days)`;
  const keyboard = `timeline keyboard step, median of ${String(keyboardSteps)}`;
  const unmeasured = (note: string): Figure[] => {
    console.log(`browser: ${note}`);
    return [
      { name: firstRender, unit: 'ms', target: targets.firstRenderMs, note },
      { name: keyboard, unit: 'ms', target: targets.keyboardStepMs, note },
    ];
  };
  if (!existsSync(chromiumPath)) return unmeasured(`not measurable yet: no Chromium at ${chromiumPath}`);
  let host: HttpHost;
  try {
    host = await createHttpHost(await createServices({ configPath: history.configPath }), { port: 0, rendererDir });
  } catch (error) {
    if (!(error instanceof DrcError)) throw error;
    return unmeasured(`not measurable yet: the HTTP host did not start: ${error.code}: ${error.message}`);
  }
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const page = await browser.newPage();
    await page.addInitScript({ content: recordFirstRender });
    return [await measureFirstRender(page, host.url, firstRender), await measureKeyboardStep(page, host.url, keyboard)];
  } finally {
    await browser?.close();
    host.stopAccepting();
    await host.close();
  }
}

declare global {
  interface Window {
    /** performance.now() of the first frame showing the Overview's main heading and RPO meter. */
    __drcFirstRender?: number;
    /** Milliseconds from each ArrowRight keydown to the slider's value text changing. */
    __drcSteps?: number[];
  }
}

/**
 * Runs in every page before its scripts: checks each frame for the Overview's main
 * heading and a meter labelled RPO, and notes the time of the first frame with both.
 * Plain JavaScript source rather than a function: tsx compiles named inner functions
 * with an `__name` helper that exists only in Node, so a compiled function would throw
 * inside the page.
 */
const recordFirstRender = `(() => {
  function labelOf(element) {
    const labelledBy = element.getAttribute('aria-labelledby');
    const byIds = labelledBy ? labelledBy.split(/\\s+/).map((id) => document.getElementById(id)?.textContent ?? '').join(' ') : '';
    const labels = element instanceof HTMLMeterElement ? [...element.labels].map((label) => label.textContent).join(' ') : '';
    return (element.getAttribute('aria-label') ?? '') + ' ' + byIds + ' ' + labels;
  }
  function shown(element) {
    return element !== null && element !== undefined && element.getBoundingClientRect().height > 0;
  }
  function check() {
    const heading = document.querySelector('main h1, [role="main"] h1');
    const meter = [...document.querySelectorAll('meter, [role="meter"]')].find((candidate) => /\\bRPO\\b/i.test(labelOf(candidate)));
    if (shown(heading) && shown(meter)) {
      window.__drcFirstRender = performance.now();
      return;
    }
    requestAnimationFrame(check);
  }
  requestAnimationFrame(check);
})();`;

async function measureFirstRender(page: Page, url: string, name: string): Promise<Figure> {
  /** The frame time of the first render, or why there is none. */
  const load = async (): Promise<number | string> => {
    // From a blank page: the console drops the token from its address, so going to the URL
    // again from the console would be a same-document fragment change, not a load.
    await page.goto('about:blank');
    await page.goto(url, { waitUntil: 'commit' });
    // By role and name, as a screen-reader user finds them; the frame time comes from the page.
    const waits: Array<[string, () => Promise<unknown>]> = [
      [`no main heading on the Overview within ${String(elementTimeoutMs / 1000)} s`, () => page.getByRole('main').getByRole('heading', { level: 1 }).first().waitFor({ state: 'visible', timeout: elementTimeoutMs })],
      [`no meter named RPO on the Overview within ${String(dataTimeoutMs / 1000)} s`, () => page.getByRole('meter', { name: /RPO/i }).first().waitFor({ state: 'visible', timeout: dataTimeoutMs })],
      ['the page never showed the heading and the meter in one frame', () => page.waitForFunction(() => window.__drcFirstRender !== undefined, undefined, { timeout: elementTimeoutMs })],
    ];
    for (const [missing, wait] of waits) {
      try {
        await wait();
      } catch (error) {
        if (!(error instanceof Error) || error.name !== 'TimeoutError') throw error;
        return missing;
      }
    }
    return (await page.evaluate(() => window.__drcFirstRender)) ?? 'the page lost its first-render time';
  };
  const cold = await load();
  const warm = typeof cold === 'string' ? cold : await load();
  if (typeof warm === 'string') {
    const note = `not measurable yet: ${warm}`;
    console.log(`${name}: ${note}`);
    return { name, unit: 'ms', target: targets.firstRenderMs, note };
  }
  console.log(`${name}: ${formatMs(warm)} from navigation start (cold: ${typeof cold === 'number' ? formatMs(cold) : '—'}) — ${verdict(warm, targets.firstRenderMs)} (target ≤ ${String(targets.firstRenderMs)} ms)`);
  return { name, value: warm, unit: 'ms', target: targets.firstRenderMs };
}

async function measureKeyboardStep(page: Page, url: string, name: string): Promise<Figure> {
  const unmeasured = (reason: string): Figure => {
    const note = `not measurable yet: ${reason}`;
    console.log(`${name}: ${note}`);
    return { name, unit: 'ms', target: targets.keyboardStepMs, note };
  };
  const timelineUrl = new URL(url);
  timelineUrl.pathname = '/timeline';
  await page.goto(timelineUrl.toString());
  const slider = page.getByRole('slider', { name: 'Recovery target' });
  try {
    await slider.waitFor({ state: 'visible', timeout: elementTimeoutMs });
  } catch (error) {
    if (!(error instanceof Error) || error.name !== 'TimeoutError') throw error;
    return unmeasured(`no slider named "Recovery target" on /timeline within ${String(elementTimeoutMs / 1000)} s`);
  }
  await slider.focus();
  // Start from the earliest recoverable moment so twenty steps right stay inside the range.
  await page.keyboard.press('Home');
  await page.evaluate(() => {
    window.__drcSteps = [];
    let pressedAt: number | undefined;
    document.addEventListener(
      'keydown',
      (event) => {
        if (event.key === 'ArrowRight') pressedAt = event.timeStamp;
      },
      true,
    );
    new MutationObserver(() => {
      if (pressedAt === undefined) return;
      window.__drcSteps?.push(performance.now() - pressedAt);
      pressedAt = undefined;
    }).observe(document.body, { attributes: true, subtree: true, attributeFilter: ['aria-valuetext'] });
  });
  for (let step = 1; step <= keyboardSteps; step++) {
    await page.keyboard.press('ArrowRight');
    try {
      await page.waitForFunction((count) => (window.__drcSteps?.length ?? 0) >= count, step, { timeout: 2000 });
    } catch (error) {
      if (!(error instanceof Error) || error.name !== 'TimeoutError') throw error;
      return unmeasured(`step ${String(step)}: ArrowRight on "Recovery target" did not change aria-valuetext within 2 s`);
    }
  }
  const steps = (await page.evaluate(() => window.__drcSteps)) ?? [];
  const sorted = [...steps].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  console.log(`${name}: median ${formatMs(median)}, slowest ${formatMs(sorted.at(-1) ?? Number.NaN)} — ${verdict(median, targets.keyboardStepMs)} (target ≤ ${String(targets.keyboardStepMs)} ms)`);
  return { name, value: median, unit: 'ms', target: targets.keyboardStepMs };
}

// ---- printing ---------------------------------------------------------------------

function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(2)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

function printTable(figures: readonly Figure[]): void {
  const format = (figure: Figure, value: number | undefined): string => (value === undefined ? '—' : figure.unit === 'ms' ? formatMs(value) : formatBytes(value));
  const rows = figures.map((figure) => [
    figure.name,
    format(figure, figure.value),
    figure.target === undefined ? '' : `≤ ${format(figure, figure.target)}`,
    figure.value === undefined || figure.target === undefined ? (figure.note ?? '') : verdict(figure.value, figure.target),
  ]);
  const header = ['figure', 'value', 'target', 'result'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (column === 3 ? 0 : (row[column] ?? '').length))));
  const line = (cells: readonly string[]): string => cells.map((cell, column) => (column === 3 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ');
  console.log(`\n### console figures (load average now ${describeLoad()})`);
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}
