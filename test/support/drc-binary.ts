import { fileURLToPath } from 'node:url';

/**
 * `drc` as users run it: `bin/drc.js`, which runs the compiled build. Tests that spawn it
 * check what a DBA sees (exit codes, stdout and stderr, signals); `test/global-setup.ts`
 * compiles the build before any test runs, so it is never stale.
 */
export const drcBinary = fileURLToPath(new URL('../../bin/drc.js', import.meta.url));
