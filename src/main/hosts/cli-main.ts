import { runCli } from './cli/run.js';

/** Process entry of `drc`: run the command line and exit with its code. */
export async function main(): Promise<void> {
  process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
}
