import { readFile, realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { configSchema, describeConfigIssues, type DrcConfig } from '../shared/config.js';
import { DrcError } from '../shared/errors.js';
import { refusePseudoFilesystemRepository } from './storage/pseudo-filesystem.js';

/** The OS application-data directory, where the config lives unless `--config` says otherwise. */
export function defaultConfigPath(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): string {
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'DR Console', 'config.json');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'DR Console', 'config.json');
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'dr-console', 'config.json');
}

export interface LoadedConfig {
  /** The config file, as an absolute path. */
  readonly path: string;
  /** Every path in it absolute, resolved against the config file's directory. */
  readonly config: DrcConfig;
}

export async function loadConfig(path: string = defaultConfigPath()): Promise<LoadedConfig> {
  const absolute = resolve(path);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    throw new DrcError('CONFIG_NOT_FOUND', `unable to read config file '${path}': ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      hints: ['pass --config FILE, or create the file; README.md shows a complete example'],
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new DrcError('CONFIG_INVALID', `unable to parse config file '${path}': ${(error as Error).message}`, {
      hints: ['the config file must be JSON'],
    });
  }
  const config = resolveConfigPaths(parseConfig(raw, path), dirname(absolute));
  await checkRepositoryDirectories(config, path);
  return { path: absolute, config };
}

export function parseConfig(raw: unknown, source = 'config'): DrcConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = describeConfigIssues(parsed.error);
    throw new DrcError('CONFIG_INVALID', `unable to use config '${source}': ${issues.join('; ')}`, {
      hints: [...issues, 'README.md documents every field'],
    });
  }
  return parsed.data;
}

/**
 * A relative path in the config means "beside the config file": `"path": "nas"` must
 * name the same directory whether drc runs from cron, a shell in /tmp or the dashboard,
 * never one under whatever the working directory happens to be.
 */
export function resolveConfigPaths(config: DrcConfig, directory: string): DrcConfig {
  const cluster = config.cluster;
  return {
    ...config,
    repositories: config.repositories.map((repository) => (repository.type === 'local' || repository.type === 'removable' ? { ...repository, path: resolve(directory, repository.path) } : repository)),
    ...(config.stateDir === undefined ? {} : { stateDir: resolve(directory, config.stateDir) }),
    ...(cluster === undefined
      ? {}
      : {
          cluster: {
            ...cluster,
            ...(cluster.dataDirectory === undefined ? {} : { dataDirectory: resolve(directory, cluster.dataDirectory) }),
            ...(cluster.sslrootcert === undefined || cluster.sslrootcert === 'system' ? {} : { sslrootcert: resolve(directory, cluster.sslrootcert) }),
            ...(cluster.sslcert === undefined ? {} : { sslcert: resolve(directory, cluster.sslcert) }),
            ...(cluster.sslkey === undefined ? {} : { sslkey: resolve(directory, cluster.sslkey) }),
          },
        }),
  };
}

/**
 * The path with symlinks resolved as far as it exists: a repository not created yet
 * (or on a stick not plugged in) is compared by the nearest directory that exists.
 */
async function canonicalPath(path: string): Promise<string> {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    try {
      return join(await realpath(current), ...missing.reverse());
    } catch {
      const parent = dirname(current);
      if (parent === current) return path;
      missing.push(basename(current));
      current = parent;
    }
  }
}

/**
 * Checks a typo or a copied config line defeats silently otherwise:
 * - a repository path that is an existing file (drc would fail later with a misleading
 *   I/O error, or treat it as an empty repository);
 * - a repository path on a kernel's pseudo file system such as /proc (creating it would
 *   spin forever);
 * - one directory named by two repositories, or one inside another: a single copy
 *   counted as two, on "two media", and each repository's expiry deleting the other's.
 */
async function checkRepositoryDirectories(config: DrcConfig, source: string): Promise<void> {
  const places: Array<{ index: number; name: string; path: string }> = [];
  for (const [index, repository] of config.repositories.entries()) {
    if (repository.type !== 'local' && repository.type !== 'removable') continue;
    const info = await stat(repository.path).catch((error: unknown) => ((error as NodeJS.ErrnoException).code === 'ENOTDIR' ? 'under a file' : undefined));
    if (info === 'under a file' || (info !== undefined && !info.isDirectory())) {
      throw new DrcError('REPO_PATH_NOT_DIRECTORY', `unable to use repository '${repository.name}' at '${repository.path}': ${info === 'under a file' ? 'a part of that path is a file' : 'it is a file, not a directory'}`, {
        hints: [`repositories[${String(index)}].path must name a directory (drc creates it when missing); move the file away or correct the path in '${source}'`],
      });
    }
    await refusePseudoFilesystemRepository(repository.name, repository.path, `repositories[${String(index)}].path in '${source}'`);
    places.push({ index, name: repository.name, path: await canonicalPath(repository.path) });
  }
  const issues: string[] = [];
  for (const [position, place] of places.entries()) {
    for (const earlier of places.slice(0, position)) {
      const inside = (outer: string, inner: string): boolean => {
        const between = relative(outer, inner);
        return between !== '' && !between.startsWith('..') && !isAbsolute(between);
      };
      const same = place.path === earlier.path;
      if (!same && !inside(earlier.path, place.path) && !inside(place.path, earlier.path)) continue;
      issues.push(
        `repositories[${String(place.index)}].path: '${place.path}' is ${same ? 'the same directory as' : inside(earlier.path, place.path) ? 'inside the directory of' : 'the parent of the directory of'} repository '${earlier.name}' (repositories[${String(earlier.index)}]): two repositories in one place are one copy, not two`,
      );
    }
  }
  if (issues.length > 0) {
    throw new DrcError('CONFIG_INVALID', `unable to use config '${source}': ${issues.join('; ')}`, {
      hints: [...issues, 'give each repository its own directory, ideally on its own disk or medium'],
    });
  }
}
