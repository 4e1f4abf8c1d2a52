import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import pg from 'pg';
import type { PlanRequest, RestorePlan } from '../../shared/contract/recovery.js';
import type { RecoveryTarget } from '../../shared/contract/restore.js';
import { DrcError } from '../../shared/errors.js';
import { listBackups, type CatalogEntry } from '../engines/backup/catalog.js';
import { restoreRate } from '../engines/recovery-timeline/build.js';
import { parseConninfo } from '../engines/partial-restore/conninfo.js';
import { selectBackup, type RecoveryPlan } from '../engines/restore/select.js';
import { checkTargetDirectory } from '../engines/restore/target-dir.js';

import { WalCatalog } from '../engines/wal/catalog.js';
import { archivedWalSegmentSize } from '../engines/wal/segment-size.js';
import { clusterConnection, withSql } from '../postgres/cluster.js';
import { parseLsn, segmentNumber } from '../postgres/lsn.js';
import { withRepositorySet, type ServiceContext } from './context.js';
import { readEventHistory } from './events.js';

/**
 * The dry run of a restore: the same backup selection the restore engine makes, the WAL
 * it would replay, which repositories could serve it alone, an estimate from the restore
 * tests, and the pre-flight checks — all without writing a byte anywhere.
 */
type Check = RestorePlan['checks'][number];

const restoreRateHistoryDays = 90;

export async function planRestore(context: ServiceContext, request: PlanRequest, options: { now?: Date } = {}): Promise<RestorePlan> {
  const now = options.now ?? new Date();
  return withRepositorySet(context, undefined, async (set) => {
    const backups = await listBackups(set.repositories);
    const segmentSize = await archivedWalSegmentSize(set.repositories, backups);
    const catalog = await WalCatalog.load(set.repositories, segmentSize);
    const chosen = await selectBackup(backups, request.target, catalog, request.backupId === undefined ? {} : { backupId: request.backupId });
    const wal = await walToReplay(chosen, request.target, catalog);
    const record = chosen.backup.record;
    const bytes = record.bytesRead + wal.bytes;
    const repositories = [
      ...set.repositories.map((repository) => {
        const reason = whyNotServe(repository.name, chosen.backup, wal);
        return { repository: repository.name, media: repository.target.capabilities.media, canServe: reason === undefined, ...(reason === undefined ? {} : { reason }), bytes: reason === undefined ? bytes : 0 };
      }),
      ...set.unreachable.map((entry) => ({ repository: entry.target.name, media: entry.target.capabilities.media, canServe: false, reason: `cannot be reached: ${entry.error.message}`, bytes: 0 })),
      ...set.uninitialized.map((target) => ({ repository: target.name, media: target.capabilities.media, canServe: false, reason: 'holds no repository yet', bytes: 0 })),
    ].filter((entry) => request.from === undefined || entry.repository === request.from);
    const history = await readEventHistory(set.repositories, { since: new Date(now.getTime() - restoreRateHistoryDays * 86_400_000) });
    const rate = restoreRate(history.events, backups);
    const checks = [
      ...(request.mode === 'cluster' ? await directoryChecks(request.targetDir, bytes) : await tableChecks(context, request.into, bytes)),
      // What selection could not prove (an xid in WAL summarized before transaction ids were recorded): passing, but said.
      ...(chosen.warnings ?? []).map((warning): Check => ({ name: 'target', ok: true, message: warning })),
    ];
    return {
      target: request.target,
      backupId: record.id,
      backupType: record.type,
      backupStoppedAt: record.stoppedAt,
      timeline: wal.timeline,
      ...(wal.first === undefined ? {} : { walFrom: wal.first }),
      ...(wal.last === undefined ? {} : { walTo: wal.last }),
      walSegments: wal.segments.length,
      walBytes: wal.bytes,
      repositories,
      ...(rate === undefined ? {} : { estimatedSeconds: bytes / rate }),
      estimateBasis:
        rate === undefined
          ? 'no passing restore test is recorded: run one (`drc restore-test`) to measure how fast this setup restores'
          : `the slowest of the last passing restore tests restored ${formatRate(rate)}; WAL replay is counted at the same rate`,
      checks,
      ready: checks.every((check) => check.ok) && repositories.some((entry) => entry.canServe),
    };
  });
}

interface WalNeeded {
  timeline: number;
  /** Segment file names in replay order, with the repositories holding each (complete, or partial for the newest). */
  segments: Array<{ file: string; holders: string[] }>;
  first: string | undefined;
  last: string | undefined;
  bytes: number;
  /** The first segment no repository holds, when the archive has a hole before the target. */
  missing: string | undefined;
}

/**
 * The segments recovery replays, as copyWal would fetch them: from the backup's stop
 * segment along the timeline path to the first segment past the target. Only the WAL
 * summaries of a time target are read, and only by bisection.
 */
async function walToReplay(plan: RecoveryPlan, target: RecoveryTarget, catalog: WalCatalog): Promise<WalNeeded> {
  const record = plan.backup.record;
  const stopSegment = segmentNumber(parseLsn(record.stopLsn), catalog.segmentSize);
  const targetTimeline = catalog.latestDescendant(record.timeline, parseLsn(record.stopLsn));
  const needed: WalNeeded = { timeline: targetTimeline, segments: [], first: undefined, last: undefined, bytes: 0, missing: undefined };
  if (target.kind === 'immediate') return needed;
  for (const step of catalog.path(record.timeline, targetTimeline)) {
    const stepStart = segmentNumber(step.startLsn, catalog.segmentSize);
    const fromSegment = stopSegment > stepStart ? stopSegment : stepStart;
    const held = catalog.segments(step.timeline).filter((holding) => holding.segment >= fromSegment);
    const lastOnStep = step.endLsn === undefined ? undefined : segmentNumber(step.endLsn, catalog.segmentSize);
    const bound = plan.walUntilLsn === undefined ? undefined : segmentNumber(plan.walUntilLsn, catalog.segmentSize);
    const timeBound = plan.walUntilTime === undefined ? undefined : await firstSegmentAfter(catalog, step.timeline, held, plan.walUntilTime);
    // The backup carries its stop segment: the archive may start just after it.
    let expected = fromSegment === stopSegment && held[0]?.segment !== stopSegment ? stopSegment + 1n : fromSegment;
    for (const holding of held) {
      if (lastOnStep !== undefined && holding.segment > lastOnStep) break;
      if (holding.segment !== expected) {
        needed.missing = `segment number ${expected.toString(16).toUpperCase()} of timeline ${String(step.timeline)}`;
        return needed;
      }
      expected += 1n;
      const partial = holding.complete.length === 0;
      needed.segments.push({ file: holding.file, holders: partial ? holding.partial : holding.complete });
      needed.first ??= holding.file;
      needed.last = holding.file;
      needed.bytes += catalog.segmentSize;
      if ((bound !== undefined && holding.segment >= bound) || (timeBound !== undefined && holding.segment >= timeBound)) return needed;
    }
  }
  return needed;
}

/** The first held segment with a commit after `time` (where replay stops), found by bisecting the summaries. */
async function firstSegmentAfter(catalog: WalCatalog, timeline: number, held: ReturnType<WalCatalog['segments']>, time: Date): Promise<bigint | undefined> {
  let low = 0;
  let high = held.length - 1;
  let found: bigint | undefined;
  while (low <= high) {
    const middle = Math.floor((low + high) / 2);
    const holding = held[middle];
    if (!holding) break;
    const summary = await catalog.summary(timeline, holding, holding.complete.length === 0);
    // A segment without commits (or without a summary) is treated as before the target: replay reads on past it.
    const last = summary?.lastCommitTime;
    if (last !== undefined && Date.parse(last) > time.getTime()) {
      found = holding.segment;
      high = middle - 1;
    } else {
      low = middle + 1;
    }
  }
  return found;
}

function whyNotServe(repository: string, backup: CatalogEntry, wal: WalNeeded): string | undefined {
  if (!backup.repositories.includes(repository)) return `does not hold backup ${backup.record.id}`;
  if (wal.missing !== undefined) return `no repository holds WAL ${wal.missing}: recovery cannot replay past it`;
  const lacking = wal.segments.filter((segment) => !segment.holders.includes(repository));
  const first = lacking[0];
  if (first) return `misses ${String(lacking.length)} WAL segment${lacking.length === 1 ? '' : 's'} on the way to the target (first ${first.file}); a restore would take them from another repository`;
  return undefined;
}

/**
 * The checks the restore makes before writing (`checkTargetDirectory`, the very same
 * function), made here without creating anything, then the free space where it writes.
 */
async function directoryChecks(targetDir: string, bytes: number): Promise<Check[]> {
  const check = await checkTargetDirectory(targetDir);
  if (!check.ready) {
    const name = check.refusal.code === 'RESTORE_TARGET_IN_USE' ? 'no-server-running' : check.refusal.code === 'RESTORE_TARGET_NOT_EMPTY' ? 'target-directory' : 'writable';
    return [{ name, ok: false, message: check.refusal.message, ...(check.refusal.hints[0] === undefined ? {} : { hint: check.refusal.hints[0] }) }];
  }
  return [
    { name: 'target-directory', ok: true, message: check.message },
    { name: 'no-server-running', ok: true, message: 'no PostgreSQL server runs in the directory' },
    { name: 'writable', ok: true, message: `'${check.filesystemDirectory}' can be written by this user` },
    await freeSpaceCheck(check.filesystemDirectory, bytes),
  ];
}

/** A partial restore needs the live database, and room for the scratch copy it recovers first. */
async function tableChecks(context: ServiceContext, into: string | undefined, bytes: number): Promise<Check[]> {
  const checks: Check[] = [];
  try {
    if (into !== undefined) {
      const client = new pg.Client({ ...parseConninfo(into).config, connectionTimeoutMillis: 5000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
      } finally {
        await client.end().catch(() => undefined);
      }
    } else if (context.config.cluster) {
      await withSql({ ...(await clusterConnection(context.config.cluster, context.secrets)), connectTimeoutMs: 5000 }, (client) => client.query('SELECT 1'));
    } else {
      throw new DrcError('CONFIG_INVALID', 'no live database is named and the config has no cluster');
    }
    checks.push({ name: 'live-database', ok: true, message: `the live database ${into === undefined ? `of cluster '${context.config.cluster?.name ?? ''}'` : 'named'} answers` });
  } catch (error) {
    checks.push({ name: 'live-database', ok: false, message: `the live database cannot be reached: ${(error as Error).message}`, hint: 'check that the server runs and accepts this user, or name another with `into`' });
  }
  checks.push(await freeSpaceCheck(tmpdir(), bytes));
  return checks;
}

async function freeSpaceCheck(path: string, bytes: number): Promise<Check> {
  const space = await statfs(path);
  const free = space.bavail * space.bsize;
  return free >= bytes
    ? { name: 'free-space', ok: true, message: `${formatBytes(free)} free where the restore writes, ${formatBytes(bytes)} needed` }
    : { name: 'free-space', ok: false, message: `only ${formatBytes(free)} free where the restore writes, ${formatBytes(bytes)} needed`, hint: 'free space there, or restore onto a larger filesystem' };
}

const formatBytes = (bytes: number): string => (bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`);
const formatRate = (bytesPerSecond: number): string => `${formatBytes(bytesPerSecond)}/s`;

