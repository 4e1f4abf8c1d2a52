import { parentPort, workerData } from 'node:worker_threads';
import { DrcError } from '../../shared/errors.js';
import type { Compression } from './envelope.js';
import { deriveKeysFrom } from './keys.js';
import { chunkId, openObject, sealChunk } from './objects.js';

/** One thread of the crypto pool: seals and opens chunks with the set's keys. */
const { idKey, dataKey, compression, shared } = workerData as { idKey: Uint8Array; dataKey: Uint8Array; compression: Compression; shared: SharedArrayBuffer | undefined };
const keys = deriveKeysFrom(Buffer.from(idKey), Buffer.from(dataKey));
const knownEverywhere = new Set<string>();

/** The request's bytes: moved with the message, or in a shared slot. */
type Body = { data: ArrayBuffer } | { shared: { offset: number; length: number } };
type Request =
  | { op: 'known'; ids: string[] }
  | ({ op: 'seal'; seq: number } & Body)
  | ({ op: 'open'; seq: number; repository: string; name: string; into?: { offset: number; capacity: number } } & Body);

function reply(seq: number, result: Buffer | undefined, id?: string): void {
  if (!result) {
    parentPort?.postMessage({ seq, ok: true, id });
    return;
  }
  const owned = result.byteOffset === 0 && result.byteLength === result.buffer.byteLength;
  const data = owned ? result.buffer : result.buffer.slice(result.byteOffset, result.byteOffset + result.byteLength);
  parentPort?.postMessage({ seq, ok: true, id, data, offset: 0, length: result.byteLength }, [data as ArrayBuffer]);
}

function bodyOf(request: Body): Buffer {
  if ('data' in request) return Buffer.from(request.data);
  if (!shared) throw new DrcError('INTERNAL', 'a crypto worker was sent a shared slot but has no shared memory');
  return Buffer.from(shared, request.shared.offset, request.shared.length);
}

/** Copies an opened object into the caller's shared slot and sends only its length; one too big for the slot goes the ordinary way. */
function replyInto(seq: number, plaintext: Buffer, into: { offset: number; capacity: number }): void {
  if (!shared || plaintext.length > into.capacity) {
    reply(seq, plaintext);
    return;
  }
  plaintext.copy(Buffer.from(shared, into.offset, into.capacity));
  parentPort?.postMessage({ seq, ok: true, length: plaintext.length });
}

async function handle(request: Request): Promise<void> {
  if (request.op === 'known') {
    for (const id of request.ids) knownEverywhere.add(id);
    return;
  }
  try {
    const body = bodyOf(request);
    if (request.op === 'seal') {
      const id = chunkId(keys, body);
      reply(request.seq, knownEverywhere.has(id) ? undefined : await sealChunk(keys, id, body, compression), id);
    } else {
      const plaintext = await openObject(keys, request.repository, request.name, body);
      if (request.into) replyInto(request.seq, plaintext, request.into);
      else reply(request.seq, plaintext);
    }
  } catch (error) {
    const data = error instanceof DrcError ? error.toData() : { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error), hints: [], retryable: false };
    parentPort?.postMessage({ seq: request.seq, ok: false, error: data });
  }
}

parentPort?.on('message', (request: Request) => {
  void handle(request);
});
