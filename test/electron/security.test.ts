import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The items of the Electron security checklist that are settled by configuration and
 * by what the code never uses, rather than by behaviour of the mocked module (those are
 * in host.test.ts, app.test.ts and preload.test.ts).
 */
const root = fileURLToPath(new URL('../..', import.meta.url));

interface FuseOptions {
  readonly runAsNode?: boolean;
  readonly enableNodeOptionsEnvironmentVariable?: boolean;
  readonly enableNodeCliInspectArguments?: boolean;
  readonly grantFileProtocolExtraPrivileges?: boolean;
  readonly onlyLoadAppFromAsar?: boolean;
}

interface BuilderConfigModule {
  getConfig(projectDir: string, configPath: string | null, configFromOptions: null): Promise<{ electronFuses?: FuseOptions | null }>;
  validateConfiguration(config: unknown, debugLogger: { isEnabled: boolean; add(key: string, value: unknown): void }): Promise<void>;
}

/** electron-builder's own loader and schema check: what `npm run package` would read. */
function electronBuilder(): BuilderConfigModule {
  return createRequire(join(root, 'package.json'))('app-builder-lib/out/util/config/config.js') as BuilderConfigModule;
}

async function sourceFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile() && /\.(ts|tsx|mts|cts)$/.test(entry.name)).map((entry) => join(entry.parentPath, entry.name));
}

/** The names each file takes from the `electron` module. */
async function electronImports(): Promise<Map<string, string[]>> {
  const imports = new Map<string, string[]>();
  for (const file of await sourceFiles(join(root, 'src'))) {
    const text = await readFile(file, 'utf8');
    const names = [...text.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'electron'/g)].flatMap((match) =>
      (match[1] ?? '').split(',').map((name) => name.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0] ?? '').filter(Boolean),
    );
    if (names.length > 0 || /require\(\s*'electron'\s*\)|from\s*'electron\/|import\s*\*\s*as\s*\w+\s*from\s*'electron'/.test(text)) {
      imports.set(relative(root, file), names);
    }
  }
  return imports;
}

describe('Electron security configuration', () => {
  it('turns off runAsNode, NODE_OPTIONS and --inspect in packaged builds, in a config electron-builder accepts', async () => {
    const builder = electronBuilder();
    const config = await builder.getConfig(root, null, null);

    expect(config.electronFuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      grantFileProtocolExtraPrivileges: false,
      onlyLoadAppFromAsar: true,
    });
    await expect(builder.validateConfiguration(config, { isEnabled: false, add: () => undefined })).resolves.toBeUndefined();
    // The schema check is real: a misspelt fuse is refused.
    await expect(builder.validateConfiguration({ ...config, electronFuses: { runAsNod: false } }, { isEnabled: false, add: () => undefined })).rejects.toThrow(/electronFuses/);
  });

  it('imports Electron only in the shell and the preload, and never shell or safeStorage', async () => {
    const imports = await electronImports();

    expect([...imports.keys()].sort()).toEqual(['src/main/hosts/electron-app.ts', 'src/main/hosts/electron.ts', 'src/preload/index.ts']);
    // shell.openExternal is not used at all, so there is no allow-list to keep. safeStorage
    // falls back to a fixed password on Linux without a keyring; secrets go through the
    // CLI's keychain code, which refuses that case.
    for (const [file, names] of imports) {
      expect(names, file).not.toContain('shell');
      expect(names, file).not.toContain('safeStorage');
    }
    for (const file of await sourceFiles(join(root, 'src'))) {
      expect(await readFile(file, 'utf8'), file).not.toMatch(/\bsafeStorage\b|\bopenExternal\b/);
    }
  });
});
