import { createHash } from 'node:crypto';
import { DrcError } from '../../../shared/errors.js';
import type { StorageTarget } from '../target.js';
import { DelegatingTarget } from './delegate.js';

const digest = (body: Buffer): string => createHash('sha256').update(body).digest('hex');

/**
 * Reads every object back after writing it and compares a digest, so a write that a
 * device or service acknowledged but did not keep (a failing USB stick, a proxy that
 * mangled the body) is caught while the source data is still at hand. A mismatch is
 * retryable: the retry wrapper outside this one writes the object again.
 */
export class VerifyingTarget extends DelegatingTarget {
  override async put(name: string, body: Buffer): Promise<void> {
    await this.inner.put(name, body);
    const back = await this.inner.get(name);
    if (back.length !== body.length || digest(back) !== digest(body)) {
      throw new DrcError('STORAGE_VERIFY_FAILED', `unable to verify object '${name}' written to repository '${this.name}': read back ${String(back.length)} bytes that differ from the ${String(body.length)} written`, {
        hints: ['the medium or service did not keep what was written; if this repeats on a removable drive, replace the drive'],
        retryable: true,
      });
    }
  }
}

export function withVerifyAfterWrite(target: StorageTarget): StorageTarget {
  return new VerifyingTarget(target);
}
