import { exitCodes } from './cli/exit-codes.js';
import { runCli } from './cli/run.js';

/**
 * A reader that stops early (`drc list | head`) closes the pipe: writes then fail with
 * EPIPE, which Node raises as an uncaught error with a stack trace. The reader had what it
 * wanted, so the rest of the output is dropped quietly and the command ends with its own
 * exit code (README: exit codes). Any other output failure is reported once on stderr.
 */
function quietOnClosedPipe(stream: NodeJS.WriteStream, name: string): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
    process.exitCode = exitCodes.problem.code;
    if (stream !== process.stderr) process.stderr.write(`error: unable to write ${name}: ${error.message}\n`);
  });
}

/**
 * Process entry of `drc`: run the command line and exit with its code. SIGINT and
 * SIGTERM ask a long-running command (`wal stream`) to stop cleanly — flushing what it
 * holds — rather than killing it mid-write; a second signal exits at once.
 */
export async function main(): Promise<void> {
  quietOnClosedPipe(process.stdout, 'the output');
  quietOnClosedPipe(process.stderr, 'the error output');
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(exitCodes.interrupted.code);
    process.stderr.write(`\n${signal}: stopping cleanly (send again to exit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, signal: controller.signal });
  // An output error seen while the command ran (other than a closed pipe) outranks success.
  process.exitCode = code === exitCodes.ok.code ? (process.exitCode ?? code) : code;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
}
