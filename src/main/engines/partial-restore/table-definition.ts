import type pg from 'pg';
import { DrcError } from '../../../shared/errors.js';

/**
 * A table's shape as the restored copy knows it, enough to hold its rows elsewhere:
 * columns with their types (schema-qualified, read with search_path = pg_catalog),
 * collations, NOT NULL, defaults, and the primary key. Not carried over: foreign keys
 * (they would point at tables of the restored copy), other indexes, triggers, policies —
 * the restored table is a place to inspect and copy rows from, not a second live table.
 */
export interface TableName {
  readonly schema: string;
  readonly name: string;
}

export interface ColumnDefinition {
  readonly name: string;
  readonly type: string;
  readonly collation: string | undefined;
  readonly notNull: boolean;
  readonly defaultExpression: string | undefined;
}

export interface TableDefinition {
  readonly table: TableName;
  /** 'p' (partitioned: its rows are those of every partition) or 'r'. */
  readonly kind: 'r' | 'p';
  readonly columns: ColumnDefinition[];
  readonly primaryKey: string[];
  /** Column properties not carried over, and why (`guest_id: DEFAULT nextval(…)`). */
  readonly dropped: string[];
}

export const qualified = (client: pg.Client, table: TableName): string => `${client.escapeIdentifier(table.schema)}.${client.escapeIdentifier(table.name)}`;

export async function readTableDefinition(client: pg.Client, table: TableName, database: string): Promise<TableDefinition> {
  const found = await client.query<{ oid: number; kind: 'r' | 'p' }>(
    "SELECT c.oid, c.relkind AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
    [table.schema, table.name],
  );
  const relation = found.rows[0];
  if (!relation) {
    throw new DrcError('PARTIAL_RESTORE_TABLE_NOT_FOUND', `unable to find table '${table.schema}.${table.name}' in database '${database}' at the recovery point`, {
      hints: ['check the name (SCHEMA.TABLE, as in \\dt), the database (--database), and that the table existed at the target time'],
    });
  }
  const attributes = await client.query<{ name: string; type: string; collation: string | null; not_null: boolean; default_expression: string | null; generated: string; identity: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            CASE WHEN a.attcollation <> t.typcollation THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END AS collation,
            a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default_expression, a.attgenerated AS generated, a.attidentity AS identity
       FROM pg_attribute a
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_collation co ON co.oid = a.attcollation
       LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [relation.oid],
  );
  const dropped: string[] = [];
  const columns = attributes.rows.map((row): ColumnDefinition => {
    let defaultExpression = row.default_expression ?? undefined;
    // The restored rows carry their values; what generated them stays behind: a sequence
    // of the restored copy does not exist in the live database (and must not be
    // advanced there), and a generated or identity column would refuse the copied values.
    if (row.generated !== '') {
      dropped.push(`${row.name}: GENERATED ALWAYS AS (${defaultExpression ?? ''}) STORED — kept as a plain column with the restored values`);
      defaultExpression = undefined;
    } else if (row.identity !== '') {
      dropped.push(`${row.name}: GENERATED ${row.identity === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY — kept as a plain column with the restored values`);
    } else if (defaultExpression !== undefined && /\bnextval\(/.test(defaultExpression)) {
      dropped.push(`${row.name}: DEFAULT ${defaultExpression}`);
      defaultExpression = undefined;
    }
    return { name: row.name, type: row.type, collation: row.collation ?? undefined, notNull: row.not_null, defaultExpression };
  });
  const key = await client.query<{ name: string }>(
    `SELECT a.attname AS name
       FROM pg_constraint c
       CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, position)
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
      WHERE c.conrelid = $1 AND c.contype = 'p'
      ORDER BY k.position`,
    [relation.oid],
  );
  return { table, kind: relation.kind, columns, primaryKey: key.rows.map((row) => row.name), dropped };
}

export function createTableStatement(client: pg.Client, definition: TableDefinition, into: TableName): string {
  const columns = definition.columns.map(
    (column) =>
      `${client.escapeIdentifier(column.name)} ${column.type}${column.collation === undefined ? '' : ` COLLATE ${column.collation}`}${column.notNull ? ' NOT NULL' : ''}${column.defaultExpression === undefined ? '' : ` DEFAULT ${column.defaultExpression}`}`,
  );
  if (definition.primaryKey.length > 0) columns.push(`PRIMARY KEY (${definition.primaryKey.map((name) => client.escapeIdentifier(name)).join(', ')})`);
  // No IF NOT EXISTS: a table already there is an error, never overwritten or merged into.
  return `CREATE TABLE ${qualified(client, into)} (\n  ${columns.join(',\n  ')}\n)`;
}
