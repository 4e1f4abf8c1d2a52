import { DrcError } from '../../../shared/errors.js';
import type { CryptoPool } from '../../repo/crypto-pool.js';
import type { Repository } from '../../repo/repository.js';
import { chunkObjectName } from '../../repo/objects.js';

export interface Fallback {
  object: string;
  failed: string;
  usedInstead: string;
  reason: string;
}

/** Opens sealed objects (the crypto pool, on worker threads): into a caller's shared slot, or into memory of their own. */
type ObjectOpener = Pick<CryptoPool, 'open' | 'openInto'>;

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
    return this.fromFirstReadable(name, this.repositories, async (repository) =>
      this.opener ? this.opener.openInto(repository.name, name, await repository.target.get(name), slot) : repository.readObject(name),
    );
  }

  read(name: string, holders?: readonly string[]): Promise<Buffer> {
    const candidates = holders ? this.repositories.filter((repository) => holders.includes(repository.name)) : this.repositories;
    return this.fromFirstReadable(name, candidates, async (repository) =>
      this.opener ? this.opener.open(repository.name, name, await repository.target.get(name)) : repository.readObject(name),
    );
  }

  /** `name` opened from the first candidate holding a sound copy; the candidates before it become fallbacks. */
  private async fromFirstReadable(name: string, candidates: readonly Repository[], openFrom: (repository: Repository) => Promise<Buffer>): Promise<Buffer> {
    const failures: Array<{ repository: string; reason: string }> = [];
    for (const repository of candidates) {
      try {
        const plaintext = await openFrom(repository);
        for (const failure of failures) this.fallbacks.push({ object: name, failed: failure.repository, usedInstead: repository.name, reason: failure.reason });
        return plaintext;
      } catch (error) {
        if (!(error instanceof DrcError) || !['OBJECT_CORRUPT', 'STORAGE_NOT_FOUND', 'STORAGE_UNAVAILABLE', 'STORAGE_IO', 'MEDIA_NOT_PRESENT'].includes(error.code)) throw error;
        failures.push({ repository: repository.name, reason: error.message });
      }
    }
    throw new DrcError('OBJECT_MISSING', `unable to read '${name}' from any repository`, {
      hints: [...failures.map((failure) => `${failure.repository}: ${failure.reason}`), 'run `drc verify` to see what each repository holds'],
    });
  }
}

/** Local and removable media first (fast, no egress cost), then cloud; `--from` overrides. */
export function orderRepositories(repositories: readonly Repository[], from?: string): Repository[] {
  const rank = (repository: Repository): number => (repository.name === from ? -1 : repository.target.capabilities.media === 'cloud' ? 1 : 0);
  return [...repositories].sort((a, b) => rank(a) - rank(b));
}
