import { PassThrough } from 'node:stream';
import { runCli } from '../../src/main/hosts/cli/run.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json<T = Record<string, unknown>>(): T;
}

/** Streams for an in-process `drc`: stdin carries `input`, stdout and stderr are kept. */
export function capturedStreams(input: string): { stdout: PassThrough; stderr: PassThrough; stdin: PassThrough; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  stdin.end(input);
  return { stdout, stderr, stdin, out: () => Buffer.concat(out).toString('utf8'), err: () => Buffer.concat(err).toString('utf8') };
}

/** Runs `drc` in-process with captured streams; `input` is what stdin carries. */
export async function drc(args: string[], input = ''): Promise<CliRun> {
  const streams = capturedStreams(input);
  const code = await runCli(args, streams);
  const text = streams.out();
  return {
    code,
    stdout: text,
    stderr: streams.err(),
    json: <T>() => JSON.parse(text) as T,
  };
}
