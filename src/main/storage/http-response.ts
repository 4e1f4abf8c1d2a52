import { DrcError } from '../../shared/errors.js';
import { transientStorageError, type ByteRange } from './target.js';

/**
 * Checks shared by the drivers that talk HTTP to an object store (S3, GCS): what a
 * ranged answer must contain, which byte ranges may be asked for, and how an endpoint
 * is shown without credentials.
 */

/** A ranged answer must cover exactly the requested bytes, or as many as exist. */
export function checkRangedAnswer(target: string, name: string, range: ByteRange, received: number, contentRange: string | undefined): void {
  const match = contentRange === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange);
  if (match === null) {
    throw transientStorageError(target, 'read', name, new Error(`the service ignored the byte range (Content-Range: ${contentRange ?? 'absent'})`));
  }
  const start = Number(match[1]);
  const end = Number(match[2]);
  const total = match[3] === '*' ? undefined : Number(match[3]);
  const expected = total === undefined ? range.length : Math.min(range.length, total - range.offset);
  if (start !== range.offset || end - start + 1 !== received || received !== expected) {
    throw transientStorageError(target, 'read', name, new Error(`asked for ${String(range.length)} bytes at ${String(range.offset)}, received ${String(received)} (${contentRange ?? ''})`));
  }
}

export function validateRange(range: ByteRange): void {
  if (!Number.isSafeInteger(range.offset) || !Number.isSafeInteger(range.length) || range.offset < 0 || range.length < 0) {
    throw new DrcError('INTERNAL', `unable to read byte range ${String(range.offset)}+${String(range.length)}: offset and length must be non-negative integers`);
  }
}

/** An endpoint URL may carry `user:password@`; the description never shows it. */
export function withoutUserInfo(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return endpoint;
  }
}

/** Masks every credential value in a message from the service or its client library. */
export function scrubSecrets(text: string, secrets: Iterable<string>): string {
  let result = text;
  for (const value of secrets) result = result.split(value).join('***');
  return result;
}
