import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { RecoveryTarget } from '../src/shared/contract/restore.js';
import { DrcError } from '../src/shared/errors.js';
import { listBackups } from '../src/main/engines/backup/catalog.js';
import { selectBackup } from '../src/main/engines/restore/select.js';
import { WalCatalog } from '../src/main/engines/wal/catalog.js';
import { ensureWalIndex } from '../src/main/engines/wal/wal-index.js';
import { forEachConcurrent } from '../src/main/parallel.js';
import { inventory } from '../src/main/services/backup.js';
import { createContext, withRepositorySet, withTargets, type ServiceContext } from '../src/main/services/context.js';
import { healthReport } from '../src/main/services/status.js';
import { startS3Server, type S3Server } from '../test/support/s3-server.js';
import { describeLoad, describeMachine, formatMs, verdict } from './support/report.js';
import { syntheticPassphraseVariable, writeSyntheticHistory, type SyntheticHistory } from './support/synthetic-history.js';

/**
 * The WAL catalog at scale (issue 12 §3): `restore --name` and `restore --time` (target
 * selection only), `list` and `status` over a synthetic repository at 5,000 WAL segments
 * a day, for 7, 30 and 90 days of history, from a local repository and from s3rver;
 * first as a repository an older drc wrote (no WAL index), then after `ensureWalIndex`
 * (the migration a repository gets on its first WAL write, timed), then with the index.
 * Everything runs in this process through the real services and engines, no mocks.
 * Prints figures against the targets (≤ 2 s local, ≤ 10 s s3rver); asserts nothing.
 *
 * - Selection is the restore engine's own, as `runRestore` makes it before writing a
 *   byte: `listBackups`, `WalCatalog.load`, `selectBackup`. Not the console's
 *   `recovery.plan` dry run, which also reads 90 days of events and checks the target
 *   directory: that would time more than the catalog.
 * - `list` is `drc list` (`inventory`: backups, restore points, the WAL window per
 *   repository); `status` is the `status.report` service (`healthReport`).
 * - Cold is the first call in a fresh context, as a `drc` command pays it (unlocking the
 *   key slot included; the OS page cache is left as it is); warm is the median of later
 *   calls in the same context, as the console's long-lived host pays them.
 * - The histories are written once through the real code (without per-object fsync, see
 *   `durable` in support/synthetic-history.ts) and cached under the temp dir, keyed by a
 *   hash of the generator, as the console bench does. The migration runs on a hard-linked
 *   copy (the local driver replaces objects by rename, so the cache stays unindexed).
 * - s3rver: its PUT rate is measured first. Loading a repository of hundreds of
 *   thousands of objects through HTTP takes longer than the figures themselves, so when
 *   it would take over a minute the bucket is filled by writing the bytes the real code
 *   wrote locally straight into s3rver's filesystem store layout (`<bucket>/<key>._S3rver_object`,
 *   its `.md5` and `._S3rver_metadata.json`, as node_modules/s3rver/lib/stores/filesystem.js
 *   writes them). Every read, the migration's writes and every timed call go through the
 *   S3 API. s3rver lists a bucket by walking its directory again for every 1,000-key
 *   page, so its listings grow with the square of the archive: the plain listing of
 *   `wal/` is printed beside the figures so a reader can tell s3rver's cost from drc's.
 *   When that listing alone is predicted past the skip limit, the unindexed calls and the
 *   migration on s3rver are skipped, and the repository the local migration indexed is
 *   loaded instead, so the indexed figures are still taken from s3rver.
 */
export interface CatalogBenchOptions {
  /** Days of history to build and time (default 7, 30, 90). */
  readonly days?: readonly number[];
  /** Regenerate the histories even if a cached copy exists. */
  readonly fresh?: boolean;
  /** Where to time the operations (default both). */
  readonly stores?: readonly Store[];
}

type Store = 'local' | 's3rver';
type Phase = 'unindexed' | 'indexed';

const segmentsPerDay = 5000;
const targets: Record<Store, number> = { local: 2000, s3rver: 10_000 };
/** Warm runs after the cold one, fewer when a call is slow: the bench must finish in minutes, not hours. */
const warmRuns = (coldMs: number): number => (coldMs < 5000 ? 3 : coldMs < 30_000 ? 1 : 0);
/** A measurement predicted to take longer than this is skipped, with the figure it was predicted from. */
const skipAboveMs = 180_000;
/** s3rver's PUT rate under which its store is written directly rather than through HTTP. */
const httpLoadLimitMs = 60_000;
const cacheMaxAgeMs = 24 * 3_600_000;
const bucketOf = (days: number): string => `drc-catalog-${String(days)}d`;
const listingRow = 'plain listing of wal/';
const migrationRow = 'migration (ensureWalIndex)';
const s3Credentials = { key: 'DRC_BENCH_S3_KEY', secret: 'DRC_BENCH_S3_SECRET' } as const;
const run = promisify(execFile);

interface Operation {
  readonly name: string;
  readonly call: (context: ServiceContext, history: SyntheticHistory) => Promise<unknown>;
}

const operations: readonly Operation[] = [
  { name: 'restore --name (selection)', call: (context, history) => selectTarget(context, { kind: 'name', name: newestRestorePoint(history) }) },
  { name: 'restore --time (selection)', call: (context, history) => selectTarget(context, { kind: 'time', time: middleOf(history) }) },
  { name: 'list', call: (context) => inventory(context) },
  { name: 'status', call: (context) => healthReport(context) },
];

/** One cell of the table: cold and warm, or why there is none. */
interface Cell {
  readonly cold?: number;
  readonly warm?: number;
  readonly note?: string;
}

type Results = Map<string, Cell>;
const cellKey = (operation: string, days: number, store: Store, phase: Phase): string => `${operation}|${String(days)}|${store}|${phase}`;

export async function benchWalCatalog(options: CatalogBenchOptions = {}): Promise<void> {
  const daysList = [...(options.days ?? [7, 30, 90])].sort((a, b) => a - b);
  const stores = options.stores ?? ['local', 's3rver'];
  const previousPassphrase = process.env[syntheticPassphraseVariable];
  process.env[syntheticPassphraseVariable] = 'wal catalog bench synthetic history';
  process.env[s3Credentials.key] = 'S3RVER';
  process.env[s3Credentials.secret] = 'S3RVER';
  const work = await mkdtemp(join(tmpdir(), 'drc-bench-catalog-run-'));
  let s3rver: S3Server | undefined;
  const results: Results = new Map();
  const extras: Results = new Map();
  try {
    console.log(`\n## wal catalog — restore selection, list and status at ${segmentsPerDay.toLocaleString('en')} WAL segments a day`);
    console.log(`machine: ${await describeMachine()}; Node ${process.version}`);
    if (stores.includes('s3rver')) s3rver = await startS3Server({ directory: join(work, 's3rver') });
    let putRate: number | undefined;
    for (const days of daysList) {
      const history = await historyOf(days, options.fresh ?? false);
      console.log(`\n### ${String(days)} days: ${history.counts.walSegments.toLocaleString('en')} segments, ${history.counts.objectsPerRepository.toLocaleString('en')} objects in the repository`);
      const local = stores.includes('local');
      if (local) await timeOperations(results, history, 'local', 'unindexed', history.configPath);

      // The migration runs on a hard-linked copy: the cached history must stay as an older drc wrote it.
      const migratedLocal = await hardLinkedCopy(history, work);
      const localMigration = await timeMigration(migratedLocal.configPath);
      extras.set(cellKey(migrationRow, days, 'local', 'indexed'), localMigration);
      console.log(`  local: migration ${localMigration.note ?? ''} in ${formatMs(localMigration.cold ?? Number.NaN)}`);

      let s3Indexed: string | undefined;
      if (s3rver) {
        putRate ??= await measurePutRate(s3rver, work);
        const listingSkip = predictedTooSlow(extras, listingRow, days, 's3rver', 'unindexed');
        if (listingSkip === undefined) {
          const configPath = await loadIntoS3rver(s3rver, history.repositories.nas, bucketOf(days), putRate, work);
          extras.set(cellKey(listingRow, days, 's3rver', 'unindexed'), await timePlainListing(configPath));
          await timeOperations(results, history, 's3rver', 'unindexed', configPath);
          const migration = await timeMigration(configPath);
          extras.set(cellKey(migrationRow, days, 's3rver', 'indexed'), migration);
          console.log(`  s3rver: migration ${migration.note ?? ''} in ${formatMs(migration.cold ?? Number.NaN)}`);
          s3Indexed = configPath;
        } else {
          // Every unindexed call and the migration list the whole archive: s3rver's listing alone rules them out.
          const note = `${listingSkip}: s3rver's listing of wal/`;
          extras.set(cellKey(listingRow, days, 's3rver', 'unindexed'), { note: listingSkip });
          extras.set(cellKey(migrationRow, days, 's3rver', 'indexed'), { note: `${note}; the index built locally was loaded instead` });
          for (const operation of operations) results.set(cellKey(operation.name, days, 's3rver', 'unindexed'), { note });
          console.log(`  s3rver: unindexed calls and the migration ${note}; loading the locally migrated repository to time the index`);
          s3Indexed = await loadIntoS3rver(s3rver, migratedLocal.root, bucketOf(days), putRate, work);
        }
      }

      if (local) await timeOperations(results, history, 'local', 'indexed', migratedLocal.configPath);
      if (s3Indexed) await timeOperations(results, history, 's3rver', 'indexed', s3Indexed);

      // Each history's copies go before the next, larger one is written: the disk is shared.
      await rm(dirname(migratedLocal.root), { recursive: true, force: true });
      if (s3rver) await rm(join(s3rver.directory, bucketOf(days)), { recursive: true, force: true });
    }
    printTable(results, extras, daysList, stores);
    printGrowth(results, daysList, stores);
  } finally {
    await s3rver?.close();
    await rm(work, { recursive: true, force: true });
    if (previousPassphrase === undefined) delete process.env[syntheticPassphraseVariable];
    else process.env[syntheticPassphraseVariable] = previousPassphrase;
  }
}

// ---- operations -------------------------------------------------------------------

/** What `runRestore` does before it writes: the backups, the WAL catalog, the backup and WAL bound for the target. */
async function selectTarget(context: ServiceContext, target: RecoveryTarget): Promise<void> {
  await withRepositorySet(context, undefined, async (set) => {
    const backups = await listBackups(set.repositories);
    const catalog = await WalCatalog.load(set.repositories, backups.at(-1)?.record.walSegmentSize ?? 16 * 1024 * 1024);
    const plan = await selectBackup(backups, target, catalog);
    // A restore point the catalog cannot find makes selection a no-op: that would time nothing.
    if (target.kind === 'name' && plan.walUntilLsn === undefined) {
      throw new DrcError('INTERNAL', `the synthetic history's restore point '${target.name}' was not found`, { hints: ['the WAL catalog no longer reads the restore points the generator writes'] });
    }
  });
}

/** The newest hourly restore point: the generator puts one at the history's end. */
function newestRestorePoint(history: SyntheticHistory): string {
  return `drc-${history.to.slice(0, 19)}Z`;
}

function middleOf(history: SyntheticHistory): string {
  return new Date((Date.parse(history.from) + Date.parse(history.to)) / 2).toISOString();
}

async function timeOperations(results: Results, history: SyntheticHistory, store: Store, phase: Phase, configPath: string): Promise<void> {
  for (const operation of operations) {
    const key = cellKey(operation.name, history.days, store, phase);
    const skip = predictedTooSlow(results, operation.name, history.days, store, phase);
    const cell = skip === undefined ? await timeCalls(operation.call, history, configPath) : { note: skip };
    results.set(key, cell);
    console.log(`  ${store}, ${phase}: ${operation.name}: ${describeCell(cell)}${cell.cold === undefined ? '' : ` — ${verdict(cell.warm ?? cell.cold, targets[store])} (target ≤ ${formatMs(targets[store])})`}`);
  }
}

/**
 * Whether the last figure for this cell at fewer days predicts more than `skipAboveMs`
 * here: linear in days locally, with the square of days on s3rver (its listings rescan).
 */
function predictedTooSlow(results: Results, operation: string, days: number, store: Store, phase: Phase): string | undefined {
  const earlier = [...results.entries()]
    .map(([key, cell]) => ({ parts: key.split('|'), cell }))
    .filter(({ parts }) => parts[0] === operation && parts[2] === store && parts[3] === phase && Number(parts[1]) < days)
    .sort((a, b) => Number(a.parts[1]) - Number(b.parts[1]))
    .at(-1);
  if (!earlier) return undefined;
  if (earlier.cell.cold === undefined) return earlier.cell.note;
  const ratio = days / Number(earlier.parts[1]);
  const predicted = earlier.cell.cold * (store === 's3rver' ? ratio * ratio : ratio);
  return predicted > skipAboveMs ? `skipped (too slow: ${formatMs(earlier.cell.cold)} at ${earlier.parts[1] ?? ''} d)` : undefined;
}

async function timeCalls(call: Operation['call'], history: SyntheticHistory, configPath: string): Promise<Cell> {
  const context = await createContext({ configPath, keepUnlocked: true });
  let cold: number;
  try {
    cold = await elapsed(() => call(context, history));
  } catch (error) {
    if (!(error instanceof DrcError)) throw error;
    return { note: `failed: ${error.code}: ${error.message}` };
  }
  const warm: number[] = [];
  for (let index = 0; index < warmRuns(cold); index++) warm.push(await elapsed(() => call(context, history)));
  const sorted = warm.sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return { cold, ...(median === undefined ? {} : { warm: median }) };
}

async function timeMigration(configPath: string): Promise<Cell> {
  const context = await createContext({ configPath });
  let outcome = '';
  const ms = await elapsed(() =>
    withRepositorySet(context, undefined, async (set) => {
      for (const repository of set.repositories) {
        const done = await ensureWalIndex(repository);
        outcome = done.migrated ? `built the index of ${done.segments.toLocaleString('en')} segments` : 'found an index already';
      }
    }),
  );
  return { cold: ms, note: outcome };
}

async function elapsed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

// ---- histories --------------------------------------------------------------------

/** The unindexed history for `days`, from the cache when the same generator wrote it in the last day. */
async function historyOf(days: number, fresh: boolean): Promise<SyntheticHistory> {
  const generator = await readFile(fileURLToPath(new URL('./support/synthetic-history.ts', import.meta.url)));
  const version = createHash('sha256').update(generator).digest('hex').slice(0, 12);
  const cacheRoot = join(tmpdir(), 'drc-bench-catalog');
  const directory = join(cacheRoot, `${String(days)}d-${version}`);
  const marker = join(directory, 'history.json');
  if (!fresh && existsSync(marker)) {
    const cached = JSON.parse(await readFile(marker, 'utf8')) as SyntheticHistory;
    if (Date.now() - Date.parse(cached.to) < cacheMaxAgeMs) {
      console.log(`history, ${String(days)} days: cached in ${directory} (ends ${cached.to}; generated in ${formatMs(cached.generationMs)})`);
      return cached;
    }
  }
  const stale = existsSync(cacheRoot) ? (await readdir(cacheRoot)).filter((entry) => entry.startsWith(`${String(days)}d-`)) : [];
  await Promise.all(stale.map((entry) => rm(join(cacheRoot, entry), { recursive: true, force: true })));
  await mkdir(directory, { recursive: true });
  const history = await writeSyntheticHistory({ directory, days, segmentsPerDay, removableCopy: false, durable: false });
  await writeFile(marker, JSON.stringify(history));
  const objects = history.counts.objectsPerRepository;
  console.log(`history, ${String(days)} days: generated in ${formatMs(history.generationMs)} (${objects.toLocaleString('en')} objects, ${Math.round(objects / (history.generationMs / 1000)).toLocaleString('en')} objects/s) in ${directory}`);
  return history;
}

/** A copy of the history's repository whose files are hard links to the cache's, and a config naming it. */
async function hardLinkedCopy(history: SyntheticHistory, work: string): Promise<{ root: string; configPath: string }> {
  const directory = join(work, `local-${String(history.days)}d`);
  await mkdir(directory, { recursive: true });
  const root = join(directory, 'nas');
  await run('cp', ['-al', history.repositories.nas, root]);
  const configPath = join(directory, 'drc.json');
  await writeFile(configPath, JSON.stringify({ encryption: { passphrase: `env:${syntheticPassphraseVariable}` }, repositories: [{ name: 'nas', type: 'local', path: root }], stateDir: join(directory, 'state') }));
  return { root, configPath };
}

/** Every object file of a local repository, by object name (in-flight writes left out). */
async function objectFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile() && !entry.name.endsWith('.drc-incomplete')).map((entry) => relative(root, join(entry.parentPath, entry.name)).split('\\').join('/'));
}

// ---- s3rver -----------------------------------------------------------------------

/** A config with one S3 repository, `s3`, on this bucket of the bench's s3rver. */
async function s3Config(s3rver: S3Server, bucket: string, work: string): Promise<string> {
  const configPath = join(work, `${bucket}.json`);
  await writeFile(
    configPath,
    JSON.stringify({
      encryption: { passphrase: `env:${syntheticPassphraseVariable}` },
      repositories: [{ name: 's3', type: 's3', bucket, endpoint: s3rver.endpoint, forcePathStyle: true, accessKeyId: `env:${s3Credentials.key}`, secretAccessKey: `env:${s3Credentials.secret}` }],
      stateDir: join(work, `${bucket}-state`),
    }),
  );
  return configPath;
}

/** Objects per second s3rver stores through the S3 driver, with WAL-summary-sized bodies at the driver's usual concurrency. */
async function measurePutRate(s3rver: S3Server, work: string): Promise<number> {
  const bucket = 'drc-catalog-put-rate';
  await s3rver.bucket(bucket);
  const context = await createContext({ configPath: await s3Config(s3rver, bucket, work) });
  const objects = 1000;
  const ms = await withTargets(context, undefined, ([target]) =>
    elapsed(() => forEachConcurrent(Array.from({ length: objects }, (_, index) => index), 32, async (index) => target?.put(`wal/00000001/probe-${String(index)}`, Buffer.alloc(400, index)))),
  );
  await rm(join(s3rver.directory, bucket), { recursive: true, force: true });
  const rate = objects / (ms / 1000);
  console.log(`s3rver stores ${Math.round(rate).toLocaleString('en')} objects/s by PUT (${String(objects)} objects of 400 bytes, 32 in flight)`);
  return rate;
}

/** Fills a fresh bucket with the local repository at `root`; returns a config naming it. */
async function loadIntoS3rver(s3rver: S3Server, root: string, bucket: string, putRate: number, work: string): Promise<string> {
  await s3rver.bucket(bucket);
  const configPath = await s3Config(s3rver, bucket, work);
  const names = await objectFiles(root);
  const byHttpMs = (names.length / putRate) * 1000;
  const started = performance.now();
  if (byHttpMs <= httpLoadLimitMs) {
    await withTargets(await createContext({ configPath }), undefined, ([target]) =>
      forEachConcurrent(names, 32, async (name) => {
        await target?.put(name, await readFile(join(root, ...name.split('/'))));
      }),
    );
    console.log(`  s3rver: loaded ${names.length.toLocaleString('en')} objects by PUT in ${formatMs(performance.now() - started)}`);
    return configPath;
  }
  // The metadata s3rver keeps for an object the S3 driver PUT, copied beside every object written directly.
  const probe = 'drc-bench-probe';
  await withTargets(await createContext({ configPath }), undefined, ([target]) => target?.put(probe, Buffer.from('probe')) ?? Promise.resolve());
  const metadata = await readFile(join(s3rver.directory, bucket, `${probe}._S3rver_metadata.json`));
  await Promise.all(['object', 'object.md5', 'metadata.json'].map((suffix) => rm(join(s3rver.directory, bucket, `${probe}._S3rver_${suffix}`))));
  const made = new Map<string, Promise<unknown>>();
  await forEachConcurrent(names, 64, async (name) => {
    const body = await readFile(join(root, ...name.split('/')));
    const parts = name.split('/');
    const last = parts.pop() ?? '';
    const directory = join(s3rver.directory, bucket, ...parts);
    const making = made.get(directory) ?? mkdir(directory, { recursive: true });
    made.set(directory, making);
    await making;
    const base = join(directory, `${last}._S3rver_`);
    await writeFile(`${base}object`, body);
    await writeFile(`${base}object.md5`, createHash('md5').update(body).digest('hex'));
    await writeFile(`${base}metadata.json`, metadata);
  });
  console.log(
    `  s3rver: ${names.length.toLocaleString('en')} objects would take ${formatMs(byHttpMs)} by PUT; written into its filesystem store instead in ${formatMs(performance.now() - started)} (read back only through the S3 API)`,
  );
  return configPath;
}

/** s3rver's own cost of listing the archive: the S3 driver's paged `list('wal/')` and nothing else. */
async function timePlainListing(configPath: string): Promise<Cell> {
  let count = 0;
  const ms = await withTargets(await createContext({ configPath }), undefined, ([target]) =>
    elapsed(async () => {
      count = (await target?.list('wal/'))?.length ?? 0;
    }),
  );
  console.log(`  s3rver: a plain listing of wal/ (${count.toLocaleString('en')} objects, 1,000 a page) takes ${formatMs(ms)}`);
  return { cold: ms, note: `${count.toLocaleString('en')} objects` };
}

// ---- printing ---------------------------------------------------------------------

function describeCell(cell: Cell | undefined): string {
  if (!cell) return '—';
  if (cell.cold === undefined) return cell.note ?? '—';
  return `cold ${formatMs(cell.cold)}, warm ${cell.warm === undefined ? '— (one run only)' : formatMs(cell.warm)}`;
}

function printTable(results: Results, extras: Results, daysList: readonly number[], stores: readonly Store[]): void {
  const header = ['operation', 'days', ...stores.flatMap((store) => [`${store} unindexed`, `${store} indexed`])];
  const rows: string[][] = [];
  for (const operation of operations) {
    for (const days of daysList) {
      rows.push([
        operation.name,
        String(days),
        ...stores.flatMap((store) =>
          (['unindexed', 'indexed'] as const).map((phase) => {
            const cell = results.get(cellKey(operation.name, days, store, phase));
            return cell?.cold === undefined ? (cell?.note ?? '—') : `${describeCell(cell)} ${verdict(cell.warm ?? cell.cold, targets[store])}`;
          }),
        ),
      ]);
    }
  }
  for (const [key, cell] of extras) {
    const [operation, days, store, phase] = key.split('|');
    rows.push([`${operation ?? ''} (${store ?? ''})`, days ?? '', ...stores.flatMap((candidate) => (['unindexed', 'indexed'] as const).map((column) => (candidate === store && column === phase ? `${cell.cold === undefined ? '' : `${formatMs(cell.cold)} `}${cell.note ?? ''}` : '')))]);
  }
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ');
  console.log(`\n### wal catalog figures (targets: warm, or cold when only one run, ≤ ${formatMs(targets.local)} local, ≤ ${formatMs(targets.s3rver)} s3rver; load average now ${describeLoad()})`);
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

function printGrowth(results: Results, daysList: readonly number[], stores: readonly Store[]): void {
  console.log(`\ngrowth with days of history (${daysList.join(' → ')}), cold:`);
  for (const operation of operations) {
    for (const store of stores) {
      for (const phase of ['unindexed', 'indexed'] as const) {
        let base: number | undefined;
        const steps = daysList.map((days) => {
          const cold = results.get(cellKey(operation.name, days, store, phase))?.cold;
          if (cold === undefined) return `${String(days)} d: —`;
          base ??= cold;
          return `${String(days)} d: ${formatMs(cold)}${base === cold ? '' : ` (×${(cold / base).toFixed(2)})`}`;
        });
        console.log(`  ${operation.name}, ${store}, ${phase}: ${steps.join(' → ')}`);
      }
    }
  }
}

