import { runCli } from './cli/run.js';

/**
 * Process entry of `drc`: run the command line and exit with its code. SIGINT and
 * SIGTERM ask a long-running command (`wal stream`) to stop cleanly — flushing what it
 * holds — rather than killing it mid-write; a second signal exits at once.
 */
export async function main(): Promise<void> {
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\n${signal}: stopping cleanly (send again to exit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, signal: controller.signal });
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
}
