import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * An in-process stand-in for the Google Cloud Storage JSON API, close enough that the
 * real `@google-cloud/storage` client works against it with
 * `apiEndpoint: server.url`. It serves what that client sends (checked by logging its
 * requests): simple, multipart and resumable uploads, metadata, media downloads with
 * ranges, paginated listing, delete and bucket metadata. Objects live in memory.
 *
 * Faults are scripted per request through `faults`, and every request is recorded in
 * `requests`, so tests can make the server fail in a chosen way and then check that
 * the client really retried.
 */

export interface StoredObject {
  readonly data: Buffer;
  readonly contentType: string;
  readonly generation: string;
  readonly updated: string;
}

export interface RequestMatch {
  readonly method?: string;
  /** Substring of the decoded request URL, path and query, so an upload can be matched by its `name=`. */
  readonly pathIncludes?: string;
  /** The `uploadType` query parameter; resumable session PUTs carry `resumable`. */
  readonly uploadType?: 'media' | 'multipart' | 'resumable';
}

export type FaultAction =
  /** Answer with this status and a GCS-style JSON error instead of serving the request. */
  | { readonly status: number; readonly message?: string }
  /** Send the headers with the full Content-Length, then reset the connection after n body bytes. */
  | { readonly resetAfterBytes: number }
  /** Send only n body bytes under the full Content-Length, then close the connection cleanly. */
  | { readonly truncateTo: number }
  /** Reset the connection once n bytes of the request body have arrived (an upload cut off mid-way). */
  | { readonly dropRequestAfterBytes: number }
  /** Serve the request normally, but only after this delay. */
  | { readonly delayMs: number };

export interface Fault {
  readonly match: RequestMatch;
  /** Matching requests to let through untouched before the fault starts (e.g. to hit the second chunk). */
  skip?: number;
  /** How many matching requests get the fault; the fault is removed from the list when used up. */
  times: number;
  readonly action: FaultAction;
}

export interface RecordedRequest {
  readonly method: string;
  /** Decoded path and query. */
  readonly url: string;
  readonly uploadType: string | undefined;
  readonly headers: IncomingMessage['headers'];
  readonly fault: FaultAction | undefined;
}

export interface GcsServerOptions {
  /** A bucket to create at start, reported back as `bucketName`. */
  readonly bucket?: string;
  /** Largest page a list answers with, like the real service's 1000. */
  readonly maxPageSize?: number;
}

export interface GcsServer {
  readonly url: string;
  readonly port: number;
  readonly bucketName: string | undefined;
  createBucket(name: string): void;
  /** The live object map of a bucket (throws for an unknown bucket). */
  objects(bucket: string): Map<string, StoredObject>;
  /** Scripted faults, consumed in order of the first match. */
  readonly faults: Fault[];
  /** Every request received, in arrival order. */
  readonly requests: RecordedRequest[];
  countRequests(match?: RequestMatch): number;
  close(): Promise<void>;
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

interface UploadSession {
  readonly bucket: string;
  readonly name: string;
  readonly contentType: string;
  readonly parts: Buffer[];
  received: number;
  finished?: StoredObject;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const reasons: Record<number, string> = {
  400: 'invalid',
  401: 'required',
  403: 'forbidden',
  404: 'notFound',
  408: 'requestTimeout',
  429: 'rateLimitExceeded',
  500: 'backendError',
  503: 'backendError',
};

export async function startGcsServer(options: GcsServerOptions = {}): Promise<GcsServer> {
  const maxPageSize = options.maxPageSize ?? 1000;
  const buckets = new Map<string, Map<string, StoredObject>>();
  const sessions = new Map<string, UploadSession>();
  const faults: Fault[] = [];
  const requests: RecordedRequest[] = [];
  let generationCounter = Date.now() * 1000;
  let baseUrl = '';

  const bucketObjects = (bucket: string): Map<string, StoredObject> => {
    const objects = buckets.get(bucket);
    if (!objects) throw new HttpError(404, 'The specified bucket does not exist.');
    return objects;
  };

  const store = (bucket: string, name: string, data: Buffer, contentType: string): StoredObject => {
    if (name === '') throw new HttpError(400, 'Required parameter: name');
    const stored: StoredObject = {
      data,
      contentType,
      generation: String(++generationCounter),
      updated: new Date().toISOString(),
    };
    bucketObjects(bucket).set(name, stored);
    return stored;
  };

  const resource = (bucket: string, name: string, object: StoredObject): Record<string, string> => ({
    kind: 'storage#object',
    id: `${bucket}/${name}/${object.generation}`,
    selfLink: `${baseUrl}/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}`,
    mediaLink: `${baseUrl}/download/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}?generation=${object.generation}&alt=media`,
    name,
    bucket,
    generation: object.generation,
    metageneration: '1',
    contentType: object.contentType,
    storageClass: 'STANDARD',
    size: String(object.data.length),
    md5Hash: md5(object.data),
    crc32c: crc32c(object.data),
    etag: `C${object.generation}`,
    timeCreated: object.updated,
    updated: object.updated,
  });

  const handle = (req: IncomingMessage, url: URL, body: Buffer): Reply => {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const query = url.searchParams;

    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (upload) {
      const bucket = decodeURIComponent(upload[1] ?? '');
      bucketObjects(bucket);
      const uploadType = query.get('uploadType');
      if (method === 'POST' && uploadType === 'media') {
        const name = query.get('name') ?? '';
        return json(200, resource(bucket, name, store(bucket, name, body, header(req, 'content-type') ?? 'application/octet-stream')));
      }
      if (method === 'POST' && uploadType === 'multipart') {
        const { metadata, media, mediaType } = parseMultipart(req, body);
        const name = query.get('name') ?? (typeof metadata['name'] === 'string' ? metadata['name'] : '');
        checkHashes(req, media);
        return json(200, resource(bucket, name, store(bucket, name, media, mediaType)));
      }
      if (method === 'POST' && uploadType === 'resumable') {
        const metadata = body.length > 0 ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
        const name = query.get('name') ?? (typeof metadata['name'] === 'string' ? metadata['name'] : '');
        const id = randomUUID();
        sessions.set(id, {
          bucket,
          name,
          contentType: header(req, 'x-upload-content-type') ?? 'application/octet-stream',
          parts: [],
          received: 0,
        });
        const location = `${baseUrl}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
        return { status: 200, headers: { location }, body: Buffer.alloc(0) };
      }
      if (method === 'PUT' && uploadType === 'resumable') {
        const session = sessions.get(query.get('upload_id') ?? '');
        if (!session) throw new HttpError(404, 'No such upload session.');
        return continueUpload(req, session, body);
      }
      throw new HttpError(400, `unsupported upload: ${method} uploadType=${String(uploadType)}`);
    }

    const object = /^(?:\/download)?\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path);
    if (object) {
      const bucket = decodeURIComponent(object[1] ?? '');
      const name = decodeURIComponent(object[2] ?? '');
      const objects = bucketObjects(bucket);
      const stored = objects.get(name);
      if (!stored) throw new HttpError(404, `No such object: ${bucket}/${name}`);
      if (method === 'DELETE') {
        objects.delete(name);
        return { status: 204, headers: {}, body: Buffer.alloc(0) };
      }
      if (method === 'GET' && query.get('alt') === 'media') return media(req, stored);
      if (method === 'GET') return json(200, resource(bucket, name, stored));
      throw new HttpError(405, `unsupported method ${method}`);
    }

    const list = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (list && method === 'GET') {
      const bucket = decodeURIComponent(list[1] ?? '');
      const prefix = query.get('prefix') ?? '';
      const pageSize = Math.min(Number(query.get('maxResults') ?? maxPageSize) || maxPageSize, maxPageSize);
      const after = query.get('pageToken') === null ? undefined : Buffer.from(query.get('pageToken') ?? '', 'base64url').toString('utf8');
      // Like GCS, `startOffset` is an inclusive lower bound on the object name.
      const from = query.get('startOffset') ?? undefined;
      const objects = bucketObjects(bucket);
      const names = [...objects.keys()]
        .filter((name) => name.startsWith(prefix) && (after === undefined || name > after) && (from === undefined || name >= from))
        .sort();
      const page = names.slice(0, pageSize);
      const items = page.map((name) => resource(bucket, name, objects.get(name) as StoredObject));
      const last = page[page.length - 1];
      const more = names.length > page.length && last !== undefined;
      return json(200, {
        kind: 'storage#objects',
        items,
        ...(more ? { nextPageToken: Buffer.from(last, 'utf8').toString('base64url') } : {}),
      });
    }

    const bucketPath = /^\/storage\/v1\/b\/([^/]+)$/.exec(path);
    if (bucketPath && method === 'GET') {
      const bucket = decodeURIComponent(bucketPath[1] ?? '');
      bucketObjects(bucket);
      return json(200, { kind: 'storage#bucket', id: bucket, name: bucket, location: 'US', storageClass: 'STANDARD' });
    }

    throw new HttpError(404, `unknown path ${method} ${path}`);
  };

  // One PUT of a resumable session, by its Content-Range:
  //   bytes a-b/total  a chunk; the upload completes when it reaches total
  //   bytes a-b/*      a chunk, more follow
  //   bytes a-*/total  the whole rest in this request (what the client sends without a
  //   bytes a-*/*      chunk size); absent, the header means the same
  //   bytes */total    a status query: how much has arrived
  //   bytes */*
  const continueUpload = (req: IncomingMessage, session: UploadSession, body: Buffer): Reply => {
    if (session.finished) return json(200, resource(session.bucket, session.name, session.finished));
    const range = header(req, 'content-range') ?? `bytes ${String(session.received)}-*/*`;
    const parsed = /^bytes (?:(\d+)-(\d+|\*)|\*)\/(\d+|\*)$/.exec(range);
    if (!parsed) throw new HttpError(400, `malformed Content-Range: ${range}`);
    const [, startText, endText, totalText] = parsed;
    const total = totalText === '*' || totalText === undefined ? undefined : Number(totalText);
    if (startText !== undefined) {
      const start = Number(startText);
      if (start > session.received) {
        throw new HttpError(400, `upload offset ${startText} is past the ${String(session.received)} bytes received`);
      }
      // A client resending bytes the server already has (after a lost response) is fine: keep only the new ones.
      const fresh = body.subarray(Math.min(session.received - start, body.length));
      session.parts.push(fresh);
      session.received += fresh.length;
    }
    const complete = total !== undefined ? session.received >= total : startText !== undefined && endText === '*';
    if (!complete) {
      const headers: Record<string, string> = {};
      if (session.received > 0) headers['range'] = `bytes=0-${String(session.received - 1)}`;
      return { status: 308, headers, body: Buffer.alloc(0) };
    }
    const data = Buffer.concat(session.parts);
    if (total !== undefined && data.length !== total) throw new HttpError(400, `received ${String(data.length)} bytes, announced ${String(total)}`);
    checkHashes(req, data);
    session.finished = store(session.bucket, session.name, data, session.contentType);
    return json(200, resource(session.bucket, session.name, session.finished));
  };

  const takeFault = (request: { method: string; url: string; uploadType: string | undefined }): FaultAction | undefined => {
    for (const [index, fault] of faults.entries()) {
      if (!matches(fault.match, request)) continue;
      if (fault.skip !== undefined && fault.skip > 0) {
        fault.skip--;
        continue;
      }
      fault.times--;
      if (fault.times <= 0) faults.splice(index, 1);
      return fault.action;
    }
    return undefined;
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const decodedUrl = safeDecode(url.pathname + url.search);
    const uploadType = url.searchParams.get('uploadType') ?? undefined;
    const fault = takeFault({ method, url: decodedUrl, uploadType });
    requests.push({ method, url: decodedUrl, uploadType, headers: req.headers, fault });

    const chunks: Buffer[] = [];
    let bodyLength = 0;
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      bodyLength += chunk.length;
      if (fault && 'dropRequestAfterBytes' in fault && bodyLength >= fault.dropRequestAfterBytes) req.socket.resetAndDestroy();
    });
    req.on('end', () => {
      void (async () => {
        if (fault && 'delayMs' in fault) await sleep(fault.delayMs);
        let reply: Reply;
        if (fault && 'status' in fault) {
          reply = errorReply(fault.status, fault.message ?? `injected fault ${String(fault.status)}`);
        } else {
          try {
            reply = handle(req, url, Buffer.concat(chunks));
          } catch (error) {
            reply = error instanceof HttpError ? errorReply(error.status, error.message) : errorReply(500, String(error));
          }
        }
        send(res, reply, fault);
      })();
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://127.0.0.1:${String(port)}`;
  if (options.bucket !== undefined) buckets.set(options.bucket, new Map());

  return {
    url: baseUrl,
    port,
    bucketName: options.bucket,
    createBucket(name) {
      if (!buckets.has(name)) buckets.set(name, new Map());
    },
    objects(bucket) {
      const objects = buckets.get(bucket);
      if (!objects) throw new Error(`no bucket '${bucket}' on the test server`);
      return objects;
    },
    faults,
    requests,
    countRequests(match = {}) {
      return requests.filter((request) => matches(match, request)).length;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

function matches(match: RequestMatch, request: { method: string; url: string; uploadType: string | undefined }): boolean {
  return (
    (match.method === undefined || match.method === request.method) &&
    (match.pathIncludes === undefined || request.url.includes(match.pathIncludes)) &&
    (match.uploadType === undefined || match.uploadType === request.uploadType)
  );
}

function send(res: ServerResponse, reply: Reply, fault: FaultAction | undefined): void {
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(reply.body.length) });
  const socket = res.socket as Socket;
  if (fault && 'resetAfterBytes' in fault) {
    // Wait for the partial body to be handed to the kernel, so the client really sees a body cut mid-way.
    res.write(reply.body.subarray(0, fault.resetAfterBytes), () => socket.resetAndDestroy());
    return;
  }
  if (fault && 'truncateTo' in fault) {
    res.write(reply.body.subarray(0, fault.truncateTo), () => socket.end());
    return;
  }
  res.end(reply.body);
}

/** Media with the headers the client reads: it checks `x-goog-hash` only when the stored encoding is identity. */
function media(req: IncomingMessage, stored: StoredObject): Reply {
  const size = stored.data.length;
  const headers: Record<string, string> = {
    'content-type': stored.contentType,
    'x-goog-generation': stored.generation,
    'x-goog-stored-content-encoding': 'identity',
    'x-goog-stored-content-length': String(size),
    'x-goog-hash': `crc32c=${crc32c(stored.data)},md5=${md5(stored.data)}`,
    'accept-ranges': 'bytes',
  };
  const range = header(req, 'range');
  if (range === undefined) return { status: 200, headers, body: stored.data };
  const parsed = /^bytes=(\d*)-(\d*)$/.exec(range);
  if (!parsed) throw new HttpError(400, `malformed Range: ${range}`);
  const [, startText = '', endText = ''] = parsed;
  let start: number;
  let end: number;
  if (startText === '') {
    start = Math.max(0, size - Number(endText));
    end = size - 1;
  } else {
    start = Number(startText);
    end = endText === '' ? size - 1 : Math.min(Number(endText), size - 1);
  }
  if (start >= size || end < start) {
    return { status: 416, headers: { 'content-range': `bytes */${String(size)}` }, body: Buffer.alloc(0) };
  }
  return {
    status: 206,
    headers: { ...headers, 'content-range': `bytes ${String(start)}-${String(end)}/${String(size)}` },
    body: stored.data.subarray(start, end + 1),
  };
}

/** A `multipart/related` body: a JSON metadata part, then the media part. */
function parseMultipart(req: IncomingMessage, body: Buffer): { metadata: Record<string, unknown>; media: Buffer; mediaType: string } {
  const boundary = /boundary="?([^";]+)"?/.exec(header(req, 'content-type') ?? '')?.[1];
  if (boundary === undefined) throw new HttpError(400, 'multipart upload without a boundary');
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: { headers: string; content: Buffer }[] = [];
  let position = body.indexOf(delimiter);
  while (position !== -1) {
    const partStart = position + delimiter.length;
    if (body.subarray(partStart, partStart + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, partStart);
    if (next === -1) throw new HttpError(400, 'multipart body without a closing delimiter');
    const part = body.subarray(partStart + 2, next - 2); // drop the CRLF after the delimiter and before the next one
    const split = part.indexOf('\r\n\r\n');
    parts.push({ headers: part.subarray(0, split).toString('utf8'), content: part.subarray(split + 4) });
    position = next;
  }
  const [metadataPart, mediaPart] = parts;
  if (!metadataPart || !mediaPart) throw new HttpError(400, `multipart body with ${String(parts.length)} parts, expected 2`);
  const mediaType = /content-type:\s*([^\r\n]+)/i.exec(mediaPart.headers)?.[1] ?? 'application/octet-stream';
  return { metadata: JSON.parse(metadataPart.content.toString('utf8')) as Record<string, unknown>, media: mediaPart.content, mediaType };
}

/** Like the real service, refuse an upload whose bytes do not match the hashes the client announced. */
function checkHashes(req: IncomingMessage, data: Buffer): void {
  for (const pair of (header(req, 'x-goog-hash') ?? '').split(',')) {
    const separator = pair.indexOf('=');
    if (separator === -1) continue;
    const kind = pair.slice(0, separator).trim();
    const expected = pair.slice(separator + 1).trim();
    const actual = kind === 'crc32c' ? crc32c(data) : kind === 'md5' ? md5(data) : expected;
    if (actual !== expected) throw new HttpError(400, `Provided ${kind} "${expected}" doesn't match calculated ${kind} "${actual}".`);
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function json(status: number, value: unknown): Reply {
  return { status, headers: { 'content-type': 'application/json; charset=UTF-8' }, body: Buffer.from(JSON.stringify(value)) };
}

function errorReply(status: number, message: string): Reply {
  const reason = reasons[status] ?? 'error';
  return json(status, { error: { code: status, message, errors: [{ domain: 'global', reason, message }] } });
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

const crc32cTable = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32C (Castagnoli), base64 of the big-endian value, as GCS reports it. */
export function crc32c(data: Buffer): string {
  let crc = 0xffffffff;
  for (const byte of data) crc = (crc32cTable[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}
