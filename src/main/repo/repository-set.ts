import { createHash, randomBytes } from 'node:crypto';
import { DrcError, type ErrorData } from '../../shared/errors.js';
import type { StorageTarget } from '../storage/target.js';
import type { Compression } from './envelope.js';
import { encodeHeader, headerAuthenticates, headerObject, readHeader, repositoryFormat, signHeader, untrustedHeader, type RepositoryHeader } from './header.js';
import { defaultScrypt, deriveKeys, newMasterKey, unwrapMasterKey, wrapMasterKey, type KeySlot, type RepositoryKeys, type ScryptParameters } from './keys.js';
import type { Fallback } from './object-source.js';
import { objectPrefixes, openObject } from './objects.js';
import { Repository, SetMembers } from './repository.js';

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
  /**
   * Repositories that cannot be used: not reachable, or reachable with a damaged header
   * (REPO_HEADER_INVALID: it does not parse, or does not authenticate with the set's key).
   * Either way the others serve, and every command reports these.
   */
  readonly unreachable: UnreachableRepository[];
  readonly repositoryId: string;
  readonly keys: RepositoryKeys;
  /** Damaged copies of manifests and event records passed over for another member's copy, for the command to report. */
  readonly fallbacks: Fallback[];
}

interface Survey {
  headers: Array<{ target: StorageTarget; header: RepositoryHeader }>;
  /** Headers that do not parse: damaged, or not a DR Console header at all. */
  damaged: Array<{ target: StorageTarget; error: DrcError }>;
  uninitialized: StorageTarget[];
  unreachable: UnreachableRepository[];
}

const unreachableCodes: ReadonlySet<string> = new Set(['STORAGE_UNAVAILABLE', 'STORAGE_IO', 'STORAGE_PERMISSION', 'MEDIA_NOT_PRESENT']);

async function survey(targets: readonly StorageTarget[]): Promise<Survey> {
  const result: Survey = { headers: [], damaged: [], uninitialized: [], unreachable: [] };
  await Promise.all(
    targets.map(async (target) => {
      try {
        const header = await readHeader(target);
        if (header) result.headers.push({ target, header });
        else result.uninitialized.push(target);
      } catch (error) {
        // An unreachable medium or a damaged header is a finding about that repository,
        // not a reason to be unable to use the others. A newer format is not damage: it refuses.
        if (!(error instanceof DrcError)) throw error;
        if (unreachableCodes.has(error.code)) result.unreachable.push({ target, error: error.toData() });
        else if (error.code === 'REPO_HEADER_INVALID') result.damaged.push({ target, error });
        else throw error;
      }
    }),
  );
  const order = new Map(targets.map((target, index) => [target, index]));
  const byOrder = (a: { target: StorageTarget }, b: { target: StorageTarget }): number => (order.get(a.target) ?? 0) - (order.get(b.target) ?? 0);
  result.headers.sort(byOrder);
  result.damaged.sort(byOrder);
  return result;
}

function wrongPassphrase(repository: string, damaged: Survey['damaged'] = []): DrcError {
  return new DrcError('PASSPHRASE_WRONG', `unable to unlock repository '${repository}': the passphrase opens none of its key slots`, {
    hints: [
      'check the passphrase the config refers to (encryption.passphrase); nothing was written',
      'list key slots with `drc repo info`',
      ...damaged.map((entry) => `the header of '${entry.target.name}' is damaged, so its key slots were not tried: ${entry.error.message}`),
    ],
  });
}

/** A slot as written: the same slot in two copies of the header is tried once, scrypt being slow on purpose. */
function slotIdentity(repositoryId: string, slot: KeySlot): string {
  return JSON.stringify([repositoryId, slot.id, slot.kdf.salt, slot.kdf.N, slot.kdf.r, slot.kdf.p, slot.wrappedKey]);
}

/**
 * The master key if the passphrase opens one of this header's slots. A slot whose wrapped
 * key has the wrong length is damaged: it opens nothing, and the header's authentication
 * code (checked once a key is found) says whether the header as a whole can be trusted.
 */
async function openSlots(header: RepositoryHeader, passphrase: string, tried: Map<string, Buffer | undefined>): Promise<Buffer | undefined> {
  for (const slot of header.keySlots) {
    const identity = slotIdentity(header.repositoryId, slot);
    if (!tried.has(identity)) {
      let masterKey: Buffer | undefined;
      try {
        masterKey = await unwrapMasterKey(slot, passphrase, header.repositoryId);
      } catch (error) {
        if (!(error instanceof DrcError) || error.code !== 'REPO_HEADER_INVALID') throw error;
      }
      tried.set(identity, masterKey);
    }
    const masterKey = tried.get(identity);
    if (masterKey) return masterKey;
  }
  return undefined;
}

async function unlockHeader(header: RepositoryHeader, passphrase: string, repository: string): Promise<Buffer> {
  const masterKey = await openSlots(header, passphrase, new Map());
  if (!masterKey) throw wrongPassphrase(repository);
  return masterKey;
}

/**
 * Master keys already unwrapped, for a host that stays up (`drc serve`, the desktop app):
 * the dashboard calls the services many times a minute, and scrypt is slow on purpose
 * (0.3–4 s per unlock). Keyed by a hash of the header and the passphrase, so a changed
 * key slot or passphrase unlocks afresh and a wrong passphrase is never remembered.
 */
export class UnlockedKeys {
  private readonly keys = new Map<string, Buffer>();

  async open(header: RepositoryHeader, passphrase: string, tried: Map<string, Buffer | undefined>): Promise<Buffer | undefined> {
    const id = createHash('sha256').update(JSON.stringify(header)).update('\0').update(passphrase).digest('hex');
    const known = this.keys.get(id);
    if (known) return known;
    const masterKey = await openSlots(header, passphrase, tried);
    if (masterKey) this.keys.set(id, masterKey);
    return masterKey;
  }
}

/** The header that unlocks the set: the first whose slot the passphrase opens and whose authentication code the key confirms. */
interface Anchor {
  readonly target: StorageTarget;
  readonly header: RepositoryHeader;
  readonly keys: RepositoryKeys;
}

/**
 * Tries every header in turn, not only the first: a damaged header or key slot in one
 * repository must not keep the passphrase from opening the good copy in another (the
 * break-glass `restore --from usb` when the NAS's header is damaged).
 */
async function findAnchor(found: Survey, passphrase: string, unlocked?: UnlockedKeys): Promise<Anchor> {
  const tried = new Map<string, Buffer | undefined>();
  let opensButUntrusted: DrcError | undefined;
  for (const { target, header } of found.headers) {
    const masterKey = unlocked ? await unlocked.open(header, passphrase, tried) : await openSlots(header, passphrase, tried);
    if (!masterKey) continue;
    const keys = deriveKeys(masterKey);
    if (headerAuthenticates(header, keys.headerKey)) return { target, header, keys };
    opensButUntrusted ??= untrustedHeader(target.name);
  }
  if (opensButUntrusted) throw opensButUntrusted;
  throw wrongPassphrase(found.headers[0]?.target.name ?? '', found.damaged);
}

function differentSets(target: StorageTarget, anchor: Anchor, repositoryId: string): DrcError {
  return new DrcError('REPO_MISMATCH', `unable to use repository '${target.name}' with '${anchor.target.name}': they belong to different repository sets (${repositoryId} and ${anchor.header.repositoryId})`, {
    hints: ['each configured repository must be a copy of the same set; point this entry at an empty location and run `drc repo init`, or use a separate config'],
  });
}

/**
 * Sorts the other headers against the anchor. Same id and authenticated: a member. Same
 * id, not authenticated: damaged. A different id is another set's repository — refused —
 * unless the header authenticates once the anchor's id is put back, which means only its
 * id field was damaged.
 */
function classify(found: Survey, anchor: Anchor): { members: Array<{ target: StorageTarget; header: RepositoryHeader }>; damaged: UnreachableRepository[] } {
  const members: Array<{ target: StorageTarget; header: RepositoryHeader }> = [];
  const damaged: UnreachableRepository[] = [];
  for (const entry of found.headers) {
    const { target, header } = entry;
    if (header.repositoryId === anchor.header.repositoryId) {
      if (headerAuthenticates(header, anchor.keys.headerKey)) members.push(entry);
      else damaged.push({ target, error: untrustedHeader(target.name).toData() });
    } else if (headerAuthenticates({ ...header, repositoryId: anchor.header.repositoryId }, anchor.keys.headerKey)) {
      damaged.push({ target, error: untrustedHeader(target.name, 'its repository id was altered').toData() });
    } else {
      throw differentSets(target, anchor, header.repositoryId);
    }
  }
  return { members, damaged };
}

/** Opens and unlocks every usable repository; a damaged header in one is reported with the unreachable ones. Refuses if none exists yet. */
export async function openRepositorySet(targets: readonly StorageTarget[], passphrase: string, unlocked?: UnlockedKeys): Promise<RepositorySet> {
  const found = await survey(targets);
  if (found.headers.length === 0) {
    const names = targets.map((target) => target.name).join("', '");
    const firstDamaged = found.damaged[0];
    if (firstDamaged) throw firstDamaged.error;
    if (found.unreachable.length > 0 && found.uninitialized.length === 0) {
      const reasons = found.unreachable.map((entry) => entry.error.message);
      throw new DrcError('STORAGE_UNAVAILABLE', `unable to reach any repository ('${names}')`, { hints: reasons });
    }
    throw new DrcError('REPO_NOT_INITIALIZED', `unable to open repository '${names}': no repository has been created there`, {
      hints: ['run `drc repo init` to create it'],
    });
  }
  const anchor = await findAnchor(found, passphrase, unlocked);
  const { members, damaged } = classify(found, anchor);
  const set = new SetMembers();
  const repositories = members.map(({ target, header }) => new Repository(target, header, anchor.keys, set));
  set.members.push(...repositories);
  const order = new Map(targets.map((target, index) => [target, index]));
  const unusable = [...found.unreachable, ...found.damaged.map(({ target, error }) => ({ target, error: error.toData() })), ...damaged].sort((a, b) => (order.get(a.target) ?? 0) - (order.get(b.target) ?? 0));
  return { repositories, uninitialized: found.uninitialized, unreachable: unusable, repositoryId: anchor.header.repositoryId, keys: anchor.keys, fallbacks: set.fallbacks };
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
  /** Repositories of this set whose damaged header was rewritten from a good copy. */
  readonly repaired: string[];
  readonly unreachable: UnreachableRepository[];
  readonly repositoryId: string;
}

/**
 * Whether a target with a damaged header holds this set's objects (or none at all), so
 * that rewriting its header loses nothing: a header that does not parse might be another
 * set's, and writing ours over it would make that set's data unreadable.
 */
async function holdsThisSet(target: StorageTarget, keys: RepositoryKeys): Promise<boolean> {
  for (const prefix of [objectPrefixes.backups, objectPrefixes.events, objectPrefixes.chunks]) {
    const [object] = await target.list(prefix);
    if (!object) continue;
    try {
      await openObject(keys, target.name, object.name, await target.get(object.name));
      return true;
    } catch (error) {
      if (!(error instanceof DrcError) || error.code !== 'OBJECT_CORRUPT') throw error;
    }
  }
  return (await Promise.all([objectPrefixes.backups, objectPrefixes.events, objectPrefixes.chunks].map(async (prefix) => (await target.list(prefix)).length))).every((count) => count === 0);
}

/**
 * Creates the repository on every reachable target that lacks one. If some targets
 * already hold it, the new ones get a copy of that header (same set, same passphrases),
 * which needs the passphrase to prove the caller may extend the set. A member whose
 * header is damaged gets the good header back, once its objects prove it is of this set.
 */
export async function initRepositorySet(targets: readonly StorageTarget[], passphrase: string, options: InitOptions = {}): Promise<InitResult> {
  const found = await survey(targets);
  let header: RepositoryHeader;
  const repaired: string[] = [];
  const unreachable = [...found.unreachable];
  if (found.headers.length > 0) {
    const anchor = await findAnchor(found, passphrase);
    header = anchor.header;
    const { damaged } = classify(found, anchor);
    for (const entry of [...found.damaged.map(({ target, error }) => ({ target, error: error.toData() })), ...damaged]) {
      if (await holdsThisSet(entry.target, anchor.keys)) {
        await entry.target.put(headerObject, encodeHeader(header));
        repaired.push(entry.target.name);
      } else {
        unreachable.push(entry);
      }
    }
  } else {
    const firstDamaged = found.damaged[0];
    // Never start a new set over a header that cannot be read: the data beside it may be recoverable.
    if (firstDamaged) throw firstDamaged.error;
    const now = options.now ?? new Date();
    const repositoryId = randomBytes(16).toString('hex');
    const masterKey = newMasterKey();
    const slot = await wrapMasterKey(masterKey, passphrase, repositoryId, options.label ?? 'initial passphrase', options.scrypt ?? defaultScrypt, now);
    header = signHeader({ format: repositoryFormat, repositoryId, createdAt: now.toISOString(), compression: options.compression ?? 'zstd', keySlots: [slot] }, deriveKeys(masterKey).headerKey);
  }
  await Promise.all(found.uninitialized.map((target) => target.put(headerObject, encodeHeader(header))));
  return {
    created: found.uninitialized.map((target) => target.name),
    alreadyInitialized: found.headers.map((entry) => entry.target.name).filter((name) => !repaired.includes(name)),
    repaired: repaired.sort(),
    unreachable,
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
