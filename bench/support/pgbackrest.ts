import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runAsUnprivileged } from '../../src/main/postgres/binaries.js';
import type { TestCluster } from '../../test/support/postgres.js';
import { run, type Finished } from './processes.js';

/** One backup as `pgbackrest info --output=json` lists it (the fields the bench reads). */
export interface PgBackRestBackup {
  readonly label: string;
  readonly type: 'full' | 'diff' | 'incr';
  readonly info: { readonly size: number; readonly delta: number; readonly repository: { readonly size: number; readonly delta: number } };
  readonly database: { readonly 'repo-key': number };
}

export const stanza = 'bench';

/**
 * The two repositories the bench compares against: repo1 as pgBackRest is usually
 * benchmarked (no encryption), repo2 with `aes-256-cbc`, since every drc repository is
 * encrypted and a fair second comparison must pay for encryption too.
 */
export type PgBackRestRepo = 1 | 2;
export const encryptedRepo: PgBackRestRepo = 2;

/**
 * pgBackRest against a harness cluster, with everything it writes (repository, logs,
 * locks, spool) under `root`, owned by the `postgres` user it runs as, and its own
 * config file passed with --config so nothing under /etc or /var is read or written.
 */
export class PgBackRest {
  private constructor(
    readonly executable: string,
    readonly configPath: string,
    readonly repoPaths: Readonly<Record<PgBackRestRepo, string>>,
  ) {}

  static async configure(executable: string, root: string, cluster: TestCluster): Promise<PgBackRest> {
    const dirs = { repo: join(root, 'pgbackrest-repo'), encrypted: join(root, 'pgbackrest-repo-cbc'), log: join(root, 'pgbackrest-log'), lock: join(root, 'pgbackrest-lock'), spool: join(root, 'pgbackrest-spool') };
    const ids = runAsUnprivileged();
    for (const dir of Object.values(dirs)) {
      await mkdir(dir, { recursive: true, mode: 0o750 });
      if (ids) await chown(dir, ids.uid, ids.gid);
    }
    const configPath = join(root, 'pgbackrest.conf');
    // The harness starts each server with `-k <root>`: its socket directory is the data directory's parent.
    const socketDir = dirname(cluster.dataDir);
    const lines = [
      '[global]',
      `repo1-path=${dirs.repo}`,
      'repo1-retention-full=10',
      `repo2-path=${dirs.encrypted}`,
      'repo2-retention-full=10',
      'repo2-cipher-type=aes-256-cbc',
      `repo2-cipher-pass=${randomBytes(24).toString('base64')}`,
      'compress-type=lz4',
      'process-max=2',
      'start-fast=y',
      'log-level-console=warn',
      'log-level-stderr=off',
      'log-level-file=off',
      `log-path=${dirs.log}`,
      `lock-path=${dirs.lock}`,
      `spool-path=${dirs.spool}`,
      '',
      `[${stanza}]`,
      `pg1-path=${cluster.dataDir}`,
      `pg1-port=${String(cluster.port)}`,
      `pg1-socket-path=${socketDir}`,
      'pg1-user=postgres',
      '',
    ];
    // Readable by the postgres user only: it holds repo2's cipher pass.
    await writeFile(configPath, lines.join('\n'), { mode: 0o600 });
    await chmod(configPath, 0o600);
    if (ids) await chown(configPath, ids.uid, ids.gid);
    return new PgBackRest(executable, configPath, { 1: dirs.repo, 2: dirs.encrypted });
  }

  /** The archive_command that hands each WAL segment to both repositories. */
  get archiveCommand(): string {
    return `${this.executable} --config=${this.configPath} --stanza=${stanza} archive-push %p`;
  }

  /** Runs `pgbackrest --config … --stanza=bench <command> <args…>` as the postgres user; times it (wall and CPU). */
  command(command: string, args: readonly string[] = []): Promise<Finished> {
    return run(this.executable, [`--config=${this.configPath}`, `--stanza=${stanza}`, ...args, command], { asServerUser: true, measureCpu: true });
  }

  async backups(repo: PgBackRestRepo): Promise<PgBackRestBackup[]> {
    const { stdout } = await this.command('info', ['--output=json', `--repo=${String(repo)}`]);
    const stanzas = JSON.parse(stdout) as Array<{ name: string; backup?: PgBackRestBackup[] }>;
    return (stanzas.find((entry) => entry.name === stanza)?.backup ?? []).filter((backup) => backup.database['repo-key'] === repo);
  }

  async latestBackup(repo: PgBackRestRepo): Promise<PgBackRestBackup> {
    const latest = (await this.backups(repo)).at(-1);
    if (!latest) throw new Error(`pgbackrest info lists no backup in repo${String(repo)}`);
    return latest;
  }

  /** Restores the latest backup of `repo` into `targetDir` (created empty, owned by postgres, mode 0700). */
  async restore(targetDir: string, repo: PgBackRestRepo): Promise<Finished> {
    await mkdir(targetDir, { recursive: true, mode: 0o700 });
    const ids = runAsUnprivileged();
    if (ids) await chown(targetDir, ids.uid, ids.gid);
    return this.command('restore', [`--pg1-path=${targetDir}`, '--type=immediate', `--repo=${String(repo)}`]);
  }
}
