import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import { Storage, type File, type StorageOptions } from '@google-cloud/storage';
import { DrcError } from '../../shared/errors.js';
import { registerSecret } from '../secrets/redact.js';
import {
  describeCause,
  objectNotFound,
  transientStorageError,
  type ByteRange,
  type ListOptions,
  type ObjectInfo,
  type StorageCapabilities,
  type StorageTarget,
} from './target.js';
import { checkRangedAnswer, scrubSecrets, validateRange, withoutUserInfo } from './http-response.js';

export interface GcsTargetConfig {
  /** The repository name from the configuration. */
  readonly name: string;
  readonly bucket: string;
  /** Object name prefix inside the bucket, with or without surrounding slashes. */
  readonly prefix?: string;
  /** For emulators and test servers; Google's own endpoint needs none. */
  readonly apiEndpoint?: string;
  readonly projectId?: string;
  /** A parsed service-account key, already resolved by the caller. Without it the library's default credentials apply. */
  readonly credentials?: object;
  /** Default true: a bucket is normally in another building than the database. */
  readonly offsite?: boolean;
}

export interface GcsTuning {
  /**
   * How long a request may go without progress (no response, no byte sent or received)
   * before it is abandoned as a retryable failure. Default 60 s, the library's own.
   */
  readonly stallTimeoutMs?: number;
}

/** Bodies above this go through a resumable upload, in chunks of this size (GCS recommends at least 8 MiB). */
const resumableThreshold = 8 * 1024 * 1024;
const deletesInFlight = 8;
const defaultStallTimeoutMs = 60_000;

const transientCodes = new Set([
  'ECONNRESET',
  'ETIMEDOUT',
  'ECONNREFUSED',
  'EPIPE',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  // The library's checksum checks: a body damaged on the way, so sending or fetching it again may work.
  'CONTENT_DOWNLOAD_MISMATCH',
  'FILE_NO_UPLOAD',
  'FILE_NO_UPLOAD_DELETE',
]);
/** node-fetch's `FetchError.type` for a request or body that ran past the library's timeout. */
const transientFetchTypes = new Set(['request-timeout', 'body-timeout']);
const transientMessage = /socket hang up|premature close|aborted|timed? ?out|ECONNRESET/i;
/** What google-auth-library says when it has no usable credentials or Google refuses them. */
const credentialMessage = /could not load the default credentials|invalid_grant|invalid_client|unauthorized_client/i;
const missingBucketMessage = /bucket does not exist/i;
/** Service-account and user-credential fields that are secrets (the client email is not). */
const secretCredentialFields = ['private_key', 'private_key_id', 'client_secret', 'refresh_token'];

/**
 * The parts of a library or network error this driver looks at; every field may be
 * absent. Errors arrive in several shapes: `ApiError` (`code` is the HTTP status),
 * `GaxiosError` (`status`, or `code` for a network error), node-fetch's `FetchError`
 * (`code`, `type`), and, from a failed resumable chunk, the bare JSON error object
 * of the response body (`code` is the HTTP status).
 */
interface ErrorShape {
  code?: unknown;
  status?: unknown;
  type?: unknown;
  message?: unknown;
  response?: { status?: unknown };
}

/**
 * A bucket (and optional object prefix) on Google Cloud Storage, through
 * `@google-cloud/storage`.
 *
 * The library's retries are off: the retry wrapper decides, and it only can if every
 * failure arrives here classified as retryable or not. Its checksum checks stay on
 * (CRC32C of every upload against what the service stored, and of every whole-object
 * download), because they catch a body damaged in transit that the length alone would not.
 *
 * The library does not notice a connection that drops in the middle of a response
 * body with a Content-Length (its HTTP layer, node-fetch 2, pipes the response without
 * forwarding the error), so a download or an upload's answer would wait forever.
 * Transfers therefore watch their own HTTP requests (see `watchCutOffAnswers`) and fail,
 * retryably, as soon as an answer is cut off; and every transfer runs under a stall
 * guard that fails it after `stallTimeoutMs` without progress, for a connection that
 * hangs without closing. The library's per-request timeout is set to the same value
 * for the calls that buffer their answer.
 */
export class GcsTarget implements StorageTarget {
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  private readonly bucketName: string;
  /** `''` or a prefix ending in `/`, prepended to every object name. */
  private readonly keyPrefix: string;
  private readonly apiEndpoint: string | undefined;
  private readonly stallTimeoutMs: number;
  /** Credential values scrubbed from any text this driver produces. */
  private readonly secrets: string[];
  private readonly storage: Storage;

  constructor(config: GcsTargetConfig, tuning: GcsTuning = {}) {
    this.name = config.name;
    this.bucketName = config.bucket;
    const prefix = (config.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.keyPrefix = prefix === '' ? '' : `${prefix}/`;
    this.apiEndpoint = config.apiEndpoint;
    this.stallTimeoutMs = tuning.stallTimeoutMs ?? defaultStallTimeoutMs;
    this.capabilities = { media: 'cloud', offsite: config.offsite ?? true, atomicPut: true, needsFsync: false };
    this.secrets = secretFragments(config.credentials);
    // The resolver registered the secret as stored (JSON text); the parsed key has real
    // newlines where that text has `\n`, so it would not be masked without this.
    for (const secret of this.secrets) registerSecret(secret);

    const options: StorageOptions = {
      retryOptions: {
        autoRetry: false,
        // With autoRetry off the resumable uploader still asks this function, and a "yes"
        // makes it replace the service's answer by a bare "Retry limit exceeded" error
        // without a status; a "no" hands us the original error.
        retryableErrorFn: () => false,
      },
      timeout: this.stallTimeoutMs,
    };
    if (config.apiEndpoint !== undefined) {
      options.apiEndpoint = config.apiEndpoint;
      // The library sends no credentials to an endpoint it does not know, which suits an
      // emulator; a regional or Private Service Connect endpoint of Google needs them.
      options.useAuthWithCustomEndpoint = isGoogleEndpoint(config.apiEndpoint);
    }
    if (config.projectId !== undefined) options.projectId = config.projectId;
    if (config.credentials !== undefined) options.credentials = config.credentials;
    this.storage = new Storage(options);
  }

  describe(): string {
    const location = `gs://${this.bucketName}/${this.keyPrefix}`;
    return this.apiEndpoint === undefined ? location : `${location} @ ${withoutUserInfo(this.scrub(this.apiEndpoint))}`;
  }

  async put(name: string, body: Buffer): Promise<void> {
    const resumable = body.length > resumableThreshold;
    const stream = this.file(name).createWriteStream({
      resumable,
      ...(resumable ? { chunkSize: resumableThreshold } : {}),
      metadata: { contentType: 'application/octet-stream' },
    });
    try {
      const finished = this.transfer(stream, 'progress', 'finish', name);
      stream.end(body);
      await finished;
    } catch (error) {
      throw this.failure(error, 'write', name);
    }
  }

  async get(name: string, range?: ByteRange): Promise<Buffer> {
    if (range !== undefined) validateRange(range);
    // `bytes=a-(a-1)` is not a valid range and the service would answer with the whole object.
    if (range?.length === 0) {
      if ((await this.head(name)) === undefined) throw objectNotFound(this.name, name);
      return Buffer.alloc(0);
    }

    // `end` is inclusive in the library, like in the HTTP Range header.
    const stream = this.file(name).createReadStream(range === undefined ? {} : { start: range.offset, end: range.offset + range.length - 1 });
    const chunks: Buffer[] = [];
    let headers: Record<string, string | undefined> = {};
    stream.on('response', (response: { headers?: Record<string, string | undefined> }) => {
      headers = response.headers ?? {};
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    try {
      await this.transfer(stream, 'data', 'end', name);
    } catch (error) {
      if (isMissingObject(error)) throw objectNotFound(this.name, name);
      throw this.failure(error, 'read', name);
    }

    const data = Buffer.concat(chunks);
    if (range === undefined) {
      const announced = headers['content-encoding'] === undefined ? headers['content-length'] : undefined;
      if (announced !== undefined && data.length !== Number(announced)) {
        throw transientStorageError(this.name, 'read', name, new Error(`received ${String(data.length)} bytes of the ${announced} announced`));
      }
    } else {
      checkRangedAnswer(this.name, name, range, data.length, headers['content-range']);
    }
    return data;
  }

  async head(name: string): Promise<ObjectInfo | undefined> {
    try {
      const [metadata] = await this.file(name).getMetadata();
      return { name, size: Number(metadata.size ?? 0) };
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw this.failure(error, 'inspect', name);
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ObjectInfo[]> {
    const { startAfter } = options;
    try {
      // `autoPaginate` follows `nextPageToken` until the last page. `startOffset` is
      // inclusive, so the object named exactly `startAfter`, if any, is dropped below.
      const [files] = await this.storage.bucket(this.bucketName).getFiles({
        prefix: this.keyPrefix + prefix,
        autoPaginate: true,
        ...(startAfter === undefined ? {} : { startOffset: this.keyPrefix + startAfter }),
      });
      return files
        .map((file) => ({
          name: file.name.slice(this.keyPrefix.length),
          size: Number(file.metadata.size ?? 0),
          ...(file.metadata.updated === undefined ? {} : { modified: new Date(file.metadata.updated) }),
        }))
        .filter(({ name }) => startAfter === undefined || name > startAfter);
    } catch (error) {
      throw this.failure(error, 'list', prefix);
    }
  }

  async delete(names: readonly string[]): Promise<void> {
    // The JSON API deletes one object per request; a few in flight keep a large prune short.
    for (let start = 0; start < names.length; start += deletesInFlight) {
      await Promise.all(names.slice(start, start + deletesInFlight).map((name) => this.deleteOne(name)));
    }
  }

  close(): Promise<void> {
    // Nothing to release: requests borrow sockets from the library's keep-alive agents,
    // which unref them when idle, so calling this twice is as harmless as once.
    return Promise.resolve();
  }

  private async deleteOne(name: string): Promise<void> {
    try {
      await this.file(name).delete();
    } catch (error) {
      if (isMissingObject(error)) return;
      throw this.failure(error, 'delete', name);
    }
  }

  private file(name: string): File {
    return this.storage.bucket(this.bucketName).file(this.keyPrefix + name);
  }

  /**
   * Waits for one streamed transfer to reach its `done` event; listeners are in place
   * before it returns, so the caller starts the stream after calling it. It fails if the
   * stream errors, or if `progress` (bytes sent or received) stops for `stallTimeoutMs`:
   * the library would otherwise wait forever for a body whose connection is gone.
   */
  private transfer(stream: Readable | Writable, progress: 'data' | 'progress', done: 'end' | 'finish', name: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const stopWatching = watchCutOffAnswers(this.bucketName, this.keyPrefix + name, (error) => stream.destroy(error));
      const timer = setTimeout(() => {
        stream.destroy(Object.assign(new Error(`no progress for ${String(this.stallTimeoutMs)} ms`), { code: 'ETIMEDOUT' }));
      }, this.stallTimeoutMs);
      const onProgress = (): void => {
        timer.refresh();
      };
      stream.on(progress, onProgress);
      const settle = (error?: unknown): void => {
        clearTimeout(timer);
        stopWatching();
        stream.off(progress, onProgress);
        if (error === undefined) resolve();
        // A failed resumable chunk rejects with the bare JSON error object; keep its status.
        else reject(error instanceof Error ? error : Object.assign(new Error(messageOf(error)), error));
      };
      // `on`, not `once`: a second error from the library after the first (or after the
      // end) must be swallowed here rather than crash the process as an unhandled one.
      stream.on('error', settle);
      stream.once(done, () => settle());
    });
  }

  /** Turns anything the library or the network threw into a classified `DrcError`. */
  private failure(error: unknown, action: string, object: string): DrcError {
    if (error instanceof DrcError) return error;
    const shape = (typeof error === 'object' && error !== null ? error : {}) as ErrorShape;
    const status = statusOf(error);
    const code = typeof shape.code === 'string' ? shape.code : undefined;
    const detail = this.scrub(messageOf(error));
    // Library errors keep the request they failed on, Authorization header included, so
    // only a scrubbed copy of the message travels on as the cause.
    const cause = Object.assign(new Error(detail), code === undefined ? {} : { code });
    const prefix = `unable to ${action} '${object}' on repository '${this.name}'`;

    if (status === 404 && missingBucketMessage.test(detail)) {
      return new DrcError('STORAGE_IO', `${prefix}: bucket '${this.bucketName}' does not exist`, {
        hints: ['check the bucket name and the API endpoint in the repository configuration, or create the bucket'],
        cause,
      });
    }
    if (status === 401 || status === 403 || credentialMessage.test(detail)) {
      return new DrcError('STORAGE_PERMISSION', `${prefix}: access denied (${detail})`, {
        hints: [
          'check the service-account key configured for this repository, and that it has not been disabled or deleted',
          `the service account needs roles/storage.objectAdmin (or objects create, get, list and delete) on bucket '${this.bucketName}'`,
        ],
        cause,
      });
    }
    const transient =
      (status !== undefined && (status === 408 || status === 429 || status >= 500)) ||
      (code !== undefined && transientCodes.has(code)) ||
      (typeof shape.type === 'string' && transientFetchTypes.has(shape.type)) ||
      transientMessage.test(detail);
    if (transient) return transientStorageError(this.name, action, object, cause);
    return new DrcError('STORAGE_IO', `${prefix}: ${describeCause(cause)}`, {
      hints: ['check the repository configuration (bucket, prefix, endpoint) and the service status'],
      cause,
    });
  }

  private scrub(text: string): string {
    return scrubSecrets(text, this.secrets);
  }
}

/** Transfers in progress, by `bucket/object`, each with how to fail it. */
const transfersWaiting = new Map<string, Set<(error: Error) => void>>();
let watchingRequests = false;

/**
 * Until the returned function is called, fails the transfer of this object as soon as the
 * answer to one of its HTTP requests is cut off: the connection closed (reset or ended)
 * before the whole body arrived. node-fetch 2, under the library, loses that event for a
 * body with a Content-Length, so without this the transfer would wait for the stall guard
 * (a minute by default) before its retry. The requests are found through Node's
 * `http.client.request.start` diagnostics channel, by the object name in their URL.
 */
function watchCutOffAnswers(bucket: string, object: string, fail: (error: Error) => void): () => void {
  if (!watchingRequests) {
    watchingRequests = true;
    subscribe('http.client.request.start', (message) => {
      const { request } = message as { request: ClientRequest };
      const key = transferKeyOf(request.path);
      const waiting = key === undefined ? undefined : transfersWaiting.get(key);
      if (waiting === undefined) return;
      request.on('response', (response: IncomingMessage) => {
        response.on('close', () => {
          if (response.complete) return;
          const error = Object.assign(new Error('the connection closed before the whole answer arrived'), { code: 'ECONNRESET' });
          for (const failTransfer of waiting) failTransfer(error);
        });
      });
    });
  }
  const key = `${bucket}/${object}`;
  const waiting = transfersWaiting.get(key) ?? new Set<(error: Error) => void>();
  transfersWaiting.set(key, waiting);
  waiting.add(fail);
  return () => {
    waiting.delete(fail);
    if (waiting.size === 0 && transfersWaiting.get(key) === waiting) transfersWaiting.delete(key);
  };
}

/** `bucket/object` of a JSON API media download (`…/b/BUCKET/o/OBJECT?alt=media`) or upload (`…/b/BUCKET/o?name=OBJECT`). */
function transferKeyOf(path: string): string | undefined {
  let url: URL;
  try {
    url = new URL(path, 'http://localhost');
  } catch {
    return undefined;
  }
  const match = /\/b\/([^/]+)\/o(?:\/(.+))?$/.exec(url.pathname);
  if (match === null) return undefined;
  try {
    const bucket = decodeURIComponent(match[1] ?? '');
    const object = match[2] === undefined ? url.searchParams.get('name') : decodeURIComponent(match[2]);
    return object === null ? undefined : `${bucket}/${object}`;
  } catch {
    return undefined;
  }
}

/**
 * Every form in which a credential could show up in a message: as it is, JSON-escaped
 * (a response body echoing it) and, for a PEM key, line by line (a partial echo).
 * Longest first, so a whole key is masked before its lines are looked for.
 */
function secretFragments(credentials: object | undefined): string[] {
  if (credentials === undefined) return [];
  const fragments = new Set<string>();
  for (const field of secretCredentialFields) {
    const value: unknown = (credentials as Record<string, unknown>)[field];
    if (typeof value !== 'string' || value === '') continue;
    fragments.add(value);
    fragments.add(JSON.stringify(value).slice(1, -1));
    for (const line of value.split('\n')) {
      if (line.length >= 16 && !line.startsWith('-----')) fragments.add(line);
    }
  }
  return [...fragments].sort((a, b) => b.length - a.length);
}

/** A 404 that is about the object; the same status for a missing bucket is a configuration problem. */
function isMissingObject(error: unknown): boolean {
  return statusOf(error) === 404 && !missingBucketMessage.test(messageOf(error));
}

/** The HTTP status of a library error, wherever its shape keeps it. */
function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const shape = error as ErrorShape;
  for (const candidate of [shape.code, shape.status, shape.response?.status]) {
    if (typeof candidate === 'number' && Number.isInteger(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The message of a library error. A failed download carries the whole JSON error body
 * as its message; the `error.message` inside it is what a person wants to read.
 */
function messageOf(error: unknown): string {
  const raw = typeof error === 'object' && error !== null && typeof (error as ErrorShape).message === 'string' ? ((error as ErrorShape).message as string) : String(error);
  if (raw.startsWith('{')) {
    try {
      const body = JSON.parse(raw) as { error?: { message?: unknown } };
      if (typeof body.error?.message === 'string') return body.error.message;
    } catch {
      // not JSON after all: keep the text as it is
    }
  }
  return raw === '' ? 'unknown error' : raw;
}

/** Google's own hosts (regional, Private Service Connect) take the same credentials as the default endpoint. */
function isGoogleEndpoint(endpoint: string): boolean {
  try {
    const host = new URL(/^[a-z]+:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`).hostname;
    return host === 'googleapis.com' || host.endsWith('.googleapis.com');
  } catch {
    return false;
  }
}
