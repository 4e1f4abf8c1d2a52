import type { RepositoryProgress } from '../../shared/contract/repository.js';
import type { ContractServer, Listener } from '../../shared/contract/index.js';
import { createContext } from './context.js';
import { describeRepositories, sync, verify } from './repository.js';

/**
 * The contract's implementation, for the desktop app and the HTTP host. The config is
 * read once at start; every call opens its targets, resolves its secrets and closes them.
 */
export async function createServices(options: { configPath?: string | undefined }): Promise<ContractServer> {
  const context = await createContext(options.configPath === undefined ? {} : { configPath: options.configPath });
  const progressListeners = new Set<Listener<RepositoryProgress>>();
  const onProgress = (progress: RepositoryProgress): void => {
    for (const listener of progressListeners) listener(progress);
  };
  return {
    repository: {
      info: (input) => describeRepositories(context, input.repository === undefined ? {} : { repository: input.repository }),
      verify: (input) => verify(context, { ...(input.repository === undefined ? {} : { repository: input.repository }), repair: input.repair, onProgress }),
      sync: (input) => sync(context, { from: input.from, to: input.to, onProgress }),
      progress: (listener) => {
        progressListeners.add(listener);
        return () => {
          progressListeners.delete(listener);
        };
      },
    },
  };
}
