import type { Alert, Compliance321, MediaKind } from '../../../shared/contract/status.js';
import type { RuleInput } from './rule.js';
import { raise } from './alert-codes.js';

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

/**
 * CONFIG_NOT_321, RECOVERY_POINT_NOT_321: the configuration cannot keep 3-2-1 at all, or
 * (when it can) the newest backup is not kept so. The second is only worth saying when
 * the first is not already the cause.
 */
export function notKept321({ report }: RuleInput): Alert[] {
  const configuration = report.compliance.configuration;
  if (!configuration.compliant) {
    return [raise('CONFIG_NOT_321', `the configured repositories cannot keep 3-2-1: ${configuration.shortfalls.join('; ')}`)];
  }
  const newest = report.compliance.recoveryPoints.at(-1);
  if (!newest || newest.compliance.compliant) return [];
  return [raise('RECOVERY_POINT_NOT_321', `the newest backup ${newest.backupId} is not kept 3-2-1: ${newest.compliance.shortfalls.join('; ')}`)];
}
