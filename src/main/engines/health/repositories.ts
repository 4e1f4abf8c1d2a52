import type { Alert, RepositoryHealth } from '../../../shared/contract/status.js';
import { latestEvent, verifyEntries } from './history.js';
import { day, type RuleInput } from './rule.js';

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
      return {
        severity: 'critical',
        code: 'REPOSITORY_HEADER_DAMAGED',
        repository: name,
        message: `repository '${name}' is not used: ${repository.error.message}`,
        hint: `the other repositories serve meanwhile; run \`drc repo init\` to rewrite its drc-repo.json from a good copy, then \`drc verify --repo ${name}\``,
      };
    }
    return {
      severity: 'critical',
      code: 'REPOSITORY_FAILING',
      repository: name,
      message: `repository '${name}' cannot be reached: ${repository.error?.message ?? 'unknown error'}`,
      hint: 'check its network, credentials or disk; backups go on without it and `drc sync` fills it afterwards',
    };
  });
}

/** REPOSITORY_NOT_INITIALIZED: configured, reachable, but empty. */
export function repositoryNotInitialized(input: RuleInput): Alert[] {
  return perRepository(input, (repository) => {
    if (repository.state !== 'uninitialized') return undefined;
    const name = repository.repository;
    return { severity: 'warning', code: 'REPOSITORY_NOT_INITIALIZED', repository: name, message: `repository '${name}' holds no repository yet`, hint: `run \`drc repo init --repo ${name}\`, then \`drc sync --from … --to ${name}\`` };
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
    return {
      severity: 'critical',
      code: 'REPOSITORY_DAMAGED',
      repository: name,
      message: `the last verify (${lastVerify.time}) found ${String(result.problems - result.repaired)} damaged or missing object(s) in '${name}'`,
      hint: 'run `drc verify --repair` to rewrite them from a good copy',
    };
  });
}

/** WAL_GAP: point-in-time recovery from this repository stops at its first missing segment. */
export function walGap(input: RuleInput): Alert[] {
  return perRepository(input, (repository) => {
    if (repository.walGaps === 0) return undefined;
    const name = repository.repository;
    return {
      severity: 'critical',
      code: 'WAL_GAP',
      repository: name,
      message: `repository '${name}' misses ${String(repository.walGaps)} WAL segment(s): point-in-time recovery from it stops at the first gap`,
      hint: `fill it from another repository with \`drc sync --from … --to ${name}\`, or take a new full backup`,
    };
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
    return {
      severity: 'warning',
      code: 'REMOVABLE_NOT_SEEN',
      repository: name,
      message: `removable medium '${name}' has not been connected for more than ${days} days${repository.lastSeen ? ` (last seen ${repository.lastSeen})` : ''}`,
      hint: `plug it in so the newest backups reach it (\`drc sync --from … --to ${name}\`), then take it back offsite`,
    };
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
    return {
      severity: 'warning',
      code: 'REMOVABLE_NOT_VERIFIED',
      repository: name,
      message: `removable medium '${name}' has not been verified for more than ${days} days${repository.lastVerified ? ` (last verified ${repository.lastVerified})` : ''}`,
      hint: `plug it in and run \`drc verify --repo ${name}\`: sticks fail silently`,
    };
  });
}

/** MISSING_COPY: a reachable repository lacks the newest backup. */
export function missingCopy({ report }: RuleInput): Alert[] {
  const newest = report.compliance.recoveryPoints.at(-1);
  if (!newest) return [];
  return report.repositories
    .filter((repository) => repository.state === 'ok' && !newest.repositories.includes(repository.repository))
    .map((repository) => ({
      severity: 'warning',
      code: 'MISSING_COPY',
      repository: repository.repository,
      message: `the newest backup ${newest.backupId} has no copy in '${repository.repository}'`,
      hint: `run \`drc sync --from ${newest.repositories[0] ?? '…'} --to ${repository.repository}\``,
    }));
}
