import { objectivesConfigSchema } from '../../../src/shared/config.js';
import type { HealthReport, RepositoryHealth } from '../../../src/shared/contract/status.js';
import type { RuleInput } from '../../../src/main/engines/health/rule.js';
import type { RepositoryEvent } from '../../../src/main/repo/events.js';

export const now = new Date('2026-06-18T09:00:00.000Z');
export const minutesAgo = (count: number): string => new Date(now.getTime() - count * 60_000).toISOString();
export const daysAgo = (count: number): string => minutesAgo(count * 24 * 60);

export function event(type: string, outcome: RepositoryEvent['outcome'], time: string, details: Record<string, unknown> = {}): RepositoryEvent {
  return { id: `${type}-${time}`, time, type, outcome, operator: 'dba', host: 'ws1', summary: `${type} ${outcome}`, details };
}

export function repository(name: string, overrides: Partial<RepositoryHealth> = {}): RepositoryHealth {
  return { repository: name, media: 'fixed', offsite: false, state: 'ok', backups: 1, walGaps: 0, lastSeen: now.toISOString(), ...overrides };
}

const compliant = { copies: 4, mediaKinds: ['cloud', 'fixed', 'removable'] as Array<'cloud' | 'fixed' | 'removable'>, offsite: true, compliant: true, shortfalls: [] };

/** A report with nothing to say: objectives met, 3-2-1 kept, scheduler running. Rules are judged on variations of it. */
export function healthyReport(overrides: Partial<Omit<HealthReport, 'alerts'>> = {}): Omit<HealthReport, 'alerts'> {
  return {
    generatedAt: now.toISOString(),
    objectives: {
      rpo: { goalSeconds: 3600, seconds: 5, met: true, repositories: [{ repository: 'nas', recoverableTo: minutesAgo(0.1), seconds: 5, caughtUp: false, met: true }] },
      rto: { goalSeconds: 14_400, estimateSeconds: 1200, met: true },
    },
    compliance: {
      configuration: compliant,
      recoveryPoints: [{ backupId: 'b1', type: 'full', stoppedAt: daysAgo(1), bytes: 1, repositories: ['nas'], lastKnownRepositories: [], compliance: compliant }],
    },
    repositories: [repository('nas')],
    backups: { windowDays: 30, succeeded: 1, partial: 0, failed: 0, successRate: 1 },
    schedule: { scheduler: { running: true }, statePath: '/var/lib/drc/state.json', jobs: [] },
    ...overrides,
  };
}

export function ruleInput(report: Omit<HealthReport, 'alerts'> = healthyReport(), events: RepositoryEvent[] = []): RuleInput {
  return { report, now, objectives: objectivesConfigSchema.parse({}), events };
}
