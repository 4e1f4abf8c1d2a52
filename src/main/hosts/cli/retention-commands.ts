import type { ExpireReport, RepositoryExpiry } from '../../../shared/contract/retention.js';
import { expire } from '../../services/retention.js';
import { contextFor, formatBytes, optional, repoOption, type Command } from './command.js';

/** Removed backups listed one per line in text output, at most (--json lists every one). */
const listedRemovals = 20;

/** Retention: `expire`. */
export const retentionCommands: Record<string, Command> = {
  expire: {
    usage: 'drc expire [--dry-run] [--repo NAME]',
    summary: 'remove the backups, WAL and chunks the retention policy no longer keeps (--dry-run only shows the plan)',
    options: { 'dry-run': { type: 'boolean', default: false }, ...repoOption },
    positionals: 0,
    run: async ({ values }) => {
      const report = await expire(await contextFor(values), { dryRun: values['dry-run'] === true, ...optional('repository', values.repo) });
      return { json: report, text: formatReport(report), exitCode: report.ok ? 0 : 1 };
    },
  },
};

function formatReport(report: ExpireReport): string {
  const { policy } = report;
  const lines = [
    `${report.dryRun ? 'expiry plan (dry run, nothing removed)' : 'expired'} at ${report.now}: full ${String(policy.fullDays)} d, archive ${String(policy.archiveDays)} d, incremental ${String(policy.incrementalDays)} d, manual ${String(policy.manualDays)} d, unreferenced chunks after ${String(policy.chunkGraceHours)} h`,
  ];
  for (const repository of report.repositories) lines.push(...formatRepository(repository, report.dryRun));
  for (const entry of report.unreachable) lines.push(`${entry.repository}: UNREACHABLE — ${entry.message}`);
  for (const warning of report.warnings) lines.push(`WARNING ${warning}`);
  return lines.join('\n');
}

function formatRepository(result: RepositoryExpiry, dryRun: boolean): string[] {
  const verb = dryRun ? 'would remove' : 'removed';
  const lines: string[] = [];
  if (result.status === 'skipped') lines.push(`${result.repository}: SKIPPED — ${result.error?.message ?? 'in use by another operation'}`);
  else if (result.status === 'failed') lines.push(`${result.repository}: FAILED — ${result.error?.message ?? 'unknown error'}`);
  else lines.push(`${result.repository}: ${verb} ${String(result.removed.length)} backup(s), kept ${String(result.kept.length)}; ${formatBytes(result.bytesRemoved)} in all`);
  if (result.status === 'skipped') return [...lines, ...result.heldBy.map((holder) => `  held: ${holder}`)];
  for (const backup of result.removed.slice(0, listedRemovals)) lines.push(`  - ${backup.id}  ${backup.type.padEnd(11)} ${backup.stoppedAt}  (${backup.reason})`);
  if (result.removed.length > listedRemovals) lines.push(`  … and ${String(result.removed.length - listedRemovals)} more (--json lists every one)`);
  const oldest = result.kept[0];
  if (oldest) lines.push(`  oldest kept: ${oldest.id} ${oldest.type} ${oldest.stoppedAt} (${oldest.reason})`);
  for (const range of result.wal.removed) lines.push(`  WAL ${verb}: timeline ${String(range.timeline)}, ${String(range.segments)} segment(s) ${range.first} … ${range.last}`);
  for (const history of result.wal.removedHistories) lines.push(`  WAL ${verb}: history file ${history}`);
  for (const from of result.wal.keptFrom) lines.push(`  WAL kept on timeline ${String(from.timeline)} from ${from.segment}`);
  lines.push(`  chunks ${verb}: ${String(result.chunks.removed)} (${formatBytes(result.chunks.bytes)}); ${String(result.chunks.inGracePeriod)} unreferenced within the grace period kept`);
  for (const holder of result.heldBy) lines.push(`  note: ${holder} (a real run now would skip this repository)`);
  for (const lease of result.leases ?? []) lines.push(`  leased, kept until it ends: ${lease}`);
  return lines;
}
