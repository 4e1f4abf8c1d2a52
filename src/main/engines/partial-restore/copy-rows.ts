import type pg from 'pg';
import { DrcError } from '../../../shared/errors.js';
import { qualified, type TableDefinition, type TableName } from './table-definition.js';

/**
 * copy: rows from the restored copy into the live table, in batches — a cursor on the
 * scratch side, multi-row INSERTs on the live side (pg_dump is not needed, and no
 * dblink either). Every value travels as PostgreSQL's own text form, exactly as COPY
 * moves it: the live server parses it with the column type's input function, so
 * timestamps keep their microseconds, numerics their digits and bytea its bytes — no
 * JavaScript type sits in between.
 */
const rawText: pg.CustomTypesConfig = { getTypeParser: () => (value: string) => value };

/** PostgreSQL takes at most 65535 parameters in one statement. */
const maxParameters = 65535;
const maxRowsPerBatch = 1000;
/** Rows of big values (documents, photos) come in smaller batches: about this much text per INSERT. */
const bytesPerBatch = 16 * 1024 * 1024;
const firstBatchRows = 100;

export async function copyRows(scratch: pg.Client, live: pg.Client, definition: TableDefinition, into: TableName, signal?: AbortSignal): Promise<number> {
  const columns = definition.columns.map((column) => scratch.escapeIdentifier(column.name)).join(', ');
  const rowLimit = Math.max(1, Math.min(maxRowsPerBatch, Math.floor(maxParameters / Math.max(1, definition.columns.length))));
  let rowsPerBatch = Math.min(firstBatchRows, rowLimit);
  // ONLY: an inheritance parent's own rows; a partitioned table's rows are its partitions'.
  const source = `${definition.kind === 'r' ? 'ONLY ' : ''}${qualified(scratch, definition.table)}`;
  let copied = 0;
  await scratch.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    await scratch.query(`DECLARE drc_restored_rows NO SCROLL CURSOR FOR SELECT ${columns} FROM ${source}`);
    for (;;) {
      if (signal?.aborted) throw new DrcError('PARTIAL_RESTORE_FAILED', `unable to finish copying '${definition.table.schema}.${definition.table.name}': interrupted`, { hints: ['nothing was committed in the live database; run the command again'] });
      const batch = await scratch.query<unknown[]>({ text: `FETCH ${String(rowsPerBatch)} FROM drc_restored_rows`, rowMode: 'array', types: rawText });
      if (batch.rows.length === 0) break;
      const values: unknown[] = [];
      let bytes = 0;
      const tuples = batch.rows.map((row) => {
        const placeholders = row.map((value) => {
          values.push(value);
          if (typeof value === 'string') bytes += value.length;
          return `$${String(values.length)}`;
        });
        return `(${placeholders.join(', ')})`;
      });
      const inserted = await live.query(`INSERT INTO ${qualified(live, into)} (${columns}) VALUES ${tuples.join(', ')}`, values);
      copied += inserted.rowCount ?? 0;
      rowsPerBatch = Math.max(1, Math.min(rowLimit, Math.floor(bytesPerBatch / Math.max(1, bytes / batch.rows.length))));
    }
  } finally {
    // The scratch side only read; a broken session must not hide the error that broke it.
    await scratch.query('ROLLBACK').catch(() => undefined);
  }
  return copied;
}
