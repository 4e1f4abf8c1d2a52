import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandExamples } from '../../src/main/hosts/cli/help.js';
import { exitCodes } from '../../src/main/hosts/cli/exit-codes.js';
import { progressAmount } from '../../src/main/hosts/cli/command.js';
import { commandNames } from '../../src/main/hosts/cli/run.js';
import { loginRefusedHint } from '../../src/main/postgres/login-errors.js';
import { redact, redactDeep, registerSecret } from '../../src/main/secrets/redact.js';
import { startCluster, stopAllClusters, type TestCluster } from '../support/postgres.js';
import { tempDirectory } from '../support/temp.js';
import { drcBinary } from '../support/drc-binary.js';

/** `drc` as a user runs it: its own process, from any working directory. */
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const passphrase = 'cli behaviour passphrase';
const version = (JSON.parse(await readFile(join(repositoryRoot, 'package.json'), 'utf8')) as { version: string }).version;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function drcProcess(args: string[], options: { cwd?: string; env?: Record<string, string>; input?: string; closeStdout?: boolean } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [drcBinary, ...args], {
      cwd: options.cwd ?? repositoryRoot,
      env: { ...process.env, DRC_TEST_PASSPHRASE: passphrase, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    // A reader that went away before drc wrote anything: drc's writes meet a closed pipe.
    if (options.closeStdout === true) child.stdout.destroy();
    else child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.stdin.end(options.input ?? '');
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A shell pipeline, for `drc … | head`: the exit code is drc's own (PIPESTATUS), not head's. */
function pipeline(drcArgs: string[], reader: string, cwd: string): Promise<Ran & { drcCode: number }> {
  const quoted = [drcBinary, ...drcArgs].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `'${process.execPath}' ${quoted} | ${reader}; echo "drc-exit=\${PIPESTATUS[0]}" >&2`], { cwd, env: { ...process.env, DRC_TEST_PASSPHRASE: passphrase } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      const drcCode = Number(/drc-exit=(\d+)/.exec(stderr)?.[1] ?? Number.NaN);
      resolve({ code, stdout, stderr: stderr.replace(/drc-exit=\d+\n/, ''), drcCode });
    });
  });
}

const noStackTrace = (text: string): void => {
  expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);
  expect(text).not.toContain('EPIPE');
};

describe('drc as a process: options, help, --json, pipes, times, config paths', () => {
  let dir: Awaited<ReturnType<typeof tempDirectory>>;
  let configDir: string;
  let elsewhere: string;
  let configPath: string;

  beforeAll(async () => {
    dir = await tempDirectory();
    configDir = join(dir.path, 'etc');
    elsewhere = join(dir.path, 'somewhere-else');
    await mkdir(configDir);
    await mkdir(elsewhere);
    await mkdir(join(configDir, 'media', 'usb0'), { recursive: true });
    configPath = join(configDir, 'drc.json');
    // Relative repository paths: they mean "beside the config file", whatever the working directory.
    await writeFile(
      configPath,
      JSON.stringify({
        encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' },
        repositories: [
          { name: 'nas', type: 'local', path: 'nas' },
          { name: 'usb', type: 'removable', path: './media/usb0/drc' },
        ],
      }),
    );
    const init = await drcProcess(['repo', 'init', '--config', configPath, '--kdf-cost', '10', '--json'], { cwd: elsewhere });
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
  });

  afterAll(async () => {
    await dir.remove();
  });

  it('resolves relative repository paths against the config file, not the working directory, and creates them 0700', async () => {
    expect((await stat(join(configDir, 'nas', 'drc-repo.json'))).isFile()).toBe(true);
    expect((await stat(join(configDir, 'media', 'usb0', 'drc', 'drc-repo.json'))).isFile()).toBe(true);
    expect(await readdir(elsewhere)).toEqual([]);
    for (const directory of [join(configDir, 'nas'), join(configDir, 'media', 'usb0', 'drc')]) {
      expect((await stat(directory)).mode & 0o777).toBe(0o700);
    }
    const info = await drcProcess(['repo', 'info', '--json', '--config', 'etc/drc.json'], { cwd: dir.path });
    expect(info.code).toBe(0);
    const repositories = (JSON.parse(info.stdout) as { repositories: Array<{ repository: string; location: string; initialized: boolean }> }).repositories;
    expect(repositories.map((entry) => [entry.repository, entry.location, entry.initialized])).toEqual([
      ['nas', join(configDir, 'nas'), true],
      ['usb', join(configDir, 'media', 'usb0', 'drc'), true],
    ]);
  });

  it('takes --config and --json before or after the command, with the same result', async () => {
    const before = await drcProcess(['--config', configPath, '--json', 'repo', 'info']);
    const after = await drcProcess(['repo', 'info', '--config', configPath, '--json']);
    const mixed = await drcProcess(['--json', 'repo', 'info', `--config=${configPath}`]);
    expect(before.code).toBe(0);
    expect(before.stderr).toBe('');
    expect(JSON.parse(before.stdout)).toHaveProperty('repositories');
    for (const other of [after, mixed]) {
      expect(other.code).toBe(before.code);
      expect(other.stdout).toBe(before.stdout);
    }
  });

  it('prints its version with --version and -V, and exits 0', async () => {
    for (const flag of ['--version', '-V']) {
      const ran = await drcProcess([flag]);
      expect(ran).toEqual({ code: 0, stdout: `drc ${version}\n`, stderr: '' });
    }
    const json = await drcProcess(['--json', '-V']);
    expect(JSON.parse(json.stdout)).toEqual({ version });
  });

  it('shows one command with its options and an example for `drc help CMD` and `CMD --help`', async () => {
    const help = await drcProcess(['help', 'backup']);
    const flag = await drcProcess(['backup', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: drc backup');
    expect(help.stdout).toContain('--type VALUE');
    expect(help.stdout).toContain('--config FILE');
    expect(help.stdout).toContain(`example:\n  ${commandExamples.backup ?? ''}`);
    expect(flag).toEqual(help);
    const nested = await drcProcess(['repo', 'passphrase', 'add', '-h']);
    expect(nested.code).toBe(0);
    expect(nested.stdout).toContain('usage: drc repo passphrase add');
    expect(nested.stdout).toContain('--label VALUE');
  });

  it('refuses an unknown command with the usage exit code and a hint, as one JSON document under --json', async () => {
    const typo = await drcProcess(['bakup', '--config', configPath]);
    expect(typo.code).toBe(exitCodes.usage.code);
    expect(typo.stdout).toBe('');
    expect(typo.stderr).toContain("error USAGE: unable to run 'drc bakup': unknown command");
    expect(typo.stderr).toContain('hint: did you mean `drc backup`?');
    const json = await drcProcess(['--json', 'repo', 'frobnicate']);
    expect(json.code).toBe(2);
    expect(json.stderr).toBe('');
    const error = (JSON.parse(json.stdout) as { error: { code: string; hints: string[] } }).error;
    expect(error.code).toBe('USAGE');
    expect(error.hints[0]).toContain('init, info, passphrase add, passphrase remove');
  });

  it('keeps stdout one JSON document when the command fails, with the code and hints', async () => {
    const missing = await drcProcess(['status', '--json', '--config', join(dir.path, 'no-such.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('');
    expect(JSON.parse(missing.stdout)).toEqual({ error: { code: 'CONFIG_NOT_FOUND', message: expect.stringContaining('no-such.json') as string, hints: [expect.stringContaining('--config FILE') as string], retryable: false } });
    const badOption = await drcProcess(['list', '--json', '--config', configPath, '--colour']);
    expect(badOption.code).toBe(2);
    expect((JSON.parse(badOption.stdout) as { error: { code: string } }).error.code).toBe('USAGE');
    const noBackup = await drcProcess(['restore', '--json', '--config', configPath, '--latest', '--target-dir', join(dir.path, 'restored')]);
    expect(noBackup.code).toBe(1);
    expect(Object.keys(JSON.parse(noBackup.stdout) as object)).toEqual(['error']);
  });

  it('ends quietly with exit 0 when the reader closes the pipe early', async () => {
    const closed = await drcProcess(['help'], { closeStdout: true });
    expect(closed.code).toBe(0);
    expect(closed.stderr).toBe('');
    const gone = await pipeline(['list', '--json', '--config', configPath], 'true', elsewhere);
    expect(gone.drcCode).toBe(0);
    noStackTrace(gone.stderr);
    const head = await pipeline(['list', '--json', '--config', configPath], 'head -c 10', elsewhere);
    expect(head.drcCode).toBe(0);
    expect(head.stdout).toHaveLength(10);
    expect(head.stderr).toBe('');
  });

  it('refuses times that are not ISO 8601 or do not exist, with TIME_INVALID and the form to use', async () => {
    for (const time of ['2026-02-30', 'Dec 5', 'yesterday', '2026-06-14T25:00:00Z']) {
      const ran = await drcProcess(['restore', '--config', configPath, '--time', time, '--target-dir', join(dir.path, 'restored')]);
      expect(ran.code, time).toBe(2);
      expect(ran.stderr, time).toContain(`error TIME_INVALID: unable to read --time '${time}'`);
      expect(ran.stderr, time).toContain('hint: write ISO 8601 with an offset, e.g. 2026-06-14T09:30:00Z');
    }
    const since = await drcProcess(['events', '--json', '--config', configPath, '--since', 'Dec 5']);
    expect(since.code).toBe(2);
    expect((JSON.parse(since.stdout) as { error: { code: string } }).error.code).toBe('TIME_INVALID');
  });

  it('says when a time without an offset is read as local time, and which instant that is', async () => {
    const ran = await drcProcess(['restore', '--config', configPath, '--time', '2026-06-14 09:30', '--target-dir', join(dir.path, 'restored')], { env: { TZ: 'Europe/Berlin' } });
    expect(ran.stderr).toContain("note: --time '2026-06-14 09:30' has no offset: interpreted as local time (UTC+02:00), that is 2026-06-14T07:30:00.000Z");
    // No backup exists, so the restore itself is refused after the time was read.
    expect(ran.code).toBe(1);
    const withOffset = await drcProcess(['restore', '--config', configPath, '--time', '2026-06-14T09:30:00+02:00', '--target-dir', join(dir.path, 'restored')]);
    expect(withOffset.stderr).not.toContain('local time');
  });

  it('refuses one directory named by two repositories, also through a symlink or nested, naming the field', async () => {
    await symlink(join(configDir, 'nas'), join(configDir, 'nas-link'));
    const cases: Array<[string, string]> = [
      [join(configDir, 'nas') + '/', 'the same directory as'],
      ['nas-link', 'the same directory as'],
      ['nas/inner', 'inside the directory of'],
    ];
    for (const [path, relation] of cases) {
      const twice = join(configDir, 'twice.json');
      await writeFile(twice, JSON.stringify({ encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' }, repositories: [{ name: 'nas', type: 'local', path: 'nas' }, { name: 'nas2', type: 'local', path }] }));
      const ran = await drcProcess(['repo', 'info', '--config', twice]);
      expect(ran.code, path).toBe(2);
      expect(ran.stderr, path).toContain('error CONFIG_INVALID');
      expect(ran.stderr, path).toContain('repositories[1].path:');
      expect(ran.stderr, path).toContain(`${relation} repository 'nas' (repositories[0])`);
    }
    const bucket = join(configDir, 'bucket.json');
    const s3 = { type: 's3', bucket: 'drc-backups', endpoint: 'http://127.0.0.1:9', forcePathStyle: true };
    await writeFile(bucket, JSON.stringify({ encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' }, repositories: [{ name: 'a', ...s3, prefix: 'wedsync' }, { name: 'b', ...s3, prefix: '/wedsync/' }] }));
    const shared = await drcProcess(['repo', 'info', '--json', '--config', bucket]);
    expect(shared.code).toBe(2);
    const error = (JSON.parse(shared.stdout) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain("repositories[1].prefix: bucket 'drc-backups' with prefix '/wedsync/' is where repository 'a' (repositories[0]) keeps its objects");
  });

  it('refuses a repository path that is an existing file with REPO_PATH_NOT_DIRECTORY', async () => {
    await writeFile(join(configDir, 'not-a-directory'), 'x');
    const file = join(configDir, 'file.json');
    await writeFile(file, JSON.stringify({ encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' }, repositories: [{ name: 'nas', type: 'local', path: 'not-a-directory' }] }));
    const ran = await drcProcess(['repo', 'init', '--config', file, '--kdf-cost', '10']);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain(`error REPO_PATH_NOT_DIRECTORY: unable to use repository 'nas' at '${join(configDir, 'not-a-directory')}': it is a file, not a directory`);
    expect(ran.stderr).toContain('hint: repositories[0].path must name a directory');
  });

  it('refuses a new passphrase shorter than 12 characters, at repo init and at repo passphrase add', async () => {
    const fresh = join(configDir, 'fresh.json');
    await writeFile(fresh, JSON.stringify({ encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' }, repositories: [{ name: 'fresh', type: 'local', path: 'fresh' }] }));
    const init = await drcProcess(['repo', 'init', '--config', fresh, '--kdf-cost', '10'], { env: { DRC_TEST_PASSPHRASE: 'hunter2' } });
    expect(init.code).toBe(2);
    expect(init.stderr).toContain('error PASSPHRASE_TOO_SHORT');
    expect(init.stderr).toContain('hint: use at least 12 characters');
    await expect(stat(join(configDir, 'fresh', 'drc-repo.json'))).rejects.toThrow();

    const add = await drcProcess(['repo', 'passphrase', 'add', '--config', configPath, '--kdf-cost', '10', '--json'], { input: 'tooshort\n' });
    expect(add.code).toBe(2);
    expect((JSON.parse(add.stdout) as { error: { code: string } }).error.code).toBe('PASSPHRASE_TOO_SHORT');
    const long = await drcProcess(['repo', 'passphrase', 'add', '--config', configPath, '--kdf-cost', '10', '--label', 'envelope'], { input: 'copper lantern autumn river\n' });
    expect(long.code).toBe(0);
  });

  it('has an example for every command, and a README table of exit codes that matches the code', async () => {
    expect(commandNames().filter((name) => commandExamples[name] === undefined)).toEqual([]);
    const readme = await readFile(join(repositoryRoot, 'README.md'), 'utf8');
    // A pipe inside a table cell is written `\|` in Markdown.
    const rows = [...readme.matchAll(/^\| `(\d+)` \| (.+) \|$/gm)].map((match) => [Number(match[1]), match[2]?.replaceAll('\\|', '|')]);
    expect(rows).toEqual(Object.values(exitCodes).map((entry) => [entry.code, entry.meaning]));
  });
});

describe('a wrong database password', () => {
  let cluster: TestCluster;
  let dir: Awaited<ReturnType<typeof tempDirectory>>;
  let configPath: string;

  beforeAll(async () => {
    cluster = await startCluster({ major: 17, auth: 'scram-sha-256', password: 'right password 2026' });
    dir = await tempDirectory();
    configPath = join(dir.path, 'drc.json');
    await writeFile(
      configPath,
      JSON.stringify({
        cluster: { name: 'pg17', host: cluster.connection.host, port: cluster.connection.port, user: 'postgres', database: 'postgres', password: 'env:DRC_TEST_DB_PASSWORD' },
        encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' },
        repositories: [{ name: 'nas', type: 'local', path: 'nas' }],
      }),
    );
    expect((await drcProcess(['repo', 'init', '--config', configPath, '--kdf-cost', '10'])).code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await stopAllClusters();
    await dir.remove();
  });

  it('gives PG_AUTH_FAILED, exit 2 and one hint from the replication, SQL and live-database paths (backup, wal stream, restore-point, status, restore --tables), and is not masked as a word of the output', async () => {
    // A wrong password that is also an ordinary word of the output: redaction must not turn every "fixed" into "***".
    const env = { DRC_TEST_DB_PASSWORD: 'fixed', PGPASSWORD: 'fixed' };
    const into = `host=127.0.0.1 port=${String(cluster.connection.port)} dbname=postgres user=postgres`;
    const ran = {
      backup: await drcProcess(['backup', '--json', '--config', configPath], { env }),
      restorePoint: await drcProcess(['restore-point', 'before_upgrade', '--json', '--config', configPath], { env }),
      walStream: await drcProcess(['wal', 'stream', '--json', '--config', configPath], { env }),
      status: await drcProcess(['status', '--json', '--config', configPath], { env }),
      restoreTables: await drcProcess(['restore', '--tables', 'public.guests', '--into', into, '--latest', '--json', '--config', configPath], { env }),
    };
    for (const [command, result] of Object.entries(ran)) {
      expect(result.code, `${command}: ${result.stderr}`).toBe(exitCodes.usage.code);
      // One JSON document on stdout, whatever else the command reports.
      const document = JSON.parse(result.stdout) as { error: { code: string; message: string; hints: string[] } };
      expect(document.error.code, command).toBe('PG_AUTH_FAILED');
      expect(document.error.message, command).toMatch(/^unable to log in to .* as 'postgres'/);
      expect(document.error.hints, command).toContain(loginRefusedHint('postgres'));
      expect(result.stdout, command).not.toContain('***');
    }
    // status is still a report: the refused login is in it, next to what the repositories hold.
    const report = JSON.parse(ran.status.stdout) as { cluster: { reachable: boolean; errorCode: string }; repositories: Array<{ media: string }> };
    expect(report.repositories.map((repository) => repository.media)).toEqual(['fixed']);
    expect(report.cluster).toMatchObject({ name: 'pg17', reachable: false, errorCode: 'PG_AUTH_FAILED' });
    expect(ran.status.stdout).not.toContain('right password');

    // Without --json the same error reaches the DBA on stderr (or, for status, after its report), with the same exit.
    const plain = await drcProcess(['restore', '--tables', 'public.guests', '--into', into, '--latest', '--config', configPath], { env });
    expect(plain.code).toBe(exitCodes.usage.code);
    expect(plain.stderr).toContain('error PG_AUTH_FAILED: unable to log in to the live database');
    expect(plain.stderr).toContain(`hint: ${loginRefusedHint('postgres')}`);
    // No password at all (no PGPASSWORD, no ~/.pgpass): the same mistake, the same code.
    const none = await drcProcess(['restore', '--tables', 'public.guests', '--into', into, '--latest', '--json', '--config', configPath], { env: { DRC_TEST_DB_PASSWORD: 'fixed', HOME: dir.path } });
    expect(none.code).toBe(exitCodes.usage.code);
    expect((JSON.parse(none.stdout) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'PG_AUTH_FAILED', message: expect.stringContaining('the server asks for a password and none is configured') as string });
    const plainStatus = await drcProcess(['status', '--config', configPath], { env });
    expect(plainStatus.code).toBe(exitCodes.usage.code);
    expect(plainStatus.stdout).toContain('error PG_AUTH_FAILED: unable to log in to PostgreSQL');
  }, 120_000);
});

describe('redaction and progress figures', () => {
  it('never masks a secret short enough to be a word of the output, which would reveal it', () => {
    registerSecret('type');
    expect(redact('{"type":"s3"}')).toBe('{"type":"s3"}');
    expect(redact('the backup type is full')).toBe('the backup type is full');
    expect(redactDeep({ type: 'type', nested: ['type', 'a type'] })).toEqual({ type: 'type', nested: ['type', 'a type'] });
  });

  it('masks a passphrase-length secret wherever it appears', () => {
    registerSecret('copper lantern autumn');
    expect(redact('unable to unlock with copper lantern autumn.')).toBe('unable to unlock with ***.');
    expect(redactDeep({ error: { message: 'x=copper lantern autumn' } })).toEqual({ error: { message: 'x=***' } });
  });

  it('never shows more done than the total, and says "of at least" once the estimate proved short', () => {
    const amount = progressAmount();
    const mib = 1024 * 1024;
    expect(amount(10 * mib, 89.6 * mib)).toBe('10.0 MiB of 89.6 MiB');
    expect(amount(105.7 * mib, 89.6 * mib)).toBe('105.7 MiB of at least 105.7 MiB');
    expect(amount(106 * mib, 89.6 * mib)).toBe('106.0 MiB of at least 106.0 MiB');
    const growing = progressAmount();
    expect(growing(1 * mib, 50 * mib)).toBe('1.0 MiB of 50.0 MiB');
    expect(growing(2 * mib, 60 * mib)).toBe('2.0 MiB of at least 60.0 MiB');
    expect(progressAmount()(5 * mib, 0)).toBe('5.0 MiB');
  });
});
