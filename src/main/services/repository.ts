import type { RepositoryInfo, RepositoryProgress, SyncReport, VerifyReport } from '../../shared/contract/repository.js';
import { DrcError } from '../../shared/errors.js';
import { syncRepositories } from '../engines/sync.js';
import { verifyRepositories } from '../engines/verify.js';
import { newEvent } from '../repo/events.js';
import { readHeader } from '../repo/header.js';
import type { Compression } from '../repo/envelope.js';
import type { ScryptParameters } from '../repo/keys.js';
import { objectPrefixes } from '../repo/objects.js';
import { lockAll, recordInEvery, releaseAll } from '../repo/repository.js';
import { addPassphrase, initRepositorySet, removePassphrase, type InitResult, type RepositorySet } from '../repo/repository-set.js';
import { requireNewPassphraseStrength } from '../secrets/passphrase-policy.js';
import { RemovableTarget } from '../storage/removable.js';
import type { StorageTarget } from '../storage/target.js';
import { DelegatingTarget } from '../storage/wrappers/delegate.js';
import { repositoryConfigs, resolvePassphrase, withRepositorySet, withTargets, type ServiceContext } from './context.js';

/** Repository management, shared by the CLI, the HTTP host and the desktop app. */
export async function initRepositories(context: ServiceContext, options: { repository?: string; scrypt?: ScryptParameters; compression?: Compression } = {}): Promise<InitResult> {
  const passphrase = await resolvePassphrase(context);
  return withTargets(context, options.repository, async (targets) => {
    // The passphrase is new only when it starts a new set; joining a set keeps the one it has.
    const headers = await Promise.all(targets.map((target) => readHeader(target).catch(() => undefined)));
    if (headers.every((header) => header === undefined)) requireNewPassphraseStrength(passphrase, 'the new repository');
    const result = await initRepositorySet(targets, passphrase, { ...(options.scrypt ? { scrypt: options.scrypt } : {}), ...(options.compression ? { compression: options.compression } : {}) });
    for (const target of targets) {
      const removable = unwrapRemovable(target);
      if (removable && result.created.includes(target.name)) await removable.ensureMediaLabel();
    }
    return result;
  });
}

function unwrapRemovable(target: StorageTarget): RemovableTarget | undefined {
  let current: StorageTarget = target;
  while (current instanceof DelegatingTarget) current = current.wrapped;
  return current instanceof RemovableTarget ? current : undefined;
}

const countedPrefixes = { chunks: objectPrefixes.chunks, backups: objectPrefixes.backups, wal: objectPrefixes.wal, events: objectPrefixes.events };

/** Needs no passphrase: the header is plaintext and holds no key material in the clear. */
export async function describeRepositories(context: ServiceContext, options: { repository?: string } = {}): Promise<RepositoryInfo[]> {
  const configs = repositoryConfigs(context, options.repository);
  return withTargets(context, options.repository, (targets) =>
    Promise.all(
      targets.map(async (target, index): Promise<RepositoryInfo> => {
        const base: RepositoryInfo = {
          repository: target.name,
          type: configs[index]?.type ?? 'unknown',
          location: target.describe(),
          media: target.capabilities.media,
          offsite: target.capabilities.offsite,
          initialized: false,
          keySlots: [],
          objects: {},
        };
        try {
          const header = await readHeader(target);
          if (!header) return base;
          const objects: RepositoryInfo['objects'] = {};
          for (const [kind, prefix] of Object.entries(countedPrefixes)) {
            const listed = await target.list(prefix);
            objects[kind] = { count: listed.length, bytes: listed.reduce((sum, object) => sum + object.size, 0) };
          }
          return {
            ...base,
            initialized: true,
            formatVersion: header.format,
            repositoryId: header.repositoryId,
            createdAt: header.createdAt,
            keySlots: header.keySlots.map((slot) => ({ id: slot.id, label: slot.label, createdAt: slot.createdAt })),
            objects,
          };
        } catch (error) {
          if (!(error instanceof DrcError)) throw error;
          return { ...base, error: { code: error.code, message: error.message, hints: error.hints } };
        }
      }),
    ),
  );
}

export function verify(context: ServiceContext, options: { repository?: string; repair: boolean; onProgress?: (progress: RepositoryProgress) => void }): Promise<VerifyReport> {
  // Repair needs the other repositories as sources even when one is named.
  const scope = options.repair ? undefined : options.repository;
  return withRepositorySet(context, scope, async (set) => {
    const report = await verifyRepositories(set, { repair: options.repair, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    if (options.repository === undefined) return report;
    const repositories = report.repositories.filter((result) => result.repository === options.repository);
    return { ...report, repositories, ok: repositories.every((result) => result.error === undefined && result.problems.every((problem) => problem.repaired)) };
  });
}

export function sync(context: ServiceContext, options: { from: string; to: string; onProgress?: (progress: RepositoryProgress) => void; signal?: AbortSignal }): Promise<SyncReport> {
  repositoryConfigs(context, options.from);
  repositoryConfigs(context, options.to);
  return withRepositorySet(context, undefined, (set) => syncRepositories(set, options));
}

/** Key-slot changes rewrite the header of every repository, under the write lock. */
async function underWriteLock<T>(set: RepositorySet, operation: string, work: () => Promise<T>): Promise<T> {
  const locks = await lockAll(set.repositories, operation);
  try {
    return await work();
  } finally {
    await releaseAll(locks);
  }
}

export async function addRepositoryPassphrase(context: ServiceContext, options: { newPassphrase: string; label: string; scrypt?: ScryptParameters }): Promise<{ slotId: string; updated: string[]; failed: Array<{ repository: string; message: string }> }> {
  requireNewPassphraseStrength(options.newPassphrase, 'the new key slot');
  const passphrase = await resolvePassphrase(context);
  return withRepositorySet(context, undefined, (set) =>
    underWriteLock(set, 'passphrase add', async () => {
      const result = await addPassphrase(set, passphrase, options.newPassphrase, options.label, options.scrypt);
      const unrecorded = await recordEverywhere(set, newEvent('passphrase-add', result.failed.length === 0 ? 'success' : 'partial', `key slot ${result.slotId} ('${options.label}') added`, { slotId: result.slotId, updated: result.updated }));
      return { slotId: result.slotId, updated: result.updated, failed: [...result.failed.map((entry) => ({ repository: entry.target.name, message: entry.error.message })), ...unrecorded] };
    }),
  );
}

export async function removeRepositoryPassphrase(context: ServiceContext, options: { slotId: string }): Promise<{ updated: string[]; failed: Array<{ repository: string; message: string }> }> {
  return withRepositorySet(context, undefined, (set) =>
    underWriteLock(set, 'passphrase remove', async () => {
      const result = await removePassphrase(set, options.slotId);
      const unrecorded = await recordEverywhere(set, newEvent('passphrase-remove', result.failed.length === 0 ? 'success' : 'partial', `key slot ${options.slotId} removed`, { slotId: options.slotId, updated: result.updated }));
      return { updated: result.updated, failed: [...result.failed.map((entry) => ({ repository: entry.target.name, message: entry.error.message })), ...unrecorded] };
    }),
  );
}

/** The key slots changed whether or not the change can be recorded: a repository that cannot take the record is reported, not thrown. */
async function recordEverywhere(set: RepositorySet, event: ReturnType<typeof newEvent>): Promise<Array<{ repository: string; message: string }>> {
  const { failed } = await recordInEvery(set.repositories, event);
  return failed.map((entry) => ({ repository: entry.repository, message: `key slots changed, but the change could not be recorded: ${entry.error.message}` }));
}
