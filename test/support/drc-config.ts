import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestCluster } from './postgres.js';

export interface DrcTestConfig {
  readonly path: string;
  readonly repositories: Record<string, string>;
}

/**
 * A config for a test cluster with local repositories under `root`: `nas` (local) and
 * `usb` (removable, its mount point created). The passphrase comes from
 * DRC_TEST_PASSPHRASE, which the caller sets.
 */
export async function writeTestConfig(root: string, cluster: TestCluster, repositories: ReadonlyArray<'nas' | 'usb'> = ['nas', 'usb']): Promise<DrcTestConfig> {
  await mkdir(join(root, 'media', 'usb0'), { recursive: true });
  const paths: Record<string, string> = { nas: join(root, 'nas'), usb: join(root, 'media', 'usb0', 'drc') };
  const path = join(root, 'drc.json');
  await writeFile(
    path,
    JSON.stringify({
      cluster: { name: `pg${String(cluster.major)}`, host: cluster.connection.host, port: cluster.connection.port, user: cluster.connection.user, database: 'postgres' },
      encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' },
      repositories: repositories.map((name) => ({ name, type: name === 'usb' ? 'removable' : 'local', path: paths[name] })),
    }),
  );
  return { path, repositories: Object.fromEntries(repositories.map((name) => [name, paths[name] ?? ''])) };
}
