import { DrcError } from '../../../shared/errors.js';
import type { Repository } from '../../repo/repository.js';
import { chunkObjectName } from '../../repo/objects.js';

export interface Fallback {
  object: string;
  failed: string;
  usedInstead: string;
  reason: string;
}

/**
 * Reads sealed objects from the preferred repository and, for any object that is missing
 * or corrupt there, from the next one — recording each fallback so the restore report
 * can say which copy was damaged. A small cache keeps bundle chunks (shared by many small
 * files) from being fetched once per file.
 */
export class ObjectSource {
  readonly fallbacks: Fallback[] = [];
  private readonly cache = new Map<string, Promise<Buffer>>();
  private readonly cacheLimit = 32;

  /**
   * `opener`, when given, authenticates and decompresses on worker threads (the crypto
   * pool); without it objects are opened on this thread.
   */
  constructor(
    readonly repositories: readonly Repository[],
    private readonly opener?: (repository: string, name: string, sealed: Buffer) => Promise<Buffer>,
  ) {
    if (repositories.length === 0) throw new DrcError('REPO_NOT_INITIALIZED', 'unable to restore: no repository is reachable', { hints: ['check `drc repo info`'] });
  }

  get preferred(): string {
    return this.repositories[0]?.name ?? '';
  }

  chunk(id: string): Promise<Buffer> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const reading = this.read(chunkObjectName(id));
    this.cache.set(id, reading);
    reading.catch(() => this.cache.delete(id));
    if (this.cache.size > this.cacheLimit) this.cache.delete(this.cache.keys().next().value ?? id);
    return reading;
  }

  async read(name: string, holders?: readonly string[]): Promise<Buffer> {
    const candidates = holders ? this.repositories.filter((repository) => holders.includes(repository.name)) : this.repositories;
    const failures: Array<{ repository: string; reason: string }> = [];
    for (const repository of candidates) {
      try {
        const plaintext = this.opener ? await this.opener(repository.name, name, await repository.target.get(name)) : await repository.readObject(name);
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
