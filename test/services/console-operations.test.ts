import { chown, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runAsUnprivileged } from '../../src/main/postgres/binaries.js';
import { createContext, withRepositorySet } from '../../src/main/services/context.js';
import { createServices } from '../../src/main/services/index.js';
import { objectPrefixes } from '../../src/main/repo/objects.js';
import type { Operation } from '../../src/shared/contract/operations.js';
import { drc } from '../support/cli.js';
import { writeTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters } from '../support/postgres.js';

process.env.DRC_TEST_PASSPHRASE = 'console operations test';
afterAll(stopAllClusters);

describe('console operations over a real cluster', () => {
  it('backs up with components, restores them beside the data directory, refuses a wrong confirmation, and cancels a backup mid-stream and a restore mid-fetch', async () => {
    const source = await startCluster({ major: 15 });
    const root = await makeTempDir('drc-console-ops-');
    const config = await writeTestConfig(root, source, ['nas']);

    // The server's pg_hba.conf moved outside the data directory, as Debian keeps it in /etc.
    const etc = join(root, 'etc');
    await mkdir(etc);
    await writeFile(join(etc, 'pg_hba.conf'), await readFile(join(source.dataDir, 'pg_hba.conf')));
    const ids = runAsUnprivileged();
    if (ids) await chown(etc, ids.uid, ids.gid);
    if (ids) await chown(join(etc, 'pg_hba.conf'), ids.uid, ids.gid);
    await source.sql(`ALTER SYSTEM SET hba_file = '${join(etc, 'pg_hba.conf')}'`);
    await source.stop();
    await source.start();

    // A directory listed under `files`: an application's scripts and certificates.
    const app = join(root, 'deploy-scripts');
    await mkdir(join(app, 'certs'), { recursive: true });
    await writeFile(join(app, 'migrate.sh'), '#!/bin/sh\npsql -f migrate.sql\n', { mode: 0o750 });
    await writeFile(join(app, 'certs', 'server.crt'), 'certificate text\n');
    const written = JSON.parse(await readFile(config.path, 'utf8')) as Record<string, unknown>;
    await writeFile(config.path, JSON.stringify({ ...written, files: [app] }));

    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    await source.sql('CREATE TABLE invoices (id serial PRIMARY KEY, note text)');
    await source.sql("INSERT INTO invoices (note) SELECT repeat('n', 100) || g FROM generate_series(1, 1000) g");

    const services = await createServices({ configPath: config.path });
    const seen: Operation[] = [];
    services.operations.changed((operation) => seen.push(operation));

    // A manual backup with every component, normal priority (a spread checkpoint).
    const started = await services.backups.start({ type: 'manual', reason: 'before deploy 4.2', components: ['database', 'configurations', 'files'], priority: 'normal' });
    expect(started.backupId).toMatch(/-manual$/);
    expect(started.components).toEqual(['database', 'configurations', 'files']);
    const backedUp = await services.operationRegistry.settled(started.operationId);
    expect(backedUp.error).toBeUndefined();
    expect(backedUp).toMatchObject({ state: 'succeeded', backupId: started.backupId });
    expect(backedUp.result?.kind === 'backup' && backedUp.result.backup).toMatchObject({ id: started.backupId, reason: 'before deploy 4.2', components: ['database', 'configurations', 'files'], copies: [{ repository: 'nas', state: 'present' }] });
    const ours = seen.filter((operation) => operation.id === started.operationId);
    expect(ours.some((operation) => (operation.bytesDone ?? 0) > 0 || operation.phase === 'committing the backup')).toBe(true);
    expect(ours.at(-1)?.state).toBe('succeeded');

    // A second backup now has an estimate from the first one's rate.
    await source.sql("INSERT INTO invoices (note) VALUES ('after the backup')");

    // Restore: the confirmation must name the directory.
    const target = join(root, 'restored-cluster');
    await expect(services.recovery.restore({ target: { kind: 'latest' }, targetDir: target, pause: false, confirm: 'yes' })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(stat(target)).rejects.toThrow();
    const restoring = await services.recovery.restore({ target: { kind: 'latest' }, targetDir: target, pause: false, confirm: basename(target) });
    const restored = await services.operationRegistry.settled(restoring.operationId);
    expect(restored.error).toBeUndefined();
    expect(restored.state).toBe('succeeded');
    const result = restored.result?.kind === 'restore' ? restored.result : undefined;
    expect(result?.startCommand).toBe(`pg_ctl start -D ${target}`);
    expect(result?.restore.attachmentsDir).toBe(`${target}.attachments`);
    expect(result?.dataLossMinutes).toBeGreaterThanOrEqual(0);
    await stat(join(target, 'global', 'pg_control'));
    // A restore that reports success starts as it is, with the `pg_ctl start` it printed, and holds the backup's rows.
    const restoredServer = await startClusterFromDataDir(target, 15);
    const [{ count } = { count: '0' }] = await restoredServer.sql<{ count: string }>('SELECT count(*)::text AS count FROM invoices');
    expect(Number(count)).toBeGreaterThanOrEqual(1000);
    await restoredServer.stop();

    // Attachments beside the data directory, never inside it.
    const beside = `${target}.attachments`;
    expect(await readFile(join(beside, 'configurations', 'pg_hba.conf'), 'utf8')).toBe(await readFile(join(etc, 'pg_hba.conf'), 'utf8'));
    expect(JSON.parse(await readFile(join(beside, 'configurations', 'drc.json'), 'utf8'))).toMatchObject({ files: [app], encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' } });
    expect(await readFile(join(beside, 'files', 'deploy-scripts', 'migrate.sh'), 'utf8')).toContain('migrate.sql');
    expect((await stat(join(beside, 'files', 'deploy-scripts', 'migrate.sh'))).mode & 0o777).toBe(0o750);
    expect(await readFile(join(beside, 'files', 'deploy-scripts', 'certs', 'server.crt'), 'utf8')).toBe('certificate text\n');
    expect(await readdir(target)).not.toContain('configurations');

    // The restore event carries the seed's disaster_recovery_events fields.
    const context = await createContext({ configPath: config.path });
    const restoreEvents = await withRepositorySet(context, undefined, async (set) => {
      const [nas] = set.repositories;
      if (!nas) throw new Error('nas is not reachable');
      const names = await nas.target.list(objectPrefixes.events);
      const events = await Promise.all(names.map((object) => nas.readEvent(object.name)));
      return events.filter((event) => event.type === 'restore');
    });
    expect(restoreEvents).toHaveLength(1);
    expect(restoreEvents[0]?.details).toMatchObject({ recovery_type: 'full_restore', backup_used: started.backupId, status: 'completed', initiated_by: expect.any(String) as unknown, data_loss_minutes: expect.any(Number) as unknown });

    // Cancel mid-stream: enough data that the stream is still running when the first bytes are reported.
    await source.sql("INSERT INTO invoices (note) SELECT repeat(md5(g::text), 4) FROM generate_series(1, 600000) g");
    const cancelled = new Promise<void>((resolve) => {
      const stop = services.operations.changed((operation) => {
        if (operation.kind === 'backup' && operation.state === 'running' && (operation.bytesDone ?? 0) > 0) {
          stop();
          void services.operations.cancel({ operationId: operation.id }).then(() => resolve());
        }
      });
    });
    const doomed = await services.backups.start({ type: 'full', reason: 'to be cancelled', components: ['database'], priority: 'high' });
    expect(doomed.estimatedDurationSeconds).toBeGreaterThan(0);
    await cancelled;
    const ended = await services.operationRegistry.settled(doomed.operationId);
    expect(ended.state).toBe('cancelled');
    expect(ended.message).toContain('no backup is committed');
    const manifests = await readdir(join(config.repositories.nas ?? '', 'backups'));
    expect(manifests.some((name) => name.startsWith(doomed.backupId))).toBe(false);

    // The lock was released: the next backup runs and commits.
    const next = await services.backups.start({ type: 'full', reason: 'after the cancel', components: ['database'], priority: 'high' });
    const nextEnded = await services.operationRegistry.settled(next.operationId);
    expect(nextEnded.error).toBeUndefined();
    expect(nextEnded.state).toBe('succeeded');
    expect((await readdir(join(config.repositories.nas ?? '', 'backups'))).some((name) => name.startsWith(next.backupId))).toBe(true);

    // Cancel a restore mid-fetch: what it wrote is removed and the directory it created is gone.
    const abandoned = join(root, 'abandoned-restore');
    const restoreCancelled = new Promise<void>((resolve) => {
      const stop = services.operations.changed((operation) => {
        if (operation.kind === 'restore' && operation.state === 'running' && (operation.bytesDone ?? 0) > 0) {
          stop();
          void services.operations.cancel({ operationId: operation.id }).then(() => resolve());
        }
      });
    });
    const undone = await services.recovery.restore({ target: { kind: 'latest' }, targetDir: abandoned, pause: false, confirm: abandoned });
    await restoreCancelled;
    expect((await services.operationRegistry.settled(undone.operationId)).state).toBe('cancelled');
    await expect(stat(abandoned)).rejects.toMatchObject({ code: 'ENOENT' });

    await services.operationRegistry.cancelAll();
    await source.remove();
  }, 240_000);
});
