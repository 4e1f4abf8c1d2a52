import type { ObjectivesConfig } from '../../shared/config.js';
import type { SchedulerOverview, SchedulerState } from '../../shared/contract/schedule.js';
import type { Alert, ClusterHealth, Compliance321, HealthReport, MediaKind, Objectives, RecoveryPoint, RepositoryHealth } from '../../shared/contract/status.js';
import { DrcError } from '../../shared/errors.js';
import { listBackups, type CatalogEntry } from '../engines/backup/catalog.js';
import { interruptedRunsAbandoned, scheduleEntries } from '../engines/scheduler/calendar.js';
import { SchedulerStateStore } from '../engines/scheduler/state-store.js';
import { walStatus, type RepositoryWalStatus } from '../engines/wal/status.js';
import { clusterConnection, withSql } from '../postgres/cluster.js';
import { parseLsn } from '../postgres/lsn.js';
import type { RepositoryEvent } from '../repo/events.js';
import { openRepositorySet, type RepositorySet } from '../repo/repository-set.js';
import { RemovableTarget } from '../storage/removable.js';
import type { StorageTarget } from '../storage/target.js';
import { DelegatingTarget } from '../storage/wrappers/delegate.js';
import { resolvePassphrase, withTargets, type ServiceContext } from './context.js';
import { readEventHistory } from './events.js';
import { defaultSlotName } from './wal.js';

/**
 * `drc status`: the health of the protection, computed in two halves. The I/O half
 * (`healthReport`) observes the repositories, the server and the scheduler state; the pure
 * half (`buildHealthReport` and the rules it is made of) turns observations into
 * objectives, 3-2-1 compliance and alerts, with `now` given, so every rule is testable
 * with plain data.
 */

const day = 86_400_000;
const backupWindowDays = 30;
/** How many recent successful restore tests the RTO estimate considers (it takes the slowest). */
const rtoSampleSize = 3;

export interface RepositoryObservation {
  readonly repository: string;
  readonly media: MediaKind;
  readonly offsite: boolean;
  readonly state: RepositoryHealth['state'];
  readonly error?: { code: string; message: string };
  readonly bytesUsed?: number;
  readonly medium?: RepositoryHealth['medium'];
}

export interface HealthInput {
  readonly now: Date;
  readonly objectives: ObjectivesConfig;
  readonly cluster?: ClusterHealth;
  /** Every configured repository, reachable or not. */
  readonly repositories: readonly RepositoryObservation[];
  /** Backups in the reachable repositories, oldest first (as listBackups gives them), with the repositories holding each. */
  readonly backups: readonly CatalogEntry[];
  /** WAL archive of each reachable repository. */
  readonly wal: readonly RepositoryWalStatus[];
  /** Event history (the window `historySince` asks for), in any order. */
  readonly events: readonly RepositoryEvent[];
  readonly schedule: SchedulerOverview;
}

/** How far back status reads the history: the 30-day success rate, and the removable-media window. */
export function historySince(now: Date, objectives: ObjectivesConfig): Date {
  return new Date(now.getTime() - Math.max(backupWindowDays + 5, objectives.removableUnseenDays + 1) * day);
}

export function buildHealthReport(input: HealthInput): HealthReport {
  const objectives = computeObjectives(input);
  const recoveryPoints = recoveryPointsOf(input);
  const repositories = repositoryHealth(input);
  const configuration = compliance321(input.repositories);
  const backups = backupSuccess(input.events, input.now);
  const partial: Omit<HealthReport, 'alerts'> = {
    generatedAt: input.now.toISOString(),
    ...(input.cluster ? { cluster: input.cluster } : {}),
    objectives,
    compliance: { configuration, recoveryPoints },
    repositories,
    backups,
    schedule: input.schedule,
  };
  return { ...partial, alerts: alerts(partial, input) };
}

// ---- objectives -------------------------------------------------------------------

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

/** What a `restore-test` record (RestoreTestRecord) says about which backup it restored and how long that took. */
function restoreTestFigures(event: RepositoryEvent): { backupId?: string; durationMs?: number } {
  const { backupId, durationMs } = event.details;
  return { ...(typeof backupId === 'string' ? { backupId } : {}), ...(typeof durationMs === 'number' ? { durationMs } : {}) };
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

// ---- 3-2-1 ------------------------------------------------------------------------

/**
 * 3-2-1 for a set of copies: at least 3 copies counting production, on at least 2 kinds
 * of media (production's own disk is `fixed`), at least 1 offsite.
 */
export function compliance321(holders: ReadonlyArray<{ media: MediaKind; offsite: boolean }>): Compliance321 {
  const copies = holders.length + 1;
  const mediaKinds = [...new Set<MediaKind>(['fixed', ...holders.map((holder) => holder.media)])].sort();
  const offsite = holders.some((holder) => holder.offsite);
  const shortfalls = [
    ...(copies < 3 ? [`${String(copies)} cop${copies === 1 ? 'y' : 'ies'} counting production, 3 needed`] : []),
    ...(mediaKinds.length < 2 ? ['one kind of media only (add a removable drive or a cloud repository)'] : []),
    ...(offsite ? [] : ['no copy offsite']),
  ];
  return { copies, mediaKinds, offsite, compliant: shortfalls.length === 0, shortfalls };
}

function recoveryPointsOf(input: HealthInput): RecoveryPoint[] {
  const byName = new Map(input.repositories.map((repository) => [repository.repository, repository]));
  const restoreTests = latestRestoreTests(input.events);
  return input.backups.map((entry) => {
    // A copy on a medium that is not reachable now (a stick in a drawer) still counts, as last known.
    const lastKnown = entry.record.repositories.filter((name) => !entry.repositories.includes(name) && byName.get(name)?.state === 'unreachable');
    const holders = [...entry.repositories, ...lastKnown].flatMap((name) => byName.get(name) ?? []);
    const test = restoreTests.get(entry.record.id);
    return {
      backupId: entry.record.id,
      type: entry.record.type,
      stoppedAt: entry.record.stoppedAt,
      bytes: entry.record.bytesRead,
      repositories: entry.repositories,
      lastKnownRepositories: lastKnown,
      compliance: compliance321(holders),
      ...(test ? { lastRestoreTest: { time: test.time, outcome: test.outcome, summary: test.summary } } : {}),
    };
  });
}

function latestRestoreTests(events: readonly RepositoryEvent[]): Map<string, RepositoryEvent> {
  const latest = new Map<string, RepositoryEvent>();
  for (const event of events) {
    const backupId = event.type === 'restore-test' ? restoreTestFigures(event).backupId : undefined;
    const known = backupId === undefined ? undefined : latest.get(backupId);
    if (backupId !== undefined && (known === undefined || event.time > known.time)) latest.set(backupId, event);
  }
  return latest;
}

// ---- repositories and history -------------------------------------------------------

function backupSuccess(events: readonly RepositoryEvent[], now: Date): HealthReport['backups'] {
  const since = now.getTime() - backupWindowDays * day;
  const backups = events.filter((event) => event.type === 'backup' && Date.parse(event.time) >= since);
  const count = (outcome: RepositoryEvent['outcome']): number => backups.filter((event) => event.outcome === outcome).length;
  const succeeded = count('success');
  return { windowDays: backupWindowDays, succeeded, partial: count('partial'), failed: count('failure'), ...(backups.length === 0 ? {} : { successRate: succeeded / backups.length }) };
}

function verifyEntries(event: RepositoryEvent): Array<{ repository: string; problems: number; repaired: number; error?: string }> {
  if (event.type !== 'verify' && event.type !== 'verify-repair') return [];
  const entries = event.details.repositories;
  if (!Array.isArray(entries)) return [];
  return entries.flatMap((entry: unknown) => {
    if (typeof entry !== 'object' || entry === null) return [];
    const { repository, problems, repaired, error } = entry as Record<string, unknown>;
    if (typeof repository !== 'string') return [];
    return [{ repository, problems: typeof problems === 'number' ? problems : 0, repaired: typeof repaired === 'number' ? repaired : 0, ...(typeof error === 'string' ? { error } : {}) }];
  });
}

/** The repository took part in this operation and answered: a backup copy, a sync, a clean verify, a restore from it. */
function touched(event: RepositoryEvent, repository: string): boolean {
  const details = event.details;
  switch (event.type) {
    case 'backup':
      return Array.isArray(details.repositories) && details.repositories.includes(repository);
    case 'sync':
      return details.from === repository || details.to === repository;
    case 'restore':
      return details.from === repository;
    default:
      return verifyEntries(event).some((entry) => entry.repository === repository && entry.error === undefined);
  }
}

/** The newest event that matches, by its time (whatever order the events came in). */
function latestEvent(events: readonly RepositoryEvent[], matches: (event: RepositoryEvent) => boolean): RepositoryEvent | undefined {
  let found: RepositoryEvent | undefined;
  for (const event of events) if (matches(event) && (found === undefined || event.time > found.time)) found = event;
  return found;
}

function repositoryHealth(input: HealthInput): RepositoryHealth[] {
  return input.repositories.map((repository) => {
    const lastTouched = latestEvent(input.events, (event) => touched(event, repository.repository))?.time;
    const lastVerified = latestEvent(input.events, (event) => verifyEntries(event).some((entry) => entry.repository === repository.repository && entry.error === undefined))?.time;
    const lastSeen = repository.state === 'ok' ? input.now.toISOString() : lastTouched;
    const wal = input.wal.find((status) => status.repository === repository.repository);
    return {
      repository: repository.repository,
      media: repository.media,
      offsite: repository.offsite,
      state: repository.state,
      ...(repository.error ? { error: repository.error } : {}),
      ...(repository.bytesUsed === undefined ? {} : { bytesUsed: repository.bytesUsed }),
      backups: input.backups.filter((entry) => entry.repositories.includes(repository.repository)).length,
      walGaps: wal?.gaps.length ?? 0,
      ...(repository.medium ? { medium: repository.medium } : {}),
      ...(lastSeen === undefined ? {} : { lastSeen }),
      ...(lastVerified === undefined ? {} : { lastVerified }),
    };
  });
}

// ---- alerts -----------------------------------------------------------------------

const minutesOf = (seconds: number): string => (seconds < 120 ? `${String(Math.round(seconds))} s` : seconds < 7200 ? `${String(Math.round(seconds / 60))} min` : `${(seconds / 3600).toFixed(1)} h`);
const mib = (bytes: number): string => `${String(Math.round(bytes / 1024 / 1024))} MiB`;

/**
 * What needs attention, most severe first. `critical`: a recovery objective is not met
 * now or recovery may fail; `warning`: protection is weaker than configured; `info`: worth
 * knowing.
 */
export function alerts(report: Omit<HealthReport, 'alerts'>, input: Pick<HealthInput, 'now' | 'objectives' | 'events'>): Alert[] {
  const found: Alert[] = [];
  const add = (alert: Alert): void => {
    found.push(alert);
  };
  const { rpo, rto } = report.objectives;
  const unseenMs = input.objectives.removableUnseenDays * day;
  const days = String(input.objectives.removableUnseenDays);

  // Recovery point objective.
  if (rpo.seconds === undefined) {
    add({ severity: 'critical', code: 'NO_RECOVERY_POINT', message: 'no repository holds a backup to restore from', hint: 'run `drc backup` now, and keep `drc daemon` running for daily backups' });
  } else if (!rpo.met) {
    add({ severity: 'critical', code: 'RPO_BREACHED', message: `the newest recoverable point is ${minutesOf(rpo.seconds)} old (objective ${minutesOf(rpo.goalSeconds)})`, hint: 'check that WAL streaming runs (`drc daemon` or `drc wal stream`) and that the server is reachable' });
  }
  for (const entry of rpo.repositories) {
    if (rpo.met && entry.seconds !== undefined && !entry.met) {
      add({ severity: 'warning', code: 'RPO_BREACHED_REPOSITORY', repository: entry.repository, message: `repository '${entry.repository}' reaches only ${minutesOf(entry.seconds)} back (objective ${minutesOf(rpo.goalSeconds)})`, hint: `keep it connected while WAL streams, or fill it from a fresher repository with \`drc sync --from … --to ${entry.repository}\`` });
    }
  }

  // Recovery time objective.
  if (rto.estimateSeconds === undefined) {
    add({ severity: 'warning', code: 'RTO_UNKNOWN', message: 'no successful restore test is recorded, so the time to recover is unknown', hint: 'run a restore test (`drc restore-test`); the scheduler runs one after each daily full backup' });
  } else if (!rto.met) {
    add({ severity: 'critical', code: 'RTO_BREACHED', message: `a restore is estimated to take ${minutesOf(rto.estimateSeconds)} (objective ${minutesOf(rto.goalSeconds)})`, hint: 'restore from a local or removable repository rather than the cloud, keep the newest full backup close, or revise objectives.rtoMinutes with the business' });
  }
  const lastTest = latestEvent(input.events, (event) => event.type === 'restore-test');
  if (lastTest && lastTest.outcome === 'failure') {
    add({ severity: 'critical', code: 'RESTORE_TEST_FAILED', message: `the last restore test (${lastTest.time}) failed: ${lastTest.summary}`, hint: 'read it with `drc events --type restore-test`; a backup that does not restore is not a backup — fix the cause and take a new full backup' });
  }

  // The server's slot.
  const slot = report.cluster?.slot;
  if (slot && (slot.walStatus === 'lost' || slot.walStatus === 'unreserved')) {
    add({ severity: 'critical', code: 'SLOT_WAL_LOST', message: `the server ${slot.walStatus === 'lost' ? 'removed' : 'is about to remove'} WAL that slot '${slot.name}' still needs (wal_status ${slot.walStatus})`, hint: 'the WAL archive will have a gap: keep WAL streaming running, then take a new full backup (`drc backup`)' });
  } else if (slot && slot.retainedBytes > input.objectives.retainedWalWarningMiB * 1024 * 1024) {
    add({ severity: 'warning', code: 'SLOT_WAL_RETAINED', message: `slot '${slot.name}' keeps ${mib(slot.retainedBytes)} of WAL on the server${slot.active ? '' : ' and nothing is streaming from it'}`, hint: 'start WAL streaming (`drc daemon` or `drc wal stream`) so the slot advances; set max_slot_wal_keep_size so a forgotten slot cannot fill the disk' });
  }
  if (report.cluster && !report.cluster.reachable) {
    add({ severity: 'warning', code: 'CLUSTER_UNREACHABLE', message: `cluster '${report.cluster.name}' cannot be reached: ${report.cluster.error ?? 'no answer'}`, hint: 'no backup or WAL is being taken while it is down; if production is lost, restore with `drc restore`' });
  }

  // Repositories.
  for (const repository of report.repositories) {
    const name = repository.repository;
    const absentMedium = repository.media === 'removable' && repository.error?.code === 'MEDIA_NOT_PRESENT';
    if (repository.state === 'unreachable' && !absentMedium) {
      add({ severity: 'critical', code: 'REPOSITORY_FAILING', repository: name, message: `repository '${name}' cannot be reached: ${repository.error?.message ?? 'unknown error'}`, hint: 'check its network, credentials or disk; backups go on without it and `drc sync` fills it afterwards' });
    }
    if (repository.state === 'uninitialized') {
      add({ severity: 'warning', code: 'REPOSITORY_NOT_INITIALIZED', repository: name, message: `repository '${name}' holds no repository yet`, hint: `run \`drc repo init --repo ${name}\`, then \`drc sync --from … --to ${name}\`` });
    }
    if (repository.walGaps > 0) {
      add({ severity: 'critical', code: 'WAL_GAP', repository: name, message: `repository '${name}' misses ${String(repository.walGaps)} WAL segment(s): point-in-time recovery from it stops at the first gap`, hint: `fill it from another repository with \`drc sync --from … --to ${name}\`, or take a new full backup` });
    }
    const verified = (event: RepositoryEvent) => verifyEntries(event).find((entry) => entry.repository === name && entry.error === undefined);
    const lastVerify = latestEvent(input.events, (event) => verified(event) !== undefined);
    const result = lastVerify ? verified(lastVerify) : undefined;
    if (lastVerify && result && result.problems > result.repaired) {
      add({ severity: 'critical', code: 'REPOSITORY_DAMAGED', repository: name, message: `the last verify (${lastVerify.time}) found ${String(result.problems - result.repaired)} damaged or missing object(s) in '${name}'`, hint: 'run `drc verify --repair` to rewrite them from a good copy' });
    }
    if (repository.media === 'removable') {
      const seen = repository.lastSeen === undefined ? undefined : Date.parse(repository.lastSeen);
      if (seen === undefined || input.now.getTime() - seen > unseenMs) {
        add({ severity: 'warning', code: 'REMOVABLE_NOT_SEEN', repository: name, message: `removable medium '${name}' has not been connected for more than ${days} days${repository.lastSeen ? ` (last seen ${repository.lastSeen})` : ''}`, hint: `plug it in so the newest backups reach it (\`drc sync --from … --to ${name}\`), then take it back offsite` });
      }
      // A medium never verified is overdue only once it has been in use for the whole window.
      const verifiedOrLabelled = repository.lastVerified ?? repository.medium?.firstUsed;
      if (verifiedOrLabelled === undefined || input.now.getTime() - Date.parse(verifiedOrLabelled) > unseenMs) {
        add({ severity: 'warning', code: 'REMOVABLE_NOT_VERIFIED', repository: name, message: `removable medium '${name}' has not been verified for more than ${days} days${repository.lastVerified ? ` (last verified ${repository.lastVerified})` : ''}`, hint: `plug it in and run \`drc verify --repo ${name}\`: sticks fail silently` });
      }
    }
  }
  const newest = report.compliance.recoveryPoints.at(-1);
  if (newest) {
    const missing = report.repositories.filter((repository) => repository.state === 'ok' && !newest.repositories.includes(repository.repository));
    for (const repository of missing) {
      add({ severity: 'warning', code: 'MISSING_COPY', repository: repository.repository, message: `the newest backup ${newest.backupId} has no copy in '${repository.repository}'`, hint: `run \`drc sync --from ${newest.repositories[0] ?? '…'} --to ${repository.repository}\`` });
    }
  }

  // 3-2-1.
  const configuration = report.compliance.configuration;
  if (!configuration.compliant) {
    add({ severity: 'warning', code: 'CONFIG_NOT_321', message: `the configured repositories cannot keep 3-2-1: ${configuration.shortfalls.join('; ')}`, hint: 'add repositories so there are 3 copies counting production, on 2 kinds of media, 1 offsite (e.g. a USB drive and a cloud bucket)' });
  } else if (newest && !newest.compliance.compliant) {
    add({ severity: 'warning', code: 'RECOVERY_POINT_NOT_321', message: `the newest backup ${newest.backupId} is not kept 3-2-1: ${newest.compliance.shortfalls.join('; ')}`, hint: 'copy it to the missing repositories with `drc sync`' });
  }

  // The schedule.
  if (!report.schedule.scheduler.running) {
    add({ severity: 'info', code: 'SCHEDULER_NOT_RUNNING', message: 'no scheduler runs for this cluster on this workstation: the next runs shown are when it would run them', hint: 'start `drc daemon` (or the desktop app), or run the jobs from cron' });
  }
  for (const entry of report.schedule.jobs) {
    // A job running again (WAL streaming restarted) is judged by that run, not the failed one before it.
    if (entry.enabled && entry.runningSince === undefined && entry.lastRun?.outcome === 'failure') {
      add({ severity: 'warning', code: 'JOB_FAILED', message: `the scheduled ${entry.job} of ${entry.lastRun.startedAt} failed: ${entry.lastRun.summary}`, hint: entry.lastRun.error?.hints[0] ?? `see \`drc events\` for the ${entry.job}` });
    }
  }
  const order = { critical: 0, warning: 1, info: 2 } as const;
  return found.sort((a, b) => order[a.severity] - order[b.severity]);
}

// ---- observation (I/O) ------------------------------------------------------------

/** Everything `drc status` shows, observed now. Unreachable repositories and a down server are findings, not errors. */
export async function healthReport(context: ServiceContext, options: { now?: Date } = {}): Promise<HealthReport> {
  const now = options.now ?? new Date();
  const [observed, cluster, schedule] = await Promise.all([observeRepositories(context, now), observeCluster(context), observeSchedule(context, now)]);
  return buildHealthReport({ now, objectives: context.config.objectives, ...(cluster ? { cluster } : {}), ...observed, schedule });
}

type ObservedRepositories = Pick<HealthInput, 'repositories' | 'backups' | 'wal' | 'events'>;

const defaultSegmentSize = 16 * 1024 * 1024;

async function observeRepositories(context: ServiceContext, now: Date): Promise<ObservedRepositories> {
  const passphrase = await resolvePassphrase(context);
  return withTargets(context, undefined, async (targets) => {
    let set: RepositorySet;
    try {
      set = await openRepositorySet(targets, passphrase);
    } catch (error) {
      // No repository can be opened at all: that is the finding.
      if (!(error instanceof DrcError) || (error.code !== 'STORAGE_UNAVAILABLE' && error.code !== 'REPO_NOT_INITIALIZED')) throw error;
      const state = error.code === 'REPO_NOT_INITIALIZED' ? 'uninitialized' : 'unreachable';
      return { repositories: targets.map((target) => ({ ...describeTarget(target), state, error: { code: error.code, message: error.message } })), backups: [], wal: [], events: [] };
    }
    const backups = await listBackups(set.repositories);
    const wal = await walStatus(set.repositories, backups, backups.at(-1)?.record.walSegmentSize ?? defaultSegmentSize);
    const history = await readEventHistory(set.repositories, { since: historySince(now, context.config.objectives) });
    const repositories = await Promise.all(
      targets.map(async (target): Promise<RepositoryObservation> => {
        const unreachable = set.unreachable.find((entry) => entry.target === target);
        if (unreachable) return { ...describeTarget(target), state: 'unreachable', error: { code: unreachable.error.code, message: unreachable.error.message } };
        if (set.uninitialized.includes(target)) return { ...describeTarget(target), state: 'uninitialized' };
        const label = await removableOf(target)?.readMediaLabel();
        const bytesUsed = (await target.list('')).reduce((sum, object) => sum + object.size, 0);
        return { ...describeTarget(target), state: 'ok', bytesUsed, ...(label ? { medium: { id: label.id, name: label.name, firstUsed: label.firstUsed } } : {}) };
      }),
    );
    return { repositories, backups, wal, events: history.events };
  });
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
    return { name: cluster.name, reachable: false, error: error.message };
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

