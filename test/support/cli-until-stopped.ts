import { PassThrough } from 'node:stream';
import { runCli } from '../../src/main/hosts/cli/run.js';

export interface RunningCommand {
  /** What the command wrote to stderr so far (a daemon's log lines, warnings). */
  stderr(): string;
  /** Sends what SIGINT would, and waits for the command to end. */
  stop(): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Starts a long-running `drc` command (`wal stream`, `daemon`) in-process; `stop()` is its Ctrl-C. */
export function drcUntilStopped(args: string[]): RunningCommand {
  const controller = new AbortController();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  stdin.end();
  const running = runCli(args, { stdout, stderr, stdin, signal: controller.signal });
  return {
    stderr: () => Buffer.concat(err).toString('utf8'),
    stop: async () => {
      controller.abort();
      const code = await running;
      return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
    },
  };
}
