import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, scrypt as scryptCallback, type ScryptOptions } from 'node:crypto';
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { DrcError } from '../../shared/errors.js';

/**
 * Key hierarchy. A random master key is the root; it never leaves memory unwrapped. Each
 * passphrase wraps it in its own key slot (scrypt → AES-256-GCM), so passphrases can be
 * added or removed without touching data. HKDF derives purpose-bound keys from it.
 */
export interface RepositoryKeys {
  /** Names chunks: keyed BLAKE3(idKey, plaintext). Keyed so ids leak nothing about content. */
  readonly idKey: Buffer;
  /** Encrypts every object body with AES-256-GCM. */
  readonly dataKey: Buffer;
  /** Authenticates the plaintext header so a tampered key slot or format field is noticed. */
  readonly headerKey: Buffer;
}

export interface ScryptParameters {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** About 0.3 s and 128 MiB per unlock on a laptop: slow enough to make guessing expensive. */
export const defaultScrypt: ScryptParameters = { N: 2 ** 17, r: 8, p: 1 };

export interface KeySlot {
  id: string;
  label: string;
  createdAt: string;
  kdf: { algorithm: 'scrypt'; N: number; r: number; p: number; salt: string };
  /** nonce ‖ ciphertext ‖ tag, base64. */
  wrappedKey: string;
}

export function newMasterKey(): Buffer {
  return randomBytes(32);
}

export function deriveKeys(masterKey: Buffer): RepositoryKeys {
  const derive = (purpose: string): Buffer => Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), `dr-console ${purpose}`, 32));
  return { idKey: derive('chunk id'), dataKey: derive('data'), headerKey: derive('header') };
}

/** The keys a worker thread needs, rebuilt from the two it is given (it never sees the master key). */
export function deriveKeysFrom(idKey: Buffer, dataKey: Buffer): RepositoryKeys {
  return { idKey, dataKey, headerKey: Buffer.alloc(0) };
}

export function hmacSha256(key: Buffer, data: Buffer | string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/**
 * BLAKE3 in keyed mode: a MAC like HMAC-SHA256, and about 3.5 times faster on this
 * machine (6.2 against 1.8 GiB/s on one core). Every byte of every backup and restore
 * passes through it, so it names chunks (ADR 0001, format 2).
 */
export function keyedBlake3(key: Buffer, data: Buffer): Buffer {
  return Blake3Hasher.newKeyed(key).update(data).digestBuffer();
}

function scrypt(passphrase: string, salt: Buffer, parameters: ScryptParameters): Promise<Buffer> {
  const options: ScryptOptions = { N: parameters.N, r: parameters.r, p: parameters.p, maxmem: 256 * parameters.N * parameters.r + 64 * 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scryptCallback(passphrase.normalize('NFC'), salt, 32, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

const slotAad = (repositoryId: string, slotId: string): Buffer => Buffer.from(`dr-console key slot ${repositoryId} ${slotId}`);

export async function wrapMasterKey(
  masterKey: Buffer,
  passphrase: string,
  repositoryId: string,
  label: string,
  parameters: ScryptParameters = defaultScrypt,
  now: Date = new Date(),
): Promise<KeySlot> {
  const id = randomBytes(4).toString('hex');
  const salt = randomBytes(16);
  const wrappingKey = await scrypt(passphrase, salt, parameters);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', wrappingKey, nonce);
  cipher.setAAD(slotAad(repositoryId, id));
  const sealed = Buffer.concat([nonce, cipher.update(masterKey), cipher.final(), cipher.getAuthTag()]);
  return {
    id,
    label,
    createdAt: now.toISOString(),
    kdf: { algorithm: 'scrypt', ...parameters, salt: salt.toString('base64') },
    wrappedKey: sealed.toString('base64'),
  };
}

/** Returns the master key if this passphrase opens this slot, undefined if it does not. */
export async function unwrapMasterKey(slot: KeySlot, passphrase: string, repositoryId: string): Promise<Buffer | undefined> {
  const sealed = Buffer.from(slot.wrappedKey, 'base64');
  if (sealed.length !== 12 + 32 + 16) {
    throw new DrcError('REPO_HEADER_INVALID', `unable to read key slot '${slot.id}': wrapped key has ${String(sealed.length)} bytes`, {
      hints: ['the repository header is damaged; restore drc-repo.json from another repository of this set'],
    });
  }
  const wrappingKey = await scrypt(passphrase, Buffer.from(slot.kdf.salt, 'base64'), slot.kdf);
  const decipher = createDecipheriv('aes-256-gcm', wrappingKey, sealed.subarray(0, 12));
  decipher.setAAD(slotAad(repositoryId, slot.id));
  decipher.setAuthTag(sealed.subarray(12 + 32));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(12, 12 + 32)), decipher.final()]);
  } catch {
    return undefined;
  }
}
