import { DrcError } from '../../shared/errors.js';
import type { CryptoPool } from './crypto-pool.js';
import { chunkObjectName } from './objects.js';
import type { Repository } from './repository.js';

/** One object that could not be used in one repository and was read from another instead. */
export interface Fallback {
  object: string;
  failed: string;
  usedInstead: string;
  reason: string;
}

/** Opens sealed objects (the crypto pool, on worker threads): into a caller's shared slot, or into memory of their own. */
type ObjectOpener = Pick<CryptoPool, 'open' | 'openInto'>;

/**
 * Why a copy may be passed over for the next one: it is damaged, absent, or its medium
 * cannot be read right now. Anything else (a bug, a refusal) is not a property of that copy.
 */
const unusableCopy: ReadonlySet<string> = new Set(['OBJECT_CORRUPT', 'STORAGE_NOT_FOUND', 'STORAGE_UNAVAILABLE', 'STORAGE_IO', 'MEDIA_NOT_PRESENT']);

export function isUnusableCopy(error: unknown): error is DrcError {
  return error instanceof DrcError && unusableCopy.has(error.code);
}

/**
 * Records a fallback once: a restore or a listing may pass over the same damaged copy
 * many times (each WAL segment it reads, each page of a listing), and one line says it.
 */
export function recordFallback(fallbacks: Fallback[], fallback: Fallback): void {
  if (!fallbacks.some((known) => known.object === fallback.object && known.failed === fallback.failed)) fallbacks.push(fallback);
}

/** Fallbacks gathered by several readers of one operation, each damaged copy once. */
export function uniqueFallbacks(fallbacks: readonly Fallback[]): Fallback[] {
  const unique: Fallback[] = [];
  for (const fallback of fallbacks) recordFallback(unique, fallback);
  return unique;
}

/** How a fallback reads to the person running the command. */
export function describeFallback(fallback: Fallback): string {
  return `${fallback.object}: unusable in '${fallback.failed}' (${fallback.reason}); read from '${fallback.usedInstead}' — run \`drc verify --repair\``;
}

/**
 * `name` read from the first candidate holding a sound copy; each candidate passed over
 * becomes a fallback. When no copy is sound it throws, with every candidate's reason as a
 * hint: OBJECT_CORRUPT when at least one copy exists but fails authentication (the data
 * was stored and is damaged: repair from elsewhere, do not take it for never written), and
 * OBJECT_MISSING when no candidate could produce it at all.
 */
export async function readFromFirstSound<T>(name: string, candidates: readonly Repository[], read: (repository: Repository) => Promise<T>, fallbacks: Fallback[]): Promise<T> {
  const failures: Array<{ repository: string; reason: string; corrupt: boolean }> = [];
  for (const repository of candidates) {
    try {
      const value = await read(repository);
      for (const failure of failures) recordFallback(fallbacks, { object: name, failed: failure.repository, usedInstead: repository.name, reason: failure.reason });
      return value;
    } catch (error) {
      if (!isUnusableCopy(error)) throw error;
      failures.push({ repository: repository.name, reason: error.message, corrupt: error.code === 'OBJECT_CORRUPT' });
    }
  }
  const reasons = failures.map((failure) => `${failure.repository}: ${failure.reason}`);
  const corrupt = failures.filter((failure) => failure.corrupt).map((failure) => `'${failure.repository}'`);
  if (corrupt.length > 0) {
    const copies = corrupt.length === 1 ? `the copy in ${corrupt.join('')} is damaged` : `the copies in ${corrupt.join(' and ')} are damaged`;
    throw new DrcError('OBJECT_CORRUPT', `unable to read '${name}': ${copies} (failing authentication), and no repository holds a sound copy`, {
      hints: [...reasons, 'no repository holds a sound copy, so `drc verify --repair` cannot rewrite it: run `drc verify` to see what else is damaged, and check the disks or media of these repositories'],
    });
  }
  throw new DrcError('OBJECT_MISSING', `unable to read '${name}' from any repository`, {
    hints: [...reasons, 'run `drc verify` to see what each repository holds'],
  });
}

/**
 * Reads sealed objects from the preferred repository and, for any object that is missing
 * or corrupt there, from the next one — recording each fallback so the restore report
 * can say which copy was damaged.
 */
export class ObjectSource {
  readonly fallbacks: Fallback[] = [];

  /** `opener`, when given, opens on worker threads; without it objects are opened on this thread. */
  constructor(
    readonly repositories: readonly Repository[],
    private readonly opener?: ObjectOpener,
  ) {
    if (repositories.length === 0) throw new DrcError('REPO_NOT_INITIALIZED', 'unable to restore: no repository is reachable', { hints: ['check `drc repo info`'] });
  }

  get preferred(): string {
    return this.repositories[0]?.name ?? '';
  }

  /**
   * A chunk's plaintext, opened into `slot` (a shared slot of the opener's pool) when it
   * fits, else in memory of its own: the caller writes from what is returned and releases
   * the slot itself.
   */
  chunkInto(id: string, slot: Buffer): Promise<Buffer> {
    const name = chunkObjectName(id);
    return readFromFirstSound(
      name,
      this.repositories,
      async (repository) => (this.opener ? this.opener.openInto(repository.name, name, await repository.target.get(name), slot) : repository.readObject(name)),
      this.fallbacks,
    );
  }

  read(name: string, holders?: readonly string[]): Promise<Buffer> {
    const candidates = holders ? this.repositories.filter((repository) => holders.includes(repository.name)) : this.repositories;
    return readFromFirstSound(name, candidates, async (repository) => (this.opener ? this.opener.open(repository.name, name, await repository.target.get(name)) : repository.readObject(name)), this.fallbacks);
  }
}

/** Local and removable media first (fast, no egress cost), then cloud; `--from` overrides. */
export function orderRepositories(repositories: readonly Repository[], from?: string): Repository[] {
  const rank = (repository: Repository): number => (repository.name === from ? -1 : repository.target.capabilities.media === 'cloud' ? 1 : 0);
  return [...repositories].sort((a, b) => rank(a) - rank(b));
}
