import type { SchedulerOverview } from '../../shared/contract/schedule.js';
import type { ClusterHealth, HealthReport } from '../../shared/contract/status.js';
import { DrcError } from '../../shared/errors.js';
import { listBackups } from '../engines/backup/catalog.js';
import type { HealthInput, RepositoryObservation } from '../engines/health/input.js';
import { buildHealthReport, historySince } from '../engines/health/report.js';
import { interruptedRunsAbandoned, scheduleEntries } from '../engines/scheduler/calendar.js';
import type { SchedulerState } from '../engines/scheduler/state.js';
import { SchedulerStateStore } from '../engines/scheduler/state-store.js';
import { walStatus } from '../engines/wal/status.js';
import { clusterConnection, withSql } from '../postgres/cluster.js';
import { objectPrefixes } from '../repo/objects.js';
import { openRepositorySet, type RepositorySet } from '../repo/repository-set.js';
import { walIndexPrefix } from '../repo/wal-index.js';
import { RemovableTarget } from '../storage/removable.js';
import type { StorageTarget } from '../storage/target.js';
import { DelegatingTarget } from '../storage/wrappers/delegate.js';
import { resolvePassphrase, withTargets, type ServiceContext } from './context.js';
import { readEventHistory } from './events.js';
import { defaultSlotName } from './wal.js';
import { archivedWalSegmentSize } from '../engines/wal/segment-size.js';

/**
 * `drc status`: observes the repositories, the server and the scheduler state, and hands
 * what it saw to the pure health rules (`engines/health/`), which turn it into objectives,
 * 3-2-1 compliance and alerts.
 */

/** Everything `drc status` shows, observed now. Unreachable repositories and a down server are findings, not errors. */
export async function healthReport(context: ServiceContext, options: { now?: Date } = {}): Promise<HealthReport> {
  const now = options.now ?? new Date();
  const [observed, cluster, schedule] = await Promise.all([observeRepositories(context, now), observeCluster(context), observeSchedule(context, now)]);
  return buildHealthReport({ now, objectives: context.config.objectives, ...(cluster ? { cluster } : {}), ...observed, schedule });
}

type ObservedRepositories = Pick<HealthInput, 'repositories' | 'backups' | 'wal' | 'events' | 'damagedCopies'>;

async function observeRepositories(context: ServiceContext, now: Date): Promise<ObservedRepositories> {
  const passphrase = await resolvePassphrase(context);
  return withTargets(context, undefined, async (targets) => {
    let set: RepositorySet;
    try {
      set = await openRepositorySet(targets, passphrase, context.unlocked);
    } catch (error) {
      // No repository can be opened at all: that is the finding.
      if (!(error instanceof DrcError) || (error.code !== 'STORAGE_UNAVAILABLE' && error.code !== 'REPO_NOT_INITIALIZED')) throw error;
      const state = error.code === 'REPO_NOT_INITIALIZED' ? 'uninitialized' : 'unreachable';
      return { repositories: targets.map((target) => ({ ...describeTarget(target), state, error: { code: error.code, message: error.message } })), backups: [], wal: [], events: [] };
    }
    // The backups and WAL, the event history and what each repository holds are read at
    // once: none needs another, and each waits mostly on storage and the crypto workers.
    const [{ backups, wal }, history, held] = await Promise.all([
      (async () => {
        const listed = await listBackups(set.repositories);
        return { backups: listed, wal: await walStatus(set.repositories, listed, await archivedWalSegmentSize(set.repositories, listed)) };
      })(),
      readEventHistory(set.repositories, { since: historySince(now, context.config.objectives) }),
      Promise.all(targets.filter((target) => answers(set, target)).map(async (target) => ({ target, label: await removableOf(target)?.readMediaLabel(), bytes: await bytesOutsideWal(target) }))),
    ]);
    const repositories = targets.map((target): RepositoryObservation => {
      const unreachable = set.unreachable.find((entry) => entry.target === target);
      if (unreachable) return { ...describeTarget(target), state: 'unreachable', error: { code: unreachable.error.code, message: unreachable.error.message } };
      if (set.uninitialized.includes(target)) return { ...describeTarget(target), state: 'uninitialized' };
      const found = held.find((entry) => entry.target === target);
      const bytesUsed = (found?.bytes ?? 0) + (wal.find((entry) => entry.repository === target.name)?.storedBytes ?? 0);
      const label = found?.label;
      return { ...describeTarget(target), state: 'ok', bytesUsed, ...(label ? { medium: { id: label.id, name: label.name, firstUsed: label.firstUsed } } : {}) };
    });
    // Copies passed over for another repository's while reading all this: an alert each, as `drc list` warns of them.
    return { repositories, backups, wal, events: history.events, damagedCopies: [...set.fallbacks] };
  });
}

/** Whether the set opened this repository: neither unreachable nor empty. */
function answers(set: RepositorySet, target: StorageTarget): boolean {
  return !set.unreachable.some((entry) => entry.target === target) && !set.uninitialized.includes(target);
}

/**
 * What a repository occupies apart from its WAL archive, which is not listed (hundreds of
 * thousands of objects on a busy server): the WAL's share comes from its index. The header
 * and media label, a few kilobytes, are left out.
 */
async function bytesOutsideWal(target: StorageTarget): Promise<number> {
  const listed = await Promise.all([objectPrefixes.chunks, objectPrefixes.backups, objectPrefixes.events, walIndexPrefix].map((prefix) => target.list(prefix)));
  return listed.flat().reduce((sum, object) => sum + object.size, 0);
}

function describeTarget(target: StorageTarget): Pick<RepositoryObservation, 'repository' | 'media' | 'offsite'> {
  return { repository: target.name, media: target.capabilities.media, offsite: target.capabilities.offsite };
}

function removableOf(target: StorageTarget): RemovableTarget | undefined {
  let current = target;
  while (current instanceof DelegatingTarget) current = current.wrapped;
  return current instanceof RemovableTarget ? current : undefined;
}

/** The server's view: how far it has written, how much WAL the slot holds back, how big the databases are. */
async function observeCluster(context: ServiceContext): Promise<ClusterHealth | undefined> {
  const cluster = context.config.cluster;
  if (!cluster) return undefined;
  try {
    const connection = { ...(await clusterConnection(cluster, context.secrets)), connectTimeoutMs: 5000 };
    return await withSql(connection, async (client) => {
      const position = "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_flush_lsn() END";
      const server = await client.query<{ flush_lsn: string | null; database_bytes: string | null }>(
        `SELECT (${position})::text AS flush_lsn, (SELECT sum(pg_database_size(oid)) FILTER (WHERE has_database_privilege(oid, 'CONNECT')) FROM pg_database)::bigint::text AS database_bytes`,
      );
      const slot = await client.query<{ active: boolean; retained: string | null; wal_status: string | null }>(
        `SELECT active, pg_wal_lsn_diff(${position}, restart_lsn)::bigint::text AS retained, wal_status FROM pg_replication_slots WHERE slot_name = $1`,
        [defaultSlotName],
      );
      const row = server.rows[0];
      const slotRow = slot.rows[0];
      return {
        name: cluster.name,
        reachable: true,
        ...(row?.flush_lsn ? { flushLsn: row.flush_lsn } : {}),
        ...(row?.database_bytes ? { databaseBytes: Number(row.database_bytes) } : {}),
        ...(slotRow ? { slot: { name: defaultSlotName, active: slotRow.active, retainedBytes: Number(slotRow.retained ?? 0), ...(slotRow.wal_status ? { walStatus: slotRow.wal_status } : {}) } } : {}),
      };
    });
  } catch (error) {
    if (!(error instanceof DrcError)) throw error;
    return { name: cluster.name, reachable: false, error: error.message, errorCode: error.code, hints: error.hints };
  }
}

async function observeSchedule(context: ServiceContext, now: Date): Promise<SchedulerOverview> {
  const store = SchedulerStateStore.forConfig(context.config, context.config.cluster?.name ?? 'default');
  let holder: Awaited<ReturnType<SchedulerStateStore['holder']>>;
  let state: SchedulerState = { format: 1, cluster: store.cluster, jobs: {} };
  let stateError: string | undefined;
  try {
    holder = await store.holder(now);
    state = await store.load();
  } catch (error) {
    if (!(error instanceof DrcError)) throw error;
    stateError = error.message;
  }
  // Without a live scheduler, a run the file still calls "running" was cut short.
  const current = holder ? state : interruptedRunsAbandoned(state, now);
  return {
    scheduler: holder ? { running: true, pid: holder.pid, host: holder.host, since: holder.acquiredAt } : { running: false },
    statePath: store.path,
    jobs: scheduleEntries(context.config.schedule, current, now),
    ...(stateError === undefined ? {} : { stateError }),
  };
}

