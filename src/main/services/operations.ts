import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Listener, Unsubscribe } from '../../shared/contract/index.js';
import { toErrorData } from '../../shared/contract/index.js';
import type { Operation, OperationKind, OperationResult } from '../../shared/contract/operations.js';
import { DrcError } from '../../shared/errors.js';

/** What a running operation tells the registry; every call updates the record and notifies listeners. */
export interface OperationControl {
  /** Aborted when the person cancels, or the host stops. */
  readonly signal: AbortSignal;
  /** A new phase in words ("streaming the data directory"); always announced. */
  phase(phase: string, message?: string): void;
  /** Byte progress; announced a few times a second at most. */
  bytes(done: number, total?: number): void;
  /** A copy that failed and the one used instead, as it happens. */
  fallback(text: string): void;
  backupId(id: string): void;
}

export interface OperationWork {
  readonly kind: OperationKind;
  readonly title: string;
  /** What cancelling leaves behind, shown before the person cancels. */
  readonly cancelEffect: string;
  readonly backupId?: string;
  /** A one-off scheduled run: waits (state `scheduled`, cancellable) until then. */
  readonly at?: Date;
  readonly run: (control: OperationControl) => Promise<OperationResult>;
}

export interface OperationRegistryOptions {
  readonly now?: () => Date;
  /** Least time between two byte-progress notifications of one operation. */
  readonly progressIntervalMs?: number;
}

interface Entry {
  record: Operation;
  readonly controller: AbortController;
  /** Settles (never rejects) when the operation has ended, whatever the outcome. */
  settled: Promise<void>;
  /** Byte progress held back by the throttle goes out with the next notification (a phase change, the end). */
  lastProgressAt: number;
}

/** setTimeout holds at most 2^31-1 ms (about 24.8 days); a later run waits in steps. */
const longestTimer = 2 ** 31 - 1;

const finished = (state: Operation['state']): boolean => state === 'succeeded' || state === 'failed' || state === 'cancelled';

/**
 * The operations of one host (the desktop app, `drc serve`): each runs in the background,
 * its record changes as it goes and every change reaches the `changed` listeners; a
 * finished one stays until dismissed, so a failure is never missed. Every promise an
 * operation starts is awaited here: `cancelAll()` resolves only when all have settled.
 */
export class OperationRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<Listener<Operation>>();
  private readonly now: () => Date;
  private readonly progressIntervalMs: number;

  constructor(options: OperationRegistryOptions = {}) {
    this.now = options.now ?? (() => new Date());
    this.progressIntervalMs = options.progressIntervalMs ?? 250;
  }

  start(work: OperationWork): Operation {
    const id = `op-${randomBytes(6).toString('hex')}`;
    const createdAt = this.now().toISOString();
    const scheduled = work.at !== undefined && work.at.getTime() > this.now().getTime();
    const entry: Entry = {
      record: {
        id,
        kind: work.kind,
        title: work.title,
        state: scheduled ? 'scheduled' : 'running',
        phase: scheduled ? 'waiting for its time' : 'starting',
        createdAt,
        ...(scheduled && work.at ? { scheduledFor: work.at.toISOString() } : {}),
        ...(scheduled ? {} : { startedAt: createdAt }),
        message: scheduled && work.at ? `${work.title}: scheduled for ${work.at.toISOString()}` : `${work.title}: starting`,
        fallbacks: [],
        cancellable: true,
        cancelEffect: work.cancelEffect,
        ...(work.backupId === undefined ? {} : { backupId: work.backupId }),
      },
      controller: new AbortController(),
      settled: Promise.resolve(),
      lastProgressAt: 0,
    };
    this.entries.set(id, entry);
    this.emit(entry);
    entry.settled = this.run(entry, work);
    return { ...entry.record };
  }

  list(): Operation[] {
    return [...this.entries.values()].map((entry) => ({ ...entry.record }));
  }

  get(operationId: string): Operation {
    return { ...this.entry(operationId).record };
  }

  /** Resolves with the record once the operation has ended (for the CLI and tests). */
  async settled(operationId: string): Promise<Operation> {
    const entry = this.entry(operationId);
    await entry.settled;
    return { ...entry.record };
  }

  /** Asks the operation to stop; it ends in `cancelled` once its work has undone what it started. A finished one is returned as it is. */
  cancel(operationId: string): Operation {
    const entry = this.entry(operationId);
    if (!finished(entry.record.state) && !entry.controller.signal.aborted) {
      entry.controller.abort(new DrcError('USAGE', `${entry.record.title}: cancelled`));
      this.update(entry, { phase: 'cancelling', message: `${entry.record.title}: cancelling — ${entry.record.cancelEffect}`, cancellable: false });
    }
    return { ...entry.record };
  }

  dismiss(operationId: string): void {
    const entry = this.entry(operationId);
    if (!finished(entry.record.state)) {
      throw new DrcError('USAGE', `unable to dismiss operation '${operationId}': it has not finished`, { hints: ['wait for it to finish, or cancel it first'] });
    }
    this.entries.delete(operationId);
  }

  subscribe(listener: Listener<Operation>): Unsubscribe {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** For a host that stops: cancels every operation and resolves when all have settled. */
  async cancelAll(): Promise<void> {
    for (const entry of this.entries.values()) if (!finished(entry.record.state)) this.cancel(entry.record.id);
    await Promise.all([...this.entries.values()].map((entry) => entry.settled));
  }

  /** Whether anything is running or waiting (a host asks before it quits). */
  get busy(): boolean {
    return [...this.entries.values()].some((entry) => !finished(entry.record.state));
  }

  private entry(operationId: string): Entry {
    const entry = this.entries.get(operationId);
    if (!entry) throw new DrcError('USAGE', `unable to find operation '${operationId}'`, { hints: ['it may have been dismissed, or started by another run of DR Console; list the operations to see those that exist'] });
    return entry;
  }

  private async run(entry: Entry, work: OperationWork): Promise<void> {
    const signal = entry.controller.signal;
    try {
      if (entry.record.state === 'scheduled' && work.at) {
        await this.waitUntil(work.at, signal);
        const startedAt = this.now().toISOString();
        this.update(entry, { state: 'running', phase: 'starting', startedAt, message: `${work.title}: starting` });
      }
      const result = await work.run(this.control(entry));
      // Work that noticed the cancel too late to stop still counts as done: it committed.
      this.finish(entry, { state: 'succeeded', phase: 'done', result, message: `${work.title}: done` });
    } catch (error) {
      if (signal.aborted) {
        this.finish(entry, { state: 'cancelled', phase: 'cancelled', message: `${work.title}: cancelled — ${work.cancelEffect}` });
      } else {
        const data = toErrorData(error, `run '${work.title}'`);
        this.finish(entry, { state: 'failed', phase: 'failed', error: data, message: `${work.title}: failed — ${data.message}` });
      }
    }
  }

  private async waitUntil(at: Date, signal: AbortSignal): Promise<void> {
    for (let left = at.getTime() - this.now().getTime(); left > 0; left = at.getTime() - this.now().getTime()) {
      await sleep(Math.min(left, longestTimer), undefined, { signal });
    }
  }

  private control(entry: Entry): OperationControl {
    const startedAt = (): number => Date.parse(entry.record.startedAt ?? entry.record.createdAt);
    return {
      signal: entry.controller.signal,
      phase: (phase, message) => {
        if (entry.controller.signal.aborted) return;
        this.update(entry, { phase, message: message ?? `${entry.record.title}: ${phase}` });
      },
      bytes: (done, total) => {
        const at = this.now().getTime();
        const seconds = (at - startedAt()) / 1000;
        const bytesTotal = total === undefined ? entry.record.bytesTotal : Math.max(total, done);
        const bytesPerSecond = seconds > 0 ? done / seconds : undefined;
        const etaSeconds = bytesTotal !== undefined && bytesPerSecond !== undefined && bytesPerSecond > 0 ? Math.max(0, (bytesTotal - done) / bytesPerSecond) : undefined;
        Object.assign(entry.record, {
          bytesDone: done,
          ...(bytesTotal === undefined ? {} : { bytesTotal }),
          ...(bytesPerSecond === undefined ? {} : { bytesPerSecond }),
          ...(etaSeconds === undefined ? {} : { etaSeconds }),
        });
        if (!entry.controller.signal.aborted) entry.record.message = progressMessage(entry.record);
        if (at - entry.lastProgressAt >= this.progressIntervalMs) this.emit(entry);
      },
      fallback: (text) => {
        this.update(entry, { fallbacks: [...entry.record.fallbacks, text] });
      },
      backupId: (id) => {
        this.update(entry, { backupId: id });
      },
    };
  }

  private finish(entry: Entry, change: Partial<Operation>): void {
    this.update(entry, { ...change, cancellable: false, finishedAt: this.now().toISOString() });
  }

  private update(entry: Entry, change: Partial<Operation>): void {
    Object.assign(entry.record, change);
    this.emit(entry);
  }

  private emit(entry: Entry): void {
    entry.lastProgressAt = this.now().getTime();
    const snapshot = { ...entry.record, fallbacks: [...entry.record.fallbacks] };
    for (const listener of this.listeners) {
      // A listener that throws (a closed window) must not stop the work or the other listeners.
      try {
        listener(snapshot);
      } catch {
        continue;
      }
    }
  }
}

function progressMessage(record: Operation): string {
  const done = record.bytesDone ?? 0;
  const percent = record.bytesTotal ? ` ${String(Math.floor((done / record.bytesTotal) * 100))} %` : '';
  const eta = record.etaSeconds === undefined ? '' : `, about ${formatSeconds(record.etaSeconds)} left`;
  return `${record.title}: ${record.phase}${percent}${eta}`;
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${String(Math.ceil(seconds))} s`;
  if (seconds < 3600) return `${String(Math.ceil(seconds / 60))} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
