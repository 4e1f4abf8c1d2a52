// Starts the crypto worker from the TypeScript sources (tests, `tsx`). Node 20 workers do
// not honour `--import tsx`, so the loader is registered here, then the worker imported.
import { register } from 'tsx/esm/api';

register();
await import('./crypto-worker.ts');
