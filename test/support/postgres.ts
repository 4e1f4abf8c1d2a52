import { execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { locateServerBinaries, runAsUnprivileged, serverReachableBindir } from '../../src/main/postgres/binaries.js';
import { freePort } from '../../src/main/postgres/free-port.js';

const execFileAsync = promisify(execFile);

/**
 * Real PostgreSQL servers for tests: a fresh cluster per call (initdb), on a free port,
 * reachable on 127.0.0.1 only, run as the `postgres` user when the tests run as root.
 * Every server started here is tracked: `stopAllClusters()` stops them (call it in
 * afterAll), and a last-resort exit hook sends the rest an immediate shutdown.
 */
export type TestMajor = 15 | 16 | 17 | 18;

export interface StartClusterOptions {
  readonly major: TestMajor;
  /** postgresql.conf settings, after (and so winning over) the harness's own; values as written there (quote strings). */
  readonly settings?: Record<string, string>;
  readonly auth?: 'trust' | 'scram-sha-256';
  /** The `postgres` user's password; required with scram-sha-256 (default 'postgres'). */
  readonly password?: string;
  /** pg_hba.conf lines placed before the harness's own, e.g. to try md5 for one role. */
  readonly hba?: readonly string[];
  /** More initdb arguments, e.g. ['--wal-segsize=64']. */
  readonly initdbArgs?: readonly string[];
  /** pg_wal as a link to a directory beside the data directory (`initdb --waldir`), as when WAL has a disk of its own. */
  readonly separateWalDirectory?: boolean;
}

export interface TestCluster {
  readonly major: TestMajor;
  readonly port: number;
  readonly dataDir: string;
  readonly bindir: string;
  readonly logFile: string;
  readonly connection: { readonly host: '127.0.0.1'; readonly port: number; readonly user: 'postgres'; readonly database: 'postgres'; readonly password?: string };
  readonly running: boolean;
  /** One statement over a fresh `pg` session as the postgres user. */
  sql<Row extends Record<string, unknown> = Record<string, unknown>>(text: string, params?: unknown[]): Promise<Row[]>;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** Ends recovery (standby or PITR) and waits until the server accepts writes. */
  promote(): Promise<void>;
  /** SIGKILL to the postmaster and its children: a crash, as after a power cut. */
  kill(): Promise<void>;
  /** Stops the server if it runs, and deletes its directories (the data directory included). */
  remove(): Promise<void>;
}

const running = new Set<Cluster>();
let exitHookInstalled = false;

function track(cluster: Cluster): void {
  running.add(cluster);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    // SIGQUIT is PostgreSQL's immediate shutdown; nothing asynchronous can run here.
    for (const each of running) each.signal('SIGQUIT');
  });
}

/** Stops every server this process started and has not stopped yet. */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...running].map((cluster) => cluster.stop('immediate')));
}

/** A temporary directory the unprivileged server user can reach (mode 0755). */
export async function makeTempDir(prefix = 'drc-pg-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  return dir;
}

export async function startCluster(options: StartClusterOptions): Promise<TestCluster> {
  const bindir = await serverReachableBindir(await locateServerBinaries(options.major));
  const root = await makeTempDir();
  try {
    await ownForServer(root);
    const dataDir = join(root, 'data');
    const auth = options.auth ?? 'trust';
    const password = auth === 'scram-sha-256' ? (options.password ?? 'postgres') : options.password;
    const initdbArgs = ['-D', dataDir, '-U', 'postgres', '--data-checksums', '--no-locale', '-E', 'UTF8', '--no-sync', '--no-instructions', `--auth=${auth}`, ...(options.initdbArgs ?? [])];
    if (options.separateWalDirectory === true) initdbArgs.push(`--waldir=${join(root, 'wal')}`);
    if (password !== undefined) {
      const pwfile = join(root, 'pwfile');
      await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
      await ownForServer(pwfile);
      initdbArgs.push(`--pwfile=${pwfile}`);
    }
    await runServerTool(join(bindir, 'initdb'), initdbArgs, root);
    await rm(join(root, 'pwfile'), { force: true });

    const settings: Record<string, string> = {
      listen_addresses: "'127.0.0.1'",
      wal_level: 'replica',
      max_wal_senders: '10',
      max_replication_slots: '10',
      // Tests only: durability is not what they check, and fsync makes them slow.
      fsync: 'off',
      ...(options.major >= 17 ? { summarize_wal: 'on' } : {}),
      ...options.settings,
    };
    const conf = Object.entries(settings)
      .map(([key, value]) => `${key} = ${value}`)
      .join('\n');
    await writeFile(join(dataDir, 'postgresql.conf'), `${await readFile(join(dataDir, 'postgresql.conf'), 'utf8')}\n# test harness\n${conf}\n`);
    const method = auth === 'trust' ? 'trust' : 'scram-sha-256';
    const hba = [...(options.hba ?? []), 'local all all trust', `host all all 127.0.0.1/32 ${method}`, `host replication all 127.0.0.1/32 ${method}`];
    await writeFile(join(dataDir, 'pg_hba.conf'), `${hba.join('\n')}\n`);

    const cluster = new Cluster(options.major, bindir, root, dataDir, password, false);
    await cluster.start();
    return cluster;
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Starts a data directory made elsewhere (a restored backup): it is handed to the server
 * user (owner, mode 0700) and started with its own port and socket directory. `remove()`
 * deletes it too.
 */
export async function startClusterFromDataDir(dataDir: string, major: TestMajor, options: { port?: number; password?: string } = {}): Promise<TestCluster> {
  const bindir = await serverReachableBindir(await locateServerBinaries(major));
  const root = await makeTempDir();
  await ownForServer(root);
  const absolute = resolve(dataDir);
  await reachableForServer(absolute);
  const ids = runAsUnprivileged();
  if (ids !== undefined) await execFileAsync('chown', ['-R', `${String(ids.uid)}:${String(ids.gid)}`, absolute]);
  await chmod(absolute, 0o700);
  const cluster = new Cluster(major, bindir, root, absolute, options.password, true, options.port);
  try {
    await cluster.start();
  } catch (error) {
    // The data directory stays for the caller to inspect; the log is in the error.
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  return cluster;
}

/**
 * A restored data directory started and promoted: hot standby accepts connections before
 * recovery reaches its target, so what a test reads before the promotion is not the copy
 * the restore promised.
 */
export async function startPromotedCopy(dataDir: string, major: TestMajor): Promise<TestCluster> {
  const copy = await startClusterFromDataDir(dataDir, major);
  try {
    await waitFor(copy, 'SELECT NOT pg_is_in_recovery()', { timeoutMs: 60_000, intervalMs: 200 });
  } catch (error) {
    await copy.remove();
    throw error;
  }
  return copy;
}

/** Polls `predicateSql` until its first column is true (or 't'), or fails after `timeoutMs`. */
export async function waitFor(cluster: TestCluster, predicateSql: string, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const rows = await cluster.sql(predicateSql);
      const value = rows[0] === undefined ? undefined : Object.values(rows[0])[0];
      if (value === true || value === 't') return;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${predicateSql} (last: ${last instanceof Error ? last.message : String(last)})`);
    await new Promise((done) => setTimeout(done, options.intervalMs ?? 100));
  }
}

class Cluster implements TestCluster {
  private postmasterPid: number | undefined;
  readonly logFile: string;

  constructor(
    readonly major: TestMajor,
    readonly bindir: string,
    private readonly root: string,
    readonly dataDir: string,
    private readonly password: string | undefined,
    private readonly ownsDataDirOutsideRoot: boolean,
    private chosenPort = 0,
  ) {
    this.logFile = join(root, 'server.log');
  }

  get port(): number {
    return this.chosenPort;
  }

  get running(): boolean {
    return this.postmasterPid !== undefined;
  }

  get connection(): TestCluster['connection'] {
    return { host: '127.0.0.1', port: this.chosenPort, user: 'postgres', database: 'postgres', ...(this.password === undefined ? {} : { password: this.password }) };
  }

  async sql<Row extends Record<string, unknown>>(text: string, params?: unknown[]): Promise<Row[]> {
    const client = new pg.Client({ ...this.connection, connectionTimeoutMillis: 10_000 });
    await client.connect();
    try {
      return (await client.query<Row>(text, params)).rows;
    } finally {
      await client.end();
    }
  }

  async start(): Promise<void> {
    if (this.running) return;
    const keepPort = this.chosenPort !== 0;
    // Another process may take the free port before the server binds it: then try another.
    for (let attempt = 1; ; attempt++) {
      if (!keepPort) this.chosenPort = await freePort();
      const options = `-p ${String(this.chosenPort)} -k ${this.root} -c listen_addresses=127.0.0.1`;
      try {
        await runServerTool(join(this.bindir, 'pg_ctl'), ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', '120', '-o', options, 'start'], this.root);
        break;
      } catch (error) {
        const log = await readFile(this.logFile, 'utf8').catch(() => '');
        if (keepPort || attempt >= 5 || !/could not bind|already in use/i.test(log)) throw new Error(`${(error as Error).message}\n--- server log ---\n${log.slice(-4000)}`);
      }
    }
    const pidFile = await readFile(join(this.dataDir, 'postmaster.pid'), 'utf8');
    this.postmasterPid = Number(pidFile.split('\n')[0]);
    track(this);
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const pid = this.postmasterPid;
    if (pid === undefined) return;
    try {
      await runServerTool(join(this.bindir, 'pg_ctl'), ['-D', this.dataDir, '-m', mode, '-w', '-t', '120', 'stop'], this.root);
    } catch (error) {
      // A server that died on its own (or was killed by a test) is stopped all the same.
      if (alive(pid)) throw error;
    }
    this.stopped();
  }

  async promote(): Promise<void> {
    await runServerTool(join(this.bindir, 'pg_ctl'), ['-D', this.dataDir, '-w', '-t', '120', 'promote'], this.root);
  }

  async kill(): Promise<void> {
    const pid = this.postmasterPid;
    if (pid === undefined) return;
    const children = await childProcesses(pid);
    for (const each of [pid, ...children]) signalQuietly(each, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while ([pid, ...children].some(alive) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 20));
    this.stopped();
  }

  async remove(): Promise<void> {
    await this.stop('immediate');
    await rm(this.root, { recursive: true, force: true });
    if (this.ownsDataDirOutsideRoot) await rm(this.dataDir, { recursive: true, force: true });
  }

  /** For the exit hook: a signal to the postmaster, without waiting. */
  signal(name: NodeJS.Signals): void {
    if (this.postmasterPid !== undefined) signalQuietly(this.postmasterPid, name);
  }

  private stopped(): void {
    this.postmasterPid = undefined;
    running.delete(this);
  }
}

/** Runs initdb/pg_ctl as the server user; rejects with their output when they fail. */
async function runServerTool(file: string, args: string[], cwd: string): Promise<void> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LANG: 'C', LC_ALL: 'C' };
  const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], ...runAsUnprivileged() });
  let output = '';
  child.stdout.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr.on('data', (data: Buffer) => (output += data.toString()));
  // 'exit', not 'close': pg_ctl start leaves a daemon behind that must not hold us up.
  const code = await new Promise<number | null>((done, fail) => {
    child.on('error', fail);
    child.on('exit', (exitCode) => done(exitCode));
  });
  if (code !== 0) throw new Error(`${file} ${args.join(' ')} exited with ${String(code)}: ${output.trim()}`);
}

async function ownForServer(path: string): Promise<void> {
  const ids = runAsUnprivileged();
  if (ids !== undefined) await chown(path, ids.uid, ids.gid);
}

/** Lets the server user traverse every directory between the temp root and `path`. */
async function reachableForServer(path: string): Promise<void> {
  const base = resolve(tmpdir());
  for (let dir = dirname(path); relative(base, dir) !== '' && !relative(base, dir).startsWith('..'); dir = dirname(dir)) {
    await chmod(dir, 0o755);
  }
}


async function childProcesses(parent: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // Field 4 is the parent pid; the command name (field 2) may contain spaces, so split after its ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === parent) children.push(Number(entry));
  }
  return children;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalQuietly(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}
