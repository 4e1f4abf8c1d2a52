import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * Compiles the main process (`dist/main`) before the suite: tests that spawn `bin/drc.js`
 * must run the code under test, not whatever was last built.
 */
export default async function compileDrc(): Promise<void> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  await promisify(execFile)(process.execPath, [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.node.json'], { cwd: root });
}
