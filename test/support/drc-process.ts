// `drc` as its own process, from the TypeScript sources (bin/drc.js runs the compiled build).
import { main } from '../../src/main/hosts/cli-main.js';

await main();
