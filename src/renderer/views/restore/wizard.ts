import type { z } from 'zod';
import type { confirmedPartialRestoreSchema, confirmedRestoreSchema, PlanRequest, RestorePlan } from '../../../shared/contract/recovery.js';
import type { RecoveryTarget } from '../../../shared/contract/restore.js';

/**
 * The restore wizard's rules, apart from its page: what a complete answer to "what to
 * restore" is, the order repositories are offered in, and what the person must type to
 * confirm — the same name the service checks, so the button and the service agree.
 */
export type RestoreMode = 'cluster' | 'tables';

export interface RestoreForm {
  readonly mode: RestoreMode;
  readonly targetDir: string;
  /** Stop at the target and wait (pg_wal_replay_resume) instead of promoting. */
  readonly pause: boolean;
  /** Comma-separated schema.table names. */
  readonly tables: string;
  readonly schema: string;
  /** The database of the backup the tables are in; empty for the one the backup was taken of. */
  readonly database: string;
  /** The live database to copy into, as a conninfo or URI; empty for the configured cluster's. */
  readonly into: string;
}

export const emptyRestoreForm: RestoreForm = { mode: 'cluster', targetDir: '', pause: false, tables: '', schema: '', database: '', into: '' };

export type RestoreFormField = 'targetDir' | 'tables' | 'schema';

const tableName = /^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$/;
const schemaName = /^[A-Za-z_][A-Za-z0-9_$]*$/;

export function parseTables(text: string): string[] {
  return text
    .split(',')
    .map((table) => table.trim())
    .filter((table) => table !== '');
}

/** What is missing or malformed, per field; empty when the form can go to the next step. */
export function formProblems(form: RestoreForm): Partial<Record<RestoreFormField, string>> {
  if (form.mode === 'cluster') {
    const dir = form.targetDir.trim();
    if (dir === '') return { targetDir: 'Type the directory to restore into, for example /var/lib/postgresql/restored.' };
    if (!dir.startsWith('/')) return { targetDir: 'Give the full path, starting with /.' };
    return {};
  }
  const problems: Partial<Record<RestoreFormField, string>> = {};
  const tables = parseTables(form.tables);
  const malformed = tables.filter((table) => !tableName.test(table));
  if (tables.length === 0) problems.tables = 'Name at least one table as schema.table, for example public.orders.';
  else if (malformed.length > 0) problems.tables = `Write each table as schema.table: ${malformed.join(', ')}.`;
  if (form.schema.trim() !== '' && !schemaName.test(form.schema.trim())) problems.schema = 'A schema name is letters, digits and underscores, starting with a letter.';
  return problems;
}

type ClusterRequest = Omit<Extract<PlanRequest, { mode: 'cluster' }>, 'mode'>;
type TablesRequest = Omit<Extract<PlanRequest, { mode: 'tables' }>, 'mode'>;

function clusterRequest(form: RestoreForm, target: RecoveryTarget, from: string | undefined): ClusterRequest {
  return { target, targetDir: form.targetDir.trim(), pause: form.pause, ...(from === undefined ? {} : { from }) };
}

function tablesRequest(form: RestoreForm, target: RecoveryTarget, from: string | undefined): TablesRequest {
  const optional = (key: 'schema' | 'database' | 'into', value: string) => (value.trim() === '' ? {} : { [key]: value.trim() });
  return {
    target,
    tables: parseTables(form.tables),
    ...optional('schema', form.schema),
    ...optional('database', form.database),
    ...optional('into', form.into),
    ...(from === undefined ? {} : { from }),
  };
}

/** The dry run's request; `from` limits it to one repository, left out for "any that can serve it". */
export function planRequest(form: RestoreForm, target: RecoveryTarget, from?: string): PlanRequest {
  return form.mode === 'cluster' ? { mode: 'cluster', ...clusterRequest(form, target, from) } : { mode: 'tables', ...tablesRequest(form, target, from) };
}

export type StartRequest =
  | { readonly mode: 'cluster'; readonly request: z.input<typeof confirmedRestoreSchema> }
  | { readonly mode: 'tables'; readonly request: z.input<typeof confirmedPartialRestoreSchema> };

/**
 * The restore itself: the preview's request, pinned to the backup the preview showed
 * (so the restore cannot start from another one chosen in between), with the typed
 * confirmation.
 */
export function startRequest(form: RestoreForm, target: RecoveryTarget, from: string | undefined, backupId: string | undefined, confirm: string): StartRequest {
  const pinned = { ...(backupId === undefined ? {} : { backupId }), confirm };
  return form.mode === 'cluster'
    ? { mode: 'cluster', request: { ...clusterRequest(form, target, from), ...pinned } }
    : { mode: 'tables', request: { ...tablesRequest(form, target, from), ...pinned } };
}

const mediaOrder: Readonly<Record<RestorePlan['repositories'][number]['media'], number>> = { fixed: 0, removable: 1, cloud: 2 };

export const mediaWords: Readonly<Record<RestorePlan['repositories'][number]['media'], string>> = {
  fixed: 'local disk',
  removable: 'removable media',
  cloud: 'cloud',
};

/** Local and removable repositories first (fast, and there when the network is not), then cloud; by name within each. */
export function orderRepositories(repositories: RestorePlan['repositories']): RestorePlan['repositories'] {
  return [...repositories].sort((a, b) => mediaOrder[a.media] - mediaOrder[b.media] || a.repository.localeCompare(b.repository));
}

/** The directory's last component: what the service accepts (besides the full path) as the confirmation. */
export function directoryName(targetDir: string): string {
  const trimmed = targetDir.trim().replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1) || '/';
}

/**
 * The database a partial restore writes into, when the page can know it: the one named
 * in `into` (`dbname=…` or a URI's path). For the configured cluster's database the page
 * has no name to check against, and the service's own check decides.
 */
export function liveDatabaseName(into: string): string | undefined {
  const text = into.trim();
  if (text === '') return undefined;
  if (/^postgres(ql)?:\/\//.test(text)) {
    try {
      const name = decodeURIComponent(new URL(text).pathname.slice(1));
      return name === '' ? undefined : name;
    } catch {
      return undefined;
    }
  }
  return /(?:^|\s)dbname\s*=\s*'?([^'\s]+)'?/.exec(text)?.[1];
}

/** Does the typed confirmation name the target? Cluster: the directory's name or its full path. Tables: the live database, when known. */
export function confirmationMatches(form: RestoreForm, typed: string): boolean {
  if (form.mode === 'cluster') {
    const dir = form.targetDir.trim().replace(/(.)\/+$/, '$1');
    return typed === directoryName(form.targetDir) || typed === dir;
  }
  const expected = liveDatabaseName(form.into);
  return expected === undefined ? typed.trim() !== '' : typed === expected;
}

/** What the confirmation asks the person to type, in words. */
export function confirmationPrompt(form: RestoreForm): string {
  if (form.mode === 'cluster') return `Type the directory's name, ${directoryName(form.targetDir)}, to confirm.`;
  const expected = liveDatabaseName(form.into);
  return expected === undefined
    ? "Type the name of the configured cluster's live database to confirm; the restore checks it before it starts."
    : `Type the live database's name, ${expected}, to confirm.`;
}
