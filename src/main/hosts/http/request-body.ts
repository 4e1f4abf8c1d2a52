import type { IncomingMessage } from 'node:http';
import { maximumRequestBytes } from '../../../shared/http-api.js';
import { DrcError } from '../../../shared/errors.js';

const tooLarge = (): DrcError =>
  new DrcError('REQUEST_TOO_LARGE', `unable to read the request: its body is larger than ${String(maximumRequestBytes)} bytes`, {
    hints: ['no DR Console request needs that much; check what is being sent'],
  });

/**
 * Reads a JSON request body of at most 1 MiB. A declared length over the limit is
 * refused before a byte is read; a chunked body is refused as soon as it passes the
 * limit, and what was read is dropped, so a huge upload never sits in memory.
 * An empty body is `undefined`: methods that take nothing may be called without one.
 */
export async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const declared = Number(request.headers['content-length'] ?? '0');
  if (declared > maximumRequestBytes) throw tooLarge();
  const type = request.headers['content-type'];
  if (declared > 0 || request.headers['transfer-encoding'] !== undefined) {
    if (type === undefined || !/^application\/json\s*(;|$)/i.test(type)) {
      throw new DrcError('REQUEST_MALFORMED', `unable to read the request: its body is '${type ?? 'untyped'}', not application/json`, {
        hints: ['send the request as JSON with Content-Type: application/json'],
      });
    }
  }
  const body = await collect(request);
  if (body.length === 0) return undefined;
  const text = body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new DrcError('REQUEST_MALFORMED', `unable to read the request: its body is not valid JSON (${(error as Error).message})`, {
      hints: ['send the request as one JSON document'],
    });
  }
}

/**
 * Collects the body with plain listeners rather than an async iterator: leaving an
 * iterator early destroys the socket, and the 413 must still reach the client.
 */
function collect(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const stop = (): void => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', reject);
    };
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length <= maximumRequestBytes) {
        chunks.push(chunk);
        return;
      }
      stop();
      chunks.length = 0;
      reject(tooLarge());
    };
    const onEnd = (): void => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', reject);
  });
}
