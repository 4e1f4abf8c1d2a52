import type { Alert, AlertSeverity } from '../../../shared/contract/status.js';

/**
 * Every alert `drc status` and the console can raise: its stable code (what monitoring
 * filters on), its severity, what it means and what to do. Rules say only what they saw
 * (the message); the severity and the remedy come from here, so one code always weighs
 * the same and `docs/alerts.md` can list them all.
 */
export interface AlertDefinition {
  readonly severity: AlertSeverity;
  /** What the alert means, in one sentence, for the alert reference. */
  readonly meaning: string;
  /** What to do, naming the repository the alert is about where the remedy needs it. */
  readonly hint: (repository: string) => string;
}

export const alertCodes = {
  NO_RECOVERY_POINT: {
    severity: 'critical',
    meaning: 'no repository holds a backup to restore from',
    hint: () => 'run `drc backup` now, and keep `drc daemon` running for daily backups',
  },
  RPO_BREACHED: {
    severity: 'critical',
    meaning: 'the newest moment a restore can reach is older than the recovery point objective',
    hint: () => 'check that WAL streaming runs (`drc daemon` or `drc wal stream`) and that the server is reachable',
  },
  RPO_BREACHED_REPOSITORY: {
    severity: 'warning',
    meaning: 'the objective is met overall, but a restore from this one repository would lose more',
    hint: (repository) => `keep it connected while WAL streams, or fill it from a fresher repository with \`drc sync --from … --to ${repository}\``,
  },
  RTO_UNKNOWN: {
    severity: 'warning',
    meaning: 'no successful restore test is recorded, so the time to recover is unknown',
    hint: () => 'run a restore test (`drc restore-test`); the scheduler runs one after each daily full backup',
  },
  RTO_BREACHED: {
    severity: 'critical',
    meaning: 'restore tests estimate a restore longer than the recovery time objective',
    hint: () => 'restore from a local or removable repository rather than the cloud, keep the newest full backup close, or revise objectives.rtoMinutes with the business',
  },
  RESTORE_TEST_FAILED: {
    severity: 'critical',
    meaning: 'the newest restore test failed, so the newest backup is not proven to restore',
    hint: () => 'read it with `drc events --type restore-test`; a backup that does not restore is not a backup — fix the cause and take a new full backup',
  },
  SLOT_WAL_LOST: {
    severity: 'critical',
    meaning: 'the server removed (or is about to remove) WAL the replication slot still needs: the archive will have a hole',
    hint: () => 'the WAL archive will have a gap: keep WAL streaming running, then take a new full backup (`drc backup`)',
  },
  SLOT_WAL_RETAINED: {
    severity: 'warning',
    meaning: 'the replication slot holds more WAL on the server than objectives.retainedWalWarningMiB',
    hint: () => 'start WAL streaming (`drc daemon` or `drc wal stream`) so the slot advances; set max_slot_wal_keep_size so a forgotten slot cannot fill the disk',
  },
  CLUSTER_UNREACHABLE: {
    severity: 'warning',
    meaning: 'the database server cannot be reached, so nothing is being backed up',
    hint: () => 'no backup or WAL is being taken while it is down; if production is lost, restore with `drc restore`',
  },
  REPOSITORY_FAILING: {
    severity: 'critical',
    meaning: 'a repository that should answer does not (an unplugged removable medium is not failing)',
    hint: () => 'check its network, credentials or disk; backups go on without it and `drc sync` fills it afterwards',
  },
  REPOSITORY_HEADER_DAMAGED: {
    severity: 'critical',
    meaning: "a repository answers, but its drc-repo.json does not parse or authenticate, so it is not used",
    hint: (repository) => `the other repositories serve meanwhile; run \`drc repo init\` to rewrite its drc-repo.json from a good copy, then \`drc verify --repo ${repository}\``,
  },
  REPOSITORY_NOT_INITIALIZED: {
    severity: 'warning',
    meaning: 'a configured repository is reachable but empty',
    hint: (repository) => `run \`drc repo init --repo ${repository}\`, then \`drc sync --from … --to ${repository}\``,
  },
  REPOSITORY_DAMAGED: {
    severity: 'critical',
    meaning: 'the newest verify of a repository found objects it could not repair',
    hint: () => 'run `drc verify --repair` to rewrite them from a good copy',
  },
  COPY_DAMAGED: {
    severity: 'warning',
    meaning: 'reading for this report met a damaged or missing copy in one repository and used another',
    hint: (repository) => `run \`drc verify --repo ${repository} --repair\` to rewrite them from a good copy`,
  },
  WAL_GAP: {
    severity: 'critical',
    meaning: 'a repository misses WAL segments: point-in-time recovery from it stops at the first gap',
    hint: (repository) => `fill it from another repository with \`drc sync --from … --to ${repository}\`, or take a new full backup`,
  },
  REMOVABLE_NOT_SEEN: {
    severity: 'warning',
    meaning: 'a removable medium has not been connected within objectives.removableUnseenDays, so it misses the newest backups',
    hint: (repository) => `plug it in so the newest backups reach it (\`drc sync --from … --to ${repository}\`), then take it back offsite`,
  },
  REMOVABLE_NOT_VERIFIED: {
    severity: 'warning',
    meaning: 'a removable medium has not been verified within objectives.removableUnseenDays',
    hint: (repository) => `plug it in and run \`drc verify --repo ${repository}\`: sticks fail silently`,
  },
  MISSING_COPY: {
    severity: 'warning',
    meaning: 'a reachable repository lacks the newest backup',
    hint: (repository) => `run \`drc sync --from … --to ${repository}\``,
  },
  CONFIG_NOT_321: {
    severity: 'warning',
    meaning: 'the configured repositories cannot keep 3 copies on 2 kinds of media, 1 offsite',
    hint: () => 'add repositories so there are 3 copies counting production, on 2 kinds of media, 1 offsite (e.g. a USB drive and a cloud bucket)',
  },
  RECOVERY_POINT_NOT_321: {
    severity: 'warning',
    meaning: 'the configuration can keep 3-2-1, but the newest backup is not kept so',
    hint: () => 'copy it to the missing repositories with `drc sync`',
  },
  SCHEDULER_NOT_RUNNING: {
    severity: 'info',
    meaning: 'no scheduler runs for this cluster on this workstation: the next runs shown are when one would run them',
    hint: () => 'start `drc daemon` (or the desktop app), or run the jobs from cron',
  },
  JOB_FAILED: {
    severity: 'warning',
    meaning: "a scheduled job's last run failed and it is not running again",
    hint: () => 'see `drc events` for the job',
  },
} as const satisfies Record<string, AlertDefinition>;

export type AlertCode = keyof typeof alertCodes;

/**
 * An alert of `code`: `message` says what was seen; the hint is the registered remedy
 * unless the finding carries a more exact one (the failed job's own hint, the repository
 * to copy from).
 */
export function raise(code: AlertCode, message: string, about: { readonly repository?: string; readonly hint?: string } = {}): Alert {
  const definition: AlertDefinition = alertCodes[code];
  return {
    severity: definition.severity,
    code,
    message,
    hint: about.hint ?? definition.hint(about.repository ?? '…'),
    ...(about.repository === undefined ? {} : { repository: about.repository }),
  };
}
