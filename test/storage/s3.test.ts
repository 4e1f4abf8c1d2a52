import { randomBytes } from 'node:crypto';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { S3Target, type S3TargetConfig } from '../../src/main/storage/s3.js';
import type { StorageTarget } from '../../src/main/storage/target.js';
import { withRetry } from '../../src/main/storage/wrappers/retry.js';
import { DrcError } from '../../src/shared/errors.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';
import { storageConformanceSuite } from './suite.js';

storageConformanceSuite('s3', async () => {
  const server = await startS3Server();
  await server.bucket('conformance');
  const target = new S3Target({
    name: 's3',
    bucket: 'conformance',
    prefix: 'repo/main',
    endpoint: server.endpoint,
    forcePathStyle: true,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
  });
  return { target, cleanup: () => server.close() };
});

const fastRetry = { attempts: 5, baseDelayMs: 5, maxDelayMs: 20 };
const mib = 1024 * 1024;

async function failureOf(promise: Promise<unknown>): Promise<DrcError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof DrcError)) throw new Error(`expected a DrcError, got ${String(error)}`);
  return error;
}

describe('S3Target against s3rver', () => {
  let server: S3Server;
  let raw: S3Client;
  const targets: StorageTarget[] = [];
  const target = (overrides: Partial<S3TargetConfig> = {}): S3Target => {
    const created = new S3Target({
      name: 'offsite',
      bucket: 'layout',
      prefix: '/backups/db1/',
      endpoint: server.endpoint,
      forcePathStyle: true,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      ...overrides,
    });
    targets.push(created);
    return created;
  };

  beforeAll(async () => {
    server = await startS3Server();
    await server.bucket('layout');
    raw = new S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
  });
  afterEach(async () => {
    await Promise.all(targets.splice(0).map((t) => t.close()));
  });
  afterAll(async () => {
    raw.destroy();
    await server.close();
  });

  it('keeps objects under <prefix>/<name> and lists only its own prefix', async () => {
    const repo = target();
    await repo.put('chunks/ab/abc', Buffer.from('chunk'));
    await target({ prefix: 'backups/other' }).put('chunks/ab/abd', Buffer.from('other repository'));

    const stored = await raw.send(new GetObjectCommand({ Bucket: 'layout', Key: 'backups/db1/chunks/ab/abc' }));
    expect(await stored.Body?.transformToString()).toBe('chunk');
    expect(await repo.list('')).toEqual([{ name: 'chunks/ab/abc', size: 5, modified: expect.any(Date) as unknown }]);
  });

  it('describes itself as bucket, prefix and endpoint, without credentials', () => {
    const description = target().describe();
    expect(description).toBe(`s3://layout/backups/db1/ @ ${server.endpoint}`);
    expect(description).not.toContain(server.secretAccessKey);
  });

  it('declares a cloud medium with atomic puts, offsite unless configured otherwise', () => {
    expect(target().capabilities).toEqual({ media: 'cloud', offsite: true, atomicPut: true, needsFsync: false });
    expect(target({ offsite: false }).capabilities.offsite).toBe(false);
  });

  it('reads a range that runs past the end as the bytes that exist', async () => {
    const repo = target();
    await repo.put('tail', Buffer.from('0123456789'));
    expect((await repo.get('tail', { offset: 6, length: 100 })).toString()).toBe('6789');
    expect((await repo.get('tail', { offset: 3, length: 0 })).length).toBe(0);
  });

  it('reports a missing bucket as a permanent STORAGE_IO error that names the bucket', async () => {
    const repo = target({ bucket: 'no-such-bucket' });
    const error = await failureOf(repo.put('x', Buffer.from('x')));
    expect(error.code).toBe('STORAGE_IO');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("bucket 'no-such-bucket' does not exist");
    expect(error.hints.join(' ')).toMatch(/bucket name/);
  });

  it('reports an unknown access key as STORAGE_PERMISSION without repeating the key', async () => {
    const accessKeyId = 'AKIAUNKNOWNKEY000001';
    const repo = target({ accessKeyId, secretAccessKey: 'unknown-secret-value' });
    const error = await failureOf(repo.get('anything'));
    expect(error.code).toBe('STORAGE_PERMISSION');
    expect(error.retryable).toBe(false);
    expect(error.hints.join(' ')).toMatch(/access key/);
    const everything = JSON.stringify(error.toData()) + String((error.cause as Error).message);
    expect(everything).not.toContain(accessKeyId);
    expect(everything).not.toContain('unknown-secret-value');
  });

  it('refuses an access key id without its secret', () => {
    expect(() => target({ secretAccessKey: undefined })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }) as Error);
  });
});

describe('S3Target through a fault proxy', () => {
  let server: S3Server;
  let proxy: FaultProxy;
  const targets: StorageTarget[] = [];
  const direct = (overrides: Partial<S3TargetConfig> = {}): S3Target => {
    const created = new S3Target({
      name: 'offsite',
      bucket: 'faults',
      prefix: 'repo',
      endpoint: proxy.url,
      forcePathStyle: true,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      ...overrides,
    });
    targets.push(created);
    return created;
  };
  const retrying = (overrides: Partial<S3TargetConfig> = {}): StorageTarget => withRetry(direct(overrides), fastRetry);

  beforeAll(async () => {
    server = await startS3Server();
    await server.bucket('faults');
    proxy = await startFaultProxy(server.endpoint);
  });
  beforeEach(() => {
    proxy.rules.length = 0;
    proxy.requests.length = 0;
  });
  afterEach(async () => {
    await Promise.all(targets.splice(0).map((t) => t.close()));
  });
  afterAll(async () => {
    await proxy.close();
    await server.close();
  });

  /** Puts through the proxy with no faults scripted, then forgets those requests. */
  const seed = async (name: string, body: Buffer): Promise<void> => {
    await direct().put(name, body);
    proxy.requests.length = 0;
  };

  for (const status of [500, 503]) {
    it(`retries a PUT answered with ${String(status)} and stores the body`, async () => {
      const body = randomBytes(50_000);
      proxy.rules.push({ match: { method: 'PUT', pathIncludes: '/faults/repo/' }, times: 1, action: { status } });
      await retrying().put(`put-${String(status)}`, body);
      expect(proxy.count('PUT')).toBe(2);
      expect((await direct().get(`put-${String(status)}`)).equals(body)).toBe(true);
    });

    it(`retries a GET answered with ${String(status)} and returns the body`, async () => {
      const body = randomBytes(50_000);
      await seed(`get-${String(status)}`, body);
      proxy.rules.push({ match: { method: 'GET', pathIncludes: `get-${String(status)}` }, times: 1, action: { status } });
      expect((await retrying().get(`get-${String(status)}`)).equals(body)).toBe(true);
      expect(proxy.count('GET')).toBe(2);
    });
  }

  it('turns a connection reset mid-body into a retryable error, and the retry reads everything', async () => {
    const body = randomBytes(256 * 1024);
    await seed('reset', body);
    proxy.rules.push({ match: { method: 'GET', pathIncludes: 'reset' }, times: 1, action: { resetAfterBytes: 10_000 } });
    const error = await failureOf(direct().get('reset'));
    expect(error.code).toBe('STORAGE_UNAVAILABLE');
    expect(error.retryable).toBe(true);

    proxy.rules.push({ match: { method: 'GET', pathIncludes: 'reset' }, times: 1, action: { resetAfterBytes: 10_000 } });
    expect((await retrying().get('reset')).equals(body)).toBe(true);
    expect(proxy.count('GET')).toBe(3);
  });

  it('never returns a truncated body as data', async () => {
    const body = randomBytes(256 * 1024);
    await seed('truncated', body);
    proxy.rules.push({ match: { method: 'GET', pathIncludes: 'truncated' }, times: 1, action: { truncateTo: 1000 } });
    const error = await failureOf(direct().get('truncated'));
    expect(error.code).toBe('STORAGE_UNAVAILABLE');
    expect(error.retryable).toBe(true);

    proxy.rules.push({ match: { method: 'GET', pathIncludes: 'truncated' }, times: 1, action: { truncateTo: 1000 } });
    expect((await retrying().get('truncated')).equals(body)).toBe(true);
    expect(proxy.count('GET')).toBe(3);
  });

  it('never returns a truncated range as data', async () => {
    const body = randomBytes(64 * 1024);
    await seed('truncated-range', body);
    proxy.rules.push({ match: { method: 'GET', pathIncludes: 'truncated-range' }, times: 1, action: { truncateTo: 100 } });
    const error = await failureOf(direct().get('truncated-range', { offset: 1000, length: 5000 }));
    expect(error.retryable).toBe(true);
    proxy.rules.push({ match: { method: 'GET', pathIncludes: 'truncated-range' }, times: 1, action: { truncateTo: 100 } });
    expect((await retrying().get('truncated-range', { offset: 1000, length: 5000 })).equals(body.subarray(1000, 6000))).toBe(true);
  });

  it('rejects a ranged answer that covers other bytes than asked, even when its length is consistent', async () => {
    await seed('ranged', randomBytes(1000));
    proxy.rules.push({
      match: { method: 'GET', pathIncludes: 'ranged' },
      times: 1,
      action: { status: 206, body: 'short', headers: { 'content-range': 'bytes 0-99/1000' } },
    });
    const short = await failureOf(direct().get('ranged', { offset: 0, length: 100 }));
    expect(short.code).toBe('STORAGE_UNAVAILABLE');
    expect(short.message).toMatch(/asked for 100 bytes at 0, received 5/);

    // A server that ignores Range answers 200 with the whole object.
    proxy.rules.push({ match: { method: 'GET', pathIncludes: 'ranged' }, times: 1, action: { status: 200, body: 'x'.repeat(1000) } });
    const ignored = await failureOf(direct().get('ranged', { offset: 0, length: 100 }));
    expect(ignored.code).toBe('STORAGE_UNAVAILABLE');
    expect(ignored.message).toMatch(/ignored the byte range/);
  });

  it('waits for a slow answer', async () => {
    const body = randomBytes(10_000);
    await seed('slow', body);
    proxy.rules.push({ match: { method: 'GET', pathIncludes: 'slow' }, times: 1, action: { delayMs: 300 } });
    const started = Date.now();
    expect((await direct().get('slow')).equals(body)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(proxy.count('GET')).toBe(1);
  });

  it('gives up on a persistent 503 after the configured attempts with a retryable STORAGE_UNAVAILABLE', async () => {
    await seed('down', Buffer.from('unreachable'));
    proxy.rules.push({ match: { method: 'GET' }, times: 100, action: { status: 503 } });
    const error = await failureOf(retrying().get('down'));
    expect(error.code).toBe('STORAGE_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain("'down'");
    expect(proxy.count('GET')).toBe(fastRetry.attempts);
  });

  it('fails a wrong secret key at once with STORAGE_PERMISSION and never shows the secret', async () => {
    // s3rver does not check V4 signatures, so the proxy gives S3's answer to a bad one,
    // including the key id and string to sign that real S3 echoes back.
    const secret = 'wrong-secret-Zq8PkW2mTx';
    proxy.rules.push({
      match: { method: 'PUT' },
      times: 100,
      action: {
        status: 403,
        headers: { 'content-type': 'application/xml' },
        body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message><AWSAccessKeyId>${server.accessKeyId}</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256 ${secret}</StringToSign></Error>`,
      },
    });
    const error = await failureOf(retrying({ secretAccessKey: secret }).put('denied', Buffer.from('x')));
    expect(error.code).toBe('STORAGE_PERMISSION');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('SignatureDoesNotMatch');
    expect(error.hints.join(' ')).toMatch(/secret access key/);
    expect(proxy.requests).toHaveLength(1);
    const everything = JSON.stringify(error.toData()) + String((error.cause as Error).message) + String((error.cause as Error).name);
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(server.accessKeyId);
  });

  it('retries a multipart upload whose middle part failed, after aborting the broken upload', async () => {
    const body = randomBytes(20 * mib + 5);
    proxy.rules.push({ match: { method: 'PUT', queryIncludes: 'partNumber=2' }, times: 1, action: { status: 500 } });
    await retrying().put('multipart', body);

    expect(proxy.count('POST', '?uploads')).toBe(2);
    // The abort is sent; s3rver itself answers it with 405, as it does not implement it.
    expect(proxy.requests.filter((r) => r.method === 'DELETE' && r.path.includes('uploadId='))).toHaveLength(1);
    expect(proxy.requests.filter((r) => r.method === 'PUT' && r.path.includes('partNumber=2'))).toHaveLength(2);
    const back = await direct().get('multipart');
    expect(back.length).toBe(body.length);
    expect(back.equals(body)).toBe(true);
  });

  it('deletes in batches of 1000 keys', async () => {
    const names = Array.from({ length: 1005 }, (_, i) => `batch/${String(i).padStart(4, '0')}`);
    const repo = direct();
    for (let i = 0; i < names.length; i += 100) {
      await Promise.all(names.slice(i, i + 100).map((name) => repo.put(name, Buffer.from(name))));
    }
    // s3rver deletes a batch's keys concurrently and removes directories that become
    // empty, racing itself (ENOENT → InternalError); a kept object keeps the directory.
    await repo.put('batch/keep', Buffer.from('kept'));
    proxy.requests.length = 0;
    await repo.delete([...names, 'batch/never-written']);
    expect(proxy.count('POST', '?delete')).toBe(2);
    expect(await repo.list('batch/')).toEqual([{ name: 'batch/keep', size: 4, modified: expect.any(Date) as unknown }]);
  });

  it('fails a delete whose answer lists keys it could not delete', async () => {
    proxy.rules.push({
      match: { method: 'POST', queryIncludes: 'delete' },
      times: 1,
      action: {
        status: 200,
        headers: { 'content-type': 'application/xml' },
        body: '<?xml version="1.0" encoding="UTF-8"?><DeleteResult><Error><Key>repo/locked/a</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>',
      },
    });
    const error = await failureOf(direct().delete(['locked/a', 'locked/b']));
    expect(error.code).toBe('STORAGE_PERMISSION');
    expect(error.message).toContain("'locked/a'");
  });

  it('lists across pages through the proxy with names relative to the prefix', async () => {
    const repo = direct();
    const names = Array.from({ length: 1003 }, (_, i) => `pages/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 100) {
      await Promise.all(names.slice(i, i + 100).map((name) => repo.put(name, Buffer.from('x'))));
    }
    proxy.requests.length = 0;
    const listed = await repo.list('pages/');
    expect(listed.map((o) => o.name).sort()).toEqual(names);
    expect(proxy.count('GET', 'list-type=2')).toBe(2);

    // The service skips to the tail itself, so it takes one request; the key prefix is the driver's to add.
    proxy.requests.length = 0;
    const tail = await repo.list('pages/', { startAfter: 'pages/0995' });
    expect(tail.map((o) => o.name).sort()).toEqual(names.slice(996));
    expect(proxy.count('GET', 'list-type=2')).toBe(1);
    expect(proxy.count('GET', 'start-after=repo%2Fpages%2F0995')).toBe(1);
  });
});

describe('S3Target error messages', () => {
  it('never contain the configured credentials, even when the service echoes them', async () => {
    const proxy = await startFaultProxy('http://127.0.0.1:9');
    const accessKeyId = 'AKIAECHOEDKEY0000001';
    const secretAccessKey = 'echoed-secret-9hF2kLq';
    proxy.rules.push({
      match: {},
      times: 1,
      action: { status: 400, headers: { 'content-type': 'application/xml' }, body: `<Error><Code>InvalidArgument</Code><Message>bad value ${accessKeyId} ${secretAccessKey}</Message></Error>` },
    });
    const target = new S3Target({ name: 'echo', bucket: 'b', endpoint: proxy.url, forcePathStyle: true, accessKeyId, secretAccessKey });
    try {
      const error = await failureOf(target.get('x'));
      expect(error.code).toBe('STORAGE_IO');
      expect(error.message).toContain('bad value ***');
      const everything = JSON.stringify(error.toData()) + String((error.cause as Error).message);
      expect(everything).not.toContain(accessKeyId);
      expect(everything).not.toContain(secretAccessKey);
    } finally {
      await target.close();
      await proxy.close();
    }
  });

  it('classifies a refused connection as retryable', async () => {
    const proxy = await startFaultProxy('http://127.0.0.1:9');
    const port = new URL(proxy.url).port;
    await proxy.close();
    const target = new S3Target({ name: 'gone', bucket: 'b', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, accessKeyId: 'k', secretAccessKey: 's' });
    try {
      const error = await failureOf(target.head('x'));
      expect(error.code).toBe('STORAGE_UNAVAILABLE');
      expect(error.retryable).toBe(true);
    } finally {
      await target.close();
    }
  });
});
