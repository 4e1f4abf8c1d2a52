import type { DrcConfig, RepositoryConfig } from '../../shared/config.js';
import { loadConfig } from '../config.js';
import { openRepositorySet, UnlockedKeys, type RepositorySet } from '../repo/repository-set.js';
import { SecretResolver } from '../secrets/references.js';
import { openTarget, selectRepositories } from '../storage/registry.js';
import type { StorageTarget } from '../storage/target.js';
import type { RetryPolicy } from '../storage/wrappers/retry.js';

/**
 * What every service call needs: the validated config and a way to resolve its secrets.
 * Targets are opened per call and closed after it, so credentials are resolved at use
 * (a rotated keychain entry takes effect at once) and no socket outlives its operation.
 */
export interface ServiceContext {
  readonly config: DrcConfig;
  readonly configPath: string;
  readonly secrets: SecretResolver;
  readonly retry?: RetryPolicy;
  /** Set by hosts that stay up, so repeated calls do not pay the passphrase's scrypt each time. */
  readonly unlocked?: UnlockedKeys;
}

export async function createContext(options: { configPath?: string; secrets?: SecretResolver; retry?: RetryPolicy; keepUnlocked?: boolean } = {}): Promise<ServiceContext> {
  const loaded = await loadConfig(options.configPath);
  return {
    config: loaded.config,
    configPath: loaded.path,
    secrets: options.secrets ?? new SecretResolver(),
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.keepUnlocked ? { unlocked: new UnlockedKeys() } : {}),
  };
}

export function repositoryConfigs(context: ServiceContext, name?: string): RepositoryConfig[] {
  return selectRepositories(context.config.repositories, name);
}

export function resolvePassphrase(context: ServiceContext): Promise<string> {
  return context.secrets.resolve(context.config.encryption.passphrase, 'passphrase of the repositories');
}

/** Opens the targets, runs `work`, and closes every target whatever happened. */
export async function withTargets<T>(context: ServiceContext, name: string | undefined, work: (targets: StorageTarget[]) => Promise<T>): Promise<T> {
  const targets: StorageTarget[] = [];
  try {
    for (const config of repositoryConfigs(context, name)) {
      targets.push(await openTarget(config, { secrets: context.secrets, ...(context.retry ? { retry: context.retry } : {}) }));
    }
    return await work(targets);
  } finally {
    await Promise.allSettled(targets.map((target) => target.close()));
  }
}

/** Opens and unlocks the repositories (all, or the one named) for the duration of `work`. */
export async function withRepositorySet<T>(context: ServiceContext, name: string | undefined, work: (set: RepositorySet) => Promise<T>): Promise<T> {
  const passphrase = await resolvePassphrase(context);
  return withTargets(context, name, async (targets) => work(await openRepositorySet(targets, passphrase, context.unlocked)));
}
