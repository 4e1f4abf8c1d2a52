import { runCli } from '../../src/main/hosts/cli/run.js';
import { capturedStreams } from './cli.js';

export interface RunningCommand {
  /** What the command wrote to stderr so far (a daemon's log lines, warnings). */
  stderr(): string;
  /** Sends what SIGINT would, and waits for the command to end. */
  stop(): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Starts a long-running `drc` command (`wal stream`, `daemon`) in-process; `stop()` is its Ctrl-C. */
export function drcUntilStopped(args: string[]): RunningCommand {
  const controller = new AbortController();
  const streams = capturedStreams('');
  const running = runCli(args, { ...streams, signal: controller.signal });
  return {
    stderr: streams.err,
    stop: async () => {
      controller.abort();
      const code = await running;
      return { code, stdout: streams.out(), stderr: streams.err() };
    },
  };
}
