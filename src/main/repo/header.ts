import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { DrcError } from '../../shared/errors.js';
import type { StorageTarget } from '../storage/target.js';
import { hmacSha256, type KeySlot } from './keys.js';

/** The one plaintext object: enough to unlock the repository with a passphrase and nothing more. */
export const headerObject = 'drc-repo.json';

/**
 * The repository format this build writes and the only one it reads. Format 1 (pre-release
 * builds) named chunks by HMAC-SHA256; format 2 by keyed BLAKE3 (ADR 0001).
 */
export const repositoryFormat = 2;

const keySlotSchema = z.object({
  id: z.string(),
  label: z.string(),
  createdAt: z.string(),
  kdf: z.object({ algorithm: z.literal('scrypt'), N: z.number().int().positive(), r: z.number().int().positive(), p: z.number().int().positive(), salt: z.string() }),
  wrappedKey: z.string(),
});

const headerSchema = z.object({
  format: z.number().int().positive(),
  repositoryId: z.string().regex(/^[0-9a-f]{32}$/),
  createdAt: z.string(),
  compression: z.enum(['zstd', 'lz4', 'none']),
  keySlots: z.array(keySlotSchema).min(1),
  mac: z.string(),
});

export type RepositoryHeader = z.infer<typeof headerSchema>;
export type UnsignedHeader = Omit<RepositoryHeader, 'mac'>;

function canonical(header: UnsignedHeader): string {
  const { format, repositoryId, createdAt, compression, keySlots } = header;
  // Fixed key order, whatever order the JSON on disk had.
  const slots = keySlots.map(({ id, label, createdAt: slotCreatedAt, kdf, wrappedKey }: KeySlot) => ({
    id,
    label,
    createdAt: slotCreatedAt,
    kdf: { algorithm: kdf.algorithm, N: kdf.N, r: kdf.r, p: kdf.p, salt: kdf.salt },
    wrappedKey,
  }));
  return JSON.stringify({ format, repositoryId, createdAt, compression, keySlots: slots });
}

export function signHeader(header: UnsignedHeader, headerKey: Buffer): RepositoryHeader {
  return { ...header, mac: hmacSha256(headerKey, canonical(header)).toString('hex') };
}

/** Whether `headerKey` (derived from the set's master key) authenticates this header as written. */
export function headerAuthenticates(header: UnsignedHeader & { mac: string }, headerKey: Buffer): boolean {
  const expected = hmacSha256(headerKey, canonical(header));
  const actual = Buffer.from(header.mac, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export function untrustedHeader(repository: string, why = 'its authentication code does not match'): DrcError {
  return new DrcError('REPO_HEADER_INVALID', `unable to trust the header of repository '${repository}': ${why}`, {
    hints: ['drc-repo.json was altered or damaged after it was written; `drc repo init` rewrites it from a good copy in another repository of this set, then run `drc verify`'],
  });
}

export function checkHeaderMac(header: RepositoryHeader, headerKey: Buffer, repository: string): void {
  if (!headerAuthenticates(header, headerKey)) throw untrustedHeader(repository);
}

export function encodeHeader(header: RepositoryHeader): Buffer {
  return Buffer.from(`${JSON.stringify(header, null, 2)}\n`);
}

/** Reads the header, or undefined if the target holds no repository yet. */
export async function readHeader(target: StorageTarget): Promise<RepositoryHeader | undefined> {
  let raw: Buffer;
  try {
    raw = await target.get(headerObject);
  } catch (error) {
    if (error instanceof DrcError && error.code === 'STORAGE_NOT_FOUND') return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw invalidHeader(target.name, 'it is not JSON');
  }
  // Check the format first: a newer format may have a shape this build cannot parse.
  const format = (json as { format?: unknown } | null)?.format;
  if (typeof format === 'number' && format > repositoryFormat) {
    throw new DrcError('REPO_FORMAT_TOO_NEW', `unable to open repository '${target.name}': it uses format ${String(format)}, this DR Console reads up to format ${String(repositoryFormat)}`, {
      hints: ['upgrade DR Console on this workstation; nothing was changed in the repository'],
    });
  }
  if (typeof format === 'number' && format < repositoryFormat) {
    throw new DrcError('REPO_FORMAT_TOO_OLD', `unable to open repository '${target.name}': it uses format ${String(format)} of a pre-release DR Console, this one reads format ${String(repositoryFormat)}`, {
      hints: ['initialize a new repository with `drc repo init` at another path and take a full backup into it; nothing was changed in this one'],
    });
  }
  const parsed = headerSchema.safeParse(json);
  if (!parsed.success) throw invalidHeader(target.name, parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
  return parsed.data;
}

function invalidHeader(repository: string, why: string): DrcError {
  return new DrcError('REPO_HEADER_INVALID', `unable to read the header of repository '${repository}': ${why}`, {
    hints: ['`drc repo init` rewrites drc-repo.json from a good copy in another repository of this set; otherwise check that the path points at a DR Console repository'],
  });
}
