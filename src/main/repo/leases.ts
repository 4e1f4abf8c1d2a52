import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import { DrcError } from '../../shared/errors.js';
import { parseLsn, segmentFileName, segmentNumber } from '../postgres/lsn.js';
import { processAlive } from '../processes.js';
import type { StorageTarget } from '../storage/target.js';
import type { BackupRecord } from './backup-record.js';
import { currentOperator } from './events.js';
import type { Repository } from './repository.js';
import type { WalObject } from './wal-archive.js';

/**
 * Read leases: a restore, restore test, partial restore or sync says, in each repository
 * it reads, what it reads — so that `expire` does not delete a backup or WAL under it.
 * Unlike a lock, a lease excludes nobody: any number of readers hold leases at once, and
 * a backup or `wal push` goes on beside them. Only expire looks at them.
 *
 * Plaintext, like locks, so that expire can name the holder. A reader takes a lease on
 * everything before it chooses (so expire cannot delete the backup between the choice
 * and the lease), then narrows it to the backup it chose and the WAL from that backup's
 * start on. A lease of a process gone from this host, or not renewed for `staleAfterMs`
 * (its host crashed or lost the repository), protects nothing: expire ignores and deletes it.
 */
const walFromSchema = z.object({
  timeline: z.number().int().positive(),
  /** The first segment file read; every later one on this timeline and later timelines is leased too. */
  segment: z.string().regex(/^[0-9A-F]{24}$/),
});

const leasedReadsSchema = z.discriminatedUnion('scope', [
  z.object({ scope: z.literal('everything') }),
  z.object({ scope: z.literal('backups'), backups: z.array(z.string()), wal: z.array(walFromSchema) }),
]);
export type LeasedReads = z.infer<typeof leasedReadsSchema>;

const leaseSchema = z.object({
  token: z.string(),
  operation: z.string(),
  user: z.string(),
  host: z.string(),
  pid: z.number().int(),
  startedAt: z.string(),
  renewedAt: z.string(),
  reads: leasedReadsSchema,
});
export type LeaseRecord = z.infer<typeof leaseSchema>;

const leasePrefix = 'leases/';
/** Renewed this often while its holder reads; a lease not renewed for `staleAfterMs` is a crashed holder's. */
const renewEveryMs = 5 * 60_000;
export const staleAfterMs = 60 * 60_000;

function leaseObjectName(token: string): string {
  return `${leasePrefix}${token}.json`;
}

/** Tokens of the leases this process holds now: one of its own not in here is left from a failed release. */
const heldByThisProcess = new Set<string>();

/** Everything, until the reader has chosen what it reads. */
export const everything: LeasedReads = { scope: 'everything' };

/** One backup and the WAL from its start segment on: what a restore of it may read. */
export function readsOfBackup(record: Pick<BackupRecord, 'id' | 'timeline' | 'startLsn' | 'walSegmentSize'>): LeasedReads {
  const segment = segmentNumber(parseLsn(record.startLsn), record.walSegmentSize);
  return { scope: 'backups', backups: [record.id], wal: [{ timeline: record.timeline, segment: segmentFileName(record.timeline, segment, record.walSegmentSize) }] };
}

export class ReadLease {
  private readonly renewal: NodeJS.Timeout;

  private constructor(
    private record: LeaseRecord,
    /** The repositories that took the lease (a read-only stick cannot, and needs none: nothing expires on it). */
    private readonly targets: StorageTarget[],
  ) {
    heldByThisProcess.add(record.token);
    this.renewal = setInterval(() => void this.write(new Date()), renewEveryMs);
    this.renewal.unref();
  }

  /**
   * Writes the lease into every repository given. One that cannot take it is read all
   * the same: refusing would block a break-glass restore from a write-protected stick,
   * the one medium nothing can expire; and a repository out of reach for the lease is
   * out of reach for an expire run too.
   */
  static async take(repositories: readonly Repository[], operation: string, reads: LeasedReads): Promise<ReadLease> {
    const now = new Date().toISOString();
    const record: LeaseRecord = { token: randomBytes(12).toString('hex'), operation, user: currentOperator(), host: hostname(), pid: process.pid, startedAt: now, renewedAt: now, reads };
    const body = Buffer.from(JSON.stringify(record));
    const written = await Promise.all(
      repositories.map((repository) =>
        repository.target.put(leaseObjectName(record.token), body).then(
          () => [repository.target],
          () => [],
        ),
      ),
    );
    return new ReadLease(record, written.flat());
  }

  get reads(): LeasedReads {
    return this.record.reads;
  }

  /** Narrows the lease once the reader has chosen: expire may then remove what it will not read. */
  async narrow(reads: LeasedReads): Promise<void> {
    this.record = { ...this.record, reads };
    await this.write(new Date());
  }

  /**
   * Ends the lease. Never throws: a lease that cannot be deleted (the repository went
   * away) belongs to a process that is about to end, and expire ignores it from then on.
   */
  async release(): Promise<void> {
    clearInterval(this.renewal);
    heldByThisProcess.delete(this.record.token);
    await Promise.all(this.targets.map((target) => target.delete([leaseObjectName(this.record.token)]).catch(() => undefined)));
  }

  /** Failures are left to the next renewal: a lease that lapses only lets expire proceed, it never fails the read. */
  private async write(now: Date): Promise<void> {
    this.record = { ...this.record, renewedAt: now.toISOString() };
    const body = Buffer.from(JSON.stringify(this.record));
    await Promise.all(this.targets.map((target) => target.put(leaseObjectName(this.record.token), body).catch(() => undefined)));
  }
}

/** Holds a lease on `repositories` while `work` runs; the lease is released however it ends. */
export async function whileLeased<T>(repositories: readonly Repository[], operation: string, reads: LeasedReads, work: (lease: ReadLease) => Promise<T>): Promise<T> {
  const lease = await ReadLease.take(repositories, operation, reads);
  try {
    return await work(lease);
  } finally {
    await lease.release();
  }
}

function isStale(lease: LeaseRecord, now: Date): boolean {
  if (now.getTime() - Date.parse(lease.renewedAt) > staleAfterMs) return true;
  if (lease.host !== hostname()) return false;
  if (lease.pid === process.pid) return !heldByThisProcess.has(lease.token);
  return !processAlive(lease.pid);
}

/**
 * The leases in force in one repository. Stale and unreadable ones are deleted on the way
 * (best effort: a read-only medium keeps them, and they are ignored all the same).
 */
export async function activeLeases(target: StorageTarget, now: Date = new Date()): Promise<LeaseRecord[]> {
  const active: LeaseRecord[] = [];
  const stale: string[] = [];
  for (const object of await target.list(leasePrefix)) {
    let raw: Buffer;
    try {
      raw = await target.get(object.name);
    } catch (error) {
      // Released between the listing and the read.
      if (error instanceof DrcError && error.code === 'STORAGE_NOT_FOUND') continue;
      throw error;
    }
    const parsed = leaseSchema.safeParse(parseJson(raw));
    if (parsed.success && !isStale(parsed.data, now)) active.push(parsed.data);
    else stale.push(object.name);
  }
  if (stale.length > 0) await target.delete(stale).catch(() => undefined);
  return active;
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The first lease that covers this backup, if any. */
export function leaseOnBackup(leases: readonly LeaseRecord[], backupId: string): LeaseRecord | undefined {
  return leases.find((lease) => lease.reads.scope === 'everything' || lease.reads.backups.includes(backupId));
}

/**
 * Whether a lease covers this WAL object: a segment (or its summary, or partial) on or
 * after a leased start, on that timeline or a later one (recovery may follow a timeline
 * switch); a history file of such a timeline. Segment names of one cluster share a width
 * and a segment size, so their text order past the timeline is their order.
 */
export function leaseOnWal(leases: readonly LeaseRecord[], object: WalObject): LeaseRecord | undefined {
  return leases.find((lease) => {
    if (lease.reads.scope === 'everything') return true;
    return lease.reads.wal.some((from) => object.timeline >= from.timeline && (object.kind === 'history' || object.file.slice(8) >= from.segment.slice(8)));
  });
}

export function describeLease(lease: LeaseRecord): string {
  const reads = lease.reads.scope === 'everything' ? 'every backup and all WAL (choosing what to read)' : `backup ${lease.reads.backups.join(', ')}${lease.reads.wal.map((from) => `, WAL from ${from.segment}`).join('')}`;
  return `${lease.operation} by ${lease.user}@${lease.host} (pid ${String(lease.pid)}, since ${lease.startedAt}) reads ${reads}`;
}
