import type { ObjectivesConfig } from '../../../shared/config.js';
import type { Alert, HealthReport, RecoveryPoint, RepositoryHealth } from '../../../shared/contract/status.js';
import type { RepositoryEvent } from '../../repo/events.js';
import { compliance321, notKept321 } from './compliance.js';
import { latestEvent, latestRestoreTests, touched, verifyEntries } from './history.js';
import type { HealthInput } from './input.js';
import { computeObjectives, rpoBreached, rpoBreachedInRepository, rtoBreached } from './objectives.js';
import { copyDamaged, missingCopy, removableNotSeen, removableNotVerified, repositoryDamaged, repositoryFailing, repositoryNotInitialized, walGap } from './repositories.js';
import { restoreTestFailed } from './restore-tests.js';
import { day, type HealthRule, type RuleInput } from './rule.js';
import { jobFailed, schedulerNotRunning } from './schedule.js';
import { clusterUnreachable, slotWal } from './server.js';

/**
 * The health report, from observations alone: objectives, 3-2-1 per recovery point,
 * repository health and the alerts of every rule. `services/status.ts` gathers the input.
 */
const backupWindowDays = 30;

/** Every rule, in the order its alerts are listed within one severity. */
export const healthRules: readonly HealthRule[] = [
  rpoBreached,
  rpoBreachedInRepository,
  rtoBreached,
  restoreTestFailed,
  slotWal,
  clusterUnreachable,
  repositoryFailing,
  repositoryNotInitialized,
  repositoryDamaged,
  copyDamaged,
  walGap,
  removableNotSeen,
  removableNotVerified,
  missingCopy,
  notKept321,
  schedulerNotRunning,
  jobFailed,
];

/** How far back status reads the history: the 30-day success rate, and the removable-media window. */
export function historySince(now: Date, objectives: ObjectivesConfig): Date {
  return new Date(now.getTime() - Math.max(backupWindowDays + 5, objectives.removableUnseenDays + 1) * day);
}

export function buildHealthReport(input: HealthInput): HealthReport {
  const report: Omit<HealthReport, 'alerts'> = {
    generatedAt: input.now.toISOString(),
    ...(input.cluster ? { cluster: input.cluster } : {}),
    objectives: computeObjectives(input),
    compliance: { configuration: compliance321(input.repositories), recoveryPoints: recoveryPointsOf(input) },
    repositories: repositoryHealth(input),
    backups: backupSuccess(input.events, input.now),
    schedule: input.schedule,
  };
  return { ...report, alerts: alerts({ report, now: input.now, objectives: input.objectives, events: input.events, damagedCopies: input.damagedCopies ?? [] }) };
}

/**
 * What needs attention, most severe first. `critical`: a recovery objective is not met
 * now or recovery may fail; `warning`: protection is weaker than configured; `info`: worth
 * knowing.
 */
export function alerts(input: RuleInput): Alert[] {
  const order = { critical: 0, warning: 1, info: 2 } as const;
  return healthRules.flatMap((rule) => rule(input)).sort((a, b) => order[a.severity] - order[b.severity]);
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

function backupSuccess(events: readonly RepositoryEvent[], now: Date): HealthReport['backups'] {
  const since = now.getTime() - backupWindowDays * day;
  const backups = events.filter((event) => event.type === 'backup' && Date.parse(event.time) >= since);
  const count = (outcome: RepositoryEvent['outcome']): number => backups.filter((event) => event.outcome === outcome).length;
  const succeeded = count('success');
  return { windowDays: backupWindowDays, succeeded, partial: count('partial'), failed: count('failure'), ...(backups.length === 0 ? {} : { successRate: succeeded / backups.length }) };
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
