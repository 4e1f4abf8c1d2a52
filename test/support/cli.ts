import { PassThrough } from 'node:stream';
import { runCli } from '../../src/main/hosts/cli/run.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json<T = Record<string, unknown>>(): T;
}

/** Runs `drc` in-process with captured streams; `input` is what stdin carries. */
export async function drc(args: string[], input = ''): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  stdin.end(input);
  const code = await runCli(args, { stdout, stderr, stdin });
  const text = Buffer.concat(out).toString('utf8');
  return {
    code,
    stdout: text,
    stderr: Buffer.concat(err).toString('utf8'),
    json: <T>() => JSON.parse(text) as T,
  };
}
