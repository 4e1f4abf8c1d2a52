import { findLatestBackup, listBackups } from '../engines/backup/catalog.js';
import type { Repository } from '../repo/repository.js';
import { getWalFile, pushWalFile } from '../engines/wal/archive-command.js';
import { streamWal, type ArchiverStatus } from '../engines/wal/archiver.js';
import { walStatus, type RepositoryWalStatus } from '../engines/wal/status.js';
import { clusterConnection, requireCluster } from '../postgres/cluster.js';
import { withRepositorySet, type ServiceContext } from './context.js';

/** WAL segment size when no backup tells otherwise (initdb's default). */
const defaultSegmentSize = 16 * 1024 * 1024;

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
    return walStatus(set.repositories, backups, backups.at(-1)?.record.walSegmentSize ?? defaultSegmentSize);
  });
}

export function pushWal(context: ServiceContext, path: string, segmentSize: number | undefined): Promise<{ object: string; repositories: string[] }> {
  return withRepositorySet(context, undefined, async (set) => pushWalFile(set.repositories, path, segmentSize ?? (await latestSegmentSize(set.repositories))));
}

export function getWal(context: ServiceContext, name: string, destination: string): Promise<{ object: string; from: string }> {
  return withRepositorySet(context, undefined, async (set) => getWalFile(set.repositories, name, destination, await latestSegmentSize(set.repositories)));
}

/** The segment size recorded by the newest backup (initdb's default without one). */
async function latestSegmentSize(repositories: readonly Repository[]): Promise<number> {
  return (await findLatestBackup(repositories))?.record.walSegmentSize ?? defaultSegmentSize;
}
