import type { RetentionConfig } from '../../../shared/config.js';
import type { BackupDecision, ExpireReport, RepositoryExpiry } from '../../../shared/contract/retention.js';
import { DrcError, type ErrorData } from '../../../shared/errors.js';
import { forEachConcurrent } from '../../parallel.js';
import { newEvent } from '../../repo/events.js';
import { activeLeases, describeLease, leaseOnBackup, leaseOnWal, type LeaseRecord } from '../../repo/leases.js';
import { describeHolder, readLock, type RepositoryLock } from '../../repo/locks.js';
import { backupIdOf, manifestObjectName, referencedChunks } from '../../repo/manifest.js';
import { chunkIdOf, chunkObjectName, objectPrefixes } from '../../repo/objects.js';
import { describeFallback } from '../../repo/object-source.js';
import { lockAll, releaseAll, writeLock, type Repository } from '../../repo/repository.js';
import type { RepositorySet } from '../../repo/repository-set.js';
import { listWalObjects, type WalObject } from '../../repo/wal-archive.js';
import { forgetInWalIndex } from '../wal/wal-index.js';
import { backupLock } from '../backup/backup.js';
import { recordOf } from '../backup/catalog.js';
import { planExpiry, walRanges, type BackupVerdict, type ExpiryPlan, type StoredBackup, type StoredChunk } from './plan.js';

export interface ExpiryOptions {
  readonly policy: RetentionConfig;
  readonly dryRun: boolean;
  /** The clock the policy is applied with (tests simulate months with it); locks keep real time. */
  readonly now?: () => Date;
}

/** Objects per delete call: progress is recorded between calls, so a failure mid-way reports what went. */
const deleteBatch = 200;
const manifestReads = 8;

/**
 * expire: apply the retention policy to every repository, each on its own (what one keeps
 * never depends on another). Per repository, in this order:
 *
 *  1. lock    — the backup lock (a running backup may reuse any stored chunk, referenced
 *               or not, without writing it again) and the write lock (sync and repair
 *               write manifests and chunks). A repository another operation holds is
 *               skipped and reported, never waited for.
 *  2. plan    — list manifests, WAL and chunks; `planExpiry` decides. Then leases:
 *               a backup or WAL a restore, restore test or sync is reading stays, with
 *               the reader named in the report; the next run removes it.
 *  3. delete  — manifests first: a manifest is a backup's commit point, so a crash after
 *               this leaves only WAL and chunks nothing needs, which the next run removes;
 *               then WAL before what the oldest kept backup needs; then unreferenced
 *               chunks past the grace period. Leases are read again before the WAL
 *               goes, so a reader that started after the plan keeps its WAL too.
 *  4. record  — one `expire` event in the repository listing what went, even when a
 *               deletion failed part-way.
 *
 * `dryRun` stops after the plan: nothing is locked, deleted or recorded.
 */
export async function runExpiry(set: RepositorySet, options: ExpiryOptions): Promise<ExpireReport> {
  const now = (options.now ?? (() => new Date()))();
  // Each repository's outcome is its own: one failing must not abandon the others mid-run.
  const repositories = await Promise.all(set.repositories.map((repository) => expireRepository(repository, options, now).catch((error: unknown) => failed(repository.name, error, []))));
  return {
    dryRun: options.dryRun,
    now: now.toISOString(),
    policy: options.policy,
    ok: set.unreachable.length === 0 && repositories.every((result) => result.status === 'planned' || result.status === 'expired'),
    repositories,
    unreachable: set.unreachable.map((entry) => ({ repository: entry.target.name, message: entry.error.message })),
    warnings: set.fallbacks.map(describeFallback),
  };
}

/** What a run actually removed from one repository (in a dry run: what it would). */
interface Removed {
  backups: BackupVerdict[];
  wal: WalObject[];
  chunks: StoredChunk[];
}

async function expireRepository(repository: Repository, options: ExpiryOptions, now: Date): Promise<RepositoryExpiry> {
  if (options.dryRun) {
    try {
      const leases = await activeLeases(repository.target);
      const plan = honourLeases(await planRepository(repository, options.policy, now), leases);
      return describe(repository.name, 'planned', plan, { backups: plan.remove, wal: plan.walRemove, chunks: plan.chunksRemove }, await currentHolders(repository), leases);
    } catch (error) {
      return failed(repository.name, error, []);
    }
  }

  let locks: RepositoryLock[];
  try {
    locks = await lockForExpiry(repository);
  } catch (error) {
    if (error instanceof DrcError && error.code === 'LOCK_HELD') return { ...failed(repository.name, error, await currentHolders(repository)), status: 'skipped' };
    return failed(repository.name, error, []);
  }
  const removed: Removed = { backups: [], wal: [], chunks: [] };
  let plan: ExpiryPlan | undefined;
  let leases: LeaseRecord[] = [];
  let failure: unknown;
  try {
    const planned = await planRepository(repository, options.policy, now);
    leases = await activeLeases(repository.target);
    const honoured = honourLeases(planned, leases);
    plan = honoured;
    await deleteObjects(repository, locks, honoured.remove, (verdict) => manifestObjectName(verdict.backup.record.id), removed.backups);
    // A reader that took its lease since the plan (a restore starting now) reads a backup
    // that stays, and the WAL after it: look again before deleting WAL.
    const latest = await activeLeases(repository.target);
    leases = [...leases, ...latest.filter((lease) => !leases.some((known) => known.token === lease.token))];
    const walRemove = honoured.walRemove.filter((object) => !leaseOnWal(latest, object));
    // The index first: it must never name a segment that is gone.
    await forgetInWalIndex(repository, walRemove);
    await deleteObjects(repository, locks, walRemove, (object) => object.name, removed.wal);
    await deleteObjects(repository, locks, honoured.chunksRemove, (chunk) => chunkObjectName(chunk.id), removed.chunks);
  } catch (error) {
    failure = error;
  }
  try {
    if (plan) await recordExpiry(repository, options.policy, plan, removed, failure, now, leases);
  } catch (error) {
    failure ??= error;
  } finally {
    await releaseAll(locks);
  }
  if (!plan) return failed(repository.name, failure, []);
  const result = describe(repository.name, failure === undefined ? 'expired' : 'failed', plan, removed, [], leases);
  return failure === undefined ? result : { ...result, error: errorData(failure) };
}

async function lockForExpiry(repository: Repository): Promise<RepositoryLock[]> {
  const held = await lockAll([repository], 'expire', { lock: backupLock });
  try {
    return [...held, ...(await lockAll([repository], 'expire', { lock: writeLock }))];
  } catch (error) {
    await releaseAll(held);
    throw error;
  }
}

/**
 * Who holds the locks expiry needs. Judged by expiry time alone: a lock left by a dead
 * process on this host still shows here, though a real run would take it over.
 */
async function currentHolders(repository: Repository): Promise<string[]> {
  const holders: string[] = [];
  for (const name of [backupLock, writeLock]) {
    const lock = await readLock(repository.target, name);
    if (lock && Date.parse(lock.expiresAt) > Date.now()) holders.push(`${name} lock: ${describeHolder(lock)}`);
  }
  return holders;
}

async function planRepository(repository: Repository, policy: RetentionConfig, now: Date): Promise<ExpiryPlan> {
  const manifests = (await repository.target.list(objectPrefixes.backups)).flatMap((object) => {
    const id = backupIdOf(object.name);
    return id === undefined ? [] : [{ id, size: object.size }];
  });
  // A manifest that cannot be read fails the whole repository: its chunks and the WAL it needs are unknown.
  const backups: StoredBackup[] = [];
  await forEachConcurrent(manifests, manifestReads, async ({ id, size }) => {
    const manifest = await repository.readManifest(id);
    // The id of the object listed, so that deleting it removes exactly that manifest.
    backups.push({ record: { ...recordOf(manifest, repository.name), id }, chunks: referencedChunks(manifest), manifestBytes: size });
  });
  const chunks = (await repository.target.list(objectPrefixes.chunks)).flatMap((object): StoredChunk[] => {
    const id = chunkIdOf(object.name);
    return id === undefined ? [] : [{ id, size: object.size, modified: object.modified }];
  });
  return planExpiry(backups, await listWalObjects(repository), chunks, policy, now);
}

async function deleteObjects<T>(repository: Repository, locks: readonly RepositoryLock[], items: readonly T[], nameOf: (item: T) => string, deleted: T[]): Promise<void> {
  for (let start = 0; start < items.length; start += deleteBatch) {
    // A lock whose renewal failed may have been taken over: stop before deleting under it.
    for (const lock of locks) lock.assertHeld();
    const batch = items.slice(start, start + deleteBatch);
    await repository.target.delete(batch.map(nameOf));
    deleted.push(...batch);
  }
}

async function recordExpiry(repository: Repository, policy: RetentionConfig, plan: ExpiryPlan, removed: Removed, failure: unknown, now: Date, leases: readonly LeaseRecord[]): Promise<void> {
  const bytes = removedBytes(removed);
  const anything = removed.backups.length + removed.wal.length + removed.chunks.length > 0;
  const outcome = failure === undefined ? 'success' : anything ? 'partial' : 'failure';
  const summary = `expired ${String(removed.backups.length)} backup(s), ${String(removed.wal.length)} WAL object(s) and ${String(removed.chunks.length)} chunk(s) (${String(bytes)} bytes) from repository '${repository.name}'`;
  await repository.appendEvent(
    newEvent(
      'expire',
      outcome,
      failure === undefined ? summary : `${summary}, then failed: ${errorData(failure).message}`,
      {
        repository: repository.name,
        policy,
        backups: removed.backups.map(decision),
        wal: { ranges: walRanges(removed.wal), histories: removed.wal.filter((object) => object.kind === 'history').map((object) => object.file), objects: removed.wal.length, bytes: sum(removed.wal) },
        chunks: { count: removed.chunks.length, bytes: sum(removed.chunks) },
        bytes,
        kept: plan.keep.length,
        walKeptFrom: plan.walKeptFrom,
        ...(leases.length === 0 ? {} : { leases: leases.map(describeLease) }),
      },
      now,
    ),
  );
}

function describe(repository: string, status: RepositoryExpiry['status'], plan: ExpiryPlan, removed: Removed, heldBy: string[], leases: readonly LeaseRecord[]): RepositoryExpiry {
  return {
    repository,
    status,
    kept: plan.keep.map(decision),
    removed: removed.backups.map(decision),
    wal: {
      keptFrom: plan.walKeptFrom,
      removed: walRanges(removed.wal),
      removedHistories: removed.wal.filter((object) => object.kind === 'history').map((object) => object.file),
      objects: removed.wal.length,
      bytes: sum(removed.wal),
    },
    chunks: { removed: removed.chunks.length, bytes: sum(removed.chunks), inGracePeriod: plan.chunksInGracePeriod, referenced: plan.chunksReferenced },
    bytesRemoved: removedBytes(removed),
    heldBy,
    ...(leases.length === 0 ? {} : { leases: leases.map(describeLease) }),
  };
}

/**
 * The plan, less what a lease covers: a leased backup moves to the kept ones with its
 * reader as the reason, its chunks stay, and so does leased WAL.
 */
function honourLeases(plan: ExpiryPlan, leases: readonly LeaseRecord[]): ExpiryPlan {
  if (leases.length === 0) return plan;
  const leased: BackupVerdict[] = [];
  const remove: BackupVerdict[] = [];
  for (const verdict of plan.remove) {
    const lease = leaseOnBackup(leases, verdict.backup.record.id);
    if (lease) leased.push({ backup: verdict.backup, reason: `leased: ${describeLease(lease)}` });
    else remove.push(verdict);
  }
  const leasedChunks = new Set(leased.flatMap((verdict) => [...verdict.backup.chunks]));
  const chunksRemove = plan.chunksRemove.filter((chunk) => !leasedChunks.has(chunk.id));
  const walRemove: WalObject[] = [];
  const walKeptFrom = new Map(plan.walKeptFrom.map((from) => [from.timeline, from.segment]));
  for (const object of plan.walRemove) {
    if (!leaseOnWal(leases, object)) walRemove.push(object);
    else if (object.kind !== 'history' && object.file < (walKeptFrom.get(object.timeline) ?? '~')) walKeptFrom.set(object.timeline, object.file);
  }
  return {
    ...plan,
    keep: [...plan.keep, ...leased].sort((a, b) => a.backup.record.stoppedAt.localeCompare(b.backup.record.stoppedAt) || a.backup.record.id.localeCompare(b.backup.record.id)),
    remove,
    walRemove,
    walKeptFrom: [...walKeptFrom].sort(([a], [b]) => a - b).map(([timeline, segment]) => ({ timeline, segment })),
    chunksRemove,
    chunksReferenced: plan.chunksReferenced + (plan.chunksRemove.length - chunksRemove.length),
  };
}

function failed(repository: string, error: unknown, heldBy: string[]): RepositoryExpiry {
  return {
    repository,
    status: 'failed',
    kept: [],
    removed: [],
    wal: { keptFrom: [], removed: [], removedHistories: [], objects: 0, bytes: 0 },
    chunks: { removed: 0, bytes: 0, inGracePeriod: 0, referenced: 0 },
    bytesRemoved: 0,
    heldBy,
    error: errorData(error),
  };
}

function errorData(error: unknown): Omit<ErrorData, 'retryable'> {
  if (error instanceof DrcError) return { code: error.code, message: error.message, hints: error.hints };
  return { code: 'INTERNAL', message: `unable to expire: ${error instanceof Error ? error.message : String(error)}`, hints: ['this is a defect in DR Console; report it with the command you ran'] };
}

function decision(verdict: BackupVerdict): BackupDecision {
  return { id: verdict.backup.record.id, type: verdict.backup.record.type, stoppedAt: verdict.backup.record.stoppedAt, reason: verdict.reason };
}

function removedBytes(removed: Removed): number {
  return removed.backups.reduce((total, verdict) => total + verdict.backup.manifestBytes, 0) + sum(removed.wal) + sum(removed.chunks);
}

function sum(objects: ReadonlyArray<{ size: number }>): number {
  return objects.reduce((total, object) => total + object.size, 0);
}
