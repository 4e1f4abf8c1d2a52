import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { runAsUnprivileged } from '../../src/main/postgres/binaries.js';

/** A finished child process: exit code, captured output and its wall-clock time. */
export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
  /** CPU seconds (user + system) of the command and everything it waited for; with `measureCpu` only. */
  readonly cpuSeconds?: number;
}

export interface RunOptions {
  /** Run as the `postgres` OS user when this process is root (pgBackRest reads the data directory as that user). */
  readonly asServerUser?: boolean;
  /** 'discard' sends stdout to /dev/null (a tar stream nobody needs). */
  readonly stdout?: 'capture' | 'discard';
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Throw (with the output) on a non-zero exit; default true. */
  readonly check?: boolean;
  /** Measure the command's CPU time (it runs under bash, whose `times` reports its children's). */
  readonly measureCpu?: boolean;
}

/** What bash's `times` prints last: the children's user and system time. */
const timesReport = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\n(\d+)m([\d.]+)s (\d+)m([\d.]+)s\n$/;

/** Runs one command to its end and times it from spawn to exit. */
export async function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<Finished> {
  const ids = options.asServerUser === true ? runAsUnprivileged() : undefined;
  const started = process.hrtime.bigint();
  const command = options.measureCpu === true ? { file: 'bash', args: ['-c', '"$0" "$@"; status=$?; times >&2; exit $status', file, ...args] } : { file, args };
  const child = spawn(command.file, command.args, {
    cwd: options.cwd ?? '/',
    env: options.env ?? { PATH: process.env.PATH, LANG: 'C', LC_ALL: 'C', ...(ids ? { HOME: '/var/lib/postgresql' } : {}) },
    stdio: ['ignore', options.stdout === 'discard' ? 'ignore' : 'pipe', 'pipe'],
    ...(ids ?? {}),
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (data: Buffer) => out.push(data));
  child.stderr?.on('data', (data: Buffer) => err.push(data));
  const code = await new Promise<number | null>((done, fail) => {
    child.on('error', fail);
    child.on('close', (exitCode) => done(exitCode));
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  let stderr = Buffer.concat(err).toString('utf8');
  let cpuSeconds: number | undefined;
  const times = options.measureCpu === true ? timesReport.exec(stderr) : null;
  if (times) {
    const minutesAndSeconds = (index: number): number => Number(times[index]) * 60 + Number(times[index + 1]);
    cpuSeconds = minutesAndSeconds(5) + minutesAndSeconds(7);
    stderr = stderr.slice(0, times.index);
  }
  const finished: Finished = { code, stdout: Buffer.concat(out).toString('utf8'), stderr, seconds, ...(cpuSeconds === undefined ? {} : { cpuSeconds }) };
  if ((options.check ?? true) && code !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited with ${String(code)}\n${finished.stderr.trim()}\n${finished.stdout.trim().slice(-2000)}`);
  }
  return finished;
}

/** Times an async call by the wall clock. */
export async function timed<T>(work: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = process.hrtime.bigint();
  const value = await work();
  return { value, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** The absolute path of an executable on PATH (or in `extraDirs`), or undefined. */
export async function findExecutable(name: string, extraDirs: readonly string[] = []): Promise<string | undefined> {
  for (const dir of [...extraDirs, ...(process.env.PATH ?? '').split(delimiter)]) {
    if (dir === '') continue;
    const path = join(dir, name);
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** Flushes dirty pages to disk, so one tool's writes are not paid for by the next. */
export async function syncDisks(): Promise<void> {
  await run('sync', []);
}

/** Apparent size in bytes of everything under a directory (`du -sb`). */
export async function directoryBytes(path: string): Promise<number> {
  const { stdout } = await run('du', ['-sb', path]);
  return Number(stdout.split('\t')[0]);
}
