import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { DrcConfig } from '../../../shared/config.js';
import { schedulerStateSchema, type SchedulerState } from './state.js';
import { DrcError } from '../../../shared/errors.js';
import { defaultConfigPath } from '../../config.js';
import { processAlive } from '../../processes.js';
import { readLock, RepositoryLock, type LockRecord } from '../../repo/locks.js';
import { LocalTarget } from '../../storage/local.js';

/** Where the scheduler keeps its state: `stateDir` from the config, else the OS app-data directory the default config lives in. */
export function stateDirectory(config: DrcConfig): string {
  return config.stateDir ?? dirname(defaultConfigPath());
}

/** Cluster names are free text; file names are not. */
function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/**
 * The scheduler's state file, one per cluster, and the lock that lets one scheduler at a
 * time own it. Writes go through a local target: temporary name, fsync, rename, fsync of
 * the directory — a crash leaves the previous state or the new one, never half of it.
 */
export class SchedulerStateStore {
  readonly path: string;
  private readonly directory: LocalTarget;
  private readonly object: string;
  private readonly lockName: string;

  constructor(
    directory: string,
    readonly cluster: string,
  ) {
    this.directory = new LocalTarget({ name: 'state directory', path: directory });
    this.object = `scheduler-${fileSafe(cluster)}.json`;
    this.lockName = `scheduler-${fileSafe(cluster)}`;
    this.path = join(directory, this.object);
  }

  static forConfig(config: DrcConfig, cluster: string): SchedulerStateStore {
    return new SchedulerStateStore(stateDirectory(config), cluster);
  }

  /** The saved state, or a fresh one if the scheduler never ran for this cluster here. */
  async load(): Promise<SchedulerState> {
    const fresh: SchedulerState = { format: 1, cluster: this.cluster, jobs: {} };
    if (!(await this.directory.head(this.object))) return fresh;
    const text = (await this.directory.get(this.object)).toString('utf8');
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw this.unreadable((error as Error).message);
    }
    const parsed = schedulerStateSchema.safeParse(raw);
    if (!parsed.success) throw this.unreadable(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
    return parsed.data;
  }

  async save(state: SchedulerState): Promise<void> {
    await this.directory.put(this.object, Buffer.from(`${JSON.stringify(state, null, 2)}\n`));
  }

  /** One scheduler per cluster and state directory: a second `drc daemon` is refused, naming the first. */
  acquire(): Promise<RepositoryLock> {
    return RepositoryLock.acquire(this.directory, this.lockName, 'scheduler');
  }

  /** The scheduler that holds the state now, if one is alive. */
  async holder(now: Date = new Date()): Promise<LockRecord | undefined> {
    const lock = await readLock(this.directory, this.lockName);
    if (!lock || Date.parse(lock.expiresAt) <= now.getTime()) return undefined;
    return lock.host !== hostname() || processAlive(lock.pid) ? lock : undefined;
  }

  private unreadable(why: string): DrcError {
    return new DrcError('CONFIG_INVALID', `unable to read the scheduler state '${this.path}': ${why}`, {
      hints: ['the file is written by the scheduler only; move it away to start afresh (jobs then run at their next slot, nothing missed is caught up)'],
    });
  }
}
