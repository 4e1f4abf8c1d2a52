import { createHash, randomBytes } from 'node:crypto';
import { DrcError, type ErrorData } from '../../shared/errors.js';
import type { StorageTarget } from '../storage/target.js';
import type { Compression } from './envelope.js';
import { checkHeaderMac, encodeHeader, headerObject, readHeader, repositoryFormat, signHeader, type RepositoryHeader } from './header.js';
import { defaultScrypt, deriveKeys, newMasterKey, unwrapMasterKey, wrapMasterKey, type RepositoryKeys, type ScryptParameters } from './keys.js';
import { Repository } from './repository.js';

/**
 * All repositories of one configuration form a set: the same repository id and master
 * key everywhere, so an encrypted object can be copied between them byte for byte
 * (`sync`, `verify --repair`) and any one of them, with the passphrase, is enough to
 * restore. Each keeps a full copy of the header.
 */
export interface UnreachableRepository {
  readonly target: StorageTarget;
  readonly error: ErrorData;
}

export interface RepositorySet {
  readonly repositories: Repository[];
  /** Reachable targets that hold no repository yet. */
  readonly uninitialized: StorageTarget[];
  readonly unreachable: UnreachableRepository[];
  readonly repositoryId: string;
  readonly keys: RepositoryKeys;
}

interface Survey {
  headers: Array<{ target: StorageTarget; header: RepositoryHeader }>;
  uninitialized: StorageTarget[];
  unreachable: UnreachableRepository[];
}

async function survey(targets: readonly StorageTarget[]): Promise<Survey> {
  const result: Survey = { headers: [], uninitialized: [], unreachable: [] };
  await Promise.all(
    targets.map(async (target) => {
      try {
        const header = await readHeader(target);
        if (header) result.headers.push({ target, header });
        else result.uninitialized.push(target);
      } catch (error) {
        // A newer format or a damaged header is a finding about that repository, not a
        // reason to be unable to reach the others — but it must not be silently ignored.
        if (error instanceof DrcError && (error.code === 'STORAGE_UNAVAILABLE' || error.code === 'STORAGE_IO' || error.code === 'STORAGE_PERMISSION' || error.code === 'MEDIA_NOT_PRESENT')) {
          result.unreachable.push({ target, error: error.toData() });
        } else {
          throw error;
        }
      }
    }),
  );
  const order = new Map(targets.map((target, index) => [target, index]));
  result.headers.sort((a, b) => (order.get(a.target) ?? 0) - (order.get(b.target) ?? 0));
  return result;
}

function wrongPassphrase(repository: string): DrcError {
  return new DrcError('PASSPHRASE_WRONG', `unable to unlock repository '${repository}': the passphrase opens none of its key slots`, {
    hints: ['check the passphrase the config refers to (encryption.passphrase); nothing was written', 'list key slots with `drc repo info`'],
  });
}

async function unlockHeader(header: RepositoryHeader, passphrase: string, repository: string): Promise<Buffer> {
  for (const slot of header.keySlots) {
    const masterKey = await unwrapMasterKey(slot, passphrase, header.repositoryId);
    if (masterKey) return masterKey;
  }
  throw wrongPassphrase(repository);
}

function assertOneSet(headers: Survey['headers']): void {
  const first = headers[0];
  for (const { target, header } of headers) {
    if (first && header.repositoryId !== first.header.repositoryId) {
      throw new DrcError('REPO_MISMATCH', `unable to use repository '${target.name}' with '${first.target.name}': they belong to different repository sets (${header.repositoryId} and ${first.header.repositoryId})`, {
        hints: ['each configured repository must be a copy of the same set; point this entry at an empty location and run `drc repo init`, or use a separate config'],
      });
    }
  }
}

/** Unlocks every reachable repository. Refuses if none exists yet. */
/**
 * Master keys already unwrapped, for a host that stays up (`drc serve`, the desktop app):
 * the dashboard calls the services many times a minute, and scrypt is slow on purpose
 * (0.3–4 s per unlock). Keyed by a hash of the header and the passphrase, so a changed
 * key slot or passphrase unlocks afresh and a wrong passphrase is never remembered.
 */
export class UnlockedKeys {
  private readonly keys = new Map<string, Buffer>();

  async unlock(header: RepositoryHeader, passphrase: string, repository: string): Promise<Buffer> {
    const id = createHash('sha256').update(JSON.stringify(header)).update('\0').update(passphrase).digest('hex');
    const known = this.keys.get(id);
    if (known) return known;
    const masterKey = await unlockHeader(header, passphrase, repository);
    this.keys.set(id, masterKey);
    return masterKey;
  }
}

export async function openRepositorySet(targets: readonly StorageTarget[], passphrase: string, unlocked?: UnlockedKeys): Promise<RepositorySet> {
  const found = await survey(targets);
  assertOneSet(found.headers);
  const first = found.headers[0];
  if (!first) {
    const names = targets.map((target) => target.name).join("', '");
    if (found.unreachable.length > 0 && found.uninitialized.length === 0) {
      const reasons = found.unreachable.map((entry) => entry.error.message);
      throw new DrcError('STORAGE_UNAVAILABLE', `unable to reach any repository ('${names}')`, { hints: reasons });
    }
    throw new DrcError('REPO_NOT_INITIALIZED', `unable to open repository '${names}': no repository has been created there`, {
      hints: ['run `drc repo init` to create it'],
    });
  }
  const masterKey = unlocked ? await unlocked.unlock(first.header, passphrase, first.target.name) : await unlockHeader(first.header, passphrase, first.target.name);
  const keys = deriveKeys(masterKey);
  const repositories = found.headers.map(({ target, header }) => {
    checkHeaderMac(header, keys.headerKey, target.name);
    return new Repository(target, header, keys);
  });
  return { repositories, uninitialized: found.uninitialized, unreachable: found.unreachable, repositoryId: first.header.repositoryId, keys };
}

export interface InitOptions {
  readonly compression?: Compression;
  readonly scrypt?: ScryptParameters;
  readonly label?: string;
  readonly now?: Date;
}

export interface InitResult {
  readonly created: string[];
  readonly alreadyInitialized: string[];
  readonly unreachable: UnreachableRepository[];
  readonly repositoryId: string;
}

/**
 * Creates the repository on every reachable target that lacks one. If some targets
 * already hold it, the new ones get a copy of that header (same set, same passphrases),
 * which needs the passphrase to prove the caller may extend the set.
 */
export async function initRepositorySet(targets: readonly StorageTarget[], passphrase: string, options: InitOptions = {}): Promise<InitResult> {
  const found = await survey(targets);
  assertOneSet(found.headers);
  let header: RepositoryHeader;
  const existing = found.headers[0];
  if (existing) {
    await unlockHeader(existing.header, passphrase, existing.target.name);
    header = existing.header;
  } else {
    const now = options.now ?? new Date();
    const repositoryId = randomBytes(16).toString('hex');
    const masterKey = newMasterKey();
    const slot = await wrapMasterKey(masterKey, passphrase, repositoryId, options.label ?? 'initial passphrase', options.scrypt ?? defaultScrypt, now);
    header = signHeader({ format: repositoryFormat, repositoryId, createdAt: now.toISOString(), compression: options.compression ?? 'zstd', keySlots: [slot] }, deriveKeys(masterKey).headerKey);
  }
  await Promise.all(found.uninitialized.map((target) => target.put(headerObject, encodeHeader(header))));
  return {
    created: found.uninitialized.map((target) => target.name),
    alreadyInitialized: found.headers.map((entry) => entry.target.name),
    unreachable: found.unreachable,
    repositoryId: header.repositoryId,
  };
}

/** Writes a header to every repository of the set; a repository that cannot be reached keeps its old one. */
async function writeHeaderEverywhere(set: RepositorySet, header: RepositoryHeader): Promise<{ updated: string[]; failed: UnreachableRepository[] }> {
  const updated: string[] = [];
  const failed: UnreachableRepository[] = [...set.unreachable];
  await Promise.all(
    set.repositories.map(async (repository) => {
      try {
        await repository.target.put(headerObject, encodeHeader(header));
        updated.push(repository.name);
      } catch (error) {
        if (!(error instanceof DrcError)) throw error;
        failed.push({ target: repository.target, error: error.toData() });
      }
    }),
  );
  return { updated, failed };
}

function currentHeader(set: RepositorySet): RepositoryHeader {
  const first = set.repositories[0];
  if (!first) throw new DrcError('REPO_NOT_INITIALIZED', 'unable to change key slots: no repository is open');
  return first.header;
}

export async function addPassphrase(set: RepositorySet, masterPassphrase: string, newPassphrase: string, label: string, scrypt: ScryptParameters = defaultScrypt): Promise<{ slotId: string; updated: string[]; failed: UnreachableRepository[] }> {
  const header = currentHeader(set);
  const masterKey = await unlockHeader(header, masterPassphrase, set.repositories[0]?.name ?? '');
  const slot = await wrapMasterKey(masterKey, newPassphrase, header.repositoryId, label, scrypt);
  const next = signHeader({ ...header, keySlots: [...header.keySlots, slot] }, set.keys.headerKey);
  return { slotId: slot.id, ...(await writeHeaderEverywhere(set, next)) };
}

export async function removePassphrase(set: RepositorySet, slotId: string): Promise<{ updated: string[]; failed: UnreachableRepository[] }> {
  const header = currentHeader(set);
  if (!header.keySlots.some((slot) => slot.id === slotId)) {
    throw new DrcError('KEY_SLOT_NOT_FOUND', `unable to remove key slot '${slotId}': no such slot`, { hints: ['list key slots with `drc repo info`'] });
  }
  if (header.keySlots.length === 1) {
    throw new DrcError('PASSPHRASE_LAST_SLOT', `unable to remove key slot '${slotId}': it is the only passphrase; without it no one could ever restore`, {
      hints: ['add another passphrase first with `drc repo passphrase add`'],
    });
  }
  const next = signHeader({ ...header, keySlots: header.keySlots.filter((slot) => slot.id !== slotId) }, set.keys.headerKey);
  return writeHeaderEverywhere(set, next);
}
