import { resolve } from 'node:path';
import type { PartialRestoreReport, RestoreTestRecord, ScratchLeftover } from '../../../shared/contract/restore-test.js';
import { DrcError } from '../../../shared/errors.js';
import { parseConninfo } from '../../engines/partial-restore/conninfo.js';
import { describeTarget } from '../../engines/restore/select.js';
import type { TableName } from '../../engines/partial-restore/table-definition.js';
import { restoreTables, restoreTest } from '../../services/restore-test.js';
import { cliTime, contextFor, formatDuration, optional, recoveryTarget, required, type Command, type CommandResult, type Invocation } from './command.js';

const scratchOptions = { from: { type: 'string' }, 'scratch-dir': { type: 'string' }, bindir: { type: 'string' } } as const;

/** Proving recovery points: `restore-test`; and table-level restore, reached as `restore --tables`. */
export const verificationCommands: Record<string, Command> = {
  'restore-test': {
    usage: 'drc restore-test [--backup ID | --latest] [--time ISO8601] [--from REPO] [--scratch-dir DIR] [--bindir DIR]',
    summary: 'restore into a scratch instance and prove it: checksums, recovery, amcheck, every table read (exit 1 if it fails)',
    options: { backup: { type: 'string' }, latest: { type: 'boolean', default: false }, time: { type: 'string' }, ...scratchOptions },
    positionals: 0,
    run: async ({ values, io, progress }) => {
      if (typeof values.backup === 'string' && values.latest === true) {
        throw new DrcError('USAGE', 'unable to run the restore test: give --backup ID or --latest, not both', { hints: ['--latest (the default) tests the newest backup'] });
      }
      const record = await restoreTest(await contextFor(values), {
        ...optional('backupId', values.backup),
        ...(typeof values.time === 'string' ? { time: cliTime(values.time, '--time', io) } : {}),
        ...scratchChoices(values, io),
        onProgress: (value) => progress.show(`restore-test ${value.phase}: ${value.detail}`),
      });
      return { json: record, text: formatRestoreTest(record), exitCode: record.success ? 0 : 1 };
    },
  },
};

/** `drc restore --tables …` (routed here by the restore command): extra options it takes. */
export const restoreTablesOptions = {
  tables: { type: 'string' },
  into: { type: 'string' },
  schema: { type: 'string' },
  database: { type: 'string' },
  'scratch-dir': { type: 'string' },
  bindir: { type: 'string' },
} as const;

/** Brings tables back as they were at a recovery point into a new schema of a live database, never overwriting. */
export async function runRestoreTables({ values, io, progress }: Invocation): Promise<CommandResult> {
  const example = "drc restore --tables public.guests --into 'host=db1 dbname=wedsync user=dba' --time '2026-06-14 09:30:00+02'";
  const report = await restoreTables(await contextFor(values), {
    tables: parseTableList(required(values.tables, '--tables', example)),
    into: parseConninfo(required(values.into, '--into', example)),
    target: recoveryTarget(values, io),
    ...optional('schema', values.schema),
    ...optional('database', values.database),
    ...optional('backupId', values.backup),
    ...scratchChoices(values, io),
    onProgress: (value) => progress.show(`restore --tables ${value.phase}: ${value.detail}`),
  });
  return { json: report, text: formatPartialRestore(report), exitCode: 0 };
}

function scratchChoices(values: Invocation['values'], io: Invocation['io']): { from?: string; bindir?: string; scratchDir?: string; signal?: AbortSignal } {
  return {
    ...optional('from', values.from),
    ...(typeof values.bindir === 'string' ? { bindir: resolve(values.bindir) } : {}),
    ...(typeof values['scratch-dir'] === 'string' ? { scratchDir: resolve(values['scratch-dir']) } : {}),
    ...(io.signal ? { signal: io.signal } : {}),
  };
}

/**
 * `public.guests,sales."Order Items"`: names as SQL reads them — unquoted ones fold to
 * lower case, double-quoted ones are taken as written; a bare name is in `public`.
 */
function parseTableList(text: string): TableName[] {
  const tables: TableName[] = [];
  let parts: string[] = [];
  let current = '';
  let quoted = false;
  let wasQuoted = false;
  const endPart = (): void => {
    parts.push(wasQuoted ? current : current.trim().toLowerCase());
    current = '';
    wasQuoted = false;
  };
  const endTable = (): void => {
    endPart();
    const [first, second, ...rest] = parts;
    parts = [];
    if (first === undefined || first === '' || second === '' || rest.length > 0) {
      throw new DrcError('USAGE', `unable to read --tables '${text}': each entry is SCHEMA.TABLE or TABLE`, { hints: ['e.g. --tables public.guests,public.payments'] });
    }
    tables.push(second === undefined ? { schema: 'public', name: first } : { schema: first, name: second });
  };
  for (let index = 0; index < text.length; index++) {
    const char = text.charAt(index);
    if (quoted) {
      if (char === '"' && text.charAt(index + 1) === '"') {
        current += '"';
        index += 1;
      } else if (char === '"') quoted = false;
      else current += char;
    } else if (char === '"') {
      quoted = true;
      wasQuoted = true;
    } else if (char === '.') endPart();
    else if (char === ',') endTable();
    else current += char;
  }
  if (quoted) throw new DrcError('USAGE', `unable to read --tables '${text}': a double quote is not closed`);
  endTable();
  return tables;
}

function formatRestoreTest(record: RestoreTestRecord): string {
  const lines = [
    `restore test of backup ${record.backupId} (ended ${record.backupStoppedAt}) to ${describeTarget(record.target)}${record.from === undefined ? '' : ` from '${record.from}' alone`}: ${record.success ? 'PASSED' : record.cancelled === true ? 'CANCELLED' : 'FAILED'} in ${formatDuration(record.durationMs)}`,
    `  restore ${formatDuration(record.restoreDurationMs)}, recovery ${formatDuration(record.recoveryDurationMs)}, PostgreSQL ${record.binaries.version} from ${record.binaries.bindir} (${record.binaries.source})`,
    ...(record.recoveredTo ? [`  recovered to ${record.recoveredTo.lsn ?? '?'}${record.recoveredTo.lastCommitTime ? `, last commit ${record.recoveredTo.lastCommitTime}` : ''}`] : []),
    `  data loss detected: ${record.dataLossDetected ? 'YES' : 'no'}`,
    ...record.checks.map((check) => `  ${check.status.toUpperCase().padEnd(8)} ${check.name.padEnd(18)} ${check.detail}`),
    `  ${String(record.tables.length)} tables in ${String(record.databases.length)} database(s), ${String(record.rowsVerified)} rows verified`,
    ...record.tables.slice(0, 20).map((table) => `    ${table.database}: ${table.schema}.${table.name}  ${String(table.rows)} rows, ${String(table.indexesChecked)} index(es) checked`),
    ...(record.tables.length > 20 ? [`    … ${String(record.tables.length - 20)} more (--json lists them all)`] : []),
    ...record.errorsFound.map((problem) => `  ERROR ${problem.check}: ${problem.message}`),
    ...record.warnings.map((warning) => `  WARNING ${warning}`),
    ...record.leftoversRemoved.map(formatLeftover),
    `  recorded in: ${record.recordedIn.length > 0 ? record.recordedIn.join(', ') : 'no repository'}`,
  ];
  if (record.failure) lines.push(`error ${record.failure.code}: ${record.failure.message}`, ...record.failure.hints.map((hint) => `hint: ${hint}`));
  return lines.join('\n');
}

function formatPartialRestore(report: PartialRestoreReport): string {
  return [
    `restored from backup ${report.backupId} at ${describeTarget(report.target)} (database '${report.database}') into schema '${report.schema}'${report.createdSchema ? ' (new)' : ''} of ${report.into}`,
    ...report.tables.map((table) => `  ${table.source} → ${table.target}: ${String(table.rows)} rows, ${String(table.columns)} columns${table.primaryKey.length > 0 ? `, primary key (${table.primaryKey.join(', ')})` : ''}`),
    ...report.tables.flatMap((table) => table.droppedDefaults.map((dropped) => `    not carried over: ${dropped}`)),
    `  restore ${formatDuration(report.restoreDurationMs)}, recovery ${formatDuration(report.recoveryDurationMs)}, copy ${formatDuration(report.copyDurationMs)}; PostgreSQL ${report.binaries.version} (${report.binaries.source})`,
    ...report.warnings.map((warning) => `  WARNING ${warning}`),
    ...report.leftoversRemoved.map(formatLeftover),
    `next: compare with the live tables, then copy back what was lost, e.g. INSERT INTO public.<table> SELECT * FROM ${report.schema}.<table> WHERE …; DROP SCHEMA ${report.schema} CASCADE when done`,
  ].join('\n');
}

function formatLeftover(leftover: ScratchLeftover): string {
  return `  removed ${leftover.purpose} scratch instance ${leftover.id} left by drc process ${String(leftover.ownerPid)} (${leftover.directory}${leftover.stoppedServer ? ', its server was still running' : ''})`;
}
