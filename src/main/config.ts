import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { configSchema, describeConfigIssues, type DrcConfig } from '../shared/config.js';
import { DrcError } from '../shared/errors.js';

/** The OS application-data directory, where the config lives unless `--config` says otherwise. */
export function defaultConfigPath(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): string {
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'DR Console', 'config.json');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'DR Console', 'config.json');
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'dr-console', 'config.json');
}

export interface LoadedConfig {
  readonly path: string;
  readonly config: DrcConfig;
}

export async function loadConfig(path: string = defaultConfigPath()): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
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
  return { path, config: parseConfig(raw, path) };
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
