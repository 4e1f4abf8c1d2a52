import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PartialRestoreReport } from '../../src/shared/contract/restore-test.js';
import { drc } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, stopAllClusters, type TestCluster } from '../support/postgres.js';

process.env.DRC_TEST_PASSPHRASE = 'partial restore test';
afterAll(stopAllClusters);

/** Every row as PostgreSQL prints it: equal digests mean equal values, microseconds and all. */
const digest = (table: string, where = 'true'): string => `SELECT count(*)::int AS rows, md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) AS digest FROM ${table} t WHERE ${where}`;

describe('partial restore (PostgreSQL 16)', () => {
  let source: TestCluster;
  let root: string;
  let config: DrcTestConfig;
  let stateDir: string;
  let into: string;
  let beforeDeletion: string;
  let vendor2AtBackup: { rows: number; digest: string } | undefined;
  let notesAtBackup: { rows: number; digest: string } | undefined;
  const pushed = new Set<string>();

  /** Ends the current WAL segment and archives every completed one with `drc wal push`. */
  async function archiveWal(): Promise<void> {
    await source.sql('SELECT pg_switch_wal()');
    // +1: at a segment boundary pg_walfile_name names the segment before it.
    const [current] = await source.sql<{ file: string }>('SELECT pg_walfile_name(pg_current_wal_lsn() + 1) AS file');
    for (const file of (await readdir(join(source.dataDir, 'pg_wal'))).sort()) {
      if (!/^[0-9A-F]{24}$/.test(file) || file >= (current?.file ?? '') || pushed.has(file)) continue;
      expect((await drc(['wal', 'push', join(source.dataDir, 'pg_wal', file), '--config', config.path])).code).toBe(0);
      pushed.add(file);
    }
  }

  beforeAll(async () => {
    source = await startCluster({ major: 16 });
    root = await makeTempDir('drc-partial-');
    config = await writeTestConfig(root, source);
    stateDir = join(root, 'state');
    await writeFile(config.path, JSON.stringify({ ...(JSON.parse(await readFile(config.path, 'utf8')) as object), stateDir }));
    into = `host=127.0.0.1 port=${String(source.port)} dbname=postgres user=postgres`;
    await source.sql(`CREATE TABLE guests (
      id serial PRIMARY KEY, vendor_id int NOT NULL, name text NOT NULL COLLATE "C", rsvp boolean,
      invited_at timestamptz NOT NULL DEFAULT now(), amount numeric(10, 2), tags text[], extra jsonb, photo bytea)`);
    await source.sql(`INSERT INTO guests (vendor_id, name, rsvp, invited_at, amount, tags, extra, photo)
      SELECT g % 3 + 1, 'guest ' || g, CASE WHEN g % 4 = 0 THEN NULL ELSE g % 2 = 0 END,
             '2026-06-14 09:30:00.123456+00'::timestamptz + g * interval '1.000001 second', g * 1.25,
             ARRAY['table ' || g % 7, 'a "quoted" tag'], jsonb_build_object('seat', g, 'diet', CASE WHEN g % 5 = 0 THEN 'vegan' END),
             decode(md5(g::text), 'hex')
        FROM generate_series(1, 300) g`);
    await source.sql('CREATE TABLE "Vendor Notes" (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, vendor_id int, note text, length int GENERATED ALWAYS AS (length(note)) STORED)');
    await source.sql(`INSERT INTO "Vendor Notes" (vendor_id, note) SELECT g % 3 + 1, 'note ' || repeat('x', g) FROM generate_series(1, 30) g`);
    await source.sql('CREATE TABLE payments (id int PRIMARY KEY, vendor_id int NOT NULL, amount numeric NOT NULL)');
    await source.sql('INSERT INTO payments SELECT g, g % 3 + 1, g FROM generate_series(1, 100) g');
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    expect((await drc(['backup', '--config', config.path])).code).toBe(0);
    vendor2AtBackup = (await source.sql<{ rows: number; digest: string }>(digest('guests', 'vendor_id = 2')))[0];
    notesAtBackup = (await source.sql<{ rows: number; digest: string }>(digest('"Vendor Notes"')))[0];
    await archiveWal();

    await sleep(50);
    beforeDeletion = (await source.sql<{ now: Date }>('SELECT clock_timestamp() AS now'))[0]?.now.toISOString() ?? '';
    await sleep(50);
    // The incident: one vendor's guests deleted by mistake, while everybody else keeps working.
    await source.sql('DELETE FROM guests WHERE vendor_id = 2');
    await source.sql("UPDATE guests SET rsvp = true, name = name || ' (confirmed)' WHERE vendor_id = 1");
    await source.sql('INSERT INTO payments SELECT g, g % 3 + 1, g FROM generate_series(101, 150) g');
    await source.sql('DELETE FROM "Vendor Notes" WHERE vendor_id = 3');
    await archiveWal();
  });

  afterAll(async () => {
    await source.remove();
    await rm(root, { recursive: true, force: true });
  });

  it("brings one vendor's deleted rows back into a new schema, while the other tables keep their newer data", async () => {
    const [liveBefore] = await source.sql<{ rows: number; digest: string }>(digest('guests'));
    const result = await drc(['restore', '--config', config.path, '--json', '--tables', 'public.guests,public."Vendor Notes"', '--into', into, '--time', beforeDeletion]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = result.json<PartialRestoreReport>();
    expect(report.schema).toMatch(/^restored_\d{8}_\d{6}$/);
    expect(report).toMatchObject({ database: 'postgres', createdSchema: true, into, scratch: { removed: true }, warnings: [] });
    expect(report.tables).toEqual([
      { source: 'public.guests', target: `${report.schema}.guests`, rows: 300, columns: 9, primaryKey: ['id'], droppedDefaults: [expect.stringMatching(/^id: DEFAULT nextval\(/)] },
      {
        source: 'public.Vendor Notes',
        target: `${report.schema}.Vendor Notes`,
        rows: 30,
        columns: 4,
        primaryKey: ['id'],
        droppedDefaults: [expect.stringMatching(/^id: GENERATED ALWAYS AS IDENTITY/), expect.stringMatching(/^length: GENERATED ALWAYS AS \(length\(note\)\) STORED/)],
      },
    ]);
    expect(existsSync(report.scratch.directory)).toBe(false);
    expect(await readdir(join(stateDir, 'drc-scratch'))).toEqual([]);

    // The deleted rows, exactly as they were (every type's text form compared).
    const restored = `${report.schema}.guests`;
    expect((await source.sql(digest(restored, 'vendor_id = 2')))[0]).toEqual(vendor2AtBackup);
    expect((await source.sql(digest(`${report.schema}."Vendor Notes"`)))[0]).toEqual(notesAtBackup);
    // Structure: NOT NULL, the non-sequence default and the collation came along.
    const [columns] = await source.sql<{ definition: string }>(
      `SELECT string_agg(attname || ':' || attnotnull || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ':' || coalesce(collname, ''), ',' ORDER BY attnum) AS definition
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum LEFT JOIN pg_collation c ON c.oid = a.attcollation AND a.attcollation <> 100
        WHERE a.attrelid = '${restored}'::regclass AND attnum > 0`,
    );
    expect(columns?.definition).toContain('invited_at:true:now():');
    expect(columns?.definition).toContain('name:true::C');

    // Nothing live was rolled back: the other vendors' newer work is all there.
    expect((await source.sql(digest('guests')))[0]).toEqual(liveBefore);
    expect((await source.sql<{ rows: number }>('SELECT count(*)::int AS rows FROM payments'))[0]?.rows).toBe(150);
    expect((await source.sql<{ rows: number }>("SELECT count(*)::int AS rows FROM guests WHERE name LIKE '% (confirmed)'"))[0]?.rows).toBe(100);

    // And the DBA puts the vendor's guests back.
    await source.sql(`INSERT INTO guests SELECT * FROM ${restored} WHERE vendor_id = 2`);
    expect((await source.sql(digest('guests', 'vendor_id = 2')))[0]).toEqual(vendor2AtBackup);

    // Never overwrite: the same schema again is refused before anything is restored, and nothing changes.
    const again = await drc(['restore', '--config', config.path, '--json', '--tables', 'public.guests', '--into', into, '--schema', report.schema, '--time', beforeDeletion]);
    expect(again.code).toBe(2);
    expect(again.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: 'PARTIAL_RESTORE_TABLE_EXISTS', message: expect.stringContaining(`'${report.schema}.guests' exists already`) as unknown });
    expect((await source.sql<{ rows: number }>(`SELECT count(*)::int AS rows FROM ${restored}`))[0]?.rows).toBe(300);
  });

  it('fails for a table that did not exist at the recovery point, leaving the live database untouched', async () => {
    const result = await drc(['restore', '--config', config.path, '--json', '--tables', 'public.payments,public.invoices', '--into', into, '--schema', 'restored_missing', '--time', beforeDeletion]);
    expect(result.code).toBe(1);
    expect(result.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: 'PARTIAL_RESTORE_TABLE_NOT_FOUND', message: expect.stringContaining("'public.invoices'") as unknown });
    expect(await source.sql("SELECT nspname FROM pg_namespace WHERE nspname = 'restored_missing'")).toEqual([]);
    expect(await readdir(join(stateDir, 'drc-scratch'))).toEqual([]);
  });
});
