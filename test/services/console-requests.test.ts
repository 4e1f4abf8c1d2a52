import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConsoleConfig } from '../../src/main/services/backup-components.js';
import { startBackup, startPartialRestore, startRestore } from '../../src/main/services/console-operations.js';
import { createContext, type ServiceContext } from '../../src/main/services/context.js';
import { OperationRegistry } from '../../src/main/services/operations.js';
import { tempDirectory } from '../support/temp.js';

/** Requests refused before anything starts: nothing here reaches a server or a repository. */
describe('console requests refused up front', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let context: ServiceContext;
  const registry = new OperationRegistry();

  beforeAll(async () => {
    dir = await tempDirectory('drc-requests-');
    const path = join(dir.path, 'drc.json');
    await writeFile(path, JSON.stringify({ cluster: { name: 'main', port: 1, database: 'wedsync' }, encryption: { passphrase: 'env:DRC_UNUSED' }, repositories: [{ name: 'nas', type: 'local', path: join(dir.path, 'nas') }] }));
    context = await createContext({ configPath: path });
  });
  afterAll(() => dir.remove());

  it('refuses a restore whose confirmation does not name the directory, and a relative directory', async () => {
    const request = { target: { kind: 'latest' as const }, targetDir: join(dir.path, 'restored'), pause: false };
    await expect(startRestore(context, registry, { ...request, confirm: 'restore' })).rejects.toMatchObject({ code: 'USAGE', hints: ["type the directory's name, 'restored', to confirm the restore"] });
    await expect(startRestore(context, registry, { ...request, targetDir: 'restored', confirm: 'restored' })).rejects.toMatchObject({ code: 'USAGE' });
    await writeFile(join(dir.path, 'not-empty'), '');
    await expect(startRestore(context, registry, { ...request, targetDir: dir.path, confirm: dir.path })).rejects.toMatchObject({ code: 'RESTORE_TARGET_NOT_EMPTY' });
    expect(registry.list()).toEqual([]);
  });

  it('refuses a partial restore unless the live database is named', async () => {
    const request = { target: { kind: 'latest' as const }, tables: ['public.guests'] };
    await expect(startPartialRestore(context, registry, { ...request, confirm: 'postgres' })).rejects.toMatchObject({ code: 'USAGE', hints: ["type the live database's name, 'wedsync', to confirm"] });
    await expect(startPartialRestore(context, registry, { ...request, into: 'host=db1 dbname=billing', confirm: 'wedsync' })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining("'billing'") as unknown });
    expect(registry.list()).toEqual([]);
  });

  it('refuses a one-off backup at a time without an offset or in the past', async () => {
    const request = { type: 'manual' as const, reason: 'before deploy', components: ['database' as const], priority: 'normal' as const };
    await expect(startBackup(context, registry, { ...request, at: '2026-06-14T02:00:00' })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining('offset') as unknown });
    await expect(startBackup(context, registry, { ...request, at: '2020-01-01T00:00:00Z' })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining('has passed') as unknown });
  });

  it('refuses to attach a console config that holds a literal secret', async () => {
    const clean = join(dir.path, 'clean.json');
    await writeFile(clean, JSON.stringify({ encryption: { passphrase: 'env:DRC_PASSPHRASE' }, repositories: [{ name: 's3', secretAccessKey: 'keychain:drc-s3' }] }));
    await expect(checkConsoleConfig(clean)).resolves.toBeUndefined();
    const leaky = join(dir.path, 'leaky.json');
    await writeFile(leaky, JSON.stringify({ cluster: { password: 'hunter2' }, encryption: { passphrase: 'env:DRC_PASSPHRASE' } }));
    await expect(checkConsoleConfig(leaky)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('cluster.password') as unknown });
  });
});
