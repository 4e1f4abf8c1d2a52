import type { Alert } from '../../../shared/contract/status.js';
import type { RuleInput } from './rule.js';
import { mebibytes } from './wording.js';
import { raise } from './alert-codes.js';

/** SLOT_WAL_LOST, SLOT_WAL_RETAINED: the replication slot either lost WAL the archive needs, or holds too much on the server. */
export function slotWal({ report, objectives }: RuleInput): Alert[] {
  const slot = report.cluster?.slot;
  if (!slot) return [];
  if (slot.walStatus === 'lost' || slot.walStatus === 'unreserved') {
    return [raise('SLOT_WAL_LOST', `the server ${slot.walStatus === 'lost' ? 'removed' : 'is about to remove'} WAL that slot '${slot.name}' still needs (wal_status ${slot.walStatus})`)];
  }
  if (slot.retainedBytes <= objectives.retainedWalWarningMiB * 1024 * 1024) return [];
  return [raise('SLOT_WAL_RETAINED', `slot '${slot.name}' keeps ${mebibytes(slot.retainedBytes)} of WAL on the server${slot.active ? '' : ' and nothing is streaming from it'}`)];
}

/** CLUSTER_UNREACHABLE: nothing is being backed up while the server cannot be reached. */
export function clusterUnreachable({ report }: RuleInput): Alert[] {
  const cluster = report.cluster;
  if (!cluster || cluster.reachable) return [];
  return [raise('CLUSTER_UNREACHABLE', `cluster '${cluster.name}' cannot be reached: ${cluster.error ?? 'no answer'}`)];
}
