import pg from 'pg';
import type { PartialRestoreReport, RestoredTable } from '../../../shared/contract/restore-test.js';
import { DrcError } from '../../../shared/errors.js';
import { recordInEvery } from '../../repo/repository.js';
import { pgLoginError } from '../../postgres/login-errors.js';
import { removeLeftoverScratchInstances, ScratchInstance } from '../../postgres/scratch-instance.js';
import { newEvent } from '../../repo/events.js';
import type { RepositorySet } from '../../repo/repository-set.js';
import { describeTarget } from '../restore/select.js';
import { restoreIntoScratch, withLeasedScratchRestore, type ScratchRecoveryOptions } from '../restore-test/scratch-restore.js';
import type { LiveDatabase } from './conninfo.js';
import { copyRows } from './copy-rows.js';
import { createTableStatement, readTableDefinition, type TableDefinition, type TableName } from './table-definition.js';

export type PartialRestorePhase = 'cleanup' | 'check' | 'select' | 'restore' | 'start' | 'recover' | 'copy' | 'record';

export interface PartialRestoreOptions extends ScratchRecoveryOptions {
  readonly tables: readonly TableName[];
  readonly into: LiveDatabase;
  /** The new schema in the live database (default `restored_<UTC timestamp>`); created if missing. */
  readonly schema?: string;
  /** The database of the backup holding the tables (default: the live database's name). */
  readonly database?: string;
  readonly onProgress?: (progress: { phase: PartialRestorePhase; detail: string }) => void;
  readonly now?: () => Date;
}

/**
 * partial restore: some tables as they were at a recovery point, brought back next to the
 * live data — how one vendor's deleted rows come back without rolling back everybody
 * else's newer work.
 *
 *  1. cleanup — scratch instances a killed drc left behind are removed.
 *  2. check   — the live database is reachable and none of the target tables exists in
 *               the new schema: refused before a byte is fetched.
 *  3. select, restore, start, recover — the cluster at the target, in a scratch instance.
 *  4. copy    — each table's shape from the copy, created in the new schema, rows copied;
 *               one live transaction for all of them, so a failure leaves nothing behind.
 *  5. remove  — the scratch instance, whatever happened.
 *  6. record  — a `partial-restore` event in every repository.
 */
export async function runPartialRestore(set: RepositorySet, options: PartialRestoreOptions): Promise<PartialRestoreReport> {
  const now = options.now ?? (() => new Date());
  const started = now();
  const progress = options.onProgress ?? (() => undefined);
  progress({ phase: 'cleanup', detail: 'looking for scratch instances left behind' });
  const leftovers = await removeLeftoverScratchInstances(options.scratch?.stateDir);

  const schema = options.schema ?? `restored_${started.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15)}`;
  progress({ phase: 'check', detail: `${options.into.display}, schema ${schema}` });
  const live = await checkLiveDatabase(options.into, schema, options.tables);
  const database = options.database ?? live.database;

  progress({ phase: 'select', detail: 'choosing the backup and server binaries' });
  const tableList = options.tables.map((table) => `${table.schema}.${table.name}`).join(', ');
  return withLeasedScratchRestore(set, options, `partial restore of ${tableList}`, async (plan) => {
    const scratch = await ScratchInstance.create('partial-restore', options.scratch);
    const timings = { restoreDurationMs: 0, recoveryDurationMs: 0, copyDurationMs: 0 };
    let tables: RestoredTable[];
    let removal: string | undefined;
    try {
      let clock = Date.now();
      progress({ phase: 'restore', detail: `backup ${plan.backup.record.id}` });
      await restoreIntoScratch(plan, scratch, options.target, undefined, options.signal);
      timings.restoreDurationMs = Date.now() - clock;
      clock = Date.now();
      progress({ phase: 'start', detail: `PostgreSQL ${plan.binaries.version}` });
      await scratch.start(plan.binaries, [...(options.loginRoles ?? []), ...(typeof options.into.config.user === 'string' ? [options.into.config.user] : [])]);
      progress({ phase: 'recover', detail: `replaying WAL to ${describeTarget(options.target)}` });
      await scratch.waitUntilRecovered(options.signal);
      timings.recoveryDurationMs = Date.now() - clock;
      clock = Date.now();
      progress({ phase: 'copy', detail: tableList });
      tables = await scratch.withSession(database, (source) => copyTables(source, options, schema, live.schemaExists, database));
      timings.copyDurationMs = Date.now() - clock;
    } finally {
      progress({ phase: 'cleanup', detail: `removing scratch instance ${scratch.id}` });
      removal = await scratch.remove().then(
        () => undefined,
        (error: unknown) => `scratch instance ${scratch.id} could not be removed (${(error as Error).message}); the next restore test or partial restore removes it`,
      );
    }

    const report: PartialRestoreReport = {
      backupId: plan.backup.record.id,
      target: options.target,
      database,
      into: options.into.display,
      schema,
      createdSchema: !live.schemaExists,
      tables,
      ...timings,
      durationMs: now().getTime() - started.getTime(),
      binaries: { bindir: plan.binaries.bindir, version: plan.binaries.version, source: plan.binaries.source },
      scratch: { id: scratch.id, directory: scratch.directory, port: scratch.port, postmasterPid: scratch.postmasterPid, removed: removal === undefined },
      leftoversRemoved: leftovers.map((leftover) => ({ ...leftover })),
      warnings: removal === undefined ? [] : [removal],
    };
    progress({ phase: 'record', detail: 'recording the partial restore in every repository' });
    const event = newEvent(
      'partial-restore',
      'success',
      `restored ${tables.map((table) => `${table.source} (${String(table.rows)} rows)`).join(', ')} from backup ${report.backupId} at ${describeTarget(options.target)} into schema ${schema} of ${report.into}`,
      { ...report },
    );
    // The tables are back whether or not the record can be written (a write-protected stick).
    const { failed } = await recordInEvery(set.repositories, event);
    report.warnings.push(...failed.map((entry) => `the partial restore could not be recorded in repository '${entry.repository}': ${entry.error.message}`));

    return report;
  });
}

/** Refuses, before the restore, a target table that exists (or two tables that would land on the same name). */
async function checkLiveDatabase(into: LiveDatabase, schema: string, tables: readonly TableName[]): Promise<{ database: string; schemaExists: boolean }> {
  const names = tables.map((table) => table.name);
  const twice = names.find((name, index) => names.indexOf(name) !== index);
  if (twice !== undefined) {
    throw new DrcError('USAGE', `unable to restore two tables named '${twice}' into the one schema '${schema}'`, { hints: ['restore them in two runs, each with its own --schema'] });
  }
  return withLiveDatabase(into, async (client) => {
    const found = (await client.query<{ database: string; schema_exists: boolean }>('SELECT current_database() AS database, EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS schema_exists', [schema])).rows[0];
    const taken = (await client.query<{ relname: string }>('SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = ANY($2::text[])', [schema, names])).rows;
    if (taken.length > 0) throw tableExists(schema, taken.map((row) => row.relname));
    return { database: found?.database ?? '', schemaExists: found?.schema_exists === true };
  });
}

/** Every definition is read before the live database is touched; then one transaction creates and fills all tables. */
async function copyTables(source: pg.Client, options: PartialRestoreOptions, schema: string, schemaExists: boolean, database: string): Promise<RestoredTable[]> {
  const definitions: TableDefinition[] = [];
  for (const table of options.tables) definitions.push(await readTableDefinition(source, table, database));
  return withLiveDatabase(options.into, async (live) => {
    const restored: RestoredTable[] = [];
    let current = '';
    await live.query('BEGIN');
    try {
      if (!schemaExists) await live.query(`CREATE SCHEMA ${live.escapeIdentifier(schema)}`);
      for (const definition of definitions) {
        current = `${definition.table.schema}.${definition.table.name}`;
        const into = { schema, name: definition.table.name };
        await live.query(createTableStatement(live, definition, into));
        const rows = await copyRows(source, live, definition, into, options.signal);
        restored.push({ source: current, target: `${schema}.${into.name}`, rows, columns: definition.columns.length, primaryKey: definition.primaryKey, droppedDefaults: definition.dropped });
      }
      await live.query('COMMIT');
    } catch (error) {
      await live.query('ROLLBACK').catch(() => undefined);
      if (error instanceof DrcError) throw error;
      if ((error as { code?: unknown }).code === '42P07') throw tableExists(schema, [current.slice(current.indexOf('.') + 1)]);
      throw new DrcError('PARTIAL_RESTORE_FAILED', `unable to restore table '${current}' into schema '${schema}' of ${options.into.display}: ${(error as Error).message}`, {
        hints: ['nothing was committed in the live database', 'types, collations and functions a column or default uses must exist in the live database too'],
        cause: error,
      });
    }
    return restored;
  });
}

async function withLiveDatabase<T>(into: LiveDatabase, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionTimeoutMillis: 10_000, ...into.config });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    // The client has resolved the user by now: from --into, PGUSER or the OS user.
    const refused = pgLoginError(error, `the live database ${into.display}`, client.user ?? '');
    if (refused) throw refused;
    throw new DrcError('PG_CONNECT_FAILED', `unable to connect to the live database ${into.display}: ${(error as Error).message}`, {
      hints: ['check --into (host, port, dbname, user); the password comes from PGPASSWORD or ~/.pgpass'],
      retryable: true,
      cause: error,
    });
  }
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function tableExists(schema: string, names: string[]): DrcError {
  return new DrcError('PARTIAL_RESTORE_TABLE_EXISTS', `unable to restore into schema '${schema}': ${names.map((name) => `'${schema}.${name}'`).join(', ')} exist${names.length === 1 ? 's' : ''} already`, {
    hints: ['a partial restore never overwrites: choose another --schema (or leave it out for a new restored_<timestamp> schema); nothing was changed'],
  });
}
