import { timingSafeEqual } from 'node:crypto';
import { DrcError } from '../../shared/errors.js';
import { EnvelopeError, open, seal, type Compression } from './envelope.js';
import { keyedBlake3, type RepositoryKeys } from './keys.js';

/**
 * Object naming and the read/write rules for every encrypted object. Chunks are named by
 * the keyed hash of their plaintext; everything else by its object name, which is also
 * its identity in the envelope's additional data.
 */
export const objectPrefixes = {
  chunks: 'chunks/',
  backups: 'backups/',
  wal: 'wal/',
  events: 'events/',
  locks: 'locks/',
} as const;

const chunkNamePattern = /^chunks\/([0-9a-f]{2})\/([0-9a-f]{64})$/;

export function chunkObjectName(id: string): string {
  return `chunks/${id.slice(0, 2)}/${id}`;
}

/** The chunk id an object name stands for, or undefined if the name is not a chunk's. */
export function chunkIdOf(name: string): string | undefined {
  const match = chunkNamePattern.exec(name);
  return match && match[2]?.startsWith(match[1] ?? '') ? match[2] : undefined;
}

/** Objects that are encrypted envelopes (everything but the header, media label and locks). */
export function isSealedObject(name: string): boolean {
  return name.startsWith(objectPrefixes.chunks) || name.startsWith(objectPrefixes.backups) || name.startsWith(objectPrefixes.wal) || name.startsWith(objectPrefixes.events);
}

export function chunkId(keys: RepositoryKeys, plaintext: Buffer): string {
  return keyedBlake3(keys.idKey, plaintext).toString('hex');
}

export function sealChunk(keys: RepositoryKeys, id: string, plaintext: Buffer, compression: Compression): Promise<Buffer> {
  return seal(keys.dataKey, id, plaintext, compression);
}

export function sealNamedObject(keys: RepositoryKeys, name: string, plaintext: Buffer, compression: Compression): Promise<Buffer> {
  return seal(keys.dataKey, name, plaintext, compression);
}

export function corruptObject(repository: string, name: string, why: string): DrcError {
  return new DrcError('OBJECT_CORRUPT', `unable to use corrupt object '${name}' in repository '${repository}': ${why}`, {
    hints: ['run `drc verify` to find every damaged object and `drc verify --repair` to rewrite it from a good copy in another repository'],
  });
}

/**
 * Authenticates, decompresses and — for a chunk — recomputes its id. Anything that fails
 * is an OBJECT_CORRUPT error naming the object and repository; it is never returned as data.
 */
export async function openObject(keys: RepositoryKeys, repository: string, name: string, sealed: Buffer): Promise<Buffer> {
  const id = chunkIdOf(name);
  let plaintext: Buffer;
  try {
    plaintext = await open(keys.dataKey, id ?? name, sealed);
  } catch (error) {
    if (error instanceof EnvelopeError) throw corruptObject(repository, name, error.message);
    throw error;
  }
  if (id !== undefined) {
    const actual = keyedBlake3(keys.idKey, plaintext);
    if (!timingSafeEqual(actual, Buffer.from(id, 'hex'))) throw corruptObject(repository, name, 'content does not match its id');
  } else if (name.startsWith(objectPrefixes.chunks)) {
    throw corruptObject(repository, name, 'not a valid chunk name');
  }
  return plaintext;
}
