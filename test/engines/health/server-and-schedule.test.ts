import { describe, expect, it } from 'vitest';
import { restoreTestFailed } from '../../../src/main/engines/health/restore-tests.js';
import { jobFailed, schedulerNotRunning } from '../../../src/main/engines/health/schedule.js';
import { clusterUnreachable, slotWal } from '../../../src/main/engines/health/server.js';
import { daysAgo, event, healthyReport, minutesAgo, ruleInput } from './fixtures.js';

const gib = 1024 ** 3;

describe('server, restore test and schedule rules', () => {
  it('SLOT_WAL_LOST when the server removes WAL the slot needs, SLOT_WAL_RETAINED past the threshold', () => {
    const slot = (walStatus: string, retainedBytes: number, active = true) => healthyReport({ cluster: { name: 'wedsync', reachable: true, slot: { name: 'dr_console', active, retainedBytes, walStatus } } });
    expect(slotWal(ruleInput(slot('reserved', 10 * 1024 * 1024)))).toEqual([]);
    expect(slotWal(ruleInput(slot('unreserved', 10)))).toEqual([expect.objectContaining({ severity: 'critical', code: 'SLOT_WAL_LOST', message: "the server is about to remove WAL that slot 'dr_console' still needs (wal_status unreserved)" })]);
    expect(slotWal(ruleInput(slot('extended', 2 * gib, false)))).toEqual([expect.objectContaining({ severity: 'warning', code: 'SLOT_WAL_RETAINED', message: "slot 'dr_console' keeps 2048 MiB of WAL on the server and nothing is streaming from it" })]);
  });

  it('CLUSTER_UNREACHABLE says what is not happening while it is down', () => {
    expect(clusterUnreachable(ruleInput(healthyReport({ cluster: { name: 'wedsync', reachable: false, error: 'connection refused' } })))).toEqual([expect.objectContaining({ code: 'CLUSTER_UNREACHABLE', message: "cluster 'wedsync' cannot be reached: connection refused" })]);
    expect(clusterUnreachable(ruleInput())).toEqual([]);
  });

  it('RESTORE_TEST_FAILED judges by the newest restore test only', () => {
    const failed = [event('restore-test', 'success', daysAgo(2)), event('restore-test', 'failure', daysAgo(1))];
    expect(restoreTestFailed(ruleInput(undefined, failed))).toEqual([expect.objectContaining({ severity: 'critical', code: 'RESTORE_TEST_FAILED', message: `the last restore test (${daysAgo(1)}) failed: restore-test failure` })]);
    expect(restoreTestFailed(ruleInput(undefined, [...failed, event('restore-test', 'success', minutesAgo(10))]))).toEqual([]);
  });

  it('SCHEDULER_NOT_RUNNING is information; JOB_FAILED passes on the failure’s own hint unless the job runs again', () => {
    const base = healthyReport();
    expect(schedulerNotRunning(ruleInput(healthyReport({ schedule: { ...base.schedule, scheduler: { running: false } } })))).toEqual([expect.objectContaining({ severity: 'info', code: 'SCHEDULER_NOT_RUNNING' })]);
    const lastRun = { startedAt: minutesAgo(60), finishedAt: minutesAgo(59), reason: 'slot' as const, outcome: 'failure' as const, summary: 'unable to connect', error: { code: 'PG_CONNECT_FAILED', message: 'unable to connect', hints: ['check that the server is running'] } };
    const job = { job: 'full-backup' as const, enabled: true, when: 'daily at 01:00', due: false, lastRun };
    expect(jobFailed(ruleInput(healthyReport({ schedule: { ...base.schedule, jobs: [job] } })))).toEqual([expect.objectContaining({ code: 'JOB_FAILED', hint: 'check that the server is running' })]);
    expect(jobFailed(ruleInput(healthyReport({ schedule: { ...base.schedule, jobs: [{ ...job, runningSince: minutesAgo(1) }] } })))).toEqual([]);
    expect(jobFailed(ruleInput(healthyReport({ schedule: { ...base.schedule, jobs: [{ ...job, enabled: false }] } })))).toEqual([]);
  });
});
