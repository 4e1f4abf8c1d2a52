import { execFile } from 'node:child_process';
import { appendFile, chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { DrcError } from '../../shared/errors.js';
import { runAsUnprivileged, serverReachableBindir, type ServerBinaries } from '../postgres/binaries.js';
import { freePort } from '../postgres/free-port.js';

const execFileAsync = promisify(execFile);

/**
 * The demo's stand-in for production: a real PostgreSQL cluster, initdb'd in the sandbox
 * directory, listening on a free port on 127.0.0.1 only, trusting local connections.
 * When the console runs as root the server runs as the `postgres` user.
 */
export class SandboxCluster {
  private constructor(
    readonly dataDir: string,
    readonly bindir: string,
    readonly major: number,
    readonly port: number,
  ) {}

  get connection(): { host: string; port: number; user: string; database: string } {
    return { host: '127.0.0.1', port: this.port, user: 'postgres', database: 'postgres' };
  }

  static async create(directory: string, binaries: ServerBinaries): Promise<SandboxCluster> {
    const bindir = await serverReachableBindir(binaries);
    const dataDir = join(directory, 'production');
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await mkdir(join(directory, 'logs'), { recursive: true, mode: 0o700 });
    await grantToServerUser(directory, dataDir);
    await runServerTool(join(bindir, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--data-checksums', '--encoding=UTF8', '--locale=C'], directory);
    const port = await freePort();
    const settings = [
      `port = ${String(port)}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dataDir.replace(/'/g, "''")}'`,
      'wal_level = replica',
      'max_wal_senders = 5',
      'max_replication_slots = 5',
      "max_slot_wal_keep_size = '2GB'",
      ...(binaries.major >= 17 ? ['summarize_wal = on'] : []),
      "max_wal_size = '1GB'",
    ];
    await appendFile(join(dataDir, 'postgresql.conf'), `\n# DR Console demo sandbox\n${settings.join('\n')}\n`);
    // replication=database connections match the database column: `all` covers them.
    await writeFile(join(dataDir, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\n');
    await grantToServerUser(directory, dataDir);
    return new SandboxCluster(dataDir, bindir, binaries.major, port);
  }

  async start(): Promise<void> {
    await runServerTool(join(this.bindir, 'pg_ctl'), ['-D', this.dataDir, '-l', join(dirname(this.dataDir), 'logs', 'production.log'), '-w', '-t', '120', 'start'], dirname(this.dataDir));
  }

  async stop(): Promise<void> {
    await runServerTool(join(this.bindir, 'pg_ctl'), ['-D', this.dataDir, '-m', 'fast', '-w', 'stop'], dirname(this.dataDir));
  }
}

async function grantToServerUser(directory: string, dataDir: string): Promise<void> {
  const ids = runAsUnprivileged();
  if (!ids) return;
  await chmod(directory, 0o755);
  await execFileAsync('chown', ['-R', `${String(ids.uid)}:${String(ids.gid)}`, dataDir, join(directory, 'logs')]);
  await chown(dataDir, ids.uid, ids.gid);
}

async function runServerTool(file: string, args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync(file, args, { cwd, ...runAsUnprivileged(), env: { ...process.env, LC_ALL: 'C' } });
  } catch (error) {
    const output = (error as { stderr?: string }).stderr ?? (error as Error).message;
    throw new DrcError('RESTORE_FAILED', `unable to run ${file} for the demo sandbox: ${output.trim()}`, {
      hints: ['the sandbox needs PostgreSQL server binaries (initdb, pg_ctl, postgres); see `src/main/postgres/binaries.ts` for where they are looked for'],
    });
  }
}

