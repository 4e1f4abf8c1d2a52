import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { DrcError } from '../../shared/errors.js';
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

export interface S3TargetConfig {
  /** The repository name from the configuration. */
  readonly name: string;
  readonly bucket: string;
  /** Key prefix inside the bucket, with or without surrounding slashes. */
  readonly prefix?: string;
  readonly region?: string;
  /** For S3-compatible services (MinIO, Ceph, Wasabi…); AWS itself needs none. */
  readonly endpoint?: string;
  readonly forcePathStyle?: boolean;
  /** Already resolved by the caller. Without them the SDK's default credential chain applies. */
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly sessionToken?: string;
  /** Default true: a bucket is normally in another building than the database. */
  readonly offsite?: boolean;
}

/** Bodies above this go through a multipart upload, in parts of this size. */
const multipartThreshold = 8 * 1024 * 1024;
const partsInFlight = 4;
/** S3 accepts at most this many keys in one DeleteObjects request. */
const deleteBatchSize = 1000;

const permissionErrorNames = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
  'CredentialsProviderError',
]);
const transientErrorNames = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'RequestTimeout',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
]);
const transientErrorCodes = new Set(['ECONNRESET', 'ETIMEDOUT', 'ECONNREFUSED', 'EPIPE', 'EAI_AGAIN', 'ERR_STREAM_PREMATURE_CLOSE']);
const transientMessage = /socket hang up|premature close|aborted|timed? ?out/i;

/** The parts of an SDK or Node error this driver looks at; every field may be absent. */
interface ErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/**
 * A bucket (and optional key prefix) on AWS S3 or an S3-compatible service.
 *
 * The SDK's own retries are off: the retry wrapper decides, and it only can if every
 * failure arrives here classified as retryable or not. Checksums are only computed where
 * the API requires them, because S3-compatible services differ in which of the newer
 * checksum headers and `aws-chunked` bodies they understand.
 */
export class S3Target implements StorageTarget {
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  private readonly bucket: string;
  /** `''` or a prefix ending in `/`, prepended to every object name. */
  private readonly keyPrefix: string;
  private readonly endpoint: string | undefined;
  /** Credential values scrubbed from any text this driver produces. */
  private readonly credentials: string[];
  private readonly client: S3Client;
  private closed = false;

  constructor(config: S3TargetConfig) {
    this.name = config.name;
    this.bucket = config.bucket;
    const prefix = (config.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.keyPrefix = prefix === '' ? '' : `${prefix}/`;
    this.endpoint = config.endpoint;
    this.capabilities = { media: 'cloud', offsite: config.offsite ?? true, atomicPut: true, needsFsync: false };
    if ((config.accessKeyId === undefined) !== (config.secretAccessKey === undefined)) {
      throw new DrcError('CONFIG_INVALID', `unable to configure repository '${config.name}': an access key id needs its secret access key, and the reverse`, {
        hints: ['set both keys, or neither to use the default AWS credential chain (environment, profile, instance role)'],
      });
    }
    this.credentials = [config.accessKeyId, config.secretAccessKey, config.sessionToken].filter(
      (value): value is string => value !== undefined && value !== '',
    );

    const clientConfig: S3ClientConfig = {
      region: config.region ?? 'us-east-1',
      forcePathStyle: config.forcePathStyle ?? false,
      maxAttempts: 1,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: 10_000,
        // An idle timeout rather than `requestTimeout`: that one stops counting once the
        // response headers arrive, so it would not catch a download that stalls mid-body,
        // and it would cut off a large part upload on a slow but healthy link.
        socketTimeout: 60_000,
      },
    };
    if (config.endpoint !== undefined) clientConfig.endpoint = config.endpoint;
    if (config.accessKeyId !== undefined && config.secretAccessKey !== undefined) {
      clientConfig.credentials = {
        accessKeyId: config.accessKeyId,
        secretAccessKey: config.secretAccessKey,
        ...(config.sessionToken === undefined ? {} : { sessionToken: config.sessionToken }),
      };
    }
    this.client = new S3Client(clientConfig);
  }

  describe(): string {
    const location = `s3://${this.bucket}/${this.keyPrefix}`;
    return this.endpoint === undefined ? location : `${location} @ ${withoutUserInfo(this.scrub(this.endpoint))}`;
  }

  async put(name: string, body: Buffer): Promise<void> {
    const key = this.key(name);
    if (body.length <= multipartThreshold) {
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.length }));
      } catch (error) {
        throw this.failure(error, 'write', name);
      }
      return;
    }

    // The upload is aborted here rather than by lib-storage: its own abort replaces the
    // part's error with the abort's error when the abort fails too, which would turn a
    // retryable 5xx into whatever the abort got back.
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: body },
      partSize: multipartThreshold,
      queueSize: partsInFlight,
      leavePartsOnError: true,
    });
    try {
      await upload.done();
    } catch (error) {
      if (upload.uploadId !== undefined) {
        // Best effort: if the abort fails as well, the parts stay until the bucket's
        // AbortIncompleteMultipartUpload lifecycle rule removes them; the put's own
        // failure is what the caller must see.
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: upload.uploadId }))
          .catch(() => undefined);
      }
      throw this.failure(error, 'write', name);
    }
  }

  async get(name: string, range?: ByteRange): Promise<Buffer> {
    if (range !== undefined) validateRange(range);
    // `bytes=a-(a-1)` is not a valid range and S3 would answer with the whole object.
    if (range?.length === 0) {
      if ((await this.head(name)) === undefined) throw objectNotFound(this.name, name);
      return Buffer.alloc(0);
    }

    let body: Uint8Array;
    let announced: number | undefined;
    let contentRange: string | undefined;
    try {
      const response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.key(name),
          ...(range === undefined ? {} : { Range: `bytes=${String(range.offset)}-${String(range.offset + range.length - 1)}` }),
        }),
      );
      announced = response.ContentLength;
      contentRange = response.ContentRange;
      body = response.Body === undefined ? new Uint8Array(0) : await response.Body.transformToByteArray();
    } catch (error) {
      if (nameOf(error) === 'NoSuchKey' || (statusOf(error) === 404 && nameOf(error) !== 'NoSuchBucket')) {
        throw objectNotFound(this.name, name);
      }
      throw this.failure(error, 'read', name);
    }

    const data = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    if (announced !== undefined && data.length !== announced) {
      throw transientStorageError(this.name, 'read', name, new Error(`received ${String(data.length)} bytes of the ${String(announced)} announced`));
    }
    if (range !== undefined) checkRangedAnswer(this.name, name, range, data.length, contentRange);
    return data;
  }

  async head(name: string): Promise<ObjectInfo | undefined> {
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
      return { name, size: response.ContentLength ?? 0 };
    } catch (error) {
      // HEAD answers carry no body, so a 404 cannot say whether the key or the bucket is missing.
      if (statusOf(error) === 404) return undefined;
      throw this.failure(error, 'inspect', name);
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ObjectInfo[]> {
    const { startAfter } = options;
    const objects: ObjectInfo[] = [];
    let continuationToken: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.keyPrefix + prefix,
            // Keys in the bucket carry the repository's key prefix; the service skips to the first key after this one.
            ...(startAfter === undefined ? {} : { StartAfter: this.keyPrefix + startAfter }),
            ...(continuationToken === undefined ? {} : { ContinuationToken: continuationToken }),
          }),
        );
        for (const entry of page.Contents ?? []) {
          if (entry.Key === undefined) continue;
          const name = entry.Key.slice(this.keyPrefix.length);
          // An S3-compatible service that ignores StartAfter costs more requests, never extra names.
          if (startAfter !== undefined && name <= startAfter) continue;
          objects.push({ name, size: entry.Size ?? 0, ...(entry.LastModified ? { modified: entry.LastModified } : {}) });
        }
        continuationToken = page.IsTruncated === true ? page.NextContinuationToken : undefined;
        if (page.IsTruncated === true && continuationToken === undefined) {
          throw new Error('the service said the listing continues but gave no continuation token');
        }
      } while (continuationToken !== undefined);
    } catch (error) {
      throw this.failure(error, 'list', prefix);
    }
    return objects;
  }

  async delete(names: readonly string[]): Promise<void> {
    for (let start = 0; start < names.length; start += deleteBatchSize) {
      const batch = names.slice(start, start + deleteBatchSize);
      let errors: { Key?: string; Code?: string; Message?: string }[];
      try {
        const response = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((name) => ({ Key: this.key(name) })), Quiet: true },
          }),
        );
        errors = response.Errors ?? [];
      } catch (error) {
        throw this.failure(error, 'delete', batch[0] ?? '');
      }
      // S3 reports a missing key as deleted; a service that reports NoSuchKey means the same.
      const first = errors.find((entry) => entry.Code !== 'NoSuchKey');
      if (first !== undefined) {
        const object = first.Key === undefined ? (batch[0] ?? '') : first.Key.slice(this.keyPrefix.length);
        const cause = Object.assign(new Error(`${String(errors.length)} of ${String(batch.length)} objects not deleted, first: ${first.Code ?? 'unknown'} ${first.Message ?? ''}`.trim()), {
          name: first.Code ?? 'DeleteError',
        });
        throw this.failure(cause, 'delete', object);
      }
    }
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.client.destroy();
    }
    return Promise.resolve();
  }

  private key(name: string): string {
    return this.keyPrefix + name;
  }

  /** Turns anything the SDK or the network threw into a classified `DrcError`. */
  private failure(error: unknown, action: string, object: string): DrcError {
    if (error instanceof DrcError) return error;
    const shape = (typeof error === 'object' && error !== null ? error : {}) as ErrorShape;
    const errorName = nameOf(error) ?? 'Error';
    const code = typeof shape.code === 'string' ? shape.code : undefined;
    const status = statusOf(error);
    const detail = this.scrub(typeof shape.message === 'string' && shape.message !== '' ? shape.message : errorName);
    // The SDK error keeps the raw response (for a signature error: the key id and the
    // string to sign), so only a scrubbed copy of its message travels on as the cause.
    const cause = Object.assign(new Error(detail), { name: errorName, ...(code === undefined ? {} : { code }) });
    const prefix = `unable to ${action} '${object}' on repository '${this.name}'`;

    if (errorName === 'NoSuchBucket') {
      return new DrcError('STORAGE_IO', `${prefix}: bucket '${this.bucket}' does not exist`, {
        hints: ['check the bucket name, region and endpoint in the repository configuration, or create the bucket'],
        cause,
      });
    }
    if (status === 403 || status === 401 || permissionErrorNames.has(errorName)) {
      return new DrcError('STORAGE_PERMISSION', `${prefix}: access denied (${errorName})`, {
        hints: [
          'check the access key id and secret access key (or the role) configured for this repository, and that they are current',
          `the credentials need s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on bucket '${this.bucket}'`,
        ],
        cause,
      });
    }
    const transient =
      (status !== undefined && (status >= 500 || status === 429)) ||
      transientErrorNames.has(errorName) ||
      (code !== undefined && transientErrorCodes.has(code)) ||
      transientMessage.test(detail);
    if (transient) return transientStorageError(this.name, action, object, cause);
    return new DrcError('STORAGE_IO', `${prefix}: ${describeCause(cause)}`, {
      hints: ['check the repository configuration (bucket, endpoint, region) and the service status'],
      cause,
    });
  }

  private scrub(text: string): string {
    return scrubSecrets(text, this.credentials);
  }
}

function nameOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const shape = error as ErrorShape;
  if (typeof shape.name === 'string') return shape.name;
  return typeof shape.Code === 'string' ? shape.Code : undefined;
}

function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  return (error as ErrorShape).$metadata?.httpStatusCode;
}
