import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GcsTarget } from '../../src/main/storage/gcs.js';
import type { StorageTarget } from '../../src/main/storage/target.js';
import { withRetry } from '../../src/main/storage/wrappers/retry.js';
import { redact } from '../../src/main/secrets/redact.js';
import { DrcError } from '../../src/shared/errors.js';
import { crc32c, startGcsServer, type FaultAction, type GcsServer, type RequestMatch } from '../support/gcs-server.js';
import { storageConformanceSuite } from './suite.js';

storageConformanceSuite('gcs', async () => {
  const server = await startGcsServer({ bucket: 'drc-conformance' });
  return {
    target: new GcsTarget({ name: 'gcs', bucket: 'drc-conformance', prefix: 'backups/main', apiEndpoint: server.url }),
    cleanup: () => server.close(),
  };
});

const mib = 1024 * 1024;
/** Short, so that a body cut off mid-way (which the library never reports) fails within a second. */
const stallTimeoutMs = 1000;
const retryPolicy = { attempts: 5, baseDelayMs: 5, maxDelayMs: 20 };

async function rejectionOf(promise: Promise<unknown>): Promise<DrcError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof DrcError)) throw new Error(`expected a DrcError, got ${String(error)}`);
  return error;
}

describe('gcs driver against the test server', () => {
  const bucket = 'drc-faults';
  let server: GcsServer;
  let direct: GcsTarget;
  let target: StorageTarget;

  const media = (name: string): RequestMatch => ({ method: 'GET', pathIncludes: `/o/${name}?alt=media` });
  const simpleUpload = (name: string): RequestMatch => ({ method: 'POST', uploadType: 'multipart', pathIncludes: `name=${name}` });
  const fault = (match: RequestMatch, times: number, action: FaultAction, skip = 0): void => {
    server.faults.push({ match, times, action, skip });
  };
  const stored = (name: string): Buffer | undefined => server.objects(bucket).get(name)?.data;

  beforeAll(async () => {
    server = await startGcsServer({ bucket });
    direct = new GcsTarget({ name: 'gcs-faults', bucket, apiEndpoint: server.url }, { stallTimeoutMs });
    target = withRetry(direct, retryPolicy);
  });
  beforeEach(() => {
    server.requests.splice(0);
  });
  afterEach(() => {
    // Every scripted fault must have hit a request, or the test proved nothing.
    expect(server.faults).toEqual([]);
    server.faults.splice(0);
  });
  afterAll(async () => {
    await target.close();
    await server.close();
  });

  it('maps names under the prefix without doubled or leading slashes', async () => {
    const prefixed = new GcsTarget({ name: 'gcs-prefixed', bucket, prefix: '/nested/dir/', apiEndpoint: server.url });
    await prefixed.put('a/b', Buffer.from('under a prefix'));
    await direct.put('top-level', Buffer.from('no prefix'));
    expect(stored('nested/dir/a/b')?.toString()).toBe('under a prefix');
    expect(stored('top-level')?.toString()).toBe('no prefix');
    expect(await prefixed.list('a/')).toEqual([{ name: 'a/b', size: 14, modified: expect.any(Date) as unknown }]);
    expect(prefixed.describe()).toBe(`gs://${bucket}/nested/dir/ @ ${server.url}`);
  });

  it('uploads small bodies in one multipart request and large ones through a chunked resumable upload', async () => {
    await direct.put('paths/small', randomBytes(1000));
    await direct.put('paths/large', randomBytes(8 * mib + 1));
    expect(server.countRequests({ uploadType: 'multipart' })).toBe(1);
    expect(server.countRequests({ method: 'POST', uploadType: 'resumable' })).toBe(1);
    expect(server.countRequests({ method: 'PUT', uploadType: 'resumable' })).toBe(2);
  });

  it('follows list pages until the last one', async () => {
    const paged = await startGcsServer({ bucket, maxPageSize: 10 });
    try {
      const pagedTarget = new GcsTarget({ name: 'gcs-paged', bucket, apiEndpoint: paged.url });
      const names = Array.from({ length: 25 }, (_, i) => `pages/${String(i).padStart(2, '0')}`);
      await Promise.all(names.map((name) => pagedTarget.put(name, Buffer.from(name))));
      const listed = await pagedTarget.list('pages/');
      expect(listed.map((o) => o.name).sort()).toEqual(names);
      expect(paged.countRequests({ method: 'GET', pathIncludes: '/o?' })).toBe(3);

      // The server starts at the name (inclusive), so the tail takes one page and the name itself is dropped.
      paged.requests.splice(0);
      const tail = await pagedTarget.list('pages/', { startAfter: 'pages/19' });
      expect(tail.map((o) => o.name).sort()).toEqual(names.slice(20));
      expect(paged.countRequests({ method: 'GET', pathIncludes: 'startOffset=pages/19' })).toBe(1);
      expect(paged.countRequests({ method: 'GET', pathIncludes: '/o?' })).toBe(1);
    } finally {
      await paged.close();
    }
  });

  it.each([500, 503, 429])('retries an upload answered with %i until it succeeds', async (status) => {
    const name = `retry/upload-${String(status)}`;
    const body = randomBytes(50_000);
    fault(simpleUpload(name), 2, { status });
    await target.put(name, body);
    expect(server.countRequests(simpleUpload(name))).toBe(3);
    expect(stored(name)?.equals(body)).toBe(true);
  });

  it.each([500, 503, 429])('retries a download answered with %i until it succeeds', async (status) => {
    const name = `retry/download-${String(status)}`;
    const body = randomBytes(50_000);
    await direct.put(name, body);
    fault(media(name), 2, { status });
    expect((await target.get(name)).equals(body)).toBe(true);
    expect(server.countRequests(media(name))).toBe(3);
  });

  it('retries a download whose connection is reset mid-body', async () => {
    const body = randomBytes(200_000);
    await direct.put('retry/reset', body);
    fault(media('retry/reset'), 1, { resetAfterBytes: 20_000 });
    expect((await target.get('retry/reset')).equals(body)).toBe(true);
    fault(media('retry/reset'), 1, { resetAfterBytes: 1000 });
    expect((await target.get('retry/reset', { offset: 500, length: 50_000 })).equals(body.subarray(500, 50_500))).toBe(true);
    expect(server.countRequests(media('retry/reset'))).toBe(4);
  });

  it.each([
    ['whole object', undefined],
    ['byte range', { offset: 100, length: 30_000 }],
  ])('never returns a truncated body as data (%s)', async (_, range) => {
    const body = randomBytes(100_000);
    await direct.put('retry/truncated', body);
    const expected = range === undefined ? body : body.subarray(range.offset, range.offset + range.length);

    fault(media('retry/truncated'), 1, { truncateTo: 5000 });
    const error = await rejectionOf(direct.get('retry/truncated', range));
    expect(error.code).toBe('STORAGE_UNAVAILABLE');
    expect(error.retryable).toBe(true);

    fault(media('retry/truncated'), 1, { truncateTo: 5000 });
    expect((await target.get('retry/truncated', range)).equals(expected)).toBe(true);
    expect(server.countRequests(media('retry/truncated'))).toBe(3);
  });

  it.each([
    ['a simple upload', 1000, 0],
    ['the last chunk of a resumable upload', 8 * mib + 1, 1],
  ])('retries %s whose answer is cut short', async (_, size, skip) => {
    const name = `retry/answer-cut-${String(size)}`;
    const body = randomBytes(size);
    const match: RequestMatch = { method: skip === 0 ? 'POST' : 'PUT', pathIncludes: `name=${name}` };
    fault(match, 1, { truncateTo: 10 }, skip);
    await target.put(name, body);
    expect(stored(name)?.equals(body)).toBe(true);
    // Two attempts, each sending every request up to the one whose answer was cut.
    expect(server.countRequests(match)).toBe(2 * (skip + 1));
  });

  it('retries an object lookup whose answer is cut short', async () => {
    await direct.put('retry/head', Buffer.alloc(321));
    fault({ method: 'GET', pathIncludes: '/o/retry/head' }, 1, { truncateTo: 20 });
    expect(await target.head('retry/head')).toEqual({ name: 'retry/head', size: 321 });
    expect(server.countRequests({ method: 'GET', pathIncludes: '/o/retry/head' })).toBe(2);
  });

  it('waits for a slow answer instead of failing', async () => {
    const body = randomBytes(10_000);
    fault(simpleUpload('slow/object'), 1, { delayMs: 300 });
    fault(media('slow/object'), 1, { delayMs: 300 });
    const started = Date.now();
    await direct.put('slow/object', body);
    expect((await direct.get('slow/object')).equals(body)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(server.requests).toHaveLength(2);
  });

  it('gives up on a persistent 503 with a retryable STORAGE_UNAVAILABLE after every attempt', async () => {
    await direct.put('fail/unavailable', Buffer.from('x'));
    fault(media('fail/unavailable'), retryPolicy.attempts, { status: 503 });
    const error = await rejectionOf(target.get('fail/unavailable'));
    expect(error.code).toBe('STORAGE_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(server.countRequests(media('fail/unavailable'))).toBe(retryPolicy.attempts);
  });

  it.each([
    ['download', media('fail/denied'), (t: StorageTarget) => t.get('fail/denied')],
    ['upload', simpleUpload('fail/denied'), (t: StorageTarget) => t.put('fail/denied', Buffer.from('x'))],
    ['list', { method: 'GET', pathIncludes: '/o?' }, (t: StorageTarget) => t.list('fail/')],
  ])('reports a 403 on %s as STORAGE_PERMISSION without retrying', async (_, match, call) => {
    await direct.put('fail/denied', Buffer.from('x'));
    server.requests.splice(0);
    fault(match, 1, { status: 403 });
    const error = await rejectionOf(call(target));
    expect(error.code).toBe('STORAGE_PERMISSION');
    expect(error.retryable).toBe(false);
    expect(server.countRequests(match)).toBe(1);
  });

  it.each([
    ['a 503 answer', { status: 503 }],
    ['a connection cut while the chunk is sent', { dropRequestAfterBytes: 3 * mib }],
  ] as const)('restarts a resumable upload interrupted in a middle chunk by %s', async (_, action) => {
    const name = `retry/resumable-${'status' in action ? 'status' : 'drop'}`;
    const body = randomBytes(20 * mib + 5); // three 8 MiB chunks, the last one short
    const chunks: RequestMatch = { method: 'PUT', uploadType: 'resumable', pathIncludes: `name=${name}` };
    fault(chunks, 1, action, 1);
    await target.put(name, body);
    expect(stored(name)?.equals(body)).toBe(true);
    expect(server.countRequests({ method: 'POST', uploadType: 'resumable', pathIncludes: `name=${name}` })).toBe(2);
    expect(server.countRequests(chunks)).toBe(2 + 3);
  });

  it('reports a missing bucket as STORAGE_IO, not as a missing object', async () => {
    const lost = new GcsTarget({ name: 'gcs-lost', bucket: 'no-such-bucket', apiEndpoint: server.url });
    for (const call of [() => lost.get('x'), () => lost.head('x'), () => lost.delete(['x'])]) {
      const error = await rejectionOf(call());
      expect(error.code).toBe('STORAGE_IO');
      expect(error.message).toContain("bucket 'no-such-bucket' does not exist");
    }
  });

  describe('with service-account credentials', () => {
    const privateKey = [
      '-----BEGIN PRIVATE KEY-----',
      'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7FAKEFAKEFAKE',
      'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAABFwAAAAdz',
      '-----END PRIVATE KEY-----',
      '',
    ].join('\n');
    const credentials = {
      type: 'service_account',
      project_id: 'drc-test',
      private_key_id: '0123456789abcdef0123456789abcdef01234567',
      private_key: privateKey,
      client_email: 'drc-backup@drc-test.iam.gserviceaccount.com',
    };
    const leaks = (text: string): boolean =>
      text.includes(privateKey) || privateKey.split('\n').some((line) => line.length > 30 && text.includes(line)) || text.includes(credentials.private_key_id);
    let withKey: GcsTarget;

    beforeAll(() => {
      withKey = new GcsTarget({ name: 'gcs-keyed', bucket, apiEndpoint: server.url, projectId: 'drc-test', credentials }, { stallTimeoutMs });
    });

    it('sends no Authorization to a non-Google endpoint', async () => {
      await withKey.put('keyed/object', Buffer.from('k'));
      expect((await withKey.get('keyed/object')).toString()).toBe('k');
      expect(server.requests.length).toBeGreaterThan(0);
      expect(server.requests.every((request) => request.headers.authorization === undefined)).toBe(true);
    });

    it.each([
      ['a 403 on download', media('keyed/object'), { status: 403 }, (t: GcsTarget) => t.get('keyed/object'), 'STORAGE_PERMISSION'],
      ['a 500 on list', { method: 'GET', pathIncludes: '/o?' }, { status: 500 }, (t: GcsTarget) => t.list('keyed/'), 'STORAGE_UNAVAILABLE'],
      ['a 400 on upload', simpleUpload('keyed/object'), { status: 400 }, (t: GcsTarget) => t.put('keyed/object', Buffer.from('k')), 'STORAGE_IO'],
    ] as const)('keeps the private key out of the error for %s that echoes it', async (_, match, status, call, code) => {
      await withKey.put('keyed/object', Buffer.from('k'));
      fault(match, 1, { ...status, message: `request signed with ${JSON.stringify(credentials)} refused` });
      const error = await rejectionOf(call(withKey));
      expect(error.code).toBe(code);
      expect(error.message).toContain('refused');
      expect(error.message).toContain(credentials.client_email);
      expect(leaks(error.message)).toBe(false);
      expect(leaks(String(error.cause))).toBe(false);
      expect(leaks(JSON.stringify(error.toData()))).toBe(false);
    });

    it('describes itself without credentials and registers the parsed key for redaction', () => {
      expect(leaks(withKey.describe())).toBe(false);
      expect(redact(`oops: ${privateKey}`)).not.toContain('PRIVATE KEY-----\nMII');
      expect(leaks(redact(`oops: ${privateKey}`))).toBe(false);
    });
  });
});

describe('GCS test server, beyond what the client library sends', () => {
  let server: GcsServer;
  beforeAll(async () => {
    server = await startGcsServer({ bucket: 'raw' });
  });
  afterAll(async () => {
    await server.close();
  });

  it('accepts a simple media upload and serves it on the /download path with ranges', async () => {
    const upload = await fetch(`${server.url}/upload/storage/v1/b/raw/o?uploadType=media&name=${encodeURIComponent('dir/file')}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello media upload',
    });
    expect(upload.status).toBe(200);
    const metadata = (await upload.json()) as Record<string, string>;
    expect(metadata).toMatchObject({ name: 'dir/file', bucket: 'raw', size: '18', contentType: 'text/plain', crc32c: crc32c(Buffer.from('hello media upload')) });

    const ranged = await fetch(`${server.url}/download/storage/v1/b/raw/o/${encodeURIComponent('dir/file')}?alt=media`, { headers: { range: 'bytes=6-10' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe('bytes 6-10/18');
    expect(ranged.headers.get('content-length')).toBe('5');
    expect(await ranged.text()).toBe('media');
  });

  it('answers a resumable status query with the bytes received so far', async () => {
    const start = await fetch(`${server.url}/upload/storage/v1/b/raw/o?uploadType=resumable&name=resumed`, { method: 'POST', body: '{}' });
    const session = start.headers.get('location') ?? '';
    expect(session).toContain('upload_id=');
    const first = await fetch(session, { method: 'PUT', headers: { 'content-range': 'bytes 0-3/*' }, body: 'abcd' });
    expect(first.status).toBe(308);
    const status = await fetch(session, { method: 'PUT', headers: { 'content-range': 'bytes */*' } });
    expect(status.status).toBe(308);
    expect(status.headers.get('range')).toBe('bytes=0-3');
    const last = await fetch(session, { method: 'PUT', headers: { 'content-range': 'bytes 4-5/6' }, body: 'ef' });
    expect(last.status).toBe(200);
    expect(server.objects('raw').get('resumed')?.data.toString()).toBe('abcdef');
  });

  it('computes CRC32C like GCS', () => {
    // The check value of CRC-32C for "123456789" is 0xE3069283.
    expect(Buffer.from(crc32c(Buffer.from('123456789')), 'base64').toString('hex')).toBe('e3069283');
  });
});
