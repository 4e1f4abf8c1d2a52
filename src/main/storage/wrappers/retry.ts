import { setTimeout as sleep } from 'node:timers/promises';
import { isDrcError } from '../../../shared/errors.js';
import type { ByteRange, ListOptions, ObjectInfo, StorageTarget } from '../target.js';
import { DelegatingTarget } from './delegate.js';

export interface RetryPolicy {
  /** Total tries, the first one included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Called before each wait, so progress output can say that a retry is happening. */
  readonly onRetry?: (event: { target: string; operation: string; object: string; attempt: number; delayMs: number; error: unknown }) => void;
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 6, baseDelayMs: 200, maxDelayMs: 10_000 };

/**
 * Retries calls that failed with a retryable error (5xx, reset, short body, timeout),
 * with exponential backoff and full jitter so parallel uploads do not retry in lockstep.
 * Permanent errors (not found, permission denied, corrupt) are passed through at once.
 */
export class RetryingTarget extends DelegatingTarget {
  constructor(inner: StorageTarget, private readonly policy: RetryPolicy = defaultRetryPolicy) {
    super(inner);
  }

  override put(name: string, body: Buffer): Promise<void> {
    return this.withRetry('put', name, () => this.inner.put(name, body));
  }

  override get(name: string, range?: ByteRange): Promise<Buffer> {
    return this.withRetry('get', name, () => this.inner.get(name, range));
  }

  override head(name: string): Promise<ObjectInfo | undefined> {
    return this.withRetry('head', name, () => this.inner.head(name));
  }

  override list(prefix: string, options?: ListOptions): Promise<ObjectInfo[]> {
    return this.withRetry('list', prefix, () => this.inner.list(prefix, options));
  }

  override delete(names: readonly string[]): Promise<void> {
    return this.withRetry('delete', names[0] ?? '', () => this.inner.delete(names));
  }

  private async withRetry<T>(operation: string, object: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        const retryable = isDrcError(error) && error.retryable;
        if (!retryable || attempt >= this.policy.attempts) throw error;
        const ceiling = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (attempt - 1));
        const delayMs = Math.round(Math.random() * ceiling);
        this.policy.onRetry?.({ target: this.name, operation, object, attempt, delayMs, error });
        await sleep(delayMs);
      }
    }
  }
}

export function withRetry(target: StorageTarget, policy: RetryPolicy = defaultRetryPolicy): StorageTarget {
  return new RetryingTarget(target, policy);
}
