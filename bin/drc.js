#!/usr/bin/env node
// The `drc` command. Runs the compiled CLI host; `npm ci` (or `npm run build`) compiles it.
import { main } from '../dist/main/hosts/cli-main.js';

await main();
