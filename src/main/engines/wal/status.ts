import { parseLsn, segmentFileName, segmentNumber } from '../../postgres/lsn.js';
import type { Repository } from '../../repo/repository.js';
import type { CatalogEntry } from '../backup/catalog.js';
import { WalCatalog } from './catalog.js';

/** Per repository: how far its WAL archive reaches and where it has holes. */
export interface RepositoryWalStatus {
  repository: string;
  segments: number;
  partialSegments: number;
  /** Bytes the WAL archive occupies in the repository (segments, summaries, history files). */
  storedBytes: number;
  timelines: number[];
  /** End of the newest valid WAL stored (complete or partial), and the newest commit in it. */
  newestLsn: string | undefined;
  newestCommitTime: string | undefined;
  newestSegment: string | undefined;
  /** Missing segments between the oldest backup's start and the newest segment. */
  gaps: Array<{ timeline: number; missing: string }>;
  /** Point-in-time recovery possible from `earliest` (oldest backup's end) to `latest` (newest commit reachable). */
  recoveryWindow: { earliest: string; latest: string } | undefined;
}

export async function walStatus(repositories: readonly Repository[], backups: readonly CatalogEntry[], segmentSize: number): Promise<RepositoryWalStatus[]> {
  const results: RepositoryWalStatus[] = [];
  for (const repository of repositories) {
    const catalog = await WalCatalog.load([repository], segmentSize);
    const held = backups.filter((entry) => entry.repositories.includes(repository.name));
    const oldest = held[0]?.record;
    const newestBackup = held.at(-1)?.record;
    const status: RepositoryWalStatus = {
      repository: repository.name,
      segments: 0,
      partialSegments: 0,
      storedBytes: catalog.storedBytes.get(repository.name) ?? 0,
      timelines: [...catalog.timelines.keys()].sort((a, b) => a - b),
      newestLsn: undefined,
      newestCommitTime: undefined,
      newestSegment: undefined,
      gaps: [],
      recoveryWindow: undefined,
    };
    let newestEnd = -1n;
    for (const timeline of status.timelines) {
      const segments = catalog.segments(timeline);
      status.segments += segments.filter((holding) => holding.complete.length > 0).length;
      status.partialSegments += segments.filter((holding) => holding.complete.length === 0).length;
      // The backup carries WAL through its stop segment; the archive must continue after it.
      const stopSegment = oldest && oldest.timeline <= timeline ? segmentNumber(parseLsn(oldest.stopLsn), segmentSize) : undefined;
      const from = stopSegment === undefined ? segments[0]?.segment : segments.some((holding) => holding.segment === stopSegment) ? stopSegment : stopSegment + 1n;
      if (from !== undefined) {
        let expected = from;
        for (const holding of segments.filter((candidate) => candidate.segment >= from)) {
          while (expected < holding.segment) {
            status.gaps.push({ timeline, missing: segmentFileName(timeline, expected, segmentSize) });
            expected += 1n;
          }
          expected = holding.segment + 1n;
        }
      }
      const last = segments.at(-1);
      if (!last) continue;
      const summary = await catalog.summary(timeline, last, last.complete.length === 0);
      const end = summary ? parseLsn(summary.endLsn) : (last.segment + 1n) * BigInt(segmentSize);
      if (end > newestEnd) {
        newestEnd = end;
        status.newestLsn = summary?.endLsn;
        status.newestSegment = last.file;
      }
    }
    status.newestCommitTime = await newestCommit(catalog);
    if (oldest && newestBackup) {
      const latestTimes = [newestBackup.stoppedAt, ...(status.newestCommitTime && status.gaps.length === 0 ? [status.newestCommitTime] : [])];
      status.recoveryWindow = { earliest: oldest.stoppedAt, latest: latestTimes.sort().at(-1) ?? newestBackup.stoppedAt };
    }
    results.push(status);
  }
  return results;
}

/** The newest commit time any summary of this catalog records (looking back from the newest segment). */
async function newestCommit(catalog: WalCatalog): Promise<string | undefined> {
  let newest: string | undefined;
  for (const timeline of catalog.timelines.keys()) {
    const segments = catalog.segments(timeline);
    for (let index = segments.length - 1; index >= 0; index--) {
      const holding = segments[index];
      if (!holding) continue;
      const partialSummary = holding.partial.length > 0 ? await catalog.summary(timeline, holding, true) : undefined;
      const completeSummary = holding.complete.length > 0 ? await catalog.summary(timeline, holding, false) : undefined;
      const time = completeSummary?.lastCommitTime ?? partialSummary?.lastCommitTime;
      if (time !== undefined) {
        if (newest === undefined || time > newest) newest = time;
        break;
      }
    }
  }
  return newest;
}
