import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, readlink, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { DrcError } from '../../shared/errors.js';
import { processAlive } from '../processes.js';
import { runAsUnprivileged, serverReachableBindir, type ServerBinaries } from './binaries.js';
import { freePort } from './free-port.js';

const execFileAsync = promisify(execFile);
const exe = (name: string): string => (process.platform === 'win32' ? `${name}.exe` : name);

/**
 * A throw-away PostgreSQL server on a restored data directory (restore tests, partial
 * restores). It lives in a private directory of its own — data, socket, log, config —
 * and is reachable only through a Unix socket in that directory (on Windows, 127.0.0.1),
 * with trust authentication: whoever can enter the directory (this user, root) may log
 * in, nobody else. Production's own config (memory, SSL, preload libraries, pg_hba with
 * passwords we do not know) is replaced on the command line, because the restored copy
 * must start on a workstation, not on the server it came from.
 *
 * Before the directory exists a state file records it, so that when `drc` is killed
 * mid-test the next run finds what was left (`removeLeftoverScratchInstances`), stops the
 * server and deletes the directory.
 */
interface ScratchState {
  readonly id: string;
  readonly directory: string;
  readonly purpose: string;
  readonly ownerPid: number;
  /** The owner's start time (Linux), so a recycled pid is not mistaken for a live owner. */
  readonly ownerStartTime?: string;
  readonly createdAt: string;
  bindir?: string;
}

export interface ScratchLocation {
  /** Where the scratch directory is created (default: the OS temp directory). */
  readonly parentDir?: string;
  /** Where state files go (config `stateDir`; default: the OS temp directory). */
  readonly stateDir?: string;
}

export interface LeftoverInstance {
  readonly id: string;
  readonly purpose: string;
  readonly directory: string;
  readonly stoppedServer: boolean;
  readonly ownerPid: number;
  readonly createdAt: string;
}

/** Settings that replace the restored cluster's own for the scratch server's whole life. */
function scratchSettings(directory: string, port: number, id: string): Array<[string, string]> {
  return [
    ['config_file', join(directory, 'postgresql.conf')],
    ['hba_file', join(directory, 'pg_hba.conf')],
    ['ident_file', join(directory, 'pg_ident.conf')],
    ['port', String(port)],
    ['listen_addresses', process.platform === 'win32' ? '127.0.0.1' : ''],
    ['unix_socket_directories', process.platform === 'win32' ? '' : directory],
    ['unix_socket_permissions', '0700'],
    ['unix_socket_group', ''],
    ['cluster_name', `drc-scratch-${id}`],
    // Tablespaces are restored as directories under pg_tblspc/ (see start()).
    ['allow_in_place_tablespaces', 'on'],
    // Production's sizes and features need not exist here (huge pages, SSL certificates,
    // preloaded extension libraries the workstation lacks); ALTER SYSTEM values in the
    // restored postgresql.auto.conf would otherwise win over a config file.
    ['shared_buffers', '128MB'],
    ['huge_pages', 'off'],
    ['max_connections', '20'],
    ['superuser_reserved_connections', '3'],
    ['ssl', 'off'],
    ['shared_preload_libraries', ''],
    ['session_preload_libraries', ''],
    ['local_preload_libraries', ''],
    ['archive_mode', 'off'],
    // Without hot standby, recovery does not check max_connections & co. against the
    // primary's, and connections are accepted only once recovery has ended.
    ['hot_standby', 'off'],
    ['logging_collector', 'off'],
    ['log_destination', 'stderr'],
    ['lc_messages', 'C'],
    // The copy is thrown away: durability buys nothing, and a crash must not restart it.
    ['fsync', 'off'],
    ['restart_after_crash', 'off'],
    // A test must never be lenient about damage, whatever the source configured.
    ['zero_damaged_pages', 'off'],
    ['ignore_checksum_failure', 'off'],
    ['ignore_system_indexes', 'off'],
  ];
}

/** pg_ctl passes -o to a shell (cmd.exe on Windows): each option is quoted for it. */
function quoteForShell(text: string): string {
  return process.platform === 'win32' ? `"${text.replace(/"/g, '""')}"` : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * pg_ctl -w returns once recovery has begun (without hot standby the postmaster reports
 * 'standby' status then), so this bounds only the start itself; recovery is waited for
 * separately, for as long as the WAL needs.
 */
const startWaitSeconds = 600;

export class ScratchInstance {
  private serverBindir: string | undefined;
  private loginRoles: readonly string[] = [];
  private loginRole: string | undefined;
  private starting: Promise<{ code: number | null; output: string }> | undefined;
  /** Ends pg_ctl's wait (not the server) when the operator interrupts. */
  private stopWaiting: () => void = () => undefined;
  port: number | undefined;
  postmasterPid: number | undefined;

  private constructor(
    private readonly state: ScratchState,
    private readonly statePath: string,
  ) {}

  get id(): string {
    return this.state.id;
  }

  get directory(): string {
    return this.state.directory;
  }

  get dataDir(): string {
    return join(this.state.directory, 'data');
  }

  get logFile(): string {
    return join(this.state.directory, 'server.log');
  }

  /** Records the instance-to-be, then creates its private directory (the data directory inside is left to the restore). */
  static async create(purpose: string, location: ScratchLocation = {}): Promise<ScratchInstance> {
    const id = `${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomBytes(4).toString('hex')}`;
    const directory = join(resolve(location.parentDir ?? tmpdir()), `drc-scratch-${id}`);
    const startTime = await processStartTime(process.pid);
    const state: ScratchState = { id, directory, purpose, ownerPid: process.pid, ...(startTime === undefined ? {} : { ownerStartTime: startTime }), createdAt: new Date().toISOString() };
    const stateDir = await privateStateDir(location.stateDir);
    const instance = new ScratchInstance(state, join(stateDir, `${id}.json`));
    activeInstances.add(id);
    await instance.saveState();
    try {
      await mkdir(directory, { mode: 0o700 });
    } catch (error) {
      await rm(instance.statePath, { force: true });
      activeInstances.delete(id);
      throw new DrcError('SCRATCH_INSTANCE_FAILED', `unable to create scratch directory '${directory}': ${(error as Error).message}`, {
        hints: ['choose a writable place with room for a full restore: --scratch-dir DIR'],
        cause: error,
      });
    }
    return instance;
  }

  /**
   * Starts the server on the restored data directory, as the unprivileged server user
   * when this process is root. Returns once the postmaster runs; recovery goes on —
   * `waitUntilRecovered` waits for it. `loginRoles`: roles that may exist in the restored
   * cluster (the configured user), tried first when logging in.
   */
  async start(binaries: ServerBinaries, loginRoles: readonly string[] = []): Promise<void> {
    this.loginRoles = loginRoles;
    const bindir = await serverReachableBindir(binaries);
    this.serverBindir = bindir;
    this.state.bindir = bindir;
    await this.saveState();
    // The restore puts tablespaces under pg_tblspc/<oid>/ inside the copy; tablespace_map
    // would have the server replace them with links to production's locations.
    await rm(join(this.dataDir, 'tablespace_map'), { force: true });
    await writeFile(join(this.directory, 'postgresql.conf'), '# DR Console scratch instance: every setting is given on the command line\n');
    await writeFile(join(this.directory, 'pg_ident.conf'), '');
    const hba = ['local all all trust', ...(process.platform === 'win32' ? ['host all all 127.0.0.1/32 trust'] : [])];
    await writeFile(join(this.directory, 'pg_hba.conf'), `${hba.join('\n')}\n`);
    await this.handToServerUser();

    this.port = await freePort();
    const options = scratchSettings(this.directory, this.port, this.id)
      .map(([name, value]) => `-c ${quoteForShell(`${name}=${value}`)}`)
      .join(' ');
    const ids = runAsUnprivileged();
    // Its own session: a Ctrl-C meant for drc must not reach the server; drc stops it.
    const child = spawn(join(bindir, exe('pg_ctl')), ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', String(startWaitSeconds), '-o', options, 'start'], {
      cwd: this.directory,
      env: { PATH: process.env.PATH ?? '', LANG: 'C', LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      windowsHide: true,
      ...(ids ?? {}),
    });
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.stderr.on('data', (data: Buffer) => (output += data.toString()));
    // 'exit', not 'close': the postmaster inherits nothing of pg_ctl's pipes worth waiting for.
    this.starting = new Promise((done, fail) => {
      child.on('error', fail);
      child.on('exit', (code) => done({ code, output }));
    });
    this.stopWaiting = () => child.kill('SIGTERM');
    // The postmaster writes its pid file before recovery begins; until then pg_ctl may still fail.
    for (;;) {
      this.postmasterPid = await postmasterPidOf(this.dataDir);
      if (this.postmasterPid !== undefined) return;
      const exited = await Promise.race([this.starting, sleep(50).then(() => undefined)]);
      if (exited !== undefined) {
        this.postmasterPid = await postmasterPidOf(this.dataDir);
        if (exited.code === 0) return;
        throw await this.startFailure(exited.output);
      }
    }
  }

  /** Waits until recovery has reached its target and the server accepts writes. */
  async waitUntilRecovered(signal?: AbortSignal): Promise<void> {
    if (!this.starting) throw new DrcError('INTERNAL', `unable to wait for scratch instance ${this.id}: it was not started`);
    const onAbort = (): void => this.stopWaiting();
    signal?.addEventListener('abort', onAbort);
    let exited: { code: number | null; output: string };
    try {
      exited = await this.starting;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (signal?.aborted) throw interrupted();
    if (exited.code !== 0) throw await this.startFailure(exited.output);
    // Until recovery ends the server turns every connection away before authentication.
    while (!(await this.acceptsConnections())) {
      if (signal?.aborted) throw interrupted();
      if (this.postmasterPid === undefined || !processAlive(this.postmasterPid)) throw await this.startFailure(exited.output);
      await sleep(100);
    }
    const inRecovery = await this.withSession('template1', async (client) => (await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery')).rows[0]?.recovery);
    if (inRecovery !== false) {
      throw new DrcError('SCRATCH_INSTANCE_FAILED', `unable to finish recovery of scratch instance ${this.id}: the server accepts connections but is still in recovery`, {
        hints: ['recovery settings other than DR Console\'s (standby.signal, recovery_target_action = pause) may be in the restored directory'],
      });
    }
  }

  /** Whether the server got past "not accepting connections" (57P03): any other answer, even a refused login, means it did. */
  private async acceptsConnections(): Promise<boolean> {
    try {
      await this.session('template1', 'postgres', () => Promise.resolve());
      return true;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      return code !== '57P03' && code !== 'ENOENT' && code !== 'ECONNREFUSED';
    }
  }

  /**
   * Runs `work` in a session on `database` as the cluster's bootstrap superuser. Its name
   * is whatever the source cluster called it; it is found through any role that can log
   * in (the login roles given to start(), then `postgres` and this OS user), trust
   * authentication allowing.
   */
  async withSession<T>(database: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const role = this.loginRole ?? (this.loginRole = await this.findSuperuser());
    return this.session(database, role, work);
  }

  private async findSuperuser(): Promise<string> {
    const tried: string[] = [];
    for (const role of new Set([...this.loginRoles, 'postgres', userInfo().username])) {
      try {
        return await this.session('template1', role, async (client) => (await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE oid = 10')).rows[0]?.rolname ?? role);
      } catch (error) {
        tried.push(`${role}: ${(error as Error).message}`);
      }
    }
    throw new DrcError('SCRATCH_INSTANCE_FAILED', `unable to log in to scratch instance ${this.id}: ${tried.join('; ')}`, {
      hints: ['set cluster.user in the config to a role that exists in the backed-up cluster'],
    });
  }

  private async session<T>(database: string, user: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({
      host: process.platform === 'win32' ? '127.0.0.1' : this.directory,
      port: this.port,
      user,
      database,
      application_name: 'dr-console scratch',
      connectionTimeoutMillis: 30_000,
    });
    // An error event on an idle client (the server stopped) must not crash the process.
    client.on('error', () => undefined);
    await client.connect();
    try {
      // The restored cluster's per-database and per-role settings must not cut a check short.
      await client.query("SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0; SET default_transaction_read_only = off; SET search_path = pg_catalog");
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** The last lines of the server log that explain a failure (FATAL/PANIC/ERROR), else its tail. */
  async logExcerpt(lines = 8): Promise<string> {
    const log = await readFile(this.logFile, 'utf8').catch(() => '');
    const all = log.split('\n').filter((line) => line.trim() !== '');
    const telling = all.filter((line) => /\b(FATAL|PANIC|ERROR):/.test(line));
    return (telling.length > 0 ? telling : all).slice(-lines).join('\n');
  }

  /** Stops the server (immediate shutdown) and deletes the directory and the state file. Safe to call more than once. */
  async remove(): Promise<void> {
    // From here on, should removal fail, a later run in this process cleans it up too.
    activeInstances.delete(this.id);
    await stopPostmaster(this.dataDir, this.serverBindir);
    await rm(this.directory, { recursive: true, force: true });
    await rm(this.statePath, { force: true });
  }

  /** Written aside, then renamed: a drc killed mid-write leaves the previous state whole, never a torn one. */
  private async saveState(): Promise<void> {
    const written = `${this.statePath}.partial`;
    await writeFile(written, JSON.stringify(this.state, null, 2), { mode: 0o600 });
    await rename(written, this.statePath);
  }

  private async handToServerUser(): Promise<void> {
    const ids = runAsUnprivileged();
    if (ids !== undefined) await execFileAsync('chown', ['-R', `${String(ids.uid)}:${String(ids.gid)}`, this.directory]);
    await chmod(this.directory, 0o700);
    await chmod(this.dataDir, 0o700);
  }

  private async startFailure(output: string): Promise<DrcError> {
    const excerpt = await this.logExcerpt();
    return new DrcError('SCRATCH_INSTANCE_FAILED', `unable to start scratch instance ${this.id}: ${excerpt || output.trim() || 'pg_ctl failed without output'}`, {
      hints: ['the server log above is from the restored copy; it is deleted with the scratch directory'],
    });
  }
}

function interrupted(): DrcError {
  return new DrcError('SCRATCH_INSTANCE_FAILED', 'unable to wait for the recovery of the scratch instance: interrupted', { hints: ['the scratch instance is stopped and removed; run the command again'] });
}

const statePattern = /^(\d{14}-[0-9a-f]{8})\.json$/;

/**
 * The directory of state files, made private to this user. Its files name directories
 * that a later run deletes, so a directory another user could write to (the shared temp
 * directory's `drc-scratch`, created first by someone else) is refused.
 */
async function privateStateDir(stateDir: string | undefined): Promise<string> {
  const directory = join(resolve(stateDir ?? tmpdir()), 'drc-scratch');
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const info = await lstat(directory);
  const uid = process.getuid?.();
  if (!info.isDirectory() || (uid !== undefined && (info.uid !== uid || (info.mode & 0o077) !== 0))) {
    throw new DrcError('SCRATCH_INSTANCE_FAILED', `unable to keep scratch instance state in '${directory}': it is not a private directory of this user`, {
      hints: ['set "stateDir" in the config to a directory of your own, or remove that one'],
    });
  }
  return directory;
}

/**
 * Finds scratch instances whose `drc` no longer runs (killed, or the machine rebooted),
 * stops their server if it still runs and deletes their directory. Instances of a `drc`
 * that still runs (a test in another terminal) are left alone.
 */
export async function removeLeftoverScratchInstances(stateDir?: string): Promise<LeftoverInstance[]> {
  const directory = await privateStateDir(stateDir);
  const removed: LeftoverInstance[] = [];
  for (const name of await readdir(directory)) {
    const id = statePattern.exec(name)?.[1];
    if (id === undefined) continue;
    const path = join(directory, name);
    let state: ScratchState;
    try {
      state = JSON.parse(await readFile(path, 'utf8')) as ScratchState;
    } catch {
      // Half-written by a process killed mid-write: nothing was created after it.
      await rm(path, { force: true });
      continue;
    }
    // Only ever a scratch directory of this very instance is deleted, whatever the file says.
    if (state.id !== id || basename(state.directory) !== `drc-scratch-${id}`) continue;
    if (await ownerRuns(state)) continue;
    const dataDir = join(state.directory, 'data');
    const stoppedServer = await stopPostmaster(dataDir, state.bindir);
    await rm(state.directory, { recursive: true, force: true });
    await rm(path, { force: true });
    removed.push({ id: state.id, purpose: state.purpose, directory: state.directory, stoppedServer, ownerPid: state.ownerPid, createdAt: state.createdAt });
  }
  return removed;
}

/** Instances of this process that are not removed yet; any other of its own is a leftover (a removal that failed). */
const activeInstances = new Set<string>();

async function ownerRuns(state: ScratchState): Promise<boolean> {
  if (state.ownerPid === process.pid) return activeInstances.has(state.id);
  if (!processAlive(state.ownerPid)) return false;
  if (state.ownerStartTime === undefined) return true;
  return (await processStartTime(state.ownerPid)) === state.ownerStartTime;
}

/**
 * Immediate shutdown of the postmaster running on `dataDir` (pg_ctl stop -m immediate,
 * SIGKILL if that does not end it). Returns whether one was running.
 */
async function stopPostmaster(dataDir: string, bindir: string | undefined): Promise<boolean> {
  const pid = await postmasterPidOf(dataDir);
  if (pid === undefined || !(await isPostmasterOf(pid, dataDir))) return false;
  if (bindir !== undefined) {
    await execFileAsync(join(bindir, exe('pg_ctl')), ['-D', dataDir, '-m', 'immediate', '-w', '-t', '30', 'stop'], {
      env: { PATH: process.env.PATH ?? '', LANG: 'C', LC_ALL: 'C' },
      windowsHide: true,
      ...(runAsUnprivileged() ?? {}),
    }).catch(() => undefined);
  }
  if (processAlive(pid)) {
    signalQuietly(pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (processAlive(pid) && Date.now() < deadline) await sleep(20);
  }
  return true;
}

async function postmasterPidOf(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number(text?.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * A stale postmaster.pid may name a pid that now belongs to another process. On Linux the
 * postmaster's working directory is its data directory, which tells them apart; elsewhere
 * the pid file is trusted, as pg_ctl trusts it.
 */
async function isPostmasterOf(pid: number, dataDir: string): Promise<boolean> {
  if (!processAlive(pid)) return false;
  const cwd = await readlink(`/proc/${String(pid)}/cwd`).catch(() => undefined);
  if (cwd === undefined) return process.platform !== 'linux';
  return cwd === (await realpath(dataDir).catch(() => dataDir));
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); undefined off Linux. */
async function processStartTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${String(pid)}/stat`, 'utf8').catch(() => undefined);
  // The command name (field 2) may hold spaces: count fields after its closing ')'.
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function signalQuietly(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

