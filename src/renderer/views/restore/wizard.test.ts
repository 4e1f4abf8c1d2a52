import { describe, expect, it } from 'vitest';
import {
  confirmationMatches,
  confirmationPrompt,
  directoryName,
  emptyRestoreForm,
  formProblems,
  liveDatabaseName,
  orderRepositories,
  planRequest,
  startRequest,
  type RestoreForm,
} from './wizard.js';

const cluster: RestoreForm = { ...emptyRestoreForm, targetDir: '/srv/pg/restored/' };
const tables: RestoreForm = { ...emptyRestoreForm, mode: 'tables', tables: ' public.orders, sales.invoices ,', schema: 'recovered' };
const target = { kind: 'time', time: '2026-12-04T10:30:00.000Z' } as const;

describe('the restore wizard', () => {
  it('asks for an absolute target directory for a whole-cluster restore', () => {
    expect(formProblems(emptyRestoreForm).targetDir).toContain('Type the directory');
    expect(formProblems({ ...emptyRestoreForm, targetDir: 'restored' }).targetDir).toContain('full path');
    expect(formProblems(cluster)).toEqual({});
  });

  it('asks for tables as schema.table and a valid schema name for a partial restore', () => {
    expect(formProblems({ ...tables, tables: '' }).tables).toContain('at least one table');
    expect(formProblems({ ...tables, tables: 'public.orders, invoices' }).tables).toBe('Write each table as schema.table: invoices.');
    expect(formProblems({ ...tables, schema: 'new schema' }).schema).toContain('letters, digits and underscores');
    expect(formProblems(tables)).toEqual({});
  });

  it('builds the dry run request from the form, with the source repository only when one was chosen', () => {
    expect(planRequest(cluster, target)).toEqual({ mode: 'cluster', target, targetDir: '/srv/pg/restored/', pause: false });
    expect(planRequest(tables, target, 'usb')).toEqual({ mode: 'tables', target, tables: ['public.orders', 'sales.invoices'], schema: 'recovered', from: 'usb' });
  });

  it('pins the restore to the backup the preview showed, with the typed confirmation', () => {
    expect(startRequest(cluster, target, undefined, '20261204T021000F', 'restored')).toEqual({
      mode: 'cluster',
      request: { target, targetDir: '/srv/pg/restored/', pause: false, backupId: '20261204T021000F', confirm: 'restored' },
    });
    expect(startRequest(tables, target, 'local', undefined, 'appdb')).toEqual({
      mode: 'tables',
      request: { target, tables: ['public.orders', 'sales.invoices'], schema: 'recovered', from: 'local', confirm: 'appdb' },
    });
  });

  it('offers local and removable repositories before cloud ones', () => {
    const offered = orderRepositories([
      { repository: 'b2', media: 'cloud', canServe: true, bytes: 1 },
      { repository: 'usb', media: 'removable', canServe: false, reason: 'not plugged in', bytes: 0 },
      { repository: 'nas', media: 'fixed', canServe: true, bytes: 1 },
      { repository: 'local', media: 'fixed', canServe: true, bytes: 1 },
    ]);
    expect(offered.map((repository) => repository.repository)).toEqual(['local', 'nas', 'usb', 'b2']);
  });

  it('confirms a cluster restore with the directory name or its full path, as the service does', () => {
    expect(directoryName('/srv/pg/restored/')).toBe('restored');
    expect(confirmationMatches(cluster, 'restored')).toBe(true);
    expect(confirmationMatches(cluster, '/srv/pg/restored')).toBe(true);
    expect(confirmationMatches(cluster, 'Restored')).toBe(false);
    expect(confirmationMatches(cluster, '')).toBe(false);
    expect(confirmationPrompt(cluster)).toBe("Type the directory's name, restored, to confirm.");
  });

  it('confirms a partial restore with the live database name when the page can know it', () => {
    expect(liveDatabaseName('host=db1 dbname=shop user=dba')).toBe('shop');
    expect(liveDatabaseName('postgresql://dba@db1:5432/shop%20eu')).toBe('shop eu');
    expect(liveDatabaseName('')).toBeUndefined();
    const into = { ...tables, into: 'postgres://db1/shop' };
    expect(confirmationMatches(into, 'shop')).toBe(true);
    expect(confirmationMatches(into, 'shop2')).toBe(false);
    expect(confirmationPrompt(into)).toBe("Type the live database's name, shop, to confirm.");
    // The configured cluster's database: the page has no name to check, so the service's check decides.
    expect(confirmationMatches(tables, '')).toBe(false);
    expect(confirmationMatches(tables, 'appdb')).toBe(true);
  });
});
