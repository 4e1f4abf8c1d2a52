import type { Alert } from '../../../shared/contract/status.js';
import type { RuleInput } from './rule.js';
import { mebibytes } from './wording.js';

/** SLOT_WAL_LOST, SLOT_WAL_RETAINED: the replication slot either lost WAL the archive needs, or holds too much on the server. */
export function slotWal({ report, objectives }: RuleInput): Alert[] {
  const slot = report.cluster?.slot;
  if (!slot) return [];
  if (slot.walStatus === 'lost' || slot.walStatus === 'unreserved') {
    return [
      {
        severity: 'critical',
        code: 'SLOT_WAL_LOST',
        message: `the server ${slot.walStatus === 'lost' ? 'removed' : 'is about to remove'} WAL that slot '${slot.name}' still needs (wal_status ${slot.walStatus})`,
        hint: 'the WAL archive will have a gap: keep WAL streaming running, then take a new full backup (`drc backup`)',
      },
    ];
  }
  if (slot.retainedBytes <= objectives.retainedWalWarningMiB * 1024 * 1024) return [];
  return [
    {
      severity: 'warning',
      code: 'SLOT_WAL_RETAINED',
      message: `slot '${slot.name}' keeps ${mebibytes(slot.retainedBytes)} of WAL on the server${slot.active ? '' : ' and nothing is streaming from it'}`,
      hint: 'start WAL streaming (`drc daemon` or `drc wal stream`) so the slot advances; set max_slot_wal_keep_size so a forgotten slot cannot fill the disk',
    },
  ];
}

/** CLUSTER_UNREACHABLE: nothing is being backed up while the server cannot be reached. */
export function clusterUnreachable({ report }: RuleInput): Alert[] {
  const cluster = report.cluster;
  if (!cluster || cluster.reachable) return [];
  return [
    {
      severity: 'warning',
      code: 'CLUSTER_UNREACHABLE',
      message: `cluster '${cluster.name}' cannot be reached: ${cluster.error ?? 'no answer'}`,
      hint: 'no backup or WAL is being taken while it is down; if production is lost, restore with `drc restore`',
    },
  ];
}
