import type { RepositoryConfig } from '../../shared/config.js';
import { DrcError } from '../../shared/errors.js';
import type { SecretResolver } from '../secrets/references.js';
import { LocalTarget } from './local.js';
import { RemovableTarget } from './removable.js';
import type { StorageTarget } from './target.js';
import { withRetry, type RetryPolicy } from './wrappers/retry.js';
import { withVerifyAfterWrite } from './wrappers/verify-after-write.js';

export interface OpenTargetOptions {
  readonly secrets: SecretResolver;
  readonly retry?: RetryPolicy;
}

/**
 * Maps a configured repository to its driver, resolving its secrets at this moment, and
 * wraps it: verify-after-write for removable media (sticks that lie about writes are
 * common), retry with backoff for everything.
 */
export async function openTarget(config: RepositoryConfig, options: OpenTargetOptions): Promise<StorageTarget> {
  const driver = await createDriver(config, options.secrets);
  const verified = config.type === 'removable' ? withVerifyAfterWrite(driver) : driver;
  return withRetry(verified, options.retry);
}

async function createDriver(config: RepositoryConfig, secrets: SecretResolver): Promise<StorageTarget> {
  switch (config.type) {
    case 'local':
      return new LocalTarget({ name: config.name, path: config.path, offsite: config.offsite ?? false });
    case 'removable':
      return new RemovableTarget({ name: config.name, path: config.path, offsite: config.offsite ?? false });
    // The cloud SDKs load only when a cloud repository is configured: they are most of drc's start-up time.
    case 's3': {
      const { S3Target } = await import('./s3.js');
      return new S3Target({
        name: config.name,
        bucket: config.bucket,
        prefix: config.prefix,
        region: config.region,
        ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
        forcePathStyle: config.forcePathStyle,
        ...(config.accessKeyId === undefined ? {} : { accessKeyId: await secrets.resolve(config.accessKeyId, `access key id of repository '${config.name}'`) }),
        ...(config.secretAccessKey === undefined ? {} : { secretAccessKey: await secrets.resolve(config.secretAccessKey, `secret access key of repository '${config.name}'`) }),
        offsite: config.offsite ?? true,
      });
    }
    case 'gcs': {
      const { GcsTarget } = await import('./gcs.js');
      return new GcsTarget({
        name: config.name,
        bucket: config.bucket,
        prefix: config.prefix,
        ...(config.apiEndpoint === undefined ? {} : { apiEndpoint: config.apiEndpoint }),
        ...(config.projectId === undefined ? {} : { projectId: config.projectId }),
        ...(config.credentials === undefined ? {} : { credentials: parseServiceAccount(await secrets.resolve(config.credentials, `credentials of repository '${config.name}'`), config.name) }),
        offsite: config.offsite ?? true,
      });
    }
  }
}

function parseServiceAccount(json: string, repository: string): object {
  try {
    const parsed: unknown = JSON.parse(json);
    if (parsed !== null && typeof parsed === 'object') return parsed;
  } catch {
    // fall through to the error below; the secret itself must not appear in it
  }
  throw new DrcError('CONFIG_INVALID', `unable to use the credentials of repository '${repository}': the stored secret is not a service-account JSON document`, {
    hints: ['store the service-account key file with `drc secret set ACCOUNT < key.json`'],
  });
}

/** Picks the configured repositories named, or all of them. */
export function selectRepositories(repositories: readonly RepositoryConfig[], name?: string): RepositoryConfig[] {
  if (name === undefined) return [...repositories];
  const found = repositories.find((repository) => repository.name === name);
  if (!found) {
    throw new DrcError('REPOSITORY_UNKNOWN', `unable to find repository '${name}' in the config`, {
      hints: [`configured repositories: ${repositories.map((repository) => repository.name).join(', ')}`],
    });
  }
  return [found];
}
