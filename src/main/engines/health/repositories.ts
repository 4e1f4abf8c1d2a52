import type { Alert, RepositoryHealth } from '../../../shared/contract/status.js';
import { latestEvent, verifyEntries } from './history.js';
import { day, type RuleInput } from './rule.js';
import { raise } from './alert-codes.js';

/** One alert (or none) per repository. */
function perRepository(input: RuleInput, judge: (repository: RepositoryHealth) => Alert | undefined): Alert[] {
  return input.report.repositories.flatMap((repository) => judge(repository) ?? []);
}

/** REPOSITORY_FAILING: a repository that should answer does not (a removable medium merely unplugged is not failing); REPOSITORY_HEADER_DAMAGED when it answers with a damaged header. */
export function repositoryFailing(input: RuleInput): Alert[] {
  return perRepository(input, (repository) => {
    const absentMedium = repository.media === 'removable' && repository.error?.code === 'MEDIA_NOT_PRESENT';
    if (repository.state !== 'unreachable' || absentMedium) return undefined;
    const name = repository.repository;
    // Reachable, but its header does not parse or authenticate: the others serve without it, and the fix is not the network.
    if (repository.error?.code === 'REPO_HEADER_INVALID') {
      return raise('REPOSITORY_HEADER_DAMAGED', `repository '${name}' is not used: ${repository.error.message}`, { repository: name });
    }
    return raise('REPOSITORY_FAILING', `repository '${name}' cannot be reached: ${repository.error?.message ?? 'unknown error'}`, { repository: name });
  });
}

/** REPOSITORY_NOT_INITIALIZED: configured, reachable, but empty. */
export function repositoryNotInitialized(input: RuleInput): Alert[] {
  return perRepository(input, (repository) => {
    if (repository.state !== 'uninitialized') return undefined;
    const name = repository.repository;
    return raise('REPOSITORY_NOT_INITIALIZED', `repository '${name}' holds no repository yet`, { repository: name });
  });
}

/** REPOSITORY_DAMAGED: the newest clean verify of this repository found objects it could not repair. */
export function repositoryDamaged(input: RuleInput): Alert[] {
  return perRepository(input, (repository) => {
    const name = repository.repository;
    const verified = (event: RuleInput['events'][number]) => verifyEntries(event).find((entry) => entry.repository === name && entry.error === undefined);
    const lastVerify = latestEvent(input.events, (event) => verified(event) !== undefined);
    const result = lastVerify ? verified(lastVerify) : undefined;
    if (!lastVerify || !result || result.problems <= result.repaired) return undefined;
    return raise('REPOSITORY_DAMAGED', `the last verify (${lastVerify.time}) found ${String(result.problems - result.repaired)} damaged or missing object(s) in '${name}'`, { repository: name });
  });
}

/**
 * COPY_DAMAGED: reading for this report met a copy that is damaged or gone in one
 * repository and used another's. Nothing failed, so nothing else would say it; until it is
 * repaired that object has one copy fewer than the report's 3-2-1 figures assume elsewhere.
 */
export function copyDamaged(input: RuleInput): Alert[] {
  const byRepository = new Map<string, string[]>();
  for (const fallback of input.damagedCopies ?? []) byRepository.set(fallback.failed, [...(byRepository.get(fallback.failed) ?? []), fallback.object]);
  return [...byRepository].map(([name, objects]) =>
    raise('COPY_DAMAGED', `${String(objects.length)} object(s) in '${name}' are damaged or missing and were read from another repository: ${objects.slice(0, 3).join(', ')}${objects.length > 3 ? ', …' : ''}`, { repository: name }),
  );
}

/** WAL_GAP: point-in-time recovery from this repository stops at its first missing segment. */
export function walGap(input: RuleInput): Alert[] {
  return perRepository(input, (repository) => {
    if (repository.walGaps === 0) return undefined;
    const name = repository.repository;
    return raise('WAL_GAP', `repository '${name}' misses ${String(repository.walGaps)} WAL segment(s): point-in-time recovery from it stops at the first gap`, { repository: name });
  });
}

/** REMOVABLE_NOT_SEEN: a removable medium that has not been plugged in within the window misses the newest backups. */
export function removableNotSeen(input: RuleInput): Alert[] {
  const days = String(input.objectives.removableUnseenDays);
  return perRepository(input, (repository) => {
    if (repository.media !== 'removable') return undefined;
    const seen = repository.lastSeen === undefined ? undefined : Date.parse(repository.lastSeen);
    if (seen !== undefined && input.now.getTime() - seen <= input.objectives.removableUnseenDays * day) return undefined;
    const name = repository.repository;
    return raise('REMOVABLE_NOT_SEEN', `removable medium '${name}' has not been connected for more than ${days} days${repository.lastSeen ? ` (last seen ${repository.lastSeen})` : ''}`, { repository: name });
  });
}

/** REMOVABLE_NOT_VERIFIED: sticks fail silently; one not verified within the window is not known to be readable. */
export function removableNotVerified(input: RuleInput): Alert[] {
  const days = String(input.objectives.removableUnseenDays);
  return perRepository(input, (repository) => {
    if (repository.media !== 'removable') return undefined;
    // A medium never verified is overdue only once it has been in use for the whole window.
    const verifiedOrLabelled = repository.lastVerified ?? repository.medium?.firstUsed;
    if (verifiedOrLabelled !== undefined && input.now.getTime() - Date.parse(verifiedOrLabelled) <= input.objectives.removableUnseenDays * day) return undefined;
    const name = repository.repository;
    return raise('REMOVABLE_NOT_VERIFIED', `removable medium '${name}' has not been verified for more than ${days} days${repository.lastVerified ? ` (last verified ${repository.lastVerified})` : ''}`, { repository: name });
  });
}

/** MISSING_COPY: a reachable repository lacks the newest backup. */
export function missingCopy({ report }: RuleInput): Alert[] {
  const newest = report.compliance.recoveryPoints.at(-1);
  if (!newest) return [];
  return report.repositories
    .filter((repository) => repository.state === 'ok' && !newest.repositories.includes(repository.repository))
    .map((repository) =>
      raise('MISSING_COPY', `the newest backup ${newest.backupId} has no copy in '${repository.repository}'`, {
        repository: repository.repository,
        // The remedy names a repository that holds it, when one does.
        ...(newest.repositories[0] === undefined ? {} : { hint: `run \`drc sync --from ${newest.repositories[0]} --to ${repository.repository}\`` }),
      }),
    );
}
