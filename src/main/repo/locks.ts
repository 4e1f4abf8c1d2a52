import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { DrcError } from '../../shared/errors.js';
import { processAlive } from '../processes.js';
import type { StorageTarget } from '../storage/target.js';
import { currentOperator } from './events.js';

/**
 * Advisory locks: one object per lock name holding its owner and an expiry. Plaintext on
 * purpose, so `repo info` and the refusal message can name the holder without a
 * passphrase. A holder renews its lock while it works; a lock past its expiry, or held by
 * a process on this host that no longer exists, may be taken over.
 */
const lockSchema = z.object({
  token: z.string(),
  operation: z.string(),
  user: z.string(),
  host: z.string(),
  pid: z.number().int(),
  acquiredAt: z.string(),
  expiresAt: z.string(),
});
export type LockRecord = z.infer<typeof lockSchema>;

export interface LockOptions {
  readonly ttlMs?: number;
  /** How long to wait before reading the lock back, to notice a writer that raced us. */
  readonly settleMs?: number;
  readonly now?: () => Date;
}

const defaultTtlMs = 5 * 60_000;

export function lockObjectName(lock: string): string {
  return `locks/${lock}.json`;
}

export async function readLock(target: StorageTarget, lock: string): Promise<LockRecord | undefined> {
  let raw: Buffer;
  try {
    raw = await target.get(lockObjectName(lock));
  } catch (error) {
    if (error instanceof DrcError && error.code === 'STORAGE_NOT_FOUND') return undefined;
    throw error;
  }
  const parsed = lockSchema.safeParse(safeJson(raw));
  // An unreadable lock (a crash mid-write on a non-atomic target) protects nothing: treat it as free.
  return parsed.success ? parsed.data : undefined;
}

function safeJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Tokens of the locks this process holds now; a lock of this process not in here was released (or its release could not be written). */
const heldByThisProcess = new Set<string>();

function isStale(lock: LockRecord, now: Date): boolean {
  if (Date.parse(lock.expiresAt) <= now.getTime()) return true;
  if (lock.host !== hostname()) return false;
  if (lock.pid === process.pid) return !heldByThisProcess.has(lock.token);
  return !processAlive(lock.pid);
}

export function describeHolder(lock: LockRecord): string {
  return `${lock.user}@${lock.host} (pid ${String(lock.pid)}, ${lock.operation}, since ${lock.acquiredAt}, expires ${lock.expiresAt})`;
}

function lockHeld(target: StorageTarget, lock: string, holder: LockRecord): DrcError {
  return new DrcError('LOCK_HELD', `unable to lock repository '${target.name}' for ${lock}: held by ${describeHolder(holder)}`, {
    hints: [
      `wait for the ${holder.operation} started by ${holder.user} on ${holder.host} to finish`,
      `if that process is gone, the lock expires at ${holder.expiresAt} (a lock of a dead process on the same host is taken over at once)`,
    ],
  });
}

export class RepositoryLock {
  private renewal: NodeJS.Timeout | undefined;
  private renewalFailure: unknown;

  private constructor(
    private readonly target: StorageTarget,
    private readonly lock: string,
    private record: LockRecord,
    private readonly ttlMs: number,
    private readonly now: () => Date,
  ) {}

  static async acquire(target: StorageTarget, lock: string, operation: string, options: LockOptions = {}): Promise<RepositoryLock> {
    const now = options.now ?? (() => new Date());
    const ttlMs = options.ttlMs ?? defaultTtlMs;
    const existing = await readLock(target, lock);
    if (existing && !isStale(existing, now())) throw lockHeld(target, lock, existing);

    const started = now();
    const record: LockRecord = {
      token: randomBytes(12).toString('hex'),
      operation,
      user: currentOperator(),
      host: hostname(),
      pid: process.pid,
      acquiredAt: started.toISOString(),
      expiresAt: new Date(started.getTime() + ttlMs).toISOString(),
    };
    const body = Buffer.from(JSON.stringify(record));
    let created = false;
    if (!existing && target.createExclusive) {
      // Atomic where the target can: of two writers that both saw no lock, exactly one creates it.
      created = await target.createExclusive(lockObjectName(lock), body);
      const winner = created ? undefined : await readLock(target, lock);
      if (winner) throw lockHeld(target, lock, winner);
      // Not created and unreadable: a lock torn by a crash mid-write, taken over below like a stale one.
    }
    if (!created) {
      await target.put(lockObjectName(lock), body);
      // Two writers that both saw no lock (or the same stale one) both wrote one; the last
      // write wins, and the loser learns it here instead of working alongside the winner.
      await sleep(options.settleMs ?? 100);
      const winner = await readLock(target, lock);
      if (winner?.token !== record.token) throw lockHeld(target, lock, winner ?? record);
    }

    const held = new RepositoryLock(target, lock, record, ttlMs, now);
    heldByThisProcess.add(record.token);
    held.startRenewal();
    return held;
  }

  /** Throws if renewing the lock failed while the operation ran: its protection may have lapsed. */
  assertHeld(): void {
    if (this.renewalFailure !== undefined) {
      throw new DrcError('LOCK_HELD', `unable to keep the ${this.lock} lock on repository '${this.target.name}'`, {
        hints: ['the repository could not be reached to renew the lock; run the operation again'],
        cause: this.renewalFailure,
      });
    }
  }

  async release(): Promise<void> {
    clearInterval(this.renewal);
    this.renewal = undefined;
    heldByThisProcess.delete(this.record.token);
    const current = await readLock(this.target, this.lock);
    if (current?.token === this.record.token) await this.target.delete([lockObjectName(this.lock)]);
  }

  private startRenewal(): void {
    this.renewal = setInterval(() => {
      const expiresAt = new Date(this.now().getTime() + this.ttlMs).toISOString();
      const renewed = { ...this.record, expiresAt };
      this.target.put(lockObjectName(this.lock), Buffer.from(JSON.stringify(renewed))).then(
        () => {
          this.record = renewed;
        },
        (error: unknown) => {
          this.renewalFailure = error;
        },
      );
    }, Math.max(1000, Math.floor(this.ttlMs / 3)));
    this.renewal.unref();
  }
}
