import { findLatestBackup, listBackups } from '../engines/backup/catalog.js';
import type { Repository } from '../repo/repository.js';
import { getWalFile, pushWalFile } from '../engines/wal/archive-command.js';
import { streamWal, type ArchiverStatus } from '../engines/wal/archiver.js';
import { walStatus, type RepositoryWalStatus } from '../engines/wal/status.js';
import { clusterConnection, requireCluster } from '../postgres/cluster.js';
import { withRepositorySet, type ServiceContext } from './context.js';
import { archivedWalSegmentSize } from '../engines/wal/segment-size.js';

export const defaultSlotName = 'dr_console';

export async function streamWalForever(context: ServiceContext, options: { slot?: string; signal: AbortSignal; onStatus?: (status: ArchiverStatus) => void }): Promise<ArchiverStatus> {
  const cluster = requireCluster(context.config.cluster);
  const connection = await clusterConnection(cluster, context.secrets);
  return withRepositorySet(context, undefined, (set) =>
    streamWal(set, { connection, slot: options.slot ?? defaultSlotName, signal: options.signal, ...(options.onStatus ? { onStatus: options.onStatus } : {}) }),
  );
}

export function walArchiveStatus(context: ServiceContext): Promise<RepositoryWalStatus[]> {
  return withRepositorySet(context, undefined, async (set) => {
    const backups = await listBackups(set.repositories);
    return walStatus(set.repositories, backups, await archivedWalSegmentSize(set.repositories, backups));
  });
}

export function pushWal(context: ServiceContext, path: string, segmentSize: number | undefined): Promise<{ object: string; repositories: string[] }> {
  return withRepositorySet(context, undefined, async (set) => pushWalFile(set.repositories, path, segmentSize ?? (await latestSegmentSize(set.repositories))));
}

export function getWal(context: ServiceContext, name: string, destination: string): Promise<{ object: string; from: string }> {
  return withRepositorySet(context, undefined, async (set) => getWalFile(set.repositories, name, destination, await latestSegmentSize(set.repositories)));
}

/** The archive's segment size, for files that do not say theirs (see `archivedWalSegmentSize`). */
async function latestSegmentSize(repositories: readonly Repository[]): Promise<number> {
  const latest = await findLatestBackup(repositories);
  return archivedWalSegmentSize(repositories, latest ? [latest] : []);
}
