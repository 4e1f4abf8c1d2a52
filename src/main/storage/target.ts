import { DrcError } from '../../shared/errors.js';

/**
 * What a storage target can do, declared once by its driver so callers never branch on
 * the driver's type.
 */
export interface StorageCapabilities {
  /** The kind of media, for the 3-2-1 rule (two kinds of media). */
  readonly media: 'cloud' | 'removable' | 'fixed';
  /** Held away from the production site (the "1" of 3-2-1). */
  readonly offsite: boolean;
  /** A reader never sees a half-written object, even if the writer dies mid-put. */
  readonly atomicPut: boolean;
  /** Data reaches the medium only after an explicit fsync (local disks, USB sticks). */
  readonly needsFsync: boolean;
}

export interface ObjectInfo {
  /** Full object name relative to the target's root, e.g. `chunks/ab/ab12…`. */
  readonly name: string;
  readonly size: number;
  /**
   * When the object was last written, as the storage reports it (file mtime, S3
   * LastModified, GCS updated); set by `list`. Retention's chunk grace period reads it.
   */
  readonly modified?: Date;
}

export interface ListOptions {
  /**
   * Lists only names strictly greater than this one (UTF-16 code-unit order, which for
   * our ASCII names is S3's key order). A caller that already knows the objects up to a
   * name, such as the WAL index up to its newest indexed segment, lists only the tail.
   */
  readonly startAfter?: string;
}

export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/**
 * A place objects are kept: a directory, a USB stick, an S3 or GCS bucket prefix.
 *
 * Requirements every driver meets (checked by `test/storage/suite.ts`):
 * - Object names use `/` as separator and never start with `/`; a driver maps them to
 *   its own namespace (a directory tree, a key prefix).
 * - `put` replaces the whole object or fails; it may be called again with the same
 *   name and body (retries), so it must be idempotent. After `put` resolves the object
 *   is durable.
 * - `get` returns exactly the stored bytes (or the requested range). A body shorter or
 *   longer than the server announced is an error, never data.
 * - A missing object is `STORAGE_NOT_FOUND` from `get`, `undefined` from `head`, and
 *   not an error for `delete`.
 * - Transient failures (5xx, reset connections, timeouts, short bodies) are
 *   `DrcError` with `retryable: true`, so the retry wrapper can tell them apart from
 *   permanent ones (permission denied, bad bucket), which are `retryable: false`.
 * - `list(prefix)` returns every object whose name starts with `prefix`, across all
 *   pages, in no particular order. With `startAfter` it returns exactly those whose name
 *   is also strictly greater than `startAfter` (plain string comparison, never a name
 *   equal to it), whether `startAfter` sorts before, inside or after the prefix; a driver
 *   asks the service to skip what comes before rather than filter a full listing.
 * - No error message, log line or description contains a credential.
 */
export interface StorageTarget {
  /** The repository name from the configuration (`usb`, `nas`, `s3`…). */
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  /** Where it is, safe to show: no credentials. */
  describe(): string;
  put(name: string, body: Buffer): Promise<void>;
  /**
   * Only on targets that can do it in one atomic step: writes the object whole if no
   * object of that name exists, and returns false (writing nothing) if one does. Locks use
   * it to be taken without waiting to notice a racing writer.
   */
  createExclusive?(name: string, body: Buffer): Promise<boolean>;
  get(name: string, range?: ByteRange): Promise<Buffer>;
  head(name: string): Promise<ObjectInfo | undefined>;
  list(prefix: string, options?: ListOptions): Promise<ObjectInfo[]>;
  delete(names: readonly string[]): Promise<void>;
  /** Release sockets and handles. Safe to call twice. */
  close(): Promise<void>;
}

export function objectNotFound(target: string, name: string): DrcError {
  return new DrcError('STORAGE_NOT_FOUND', `unable to read missing object '${name}' from repository '${target}'`, {
    hints: ['run `drc verify` to list what is missing and `drc verify --repair` to copy it from another repository'],
  });
}

export function transientStorageError(target: string, action: string, name: string, cause: unknown): DrcError {
  return new DrcError('STORAGE_UNAVAILABLE', `unable to ${action} '${name}' on repository '${target}': ${describeCause(cause)}`, {
    hints: ['the storage did not answer correctly; the operation is retried automatically, check the network or the service status if it keeps failing'],
    retryable: true,
    cause,
  });
}

export function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return String(cause);
}
