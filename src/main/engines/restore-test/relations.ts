import type pg from 'pg';
import type { VerifiedTable } from '../../../shared/contract/restore-test.js';
import { DrcError } from '../../../shared/errors.js';
import type { ScratchInstance } from '../../postgres/scratch-instance.js';

/**
 * amcheck and read: in every database of the restored cluster (template0 aside, which
 * nobody writes), `verify_heapam` on every table, materialized view and TOAST table
 * (catalogs included: a restore with a damaged catalog is no restore) and
 * `bt_index_check(…, heapallindexed => true)` on every valid B-tree index; then every
 * user table is read to the end by a sequential scan — which also verifies every page's
 * data checksum — and its rows counted. amcheck is created in the scratch copy only.
 */
export interface RelationChecks {
  databases: string[];
  tables: VerifiedTable[];
  heapsChecked: number;
  indexesChecked: number;
  rowsVerified: number;
  amcheckProblems: string[];
  readProblems: string[];
  warnings: string[];
}

interface Heap {
  oid: number;
  relation: string;
  schema: string;
  name: string;
  kind: string;
  populated: boolean;
  system: boolean;
}

/** Findings per relation beyond which the rest are only counted: one damaged page can yield thousands. */
const findingsPerRelation = 5;

export async function checkRelations(instance: ScratchInstance, options: { signal?: AbortSignal; onProgress?: (detail: string) => void } = {}): Promise<RelationChecks> {
  const result: RelationChecks = { databases: [], tables: [], heapsChecked: 0, indexesChecked: 0, rowsVerified: 0, amcheckProblems: [], readProblems: [], warnings: [] };
  const databases = await instance.withSession('template1', async (client) => {
    const rows = (await client.query<{ datname: string; datallowconn: boolean; invalid: boolean }>("SELECT datname, datallowconn, datconnlimit = -2 AS invalid FROM pg_database WHERE datname <> 'template0' ORDER BY datname")).rows;
    for (const row of rows.filter((each) => !each.datallowconn && !each.invalid)) {
      // Closed to connections in production; this copy is ours to open.
      await client.query(`ALTER DATABASE ${client.escapeIdentifier(row.datname)} WITH ALLOW_CONNECTIONS true`);
    }
    for (const row of rows.filter((each) => each.invalid)) result.warnings.push(`database '${row.datname}' was being dropped at the recovery point; it was not checked`);
    return rows.filter((each) => !each.invalid).map((each) => each.datname);
  });
  for (const database of databases) {
    result.databases.push(database);
    await instance.withSession(database, (client) => checkDatabase(instance, client, database, result, options));
  }
  return result;
}

async function checkDatabase(instance: ScratchInstance, client: pg.Client, database: string, result: RelationChecks, options: { signal?: AbortSignal; onProgress?: (detail: string) => void }): Promise<void> {
  const amcheck = await installAmcheck(client, database, result.amcheckProblems);
  // Every table read to the end: no index may stand in for the heap.
  await client.query('SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off');
  const heaps = (
    await client.query<Heap>(
      `SELECT c.oid, c.oid::regclass::text AS relation, n.nspname AS schema, c.relname AS name, c.relkind AS kind, c.relispopulated AS populated,
              (n.nspname IN ('pg_catalog', 'information_schema') OR c.relkind = 't') AS system
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm', 't') AND c.relpersistence <> 't'
        ORDER BY c.oid`,
    )
  ).rows;
  const indexes = new Map<number, Array<{ oid: number; relation: string }>>();
  const btrees = await client.query<{ oid: number; relation: string; heap: number }>(
    `SELECT c.oid, c.oid::regclass::text AS relation, i.indrelid AS heap
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
      WHERE a.amname = 'btree' AND c.relkind = 'i' AND i.indisvalid AND i.indisready AND c.relpersistence <> 't'`,
  );
  for (const index of btrees.rows) {
    const ofHeap = indexes.get(index.heap) ?? [];
    ofHeap.push(index);
    indexes.set(index.heap, ofHeap);
  }
  let done = 0;
  for (const heap of heaps) {
    if (options.signal?.aborted) throw new DrcError('RESTORE_TEST_FAILED', 'unable to finish the restore test: interrupted');
    options.onProgress?.(`${database}: ${String(done)}/${String(heaps.length)} relations`);
    done += 1;
    const tableIndexes = indexes.get(heap.oid) ?? [];
    if (amcheck !== undefined) {
      await guarded(instance, client, result.amcheckProblems, `${database}: ${heap.relation}`, async () => {
        const findings = await client.query<{ blkno: string; offnum: number | null; attnum: number | null; msg: string }>(
          `SELECT blkno, offnum, attnum, msg FROM ${amcheck}.verify_heapam($1::oid::regclass, on_error_stop => false, check_toast => true, skip => 'none') LIMIT ${String(findingsPerRelation + 1)}`,
          [heap.oid],
        );
        for (const finding of findings.rows.slice(0, findingsPerRelation)) {
          result.amcheckProblems.push(`${database}: ${heap.relation} block ${finding.blkno}${finding.offnum === null ? '' : ` item ${String(finding.offnum)}`}: ${finding.msg}`);
        }
        if (findings.rows.length > findingsPerRelation) result.amcheckProblems.push(`${database}: ${heap.relation}: more corruption beyond the first ${String(findingsPerRelation)} findings`);
      });
      result.heapsChecked += 1;
      for (const index of tableIndexes) {
        await guarded(instance, client, result.amcheckProblems, `${database}: index ${index.relation}`, async () => {
          await client.query(`SELECT ${amcheck}.bt_index_check($1::oid::regclass, true)`, [index.oid]);
        });
        result.indexesChecked += 1;
      }
    }
    // Catalogs are checked above; the table list is the DBA's data.
    if (heap.system || !heap.populated) continue;
    await guarded(instance, client, result.readProblems, `${database}: ${heap.relation}`, async () => {
      const rows = Number((await client.query<{ rows: string }>(`SELECT count(*) AS rows FROM ONLY ${heap.relation}`)).rows[0]?.rows ?? 0);
      result.tables.push({ database, schema: heap.schema, name: heap.name, kind: heap.kind === 'm' ? 'materialized view' : 'table', rows, indexesChecked: amcheck === undefined ? 0 : tableIndexes.length });
      result.rowsVerified += rows;
    });
  }
}

/** Creates amcheck (or brings an old copy up to date) in this database; returns its schema, quoted. */
async function installAmcheck(client: pg.Client, database: string, problems: string[]): Promise<string | undefined> {
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS amcheck');
    // A copy created long ago in production may predate verify_heapam (amcheck 1.3).
    await client.query('ALTER EXTENSION amcheck UPDATE');
    const schema = (await client.query<{ schema: string }>("SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck'")).rows[0]?.schema;
    return schema === undefined ? undefined : client.escapeIdentifier(schema);
  } catch (error) {
    problems.push(`${database}: unable to create the amcheck extension: ${(error as Error).message} (install the server's contrib modules next to the binaries used)`);
    return undefined;
  }
}

/**
 * Runs one check; a query error is a finding about that relation. If the server itself
 * went away (a backend crashed on a damaged page; `restart_after_crash` is off), there is
 * nothing more to check: that ends the phase, with the server's own words.
 */
async function guarded(instance: ScratchInstance, client: pg.Client, problems: string[], what: string, check: () => Promise<void>): Promise<void> {
  try {
    await check();
  } catch (error) {
    problems.push(`${what}: ${(error as Error).message}`);
    const alive = await client.query('SELECT 1').then(
      () => true,
      () => false,
    );
    if (!alive) {
      throw new DrcError('RESTORE_TEST_FAILED', `unable to go on checking the restored cluster: the scratch server stopped while checking ${what}: ${await instance.logExcerpt(3)}`);
    }
  }
}
