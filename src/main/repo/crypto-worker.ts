import { parentPort, workerData } from 'node:worker_threads';
import { DrcError } from '../../shared/errors.js';
import type { Compression } from './envelope.js';
import { deriveKeysFrom } from './keys.js';
import { chunkId, openObject, sealChunk } from './objects.js';

/** One thread of the crypto pool: seals and opens chunks with the set's keys. */
const { idKey, dataKey, compression } = workerData as { idKey: Uint8Array; dataKey: Uint8Array; compression: Compression };
const keys = deriveKeysFrom(Buffer.from(idKey), Buffer.from(dataKey));
const knownEverywhere = new Set<string>();

type Request = { op: 'known'; ids: string[] } | { op: 'seal'; seq: number; data: ArrayBuffer } | { op: 'open'; seq: number; data: ArrayBuffer; repository: string; name: string };

function reply(seq: number, result: Buffer | undefined, id?: string): void {
  if (!result) {
    parentPort?.postMessage({ seq, ok: true, id });
    return;
  }
  const owned = result.byteOffset === 0 && result.byteLength === result.buffer.byteLength;
  const data = owned ? result.buffer : result.buffer.slice(result.byteOffset, result.byteOffset + result.byteLength);
  parentPort?.postMessage({ seq, ok: true, id, data, offset: 0, length: result.byteLength }, [data as ArrayBuffer]);
}

async function handle(request: Request): Promise<void> {
  if (request.op === 'known') {
    for (const id of request.ids) knownEverywhere.add(id);
    return;
  }
  try {
    const body = Buffer.from(request.data);
    if (request.op === 'seal') {
      const id = chunkId(keys, body);
      reply(request.seq, knownEverywhere.has(id) ? undefined : await sealChunk(keys, id, body, compression), id);
    } else {
      reply(request.seq, await openObject(keys, request.repository, request.name, body));
    }
  } catch (error) {
    const data = error instanceof DrcError ? error.toData() : { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error), hints: [], retryable: false };
    parentPort?.postMessage({ seq: request.seq, ok: false, error: data });
  }
}

parentPort?.on('message', (request: Request) => {
  void handle(request);
});
