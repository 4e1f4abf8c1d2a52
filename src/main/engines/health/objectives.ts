import type { Alert, ClusterHealth, Objectives } from '../../../shared/contract/status.js';
import { parseLsn } from '../../postgres/lsn.js';
import type { RepositoryEvent } from '../../repo/events.js';
import type { CatalogEntry } from '../backup/catalog.js';
import type { RepositoryWalStatus } from '../wal/status.js';
import { restoreTestFigures } from './history.js';
import type { HealthInput } from './input.js';
import type { RuleInput } from './rule.js';
import { durationInWords } from './wording.js';
import { raise } from './alert-codes.js';

/** How many recent successful restore tests the RTO estimate considers (it takes the slowest). */
const rtoSampleSize = 3;

/** RPO and RTO, measured against the objectives. */
export function computeObjectives(input: Pick<HealthInput, 'now' | 'objectives' | 'cluster' | 'repositories' | 'backups' | 'wal' | 'events'>): Objectives {
  const rpoGoal = input.objectives.rpoMinutes * 60;
  const rtoGoal = input.objectives.rtoMinutes * 60;
  const rpoRepositories = input.repositories.map((repository) => {
    const wal = input.wal.find((status) => status.repository === repository.repository);
    const recoverableTo = wal?.recoveryWindow?.latest;
    const caughtUp = wal !== undefined && recoverableTo !== undefined && isCaughtUp(wal, input.cluster);
    const seconds = caughtUp ? 0 : recoverableTo === undefined ? undefined : Math.max(0, (input.now.getTime() - Date.parse(recoverableTo)) / 1000);
    return { repository: repository.repository, ...(recoverableTo === undefined ? {} : { recoverableTo }), ...(seconds === undefined ? {} : { seconds }), caughtUp, met: seconds !== undefined && seconds <= rpoGoal };
  });
  const known = rpoRepositories.flatMap((entry) => (entry.seconds === undefined ? [] : [entry.seconds]));
  const rpoSeconds = known.length === 0 ? undefined : Math.min(...known);
  const rto = estimateRto(input.events, input.backups, input.cluster?.databaseBytes);
  return {
    rpo: { goalSeconds: rpoGoal, ...(rpoSeconds === undefined ? {} : { seconds: rpoSeconds }), met: rpoSeconds !== undefined && rpoSeconds <= rpoGoal, repositories: rpoRepositories },
    rto: { goalSeconds: rtoGoal, ...(rto ? { estimateSeconds: rto.estimateSeconds, basedOn: rto.basedOn } : {}), met: rto !== undefined && rto.estimateSeconds <= rtoGoal },
  };
}

/**
 * A repository holding every WAL byte the server has flushed loses nothing if production
 * dies now, however long ago the last commit was (an idle server writes no commits).
 */
function isCaughtUp(wal: RepositoryWalStatus, cluster: ClusterHealth | undefined): boolean {
  if (cluster?.flushLsn === undefined || wal.newestLsn === undefined || wal.gaps.length > 0) return false;
  return parseLsn(wal.newestLsn) >= parseLsn(cluster.flushLsn);
}

/**
 * RTO: each recent successful restore test's duration, scaled by how much bigger the
 * cluster is now than what that test restored; the slowest result counts. "Now" is the
 * larger of the newest backup and the server's database size, so growth since the last
 * backup counts and the estimate never undercuts what the newest backup would take.
 */
export function estimateRto(events: readonly RepositoryEvent[], backups: readonly CatalogEntry[], databaseBytes: number | undefined): { estimateSeconds: number; basedOn: NonNullable<Objectives['rto']['basedOn']> } | undefined {
  const newestBytes = backups.at(-1)?.record.bytesRead;
  const sizes = [newestBytes, databaseBytes].filter((bytes): bytes is number => bytes !== undefined && bytes > 0);
  const currentBytes = sizes.length === 0 ? undefined : Math.max(...sizes);
  const tests = events
    .filter((event) => event.type === 'restore-test' && event.outcome === 'success')
    .sort((a, b) => a.time.localeCompare(b.time))
    .slice(-rtoSampleSize);
  let best: ReturnType<typeof estimateRto>;
  for (const event of tests) {
    const figures = restoreTestFigures(event);
    if (figures.durationMs === undefined) continue;
    // A tested backup that has since expired can no longer be sized: its duration counts unscaled.
    const testedBytes = backups.find((entry) => entry.record.id === figures.backupId)?.record.bytesRead;
    const scale = testedBytes !== undefined && testedBytes > 0 && currentBytes !== undefined ? currentBytes / testedBytes : 1;
    const estimateSeconds = (figures.durationMs / 1000) * scale;
    if (best && best.estimateSeconds >= estimateSeconds) continue;
    best = {
      estimateSeconds,
      basedOn: {
        testedAt: event.time,
        ...(figures.backupId === undefined ? {} : { backupId: figures.backupId }),
        durationSeconds: figures.durationMs / 1000,
        ...(testedBytes === undefined ? {} : { testedBytes }),
        ...(currentBytes === undefined ? {} : { currentBytes }),
      },
    };
  }
  return best;
}

/** NO_RECOVERY_POINT, RPO_BREACHED: what a restore from the freshest copy would lose. */
export function rpoBreached({ report }: RuleInput): Alert[] {
  const { rpo } = report.objectives;
  if (rpo.seconds === undefined) {
    return [raise('NO_RECOVERY_POINT', 'no repository holds a backup to restore from')];
  }
  if (rpo.met) return [];
  return [raise('RPO_BREACHED', `the newest recoverable point is ${durationInWords(rpo.seconds)} old (objective ${durationInWords(rpo.goalSeconds)})`)];
}

/** RPO_BREACHED_REPOSITORY: the objective is met overall, but one repository lags (only then worth its own alert). */
export function rpoBreachedInRepository({ report }: RuleInput): Alert[] {
  const { rpo } = report.objectives;
  if (!rpo.met) return [];
  return rpo.repositories.flatMap((entry): Alert[] =>
    entry.seconds !== undefined && !entry.met
      ? [raise('RPO_BREACHED_REPOSITORY', `repository '${entry.repository}' reaches only ${durationInWords(entry.seconds)} back (objective ${durationInWords(rpo.goalSeconds)})`, { repository: entry.repository })]
      : [],
  );
}

/** RTO_UNKNOWN, RTO_BREACHED: the time to recover, from restore tests. */
export function rtoBreached({ report }: RuleInput): Alert[] {
  const { rto } = report.objectives;
  if (rto.estimateSeconds === undefined) {
    return [raise('RTO_UNKNOWN', 'no successful restore test is recorded, so the time to recover is unknown')];
  }
  if (rto.met) return [];
  return [raise('RTO_BREACHED', `a restore is estimated to take ${durationInWords(rto.estimateSeconds)} (objective ${durationInWords(rto.goalSeconds)})`)];
}
