/**
 * Bundles the two parts of the desktop app that `tsc` cannot produce on its own
 * (main-process code is compiled by `tsc -p tsconfig.node.json`):
 *
 * - the preload, into ONE CommonJS file: a sandboxed renderer's preload cannot load
 *   ES modules or any file but its own, only `require('electron')`;
 * - the renderer, into one script plus the page, which loads it from file:// — a classic
 *   script, because module scripts from file:// are refused as cross-origin.
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const shared = { absWorkingDir: root, bundle: true, minify: true, sourcemap: true, logLevel: 'info', target: 'es2022' };

// Stale bundles from an earlier build must not be packaged.
await Promise.all([rm(`${root}dist/preload`, { recursive: true, force: true }), rm(`${root}dist/renderer`, { recursive: true, force: true })]);

await Promise.all([
  build({
    ...shared,
    entryPoints: ['src/preload/index.ts'],
    outfile: 'dist/preload/index.cjs',
    format: 'cjs',
    platform: 'node',
    external: ['electron'],
  }),
  build({
    ...shared,
    entryPoints: ['src/renderer/main.tsx'],
    outdir: 'dist/renderer',
    format: 'iife',
    platform: 'browser',
    tsconfig: 'tsconfig.renderer.json',
    // React picks its production build from this; there is no `process` in the page.
    define: { 'process.env.NODE_ENV': '"production"' },
  }),
]);

await mkdir(`${root}dist/renderer`, { recursive: true });
await copyFile(`${root}src/renderer/index.html`, `${root}dist/renderer/index.html`);
