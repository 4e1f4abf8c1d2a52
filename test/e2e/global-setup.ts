import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, startCluster } from '../support/postgres.js';
import { drcOrFail, logDir, saveSandbox, serveConsole, startBackgroundDrc, waitForWalStored, type BackgroundDrc } from './sandbox.js';

/** 17: its binaries come from npm on any machine (for the cluster and for restore tests alike), and it summarizes WAL. */
const MAJOR = 17;
const GUEST_ROWS = 120;

/**
 * Builds the sandbox (see sandbox.ts) and returns its teardown. Everything started here
 * is stopped there, in reverse order; a step that fails stops what came before it.
 */
export default async function globalSetup(): Promise<() => Promise<void>> {
  await rm(logDir, { recursive: true, force: true });
  await mkdir(logDir, { recursive: true });
  const cleanups: Array<() => Promise<void>> = [];
  const teardown = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  try {
    const cluster = await startCluster({ major: MAJOR });
    cleanups.push(() => cluster.remove());
    const root = await makeTempDir('drc-e2e-');
    cleanups.push(() => rm(root, { recursive: true, force: true }));

    await cluster.sql('CREATE TABLE guests (id serial PRIMARY KEY, name text NOT NULL, invited_at timestamptz NOT NULL DEFAULT now())');
    await cluster.sql(`INSERT INTO guests (name) SELECT 'guest ' || g FROM generate_series(1, ${String(GUEST_ROWS)}) g`);

    const usbMountPoint = join(root, 'media', 'usb0');
    await mkdir(usbMountPoint, { recursive: true });
    const repositories = { nas: join(root, 'nas'), usb: join(usbMountPoint, 'drc') };
    const configPath = join(root, 'drc.json');
    await writeFile(
      configPath,
      `${JSON.stringify(
        {
          cluster: { name: 'wedsync', host: '127.0.0.1', port: cluster.port, user: 'postgres', database: 'postgres' },
          encryption: { passphrase: 'env:DRC_PASSPHRASE' },
          repositories: [
            { name: 'nas', type: 'local', path: repositories.nas },
            { name: 'usb', type: 'removable', path: repositories.usb },
          ],
        },
        null,
        2,
      )}\n`,
    );

    // A low KDF cost: the tests open the repositories many times, and key stretching is not what they check.
    await drcOrFail(['repo', 'init', '--config', configPath, '--kdf-cost', '10']);
    const walStream: BackgroundDrc = startBackgroundDrc('wal-stream', ['wal', 'stream', '--config', configPath]);
    cleanups.push(() => walStream.stop());
    await drcOrFail(['backup', '--config', configPath, '--type', 'full', '--reason', 'Nightly full backup', '--operator', 'scheduler']);
    // A commit after the backup, stored: the recoverable window then reaches past the backup's end, as on any live server.
    await cluster.sql("INSERT INTO guests (name) VALUES ('a late reply')");
    const [switched] = await cluster.sql<{ lsn: string }>('SELECT pg_switch_wal()::text AS lsn');
    await waitForWalStored({ configPath, logDir }, switched?.lsn ?? '0/0');

    const served = await serveConsole('serve', configPath);
    cleanups.push(() => served.server.stop());

    await saveSandbox({
      origin: served.origin,
      token: served.token,
      configPath,
      root,
      repositories,
      usbMountPoint,
      cluster: { major: MAJOR, port: cluster.port },
      guestRows: GUEST_ROWS,
      logDir,
    });
    return teardown;
  } catch (error) {
    await teardown();
    throw error;
  }
}
