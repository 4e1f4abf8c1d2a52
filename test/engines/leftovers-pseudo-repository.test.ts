import { spawn } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalTarget } from '../../src/main/storage/local.js';
import { tempDirectory } from '../support/temp.js';
import { drcBinary } from '../support/drc-binary.js';

/**
 * A repository path under /proc (issue 10, leftover): Node's recursive mkdir never returns
 * there, so `drc repo init` used to spin at 100 % CPU, deaf to SIGTERM. Every command now
 * refuses such a path up front, as restore targets are refused.
 */
process.env.DRC_TEST_PASSPHRASE = 'a pseudo file system keeps nothing';

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** `drc` as its own process, killed after `limitMs` so a spin fails the test instead of hanging it. */
async function spawnDrc(args: string[], limitMs = 60_000): Promise<Finished> {
  const started = Date.now();
  const child = spawn(process.execPath, [drcBinary, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal])));
  clearTimeout(deadline);
  return { code, signal, stdout, stderr, elapsedMs: Date.now() - started };
}

describe('a local repository on a pseudo file system', () => {
  let dir: Awaited<ReturnType<typeof tempDirectory>>;
  let configPath: string;
  /** How long a spawned drc takes to start and exit with nothing to do: the refusal may take 2 s beyond it. */
  let startupMs: number;

  beforeAll(async () => {
    dir = await tempDirectory();
    configPath = join(dir.path, 'drc.json');
    await writeFile(
      configPath,
      JSON.stringify({
        encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' },
        repositories: [
          { name: 'nas', type: 'local', path: join(dir.path, 'nas') },
          { name: 'kernel', type: 'local', path: '/proc/drc-repo' },
        ],
      }),
    );
    const version = await spawnDrc(['--version']);
    expect(version.code, version.stderr).toBe(0);
    startupMs = version.elapsedMs;
  }, 90_000);
  afterAll(() => dir.remove());

  it.each([
    { command: 'repo init', args: ['repo', 'init', '--kdf-cost', '10'] },
    { command: 'list', args: ['list'] },
    { command: 'backup', args: ['backup'] },
  ])('refuses `drc $command` with REPO_PATH_UNUSABLE within 2 s, creating nothing', async ({ args }) => {
    const result = await spawnDrc([...args, '--config', configPath, '--json']);
    expect(result.signal, 'drc had to be killed: it spun').toBeNull();
    expect(result.code).toBe(2);
    const { error } = JSON.parse(result.stdout) as { error: { code: string; message: string; hints: string[] } };
    expect(error.code).toBe('REPO_PATH_UNUSABLE');
    expect(error.message).toContain("repository 'kernel' at '/proc/drc-repo'");
    expect(error.message).toContain('procfs');
    expect(error.hints.join('\n')).toContain('repositories[1].path');
    expect(result.elapsedMs).toBeLessThan(startupMs + 2000);
    // Refused before anything was made, in the good repository too.
    await expect(stat(join(dir.path, 'nas'))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 90_000);

  it('refuses a write to a LocalTarget under /proc, however it was made, instead of spinning', async () => {
    const target = new LocalTarget({ name: 'kernel', path: '/proc/drc-repo' });
    await expect(target.put('backups/x.manifest', Buffer.from('never kept'))).rejects.toMatchObject({ code: 'REPO_PATH_UNUSABLE' });
    await expect(target.put('chunks/ab/x', Buffer.from('never kept'))).rejects.toMatchObject({ code: 'REPO_PATH_UNUSABLE' });

    const disk = new LocalTarget({ name: 'nas', path: join(dir.path, 'disk') });
    await disk.put('backups/x.manifest', Buffer.from('kept'));
    expect((await disk.get('backups/x.manifest')).toString()).toBe('kept');
  });
});
