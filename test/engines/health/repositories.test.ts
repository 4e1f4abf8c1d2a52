import { describe, expect, it } from 'vitest';
import { missingCopy, removableNotSeen, removableNotVerified, repositoryDamaged, repositoryFailing, repositoryNotInitialized, walGap } from '../../../src/main/engines/health/repositories.js';
import { daysAgo, event, healthyReport, repository, ruleInput } from './fixtures.js';

const withRepositories = (...repositories: ReturnType<typeof repository>[]) => healthyReport({ repositories });

describe('repository rules', () => {
  it('REPOSITORY_FAILING for an unreachable repository, but not for a removable medium that is only unplugged', () => {
    const failing = repository('s3', { media: 'cloud', state: 'unreachable', error: { code: 'STORAGE_PERMISSION', message: 'access denied' } });
    const drawer = repository('usb', { media: 'removable', state: 'unreachable', error: { code: 'MEDIA_NOT_PRESENT', message: 'not mounted' } });
    expect(repositoryFailing(ruleInput(withRepositories(failing, drawer)))).toEqual([expect.objectContaining({ severity: 'critical', code: 'REPOSITORY_FAILING', repository: 's3', message: "repository 's3' cannot be reached: access denied" })]);
  });

  it('REPOSITORY_NOT_INITIALIZED names the command that creates it', () => {
    expect(repositoryNotInitialized(ruleInput(withRepositories(repository('nas'), repository('new', { state: 'uninitialized' }))))).toEqual([
      expect.objectContaining({ code: 'REPOSITORY_NOT_INITIALIZED', repository: 'new', hint: 'run `drc repo init --repo new`, then `drc sync --from … --to new`' }),
    ]);
  });

  it('REPOSITORY_DAMAGED judges by the newest clean verify of that repository: a later repair clears it', () => {
    const damaged = [event('verify', 'failure', daysAgo(2), { repositories: [{ repository: 'nas', problems: 3, repaired: 0 }] })];
    expect(repositoryDamaged(ruleInput(undefined, damaged))).toEqual([expect.objectContaining({ severity: 'critical', code: 'REPOSITORY_DAMAGED', message: `the last verify (${daysAgo(2)}) found 3 damaged or missing object(s) in 'nas'` })]);
    const repaired = [...damaged, event('verify-repair', 'success', daysAgo(1), { repositories: [{ repository: 'nas', problems: 3, repaired: 3 }] })];
    expect(repositoryDamaged(ruleInput(undefined, repaired))).toEqual([]);
    // A verify that could not read the repository says nothing about its objects.
    const unread = [...damaged, event('verify', 'failure', daysAgo(1), { repositories: [{ repository: 'nas', problems: 0, repaired: 0, error: 'unreachable' }] })];
    expect(repositoryDamaged(ruleInput(undefined, unread))).toHaveLength(1);
  });

  it('WAL_GAP counts the missing segments', () => {
    expect(walGap(ruleInput(withRepositories(repository('nas', { walGaps: 2 }))))).toEqual([expect.objectContaining({ code: 'WAL_GAP', message: "repository 'nas' misses 2 WAL segment(s): point-in-time recovery from it stops at the first gap" })]);
    expect(walGap(ruleInput())).toEqual([]);
  });

  it('REMOVABLE_NOT_SEEN and REMOVABLE_NOT_VERIFIED after the window, and a fresh stick only once it has been in use that long', () => {
    const stale = repository('usb', { media: 'removable', state: 'unreachable', lastSeen: daysAgo(8), lastVerified: daysAgo(9) });
    expect(removableNotSeen(ruleInput(withRepositories(stale)))).toEqual([expect.objectContaining({ code: 'REMOVABLE_NOT_SEEN', message: `removable medium 'usb' has not been connected for more than 7 days (last seen ${daysAgo(8)})` })]);
    expect(removableNotVerified(ruleInput(withRepositories(stale)))).toEqual([expect.objectContaining({ code: 'REMOVABLE_NOT_VERIFIED' })]);
    const fresh = repository('usb', { media: 'removable', medium: { id: 'a1', name: 'usb', firstUsed: daysAgo(2) } });
    expect([...removableNotSeen(ruleInput(withRepositories(fresh))), ...removableNotVerified(ruleInput(withRepositories(fresh)))]).toEqual([]);
  });

  it('MISSING_COPY for a reachable repository without the newest backup, with the sync that fills it', () => {
    const report = withRepositories(repository('nas'), repository('usb', { media: 'removable' }), repository('s3', { state: 'unreachable' }));
    expect(missingCopy(ruleInput(report))).toEqual([expect.objectContaining({ code: 'MISSING_COPY', repository: 'usb', hint: 'run `drc sync --from nas --to usb`' })]);
  });
});
