#!/usr/bin/env node
// The `drc` command. Runs the compiled CLI host; `npm ci` (or `npm run build`) compiles it.
// libuv's 4 default threads are shared by file writes, fsyncs and zstd in the crypto
// workers; a restore's fsyncs would starve the rest. Set before any asynchronous work.
process.env.UV_THREADPOOL_SIZE ??= '16';
const { main } = await import('../dist/main/hosts/cli-main.js');
await main();
